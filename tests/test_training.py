"""The four stages: a step each, freezing, data parallelism, exact resume, signals, NaN stop."""

import glob
import importlib
import os
import re
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest

from configs import adaptation, stylegan2, syncnet
from lipsync_jax import checkpoints, syncnet_check
from lipsync_jax.training import common, loop, stages

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(module, tfds_dir, **overrides):
  c = module.get_config("tiny")
  c.data_dir = tfds_dir
  c.log_every = 1
  c.image_every = 10**9
  c.update(overrides)
  return c


def _leaves_equal(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def test_syncnet_one_and_eight_devices_and_device_resident_input_agree(tfds_dir, tmp_path):
  c = _config(syncnet, tfds_dir, num_steps=2, checkpoint_every=2, batch_size=8,
              lr_schedule="cosine", lr_final_fraction=0.05)
  one = loop.run(stages.make_trainer(c), c, str(tmp_path / "one"), loop.make_mesh(jax.devices()[:1]))
  eight = loop.run(stages.make_trainer(c), c, str(tmp_path / "eight"), loop.make_mesh())
  assert np.isfinite(one.metrics["loss"]) and one.metrics["opening_l1"] > 0
  # Step 1 of 2 on the cosine: halfway from the rate to 5% of it.
  assert one.metrics["learning_rate"] == pytest.approx(0.525 * c.learning_rate)
  # The split held on the 8 devices, each gathering its rows: the same batches, the same run.
  c.device_input = True
  resident = loop.run(stages.make_trainer(c), c, str(tmp_path / "resident"), loop.make_mesh())
  assert resident.metrics["loss"] == eight.metrics["loss"]
  assert _leaves_equal(resident.state["params"], eight.state["params"])
  # The step-2 loss is computed with the parameters after one update on each side.
  np.testing.assert_allclose(one.metrics["loss"], eight.metrics["loss"], rtol=1e-4)
  # Adam moves each parameter by at most ~lr per step, whatever the gradient's size, so where a
  # gradient is zero up to reduction order the two runs may step in opposite directions: 2 * lr per
  # step apart at most, over the 2 steps; nothing may differ by more.
  bound = 2 * 2 * c.learning_rate * 1.01
  diffs = [float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(
      jax.tree_util.tree_leaves(one.state["params"]), jax.tree_util.tree_leaves(eight.state["params"]))]
  assert max(diffs) <= bound, max(diffs)
  assert np.median(diffs) < bound / 2


def test_syncnet_without_the_opening_tower(tfds_dir, lipsync_run, tmp_path):
  # opening_weight 0 (every recipe's): no mouth-opening tower, whose per-frame reading was three
  # quarters of the proof128 step; the contrastive towers start and train as with it.
  c = _config(syncnet, tfds_dir, num_steps=1, checkpoint_every=1, opening_weight=0.0)
  with_tower = stages.make_trainer(_config(syncnet, tfds_dir)).init_state(jax.random.key(0))
  result = loop.run(stages.make_trainer(c), c, str(tmp_path / "sync"),
                    loop.make_mesh(jax.devices()[:1]))
  assert result.step == 1 and np.isfinite(result.metrics["contrastive"])
  assert "opening_l1" not in result.metrics
  assert sorted(result.state["params"]) == ["audio_tower", "visual_tower"]
  initial = stages.make_trainer(c).init_state(jax.random.key(0))["params"]
  assert _leaves_equal(initial, {k: with_tower["params"][k] for k in initial})
  # The lip-sync stage's opening loss refuses it by name.
  lipsync_config = lipsync_run[0].copy_and_resolve_references()
  lipsync_config.pretrained_syncnet = str(tmp_path / "sync")
  with pytest.raises(ValueError, match="no mouth-opening tower"):
    stages.make_trainer(lipsync_config).init_state(jax.random.key(0))
  # A SyncNet of another form than the lip-sync config's is refused by its field.
  lipsync_config.syncnet.motion = not c.syncnet.motion
  with pytest.raises(ValueError, match=f"syncnet.motion={c.syncnet.motion}: set"):
    stages.make_trainer(lipsync_config).init_state(jax.random.key(0))


def test_stylegan2_step(tfds_dir, tmp_path):
  c = _config(stylegan2, tfds_dir, num_steps=2, checkpoint_every=2, r1_interval=2)
  trainer = stages.make_trainer(c)
  result = loop.run(trainer, c, str(tmp_path / "gan"), loop.make_mesh(jax.devices()[:1]))
  assert result.step == 2 and np.isfinite(result.metrics["loss"])
  state = result.state
  assert not _leaves_equal(state["g_params"], state["g_ema"])  # EMA lags the generator
  assert float(np.abs(np.asarray(state["w_avg"]["mapping"]["w_avg"])).sum()) > 0  # tracked
  images = trainer.summaries(state, None)["g_ema_samples"]
  assert images.shape == (8, 64, 64, 3) and images.dtype == np.uint8


def test_prior_step_trains_the_decoder_and_the_encoders_of_frames(prior_run):
  _, initial, state, result, _ = prior_run
  m = result.metrics
  assert np.isfinite(m["loss"]) and m["l1"] > 0 and m["mask_l1"] > 0 and m["mouth_lpips"] > 0
  assert 0 < m["samf_in_mask/b64"] < 1  # SaMF's mask inside the lip mask is logged per block
  before, after = initial["params"], state["params"]
  for part in ("synthesis", "face_encoder", "reference_encoder", "frame_encoder"):
    assert not _leaves_equal(before[part], after[part]), part
  for part in ("audio_encoder", "mals"):  # no audio in the prior
    assert _leaves_equal(before[part], after[part]), part


def test_stylegan2_steps_split_the_batch_over_devices(tfds_dir):
  # Data parallelism in every step, the G step (whose z come from a replicated key) included:
  # on 8 devices each computes an eighth of the batch's FLOPs.
  c = _config(stylegan2, tfds_dir, batch_size=8)
  trainer = stages.make_trainer(c)
  state = trainer.init_state(jax.random.key(0))
  batch = trainer.make_iterator(0, 0, 1).batch(0)

  def flops(devices):
    mesh = loop.make_mesh(jax.devices()[:devices])
    shardings = jax.tree_util.tree_map(lambda _: loop.replicated(mesh), state)
    trainer.setup(mesh, shardings)
    out = {}
    for name in ("_jit_d", "_jit_g"):
      cost = getattr(trainer, name).lower(state, loop.global_batch(batch, mesh),
                                          jnp.int32(0)).compile().cost_analysis()
      out[name] = (cost[0] if isinstance(cost, list) else cost)["flops"]
    return out

  one, eight = flops(1), flops(8)
  for name in one:
    assert eight[name] < one[name] / 8 * 1.15, (name, one[name], eight[name])


def test_lipsync_step_trains_encoders_and_samf_only(lipsync_run, prior_run):
  _, initial, state, result, _ = lipsync_run
  assert np.isfinite(result.metrics["loss"]) and result.metrics["lpips"] > 0
  assert result.metrics["mask_l1"] > 0 and result.metrics["opening"] > 0
  assert result.metrics["mouth_lpips"] > 0 and result.metrics["latent"] > 0
  assert 0 < result.metrics["latent_unexplained"]
  # It starts from the decoder prior's run.
  assert _leaves_equal(initial["params"]["synthesis"], prior_run[2]["params"]["synthesis"])
  before, after = initial["params"], state["params"]
  assert _leaves_equal(before["frame_encoder"], after["frame_encoder"])  # the teacher is fixed
  # The pretrained synthesis is frozen exactly; SaMF, encoders and MaLS moved.
  for block in before["synthesis"]:
    for name, weights in before["synthesis"][block].items():
      changed = not _leaves_equal(weights, after["synthesis"][block][name])
      assert changed == (name == "samf"), (block, name)
  for part in ("face_encoder", "reference_encoder", "audio_encoder", "mals"):
    assert not _leaves_equal(before[part], after[part]), part
  assert _leaves_equal(initial["sync_params"], state["sync_params"])  # the expert stays fixed


def test_masked_l1_sees_only_the_masked_pixels():
  from lipsync_jax.training.losses import masked_l1
  rng = np.random.default_rng(0)
  target = rng.uniform(-1, 1, (2, 5, 8, 8, 3)).astype(np.float32)
  masks = np.zeros((2, 5, 8, 8, 1), np.uint8)
  masks[..., 4:, 2:6, :] = 1
  pred = target.copy()
  pred[..., :4, :, :] += 1.0  # outside the mask: no effect
  assert float(masked_l1(pred, target, masks)) == 0.0
  pred[..., 4:, 2:6, :] += 0.5  # inside: the mean error over the masked pixels
  np.testing.assert_allclose(float(masked_l1(pred, target, masks)), 0.5, rtol=1e-5)


def test_mouth_crops_centre_on_the_mask_and_stay_inside():
  from lipsync_jax.training.losses import mouth_crops
  images = np.arange(3 * 16 * 16 * 2, dtype=np.float32).reshape(3, 16, 16, 2)
  masks = np.zeros((3, 16, 16, 1), np.uint8)
  masks[0, 9:13, 5:9] = 1  # centroid (10.5, 6.5): the 4x4 square from row 9, column 5
  masks[1, 14:, 13:] = 1  # at the corner: the square is shifted inside the image
  crops = np.asarray(mouth_crops(images, masks, 4))  # image 2: no mask, the centre square
  np.testing.assert_array_equal(crops[0], images[0, 9:13, 5:9])
  np.testing.assert_array_equal(crops[1], images[1, 12:, 12:])
  np.testing.assert_array_equal(crops[2], images[2, 6:10, 6:10])


def test_opening_loss_moves_the_generated_frames_only(lipsync_run):
  c, initial, _, _, _ = lipsync_run
  trainer = stages.make_trainer(c)
  sync_params = initial["sync_params"]
  real = jax.random.uniform(jax.random.key(0), (2, 5, 64, 64, 3), minval=-1, maxval=1)
  assert float(trainer._opening_loss(sync_params, real, real)) == 0.0
  generated = real.at[:, :, 40:].set(0.0)  # the lower face greyed out
  g_pred, g_real = jax.jit(jax.grad(trainer._opening_loss, argnums=(1, 2)))(sync_params, generated, real)
  assert float(np.abs(g_pred).max()) > 0
  assert float(np.abs(g_real).max()) == 0.0  # the real frames' reading is the fixed target


def test_pretrained_syncnet_must_be_a_syncnet_run(lipsync_run):
  # (a SyncNet run without the tower lambda_opening reads: test_syncnet_without_the_opening_tower)
  c, _, _, _, workdir = lipsync_run
  c = c.copy_and_resolve_references()
  c.pretrained_syncnet = workdir
  with pytest.raises(ValueError, match="a 'lipsync' run, where a syncnet run is needed"):
    stages.make_trainer(c).init_state(jax.random.key(0))


def test_lipsync_learning_rate_schedules():
  from configs import lipsync
  from lipsync_jax.training.common import learning_rate_schedule
  c = lipsync.get_config("tiny")
  c.lr_schedule = "constant"
  c.update(learning_rate=1e-3, num_steps=100, lr_final_fraction=0.1)
  lr = lambda step: float(learning_rate_schedule(c)(step))  # noqa: E731
  assert lr(0) == lr(100) == pytest.approx(1e-3)  # the paper's constant rate by default
  c.lr_schedule = "cosine"
  assert lr(0) == pytest.approx(1e-3) and lr(50) == pytest.approx(5.5e-4) and lr(100) == pytest.approx(1e-4)
  c.lr_schedule = "linear"
  with pytest.raises(ValueError, match="constant or cosine"):
    lr(0)


def test_latent_teacher_alone_trains_audio_codes_without_the_decoder(lipsync_run, tmp_path):
  c = lipsync_run[0].copy_and_resolve_references()
  c.update(lambda_sync=0.0, lambda_l1=0.0, lambda_mask_l1=0.0, lambda_opening=0.0,
           lambda_mouth_lpips=0.0, lambda_lpips=0.0, trained_labels="audio_encoder,mals")
  trainer = stages.make_trainer(c)
  assert not trainer.decodes and trainer.lpips_params is None
  initial = jax.device_get(trainer.init_state(jax.random.key(c.seed)))
  result = loop.run(trainer, c, str(tmp_path / "latent"), loop.make_mesh(jax.devices()[:1]))
  after = jax.device_get(result.state)["params"]
  assert set(result.metrics) >= {"latent", "latent_unexplained"} and "l1" not in result.metrics
  for part in initial["params"]:
    assert _leaves_equal(initial["params"][part], after[part]) == (part not in ("audio_encoder",
                                                                               "mals")), part


def test_frozen_parameters_get_no_gradient_computation(lipsync_run):
  # The lip-sync step differentiates the trained subtree only: without the synthesis weights'
  # gradients (frozen) its backward pass is cheaper than one over every parameter.
  c = lipsync_run[0].copy_and_resolve_references()
  c.update(lambda_sync=0.0, lambda_mask_l1=0.0, lambda_opening=0.0, lambda_mouth_lpips=0.0,
           lambda_lpips=0.0, lambda_latent=0.0, trained_labels="audio_encoder,mals")
  trainer = stages.make_trainer(c)
  state = trainer.init_state(jax.random.key(0))
  batch = trainer.make_iterator(0, 0, 1).batch(0)
  rng = jax.random.key(1)

  def flops(fn):
    cost = jax.jit(fn).lower(state, batch).compile().cost_analysis()
    return (cost[0] if isinstance(cost, list) else cost)["flops"]

  mask = common.trained_mask(state["params"], trainer.trained)
  trained = flops(lambda s, b: common.grad_of_trained(trainer.loss, s["params"], mask, s, b, rng,
                                                      None)[0])
  every = flops(lambda s, b: jax.grad(trainer.loss, has_aux=True)(s["params"], s, b, rng, None)[0])
  assert trained < 0.85 * every, (trained, every)
  grads = jax.jit(lambda s, b: common.grad_of_trained(trainer.loss, s["params"], mask, s, b, rng,
                                                      None)[0])(state, batch)
  assert float(np.abs(np.asarray(grads["synthesis"]["b64"]["conv1"]["weight"])).max()) == 0.0
  assert float(np.abs(np.asarray(grads["audio_encoder"]["fc"]["kernel"])).max()) > 0.0


def test_in_slices_computes_the_same_in_order_with_its_gradient():
  w = jnp.arange(12.0).reshape(3, 4) / 10
  x = jnp.asarray(np.random.default_rng(0).normal(size=(12, 3)), jnp.float32)
  calls = []

  def net(x, y):
    calls.append(x.shape[0])
    return {"a": jnp.tanh(x @ w), "b": y * 2}

  def loss(w_, slices):
    out = common.in_slices(lambda x, y: {"a": jnp.tanh(x @ w_), "b": y * 2}, (x, x[:, 0]), slices)
    return jnp.sum(out["a"] * jnp.arange(48.0).reshape(12, 4)) + jnp.sum(out["b"])

  whole, sliced = net(x, x[:, 0]), common.in_slices(net, (x, x[:, 0]), 4)
  assert calls == [12, 3, 3, 3, 3]  # one computation per slice
  for k in whole:
    np.testing.assert_allclose(sliced[k], whole[k], rtol=1e-6)
  np.testing.assert_allclose(jax.grad(loss)(w, 4), jax.grad(loss)(w, 1), rtol=1e-5)
  assert common.in_slices(net, (x[:6], x[:6, 0]), 4)["a"].shape == (6, 4)  # gcd: 2 slices
  assert calls[-2:] == [3, 3]
  # indexed: each slice is told its index and the number of slices.
  told = common.in_slices(lambda j, k, x: jnp.full(x.shape[:1], 10 * j + k), (x,), 4, indexed=True)
  np.testing.assert_array_equal(told, 10 * (np.arange(12) % 4) + 4)
  np.testing.assert_array_equal(common.in_slices(lambda j, k, x: jnp.full(x.shape[:1], 10 * j + k),
                                                 (x[:5],), 4, indexed=True), np.ones(5))
  # A batch sharded over the 8 devices, 2 slices: every device slices its own samples.
  mesh = loop.make_mesh()
  sharded = jax.device_put(jnp.tile(x, (4, 1)), jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec("data")))
  hlo = jax.jit(lambda x: common.in_slices(lambda x: jnp.tanh(x @ w), (x,), 2)).lower(
      sharded).compile().as_text()
  assert not re.search(r"all-gather|all-to-all|collective-permute|all-reduce", hlo)


def test_a_lipsync_step_in_slices_matches_the_whole_batch(hint_lipsync_run):
  # config.batch_slices: the teacher, audio encoder and lips over slices of the batch, the same
  # losses and gradients as over the whole batch.
  c, _, state, _, _ = hint_lipsync_run
  assert c.lip_windows > 1 and c.lambda_latent and c.lambda_lips
  results = []
  for slices in (1, 2):
    cfg = c.copy_and_resolve_references()
    cfg.update(batch_slices=slices, lambda_l1=0.0)  # no image loss, no decoder: the test below
    trainer = stages.make_trainer(cfg)
    assert not trainer.decodes
    it = trainer.make_iterator(0, 0, 1)
    batch = it.batch(0)
    it.close()
    mask = common.trained_mask(state["params"], trainer.trained)
    results.append(jax.jit(lambda s, b: common.grad_of_trained(
        trainer.loss, s["params"], mask, s, b, jax.random.key(0), None))(state, batch))
  (g1, m1), (g2, m2) = results
  for k in ("loss", "latent", "lips"):
    np.testing.assert_allclose(m2[k], m1[k], rtol=1e-5, err_msg=k)
  for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)):
    # Sums taken in another order: equal to float32 rounding at the leaf's scale.
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-3 * float(np.abs(a).max()))


def test_a_decoding_step_in_slices_matches_the_whole_batch(prior_run):
  # The prior's encoders, decoder and both VGG terms over slices of the batch: the same losses,
  # SaMF mask means and gradients as over the whole batch. Each slice draws its decoder noise from
  # its own key, so the noise strengths are set to 0 (the frames then do not depend on the noise)
  # and their own gradients, the noise's correlation with the loss, are not compared.
  c, _, state, _, _ = prior_run
  assert c.batch_size == 4 and c.lambda_mouth_lpips
  silent = lambda path, x: 0 * x if "noise_strength" in jax.tree_util.keystr(path) else x  # noqa: E731
  state = {**state, "params": jax.tree_util.tree_map_with_path(silent, state["params"])}
  results = []
  for slices in (1, 2):
    cfg = c.copy_and_resolve_references()
    cfg.update(batch_slices=slices, lambda_lpips=1.0)
    trainer = stages.make_trainer(cfg)
    it = trainer.make_iterator(0, 0, 1)
    batch = it.batch(0)
    it.close()
    mask = common.trained_mask(state["params"], trainer.trained)
    results.append(jax.jit(lambda s, b: common.grad_of_trained(
        trainer.loss, s["params"], mask, s, b, jax.random.key(0), trainer.lpips_params))(
            state, batch))
  (g1, m1), (g2, m2) = results
  assert {"mouth_lpips", "lpips", "mask_l1"} <= set(m1) and set(m1) == set(m2)
  assert any(k.startswith("samf_in_mask/") for k in m1)
  for k in m1:
    np.testing.assert_allclose(m2[k], m1[k], rtol=1e-5, err_msg=k)
  leaves = jax.tree_util.tree_leaves_with_path(g1)
  largest = max(float(np.abs(a).max()) for _, a in leaves)
  for (path, a), b in zip(leaves, jax.tree_util.tree_leaves(g2)):
    if "noise_strength" not in jax.tree_util.keystr(path):
      # Sums taken in another order: equal to float32 rounding at the leaf's scale, or at 1e-6
      # of the largest leaf's for a leaf whose gradient is zero up to that rounding.
      scale = max(float(np.abs(a).max()), 1e-3 * largest)
      np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-3 * scale,
                                 err_msg=jax.tree_util.keystr(path))


def test_a_frozen_decoder_needs_a_pretrained_one(tfds_dir):
  from configs import lipsync
  c = lipsync.get_config("tiny")
  c.data_dir = tfds_dir
  with pytest.raises(ValueError, match="synthesis network is frozen but no pretrained decoder"):
    stages.make_trainer(c).init_state(jax.random.key(0))


def test_sync_loss_refuses_a_syncnet_at_chance(lipsync_run, tfds_dir, tmp_path, capsys):
  c = _config(syncnet, tfds_dir, num_steps=1, checkpoint_every=1, batch_size=4)
  loop.run(stages.make_trainer(c), c, str(tmp_path / "sync"), loop.make_mesh(jax.devices()[:1]))
  lip = lipsync_run[0].copy_and_resolve_references()
  lip.update(pretrained_syncnet=str(tmp_path / "sync"), min_syncnet_accuracy=0.9)
  with pytest.raises(ValueError, match="held-out windows.*below config.min_syncnet_accuracy") as e:
    stages.make_trainer(lip).init_state(jax.random.key(0))
  # The same check as a command reads the same figure.
  refused_at = re.search(r"in ([0-9.]+)% of held-out windows", str(e.value)).group(1)
  assert syncnet_check.main(["--syncnet", str(tmp_path / "sync"), "--data_dir", tfds_dir]) == 0
  assert f"in {refused_at}% of the 5-frame windows" in capsys.readouterr().out
  assert syncnet_check.main(["--syncnet", lipsync_run[4], "--data_dir", tfds_dir]) == 2
  assert "a 'lipsync' run, where a syncnet run is needed" in capsys.readouterr().err
  lip.update(pretrained_syncnet="", min_syncnet_accuracy=0.75)
  with pytest.raises(ValueError, match="need a trained SyncNet"):
    stages.make_trainer(lip).init_state(jax.random.key(0))


@pytest.mark.parametrize("image_codes,dtype,lambda_reg", [("audio", "float32", 0.1),
                                                      ("teacher", "bfloat16", 0.0)])
def test_adaptation_trains_the_decoder_only(lipsync_run, prepared_dir, tmp_path, image_codes,
                                            dtype, lambda_reg, monkeypatch):
  c0, _, _, _, workdir = lipsync_run
  # Two globs, comma-separated: the target's clips are all the files they match.
  target = [sorted(glob.glob(os.path.join(prepared_dir, "clips", "test_*.npz")))[0],
            os.path.join(prepared_dir, "clips", "train_0000[12]__*.npz")]
  # Without the VGG16 LPIPS term (lipsync_run covers it), which is most of this step's compile time.
  c = _config(adaptation, c0.data_dir, num_steps=1, checkpoint_every=1, target=",".join(target),
              lambda_mouth_lpips=0.0, min_syncnet_accuracy=0.0, pretrained_lipsync=workdir,
              image_codes=image_codes, dtype=dtype, lambda_reg=lambda_reg)
  convs = _conv_dtypes(monkeypatch)
  trainer = stages.make_trainer(c)
  assert len(trainer.source) == 1 + len(glob.glob(target[1])) == 3
  # Without R_sync (lambda_reg = 0) no second clip's audio is read and no second decode runs.
  assert ("sync_mels" in trainer.fields()) == bool(lambda_reg)
  initial = jax.device_get(trainer.init_state(jax.random.key(c.seed)))
  result = loop.run(trainer, c, str(tmp_path / "adapt"), loop.make_mesh(jax.devices()[:1]))
  after = jax.device_get(result.state)["params"]
  assert ("r_sync" in result.metrics) == bool(lambda_reg) and np.isfinite(result.metrics["loss"])
  assert not _leaves_equal(initial["params"]["synthesis"]["b64"]["conv1"], after["synthesis"]["b64"]["conv1"])
  for part in ("face_encoder", "reference_encoder", "audio_encoder", "mals", "lip_motion"):
    assert _leaves_equal(initial["params"][part], after[part]), part
  assert {x.dtype for x in jax.tree_util.tree_leaves(after)} == {np.dtype("float32")}
  assert convs == {(dtype, dtype)}, convs  # the decoder's (and R_sync's SyncNet's) convolutions


def test_adaptation_needs_a_target(tfds_dir):
  c = _config(adaptation, tfds_dir, target="/nonexistent/*.npz")
  with pytest.raises(ValueError, match="matches no prepared segments"):
    stages.make_trainer(c)


@pytest.mark.parametrize("variant", ["tiny", "proof128", "gpu128", "vox256", "paper256"])
def test_adaptation_configs_match_their_lipsync_model(variant):
  # Adaptation loads the lip-sync checkpoint: the same model, the decoder alone trained.
  from configs import lipsync
  base, adapt = lipsync.get_config(variant), adaptation.get_config(variant)
  assert adapt.stage == "adaptation" and base.stage == "lipsync"
  assert adapt.model.to_dict() == base.model.to_dict()
  assert adapt.syncnet.to_dict() == base.syncnet.to_dict()
  assert adapt.trained_labels == ""


@pytest.mark.parametrize("module", ["stylegan2", "syncnet", "prior", "lipsync", "adaptation"])
def test_config_variants_are_checked(module):
  with pytest.raises(ValueError, match="unknown variant"):
    importlib.import_module(f"configs.{module}").get_config("nope")


class _NaNTrainer:
  """A trainer whose loss turns NaN at step 3."""

  def init_state(self, rng):
    return {"w": np.zeros(3, np.float32)}

  def setup(self, mesh, shardings):
    pass

  def make_iterator(self, start, pi, pc):
    class It:
      def __next__(self):
        return {"x": np.ones((8, 1), np.float32)}
      def get_state(self):
        return {}
    return It()

  def train_step(self, state, batch, step):
    return state, {"loss": float("nan") if step == 3 else 1.0}


def test_nan_stops_the_run_naming_the_step(tmp_path):
  c = syncnet.get_config("tiny")
  c.num_steps, c.checkpoint_every = 10, 2
  with pytest.raises(FloatingPointError, match="at step 3"):
    loop.run(_NaNTrainer(), c, str(tmp_path), loop.make_mesh(jax.devices()[:1]))


def _train_cmd(tfds_dir, workdir, steps):
  return [sys.executable, "-m", "lipsync_jax.train", "--config", "configs/syncnet.py:tiny",
          "--workdir", str(workdir), f"--config.data_dir={tfds_dir}", f"--config.num_steps={steps}",
          "--config.checkpoint_every=2", "--config.log_every=1", "--config.batch_size=4"]


def _env():
  env = dict(os.environ)
  env["XLA_FLAGS"] = conftest.TEST_XLA_FLAGS  # conftest's flags, but one CPU device
  return env


def _final_params(workdir):
  return checkpoints.load_tree(str(workdir))["params"]


def _compiled(cache):
  """The initialisations and steps in a compilation cache directory."""
  return sorted(p.name for p in cache.iterdir() if p.name.startswith(("jit_init", "jit__step")))


def test_kill_then_resume_matches_an_uninterrupted_run(tfds_dir, tmp_path):
  # The runs keep their compiled programs in config.compilation_cache_dir (not the test session's
  # cache): the killed and the resumed run load what the first one compiled.
  steps, cache = 6, tmp_path / "xla_cache"
  env = {k: v for k, v in _env().items() if k != "JAX_COMPILATION_CACHE_DIR"}
  env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  cmd = lambda workdir: _train_cmd(tfds_dir, workdir, steps) + [  # noqa: E731
      f"--config.compilation_cache_dir={cache}"]
  r = subprocess.run(cmd(tmp_path / "straight"), cwd=REPO, env=env, capture_output=True,
                     text=True)
  assert r.returncode == 0, r.stderr[-2000:]
  compiled = _compiled(cache)
  assert any(n.startswith("jit_init") for n in compiled), compiled
  assert any(n.startswith("jit__step") for n in compiled), compiled
  proc = subprocess.Popen(cmd(tmp_path / "killed"), cwd=REPO, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  ckpt = tmp_path / "killed" / "checkpoints"
  while time.time() < deadline and not (ckpt.exists() and any(p.name.isdigit() for p in ckpt.iterdir())):
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  saved = [int(p.name) for p in ckpt.iterdir() if p.name.isdigit()]
  assert saved and max(saved) < steps, saved
  r = subprocess.run(cmd(tmp_path / "killed"), cwd=REPO, env=env, capture_output=True, text=True)
  assert r.returncode == 0, r.stderr[-2000:]
  assert "resumed from step" in r.stderr
  assert _compiled(cache) == compiled  # loaded, not compiled again
  assert _leaves_equal(_final_params(tmp_path / "straight"), _final_params(tmp_path / "killed"))


def test_sigterm_saves_and_exits(tfds_dir, tmp_path):
  workdir = tmp_path / "term"
  proc = subprocess.Popen(_train_cmd(tfds_dir, workdir, 1000), cwd=REPO, env=_env(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  tb = None
  while time.time() < deadline:
    tb = glob.glob(str(workdir / "events.out.tfevents.*"))
    if tb and os.path.getsize(tb[0]) > 200:  # a few steps were logged
      break
    time.sleep(0.1)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 0, err[-2000:]
  steps = [int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()]
  assert steps and max(steps) < 1000
  assert "SIGTERM" in err


def test_sigterm_while_logging_still_saves(tfds_dir, tmp_path, monkeypatch):
  # The signal lands after the step decided not to save (here: while its metrics are written):
  # the loop must not stop without a checkpoint of where it stops.
  writer, report = loop._writer_and_progress(str(tmp_path), 100, 1)
  sent = []

  def write_scalars(step, scalars):
    writer.write_scalars(step, scalars)
    if step == 3 and not sent:
      sent.append(step)
      os.kill(os.getpid(), signal.SIGTERM)

  logger = type("Writer", (), {"write_scalars": staticmethod(write_scalars),
                               "write_images": writer.write_images, "flush": writer.flush})()
  monkeypatch.setattr(loop, "_writer_and_progress", lambda *a: (logger, report))
  c = _config(syncnet, tfds_dir, num_steps=100, checkpoint_every=50, batch_size=2)
  result = loop.run(stages.make_trainer(c), c, str(tmp_path / "run"),
                    loop.make_mesh(jax.devices()[:1]))
  assert sent and result.stopped_early and result.step == 4
  assert checkpoints.Checkpoints(str(tmp_path / "run")).latest_step() == result.step


def test_weights_export_and_import_round_trip(lipsync_run, tmp_path):
  from lipsync_jax import weights
  _, _, state, result, workdir = lipsync_run
  path = str(tmp_path / "w.npz")
  summary = weights.export_weights(workdir, path)
  assert summary["step"] == result.step
  run = str(tmp_path / "imported")
  assert weights.import_weights(path, run) == result.step
  tree = checkpoints.load_tree(run)
  for key in ("params", "consts", "sync_params"):
    assert _leaves_equal(tree[key], state[key]), key
  assert jax.tree_util.tree_structure(tree["params"]) == jax.tree_util.tree_structure(state["params"])
  with open(os.path.join(run, "config.json")) as a, open(os.path.join(workdir, "config.json")) as b:
    assert a.read() == b.read()
  with pytest.raises(FileExistsError):
    weights.import_weights(path, run)


def test_without_clu_metrics_go_to_the_log(monkeypatch, tmp_path):
  """clu's writers import TensorFlow; on a machine without it the loop logs scalars instead."""
  monkeypatch.setitem(sys.modules, "clu", None)  # makes `from clu import ...` raise ImportError
  writer, report = loop._writer_and_progress(str(tmp_path), num_steps=4, every_steps=2)
  assert isinstance(writer, loop.LogWriter)
  writer.write_scalars(2, {"loss": 1.0})
  writer.write_images(2, {"x": np.zeros((1, 4, 4, 3), np.uint8)})
  report(2)
  writer.flush()


def _largest_array_file(step_dir):
  files = [p for p in glob.glob(os.path.join(step_dir, "state", "**", "d", "*"), recursive=True)
           if os.path.isfile(p)]
  return max(files, key=os.path.getsize)


def _flip_bytes(step_dir):
  path = _largest_array_file(step_dir)
  data = bytearray(open(path, "rb").read())
  for i in range(len(data) // 3, len(data) // 3 + 64):
    data[i] ^= 0xFF
  open(path, "wb").write(bytes(data))


def _truncate(step_dir):
  path = _largest_array_file(step_dir)
  os.truncate(path, os.path.getsize(path) // 2)


def _drop_metadata(step_dir):
  os.remove(os.path.join(step_dir, "state", "_METADATA"))


@pytest.mark.parametrize("damage", [_flip_bytes, _truncate, _drop_metadata])
def test_a_damaged_latest_checkpoint_is_reported_and_training_resumes_from_an_intact_one(
    tfds_dir, tmp_path, damage, caplog):
  c = _config(syncnet, tfds_dir, num_steps=4, checkpoint_every=2, batch_size=4)
  mesh = loop.make_mesh(jax.devices()[:1])
  straight = loop.run(stages.make_trainer(c), c, str(tmp_path / "straight"), mesh)
  loop.run(stages.make_trainer(c), c, str(tmp_path / "run"), mesh)
  damage(str(tmp_path / "run" / "checkpoints" / "4"))
  with pytest.raises(checkpoints.CheckpointError, match="checkpoint of step 4 is damaged or partial"):
    checkpoints.load_tree(str(tmp_path / "run"))  # infer, export and evaluate read runs so
  caplog.set_level("WARNING")
  resumed = loop.run(stages.make_trainer(c), c, str(tmp_path / "run"), mesh)
  assert "checkpoint of step 4 is damaged or partial" in caplog.text
  assert resumed.step == 4 and (tmp_path / "run" / "checkpoints" / "4.damaged").exists()
  # Steps 3-4 again from step 2's checkpoint: the same parameters as the uninterrupted run.
  assert _leaves_equal(jax.device_get(resumed.state)["params"],
                       jax.device_get(straight.state)["params"])


def _conv_dtypes(monkeypatch):
  """The input dtypes of every 2-D convolution traced from now on (models and LPIPS call
  lax.conv_general_dilated through the module, as flax's nn.Conv does)."""
  seen, conv = set(), jax.lax.conv_general_dilated

  def recording(lhs, rhs, *args, **kwargs):
    if lhs.ndim == 4:  # images; MaLS's 1-D convolutions over time make the W+ codes (float32)
      seen.add((np.dtype(lhs.dtype).name, np.dtype(rhs.dtype).name))
    return conv(lhs, rhs, *args, **kwargs)
  monkeypatch.setattr(jax.lax, "conv_general_dilated", recording)
  return seen


@pytest.mark.parametrize("module", ["stylegan2", "syncnet", "prior"])
def test_bfloat16_compute_trains_with_float32_parameters(module, tfds_dir, tmp_path, monkeypatch):
  # Adaptation and lip-sync share one trainer and model: test_adaptation_trains_the_decoder_only
  # runs it in bfloat16 too.
  config = importlib.import_module(f"configs.{module}")
  c = _config(config, tfds_dir, num_steps=2, checkpoint_every=2, batch_size=2, dtype="bfloat16")
  if module == "prior":
    c.lambda_mouth_lpips = 0.0  # the float32 VGG's compile time; its dtype path is lipsync_run's
  convs = _conv_dtypes(monkeypatch)
  trainer = stages.make_trainer(c)
  initial = jax.device_get(trainer.init_state(jax.random.key(0)))
  result = loop.run(trainer, c, str(tmp_path / module), loop.make_mesh(jax.devices()[:1]))
  state = jax.device_get(result.state)
  assert np.isfinite(result.metrics["loss"])
  params = {k: v for k, v in state.items() if k.endswith("params")}
  assert {x.dtype for x in jax.tree_util.tree_leaves(params)} == {np.dtype("float32")}
  before = {k: v for k, v in initial.items() if k.endswith("params")}
  assert not _leaves_equal(before, params)
  assert convs == {("bfloat16", "bfloat16")}, convs  # every convolution computes in bfloat16
