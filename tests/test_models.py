"""The networks: equations 2-4 as written, MaLS streaming, mapping, labels, SyncNet."""

import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lipsync_jax.models import labels, mals, samf, stylegan2, stylelipsync, syncnet

TINY = dict(img_resolution=32, channel_base=512, channel_max=32, w_dim=32)


@pytest.fixture(scope="module")
def model_and_vars():
  model = stylelipsync.StyleLipSync(**TINY)
  rng = jax.random.key(0)
  inputs = (jnp.zeros((2, 5, 32, 32, 3)), jnp.zeros((2, 5, 20, 80)), jnp.zeros((2, 32, 32, 3)))
  variables = jax.jit(functools.partial(model.init, noise_mode="const"))(
      {"params": rng, "noise": rng}, *inputs)
  variables = flax.core.unfreeze(variables)
  variables["w_avg"]["w_avg"] = jax.random.normal(jax.random.key(1), (32,))
  return model, variables


def _inputs(seed, n=2, t=5):
  k = jax.random.split(jax.random.key(seed), 3)
  return (jax.random.uniform(k[0], (n, t, 32, 32, 3), minval=-1, maxval=1),
          jax.random.normal(k[1], (n, t, 20, 80)),
          jax.random.uniform(k[2], (n, 32, 32, 3), minval=-1, maxval=1))


def test_latents_follow_eqs_3_and_4(model_and_vars):
  model, variables = model_and_vars
  masked, mels, ref = _inputs(0)
  w_ref = model.apply(variables, ref, method=model.encode_reference)
  a = model.apply(variables, mels, method=model.encode_audio)
  codes = model.apply(variables, w_ref, a, method=model.latents)
  mals_params = {"params": variables["params"]["mals"]}
  smoothed = mals.MaLS(model.num_ws, 32).apply(mals_params, w_ref[:, None] + a)  # MaLS(w_ref + a)
  expected = w_ref[:, None] + smoothed + variables["w_avg"]["w_avg"]
  np.testing.assert_allclose(codes, expected, atol=1e-5)
  assert codes.shape == (2, 5, model.num_ws, 32)


def test_teacher_codes_see_only_what_the_mask_hides(model_and_vars):
  # w* = w_ref + E_frame(frames * masks, standardised mouth shape) + w_avg; pixels outside the
  # mask do not change it, the mouth shape does.
  model, variables = model_and_vars
  frames, _, ref = _inputs(4)
  masks = jnp.zeros((2, 5, 32, 32, 1)).at[:, :, 16:, 8:24].set(1.0)
  shapes = jax.random.uniform(jax.random.key(9), (2, 5, 7))
  w_ref = model.apply(variables, ref, method=model.encode_reference)
  teacher = jax.jit(lambda f, s: model.apply(variables, w_ref, f, masks, s,
                                             method=model.teacher_latents))
  codes = teacher(frames, shapes)
  assert codes.shape == (2, 5, model.num_ws, 32)
  np.testing.assert_allclose(teacher(frames.at[:, :, :16].set(0.3), shapes), codes, atol=1e-6)
  assert float(jnp.abs(teacher(frames.at[:, :, 20:].set(0.3), shapes) - codes).max()) > 1e-4
  assert float(jnp.abs(teacher(frames, shapes + 1) - codes).max()) > 1e-3
  mouth = (frames * masks).reshape((10, 32, 32, 3))
  code = model.apply(variables, mouth, shapes.reshape(10, 7),  # shape_stats: mean 0, std 1
                     method=lambda m, x, s: m.frame_encoder(x, s))
  np.testing.assert_allclose(codes, w_ref[:, None] + code.reshape(codes.shape) +
                             variables["w_avg"]["w_avg"], atol=1e-5)


def test_samf_is_eq_2(model_and_vars):
  model, variables = model_and_vars
  block = samf.SaMF()
  rng = jax.random.key(3)
  gen, enc, w = (jax.random.normal(rng, (2, 8, 8, 16)), jax.random.normal(jax.random.key(4), (2, 8, 8, 16)),
                 jax.random.normal(jax.random.key(5), (2, 32)))
  params = block.init(rng, gen, enc, w)
  out, state = block.apply(params, gen, enc, w, mutable=["intermediates"])
  (s,) = state["intermediates"]["mask"]
  assert s.shape == (2, 8, 8, 1) and float(s.min()) > 0 and float(s.max()) < 1
  np.testing.assert_allclose(out, s * enc + (1 - s) * gen, atol=1e-6)


def test_every_decoder_block_after_4x4_has_samf(model_and_vars):
  _, variables = model_and_vars
  synthesis = variables["params"]["synthesis"]
  assert "samf" not in synthesis["b4"]
  for res in (8, 16, 32):
    assert synthesis[f"b{res}"]["samf"]["weight"].shape[-1] == 1


def test_frames_do_not_depend_on_the_rest_of_the_batch(model_and_vars):
  model, variables = model_and_vars
  masked, mels, ref = _inputs(1, n=3)
  apply = jax.jit(functools.partial(model.apply, noise_mode="const"))
  full = apply(variables, masked, mels, ref)
  one = apply(variables, masked[1:2], mels[1:2], ref[1:2])
  np.testing.assert_allclose(full[1:2], one, atol=1e-4)
  assert full.shape == (3, 5, 32, 32, 3)


def test_mals_streaming_equals_offline_and_looks_ahead_one_frame():
  module = mals.MaLS(num_ws=3, w_dim=8)
  w = jax.random.normal(jax.random.key(0), (2, 9, 3, 8))
  params = module.init(jax.random.key(1), w)
  # As after training: every tap in use (the initialisation uses only the current one).
  params = jax.tree_util.tree_map(
      lambda x: x + 0.3 * jax.random.normal(jax.random.key(x.size), x.shape), params)
  offline = module.apply(params, w)
  np.testing.assert_allclose(mals.streaming_codes(module, params, w), offline, atol=1e-5)
  # Changing frame 6 changes codes from frame 5 on (one-frame look-ahead), never before.
  changed = module.apply(params, w.at[:, 6].add(1.0))
  diff = np.abs(np.asarray(changed - offline)).max(axis=(0, 2, 3))
  assert np.all(diff[:5] == 0) and np.all(diff[5:] > 0)


def test_untrained_mals_passes_the_current_frame():
  # No lag at initialisation: MaLS(w)_t = lrelu(moving average of w at t, 0.1).
  module = mals.MaLS(num_ws=3, w_dim=8)
  w = jax.random.normal(jax.random.key(0), (2, 9, 3, 8))
  out = module.apply(module.init(jax.random.key(1), w), w)
  avg = mals.moving_average(w.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
  np.testing.assert_allclose(out, jax.nn.leaky_relu(avg, 0.1), atol=1e-6)


def test_moving_average_weights_and_edges():
  w = jnp.arange(5.0)[None, :, None]
  np.testing.assert_allclose(mals.moving_average(w)[0, :, 0], [0.25, 1, 2, 3, 3.75])


def test_mapping_truncation_and_w_avg():
  mapping = stylegan2.MappingNetwork(z_dim=16, w_dim=16, num_ws=4, num_layers=2)
  z = jax.random.normal(jax.random.key(0), (8, 16))
  v = mapping.init(jax.random.key(1), z)
  ws, state = mapping.apply(v, z, update_w_avg=True, mutable=["w_avg"])
  np.testing.assert_allclose(state["w_avg"]["w_avg"], 0.005 * ws[:, 0].mean(0), atol=1e-6)
  v2 = {"params": v["params"], "w_avg": state["w_avg"]}
  half = mapping.apply(v2, z, truncation_psi=0.5)
  avg = state["w_avg"]["w_avg"]
  np.testing.assert_allclose(half, avg + 0.5 * (ws - avg), atol=1e-5)
  # z is normalised to unit second moment first: its scale does not matter.
  np.testing.assert_allclose(mapping.apply(v, 10 * z), ws, atol=1e-4)


def test_generator_and_discriminator_shapes_and_ws():
  g = stylegan2.Generator(img_resolution=32, z_dim=16, w_dim=16, channel_base=256, channel_max=16)
  v = jax.jit(lambda r: stylegan2.init_generator_variables(g, r))(jax.random.key(0))
  # Jitted: op-by-op, these few tiny applies took most of a minute.
  apply = jax.jit(lambda v, z, key, noise_mode="random": g.apply(v, z, noise_mode=noise_mode,
                                                                 rngs={"noise": key}),
                  static_argnames="noise_mode")
  img = apply(v, jnp.ones((4, 16)), jax.random.key(1))
  assert img.shape == (4, 32, 32, 3)
  assert stylegan2.num_ws_for(256) == 14 and stylegan2.num_ws_for(32) == 8
  assert stylegan2.num_ws_for(512) == 16 and stylegan2.channels_for(512) == 32
  assert [stylegan2.channels_for(r) for r in (4, 32, 64, 128, 256)] == [512, 512, 256, 128, 64]
  d = stylegan2.Discriminator(img_resolution=32, channel_base=256, channel_max=16)
  dv = jax.jit(d.init)(jax.random.key(2), img)
  assert jax.jit(d.apply)(dv, img).shape == (4,)
  # Noise comes from the 'noise' rng stream (strength starts at 0, so give it some).
  params = jax.tree_util.tree_map_with_path(
      lambda p, x: x + 0.5 if "noise_strength" in jax.tree_util.keystr(p) else x, v["params"])
  v = {**v, "params": params}
  z = jnp.ones((4, 16))
  a = apply(v, z, jax.random.key(1))
  b = apply(v, z, jax.random.key(2))
  assert float(jnp.abs(a - b).max()) > 1e-3
  c1, c2 = (apply(v, z, jax.random.key(k), "const") for k in (1, 2))
  np.testing.assert_array_equal(c1, c2)
  assert float(jnp.abs(apply(v, z, jax.random.key(1), "none") - c1).max()) > 1e-3


def test_label_tree_is_pinned(model_and_vars):
  _, variables = model_and_vars
  tree = labels.param_labels(variables["params"])
  assert tree["synthesis"]["b8"]["samf"]["weight"] == "samf"
  assert tree["synthesis"]["b8"]["conv0"]["weight"] == "synthesis"
  assert tree["synthesis"]["b4"]["const"] == "synthesis"
  assert tree["mals"]["conv_a"]["conv"]["kernel"] == "mals"
  assert set(jax.tree_util.tree_leaves(tree)) == {
      "synthesis", "samf", "face_encoder", "reference_encoder", "audio_encoder", "mals",
      "lip_motion", "frame_encoder"}
  counts = labels.count_by_label(variables["params"])
  # SaMF: per block from 8x8, a 3x3xCx1 weight, a bias and an affine (w_dim x C + C).
  c = {4: 32, 8: 32, 16: 32}
  assert counts["samf"] == sum(9 * c[r] + 1 + 32 * c[r] + c[r] for r in (4, 8, 16))
  assert counts["mals"] == 2 * model_and_vars[0].num_ws * (3 * 32 * 32 + 32)
  # Lips from audio: 3 stride-2 3x3 convolutions (20x80 -> 3x10x128), 2 dense of 256, 40 points.
  convs = 9 * 1 * 32 + 32 + 9 * 32 * 64 + 64 + 9 * 64 * 128 + 128
  dense = (3 * 10 * 128 + 120) * 256 + 256 + 256 * 256 + 256 + 256 * 120 + 120
  assert counts["lip_motion"] == convs + dense
  with pytest.raises(ValueError):
    labels.label_for(("unknown", "kernel"))


def test_syncnet_embeddings_and_losses():
  net = syncnet.SyncNet(embed_dim=32)
  frames = jax.random.uniform(jax.random.key(0), (4, 5, 64, 64, 3), minval=-1, maxval=1)
  mel = jax.random.normal(jax.random.key(1), (4, 20, 80))
  v = jax.jit(net.init)(jax.random.key(2), frames, mel)
  apply = jax.jit(net.apply)  # op by op, the two applies took half a minute
  fv, fa, opening = apply(v, frames, mel)
  np.testing.assert_allclose(jnp.linalg.norm(fv, axis=-1), 1.0, atol=1e-4)
  assert opening.shape == (4, 5)
  # Each frame's opening is its own: changing frame 2 changes only column 2.
  other = apply(v, frames.at[:, 2].set(-frames[:, 2]), mel)[2]
  np.testing.assert_allclose(np.delete(np.asarray(other), 2, 1),
                             np.delete(np.asarray(opening), 2, 1), atol=1e-5)
  assert float(jnp.abs(other[:, 2] - opening[:, 2]).max()) > 1e-4
  from lipsync_jax.training import losses
  assert float(losses.sync_loss(fv, fv)) < 1e-5
  shifted = jnp.stack([fv[::-1], jnp.roll(fv, 1, 0)], 1)  # (B, 2, D)
  aligned = losses.syncnet_contrastive(fv, fv, shifted, 0.1)
  assert float(aligned) < float(losses.syncnet_contrastive(fv, fv[::-1], shifted, 0.1))


def test_syncnet_motion_input():
  """With motion, the visual tower reads each frame and its difference from the window's mean:
  twice the channels, and a still window's differences are zero, so its embedding is the plain
  input's through the first half of the kernel."""
  net = syncnet.from_config({"embed_dim": 16, "width": 0.25, "motion": True}, opening=False)
  assert not syncnet.from_config({"embed_dim": 16, "width": 0.25}).motion  # a run from before
  still = jnp.broadcast_to(jax.random.uniform(jax.random.key(0), (2, 1, 64, 64, 3), minval=-1),
                           (2, 5, 64, 64, 3))
  v = jax.jit(net.init)(jax.random.key(1), still, jnp.zeros((2, 20, 80)))
  kernel = v["params"]["visual_tower"]["conv0"]["kernel"]
  assert kernel.shape == (3, 3, 30, 8)
  plain = syncnet.SyncNet(16, 0.25, opening=False)
  # conv0's input channels are (frame, channel) flattened: each frame's 3 colours then its 3
  # differences; the plain net gets the colours' weights only.
  colours = kernel.reshape(3, 3, 5, 2, 3, 8)[:, :, :, 0].reshape(3, 3, 15, 8)
  tower = dict(v["params"]["visual_tower"])
  tower["conv0"] = {**tower["conv0"], "kernel": colours}
  plain_params = {**v["params"], "visual_tower": tower}
  np.testing.assert_allclose(
      net.apply(v, still, method=net.visual),
      plain.apply({"params": plain_params}, still, method=plain.visual), atol=1e-5)
  moving = still.at[:, 2].multiply(-1)
  assert not np.allclose(net.apply(v, moving, method=net.visual),
                         plain.apply({"params": plain_params}, moving, method=plain.visual),
                         atol=1e-3)
  # The first layer reads the 15 channels of the frames with the kernel folded (_MotionConv): the
  # same embedding as the 30 channels of the frames and their differences through that kernel.
  moving = jax.random.uniform(jax.random.key(2), (2, 5, 64, 64, 3), minval=-1)
  lower = net.apply(v, moving, method=net._lower_half)
  both = jnp.concatenate([lower, lower - lower.mean(axis=1, keepdims=True)], -1)
  both = both.transpose(0, 2, 3, 1, 4).reshape(2, 64, 128, 30)
  explicit = syncnet._Tower(net.bind(v).visual_tower.plan, 16)  # a plain conv0 over 30 channels
  np.testing.assert_allclose(net.apply(v, moving, method=net.visual),
                             explicit.apply({"params": v["params"]["visual_tower"]}, both),
                             atol=1e-5)
  with pytest.raises(ValueError, match="reads 5 frames, got 4"):
    net.apply(v, moving[:, :4], method=net.visual)


def test_discriminator_is_device_local_on_a_sharded_batch():
  """With the batch on P('data') over 8 devices, the forward pass needs no collectives: the
  minibatch-stddev groups are consecutive samples, all on one device."""
  from jax.sharding import NamedSharding, PartitionSpec as P
  assert jax.device_count() == 8
  mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
  d = stylegan2.Discriminator(img_resolution=32, channel_base=256, channel_max=16)
  img = jnp.zeros((32, 32, 32, 3))
  params = d.init(jax.random.key(0), img)
  data = NamedSharding(mesh, P("data"))
  fn = jax.jit(d.apply, in_shardings=(NamedSharding(mesh, P()), data), out_shardings=data)
  hlo = fn.lower(params, jax.device_put(img, data)).compile().as_text()
  for collective in ("all-reduce", "all-gather", "all-to-all", "collective-permute"):
    assert collective not in hlo, collective
  out = fn(params, jax.device_put(img, data))
  np.testing.assert_allclose(out, d.apply(params, img), atol=1e-5)
