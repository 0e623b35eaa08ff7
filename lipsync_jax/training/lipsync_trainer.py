"""Stage 3, lip-sync training (paper 3.4), and stage 4, few-shot adaptation (paper 4).

Lip-sync: T=5 clips; L = lambda1 * multi-scale LPIPS + lambda2 * (1 - cos(SyncNet(X^), SyncNet(A)));
the pretrained StyleGAN2 synthesis weights are frozen while SaMF, the encoders and MaLS train.

Not in the paper, all off by default (for decoders trained from scratch, as on CPU): L1 on the
frame and on the masked region, the SyncNet tower's mouth opening, LPIPS on the mouth, and a
non-saturating adversarial loss on the mouth (lambda_mouth_adv) from a small residual
discriminator that sees the mouth squares of a clip's T frames as one minibatch-stddev group, with
lazy R1 on the real squares.

Adaptation: the encoders are frozen and the decoder trains on a few seconds of the target person,
with L_train + lambdaR * R_sync, where R_sync is the sync loss of frames generated from the target's
reference and masked frames but audio drawn from the training set (eq. 9): the decoder must stay
able to follow audio it was not tuned on.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec as P

from lipsync_jax import input_pipeline
from lipsync_jax.models import lpips, stylegan2, stylelipsync, syncnet
from lipsync_jax.training import common, loop

LIPSYNC_TRAINED = ("samf", "face_encoder", "reference_encoder", "audio_encoder", "mals")
ADAPTATION_TRAINED = ("synthesis",)


class LipSyncTrainer:

  def __init__(self, config, source, audio_source=None, adaptation: bool = False):
    self.config = config
    self.source = source
    self.audio_source = audio_source
    self.adaptation = adaptation
    m = config.model
    self.model = stylelipsync.StyleLipSync(m.resolution, m.w_dim, m.channel_base, m.channel_max,
                                           m.face_stem_channels)
    self.sync = syncnet.SyncNet(config.syncnet.embed_dim, config.syncnet.width)
    # The VGG16 weights are loaded only when used: lambda_lpips=0 runs need neither them nor their
    # fetch step (a bare accelerator machine).
    self.lpips_params = (lpips.load_params() if config.lambda_lpips or
                         config.get("lambda_mouth_lpips", 0.0) else None)
    labels = config.get("trained_labels") or ""
    labels = tuple(x.strip() for x in labels.split(",") if x.strip()) if isinstance(labels, str) \
        else tuple(labels)
    self.trained = labels or (ADAPTATION_TRAINED if adaptation else LIPSYNC_TRAINED)
    self.mouth_disc = None
    if config.get("lambda_mouth_adv", 0.0):
      d = config.mouth_disc
      self.mouth_size = int(config.mouth_crop * m.resolution)
      # One minibatch-stddev group per clip: a real mouth moves over T frames, a smudge barely.
      self.mouth_disc = stylegan2.Discriminator(self.mouth_size, d.channel_base, d.channel_max,
                                                input_pipeline.pipeline_config(config).num_frames)
      c = d.r1_interval / (d.r1_interval + 1)  # Adam corrected for the lazy R1, as in stage 1
      self.d_tx = optax.adam(d.learning_rate * c, b1=0.0, b2=0.99**c, eps=1e-8)

  def learning_rate(self, step):
    """Adam's step size: constant (the paper), or with lr_schedule="cosine" decayed over num_steps
    to lr_final_fraction of it (sharpens what an L1-trained decoder from scratch has learned)."""
    c = self.config
    if c.get("lr_schedule", "constant") == "constant":
      return jnp.asarray(c.learning_rate, jnp.float32)
    if c.lr_schedule == "cosine":
      return optax.cosine_decay_schedule(c.learning_rate, c.num_steps, c.lr_final_fraction)(step)
    raise ValueError(f"lr_schedule {c.lr_schedule!r}: constant or cosine")

  def init_state(self, rng):
    r = self.config.model.resolution
    k_model, k_noise, k_sync = jax.random.split(rng, 3)
    pretrained_sync = None
    if self.config.get("pretrained_syncnet"):  # checked first: a wrong one fails before any init
      pretrained_sync = loop.load_checkpoint_tree(self.config.pretrained_syncnet)["params"]
      if self.config.get("lambda_opening", 0.0) and "mouth_tower" not in pretrained_sync:
        raise ValueError(f"config.pretrained_syncnet {self.config.pretrained_syncnet} has no "
                         "mouth-opening tower, which lambda_opening > 0 needs: train a SyncNet "
                         "with this version (opening_weight > 0)")
    frames = jnp.zeros((1, 5, r, r, 3))
    variables = jax.jit(self.model.init)({"params": k_model, "noise": k_noise}, frames,
                                         jnp.zeros((1, 5, 20, 80)), frames[:, 0])
    params = variables["params"]
    consts = {"w_avg": variables["w_avg"], "noise_const": variables["noise_const"]}
    sync_params = pretrained_sync
    if sync_params is None:
      sync_params = jax.jit(self.sync.init)(k_sync, frames, jnp.zeros((1, 20, 80)))["params"]
    if self.config.get("pretrained_stylegan"):
      params, consts = load_pretrained_stylegan(self.config.pretrained_stylegan, params, consts)
    if self.config.get("pretrained_lipsync"):
      tree = loop.load_checkpoint_tree(self.config.pretrained_lipsync)
      params, consts = load_pretrained_lipsync(self.config, tree, params, consts)
    self.tx = common.partitioned(optax.adam(self.learning_rate), self.trained, params)
    state = {"params": params, "consts": consts, "sync_params": sync_params,
             "opt_state": self.tx.init(params), "rng": loop.key_data(rng)}
    if self.mouth_disc is not None:
      t = input_pipeline.pipeline_config(self.config).num_frames
      crops = jnp.zeros((t, self.mouth_size, self.mouth_size, 3))
      d_params = jax.jit(self.mouth_disc.init)(jax.random.fold_in(k_model, 1), crops)["params"]
      state.update(d_params=d_params, d_opt_state=self.d_tx.init(d_params))
    return state

  def make_iterator(self, start_step, process_index, process_count):
    cfg = input_pipeline.pipeline_config(self.config)
    return input_pipeline.TrainIterator(self.source, self.config.batch_size, cfg, process_index,
                                        process_count, start_step, self.audio_source)

  def _sync_loss(self, sync_params, frames, mel):
    v = self.sync.apply({"params": sync_params}, frames, method=self.sync.visual)
    a = self.sync.apply({"params": sync_params}, mel, method=self.sync.audio)
    return syncnet.sync_loss(v, a)

  def _opening_loss(self, sync_params, pred, frames):
    """Mean |opening(generated) - opening(real)| by the SyncNet's mouth-opening tower, the real
    frames' reading as the target (so the tower's bias cancels)."""
    def read(x):
      return self.sync.apply({"params": sync_params}, x, method=self.sync.mouth_opening)
    return jnp.abs(read(pred) - jax.lax.stop_gradient(read(frames))).mean()

  def loss(self, params, state, batch, rng):
    cfg = self.config
    frames = common.to_float(batch["frames"])
    b, t = frames.shape[:2]
    masked = stylelipsync.mask_frames(frames, batch["masks"])
    reference = common.to_float(batch["reference"])
    variables = {"params": params, **state["consts"]}
    k1, k2 = jax.random.split(rng)
    pred = self.model.apply(variables, masked, batch["mels"], reference, rngs={"noise": k1})
    flat = lambda x: x.reshape((b * t,) + x.shape[2:])  # noqa: E731
    l_sync = self._sync_loss(state["sync_params"], pred, batch["mels"][:, t // 2])
    l1 = jnp.abs(pred - frames).mean()
    # lambda_l1 (not in the paper, 0 by default) anchors colours when the decoder is not a
    # converged StyleGAN2: LPIPS alone is nearly blind to a global intensity scale.
    loss = cfg.lambda_sync * l_sync + cfg.get("lambda_l1", 0.0) * l1
    metrics = {"sync": l_sync, "l1": l1}
    if cfg.get("lambda_mask_l1", 0.0):
      l_mask = masked_l1(pred, frames, batch["masks"])
      loss = loss + cfg.lambda_mask_l1 * l_mask
      metrics["mask_l1"] = l_mask
    if cfg.get("lambda_opening", 0.0):
      l_open = self._opening_loss(state["sync_params"], pred, frames)
      loss = loss + cfg.lambda_opening * l_open
      metrics["opening"] = l_open
    if cfg.get("lambda_mouth_lpips", 0.0):
      # The middle frame of each clip only: VGG16 on all T frames would halve a CPU step's speed.
      size, mid = int(cfg.mouth_crop * frames.shape[2]), t // 2
      masks = batch["masks"][:, mid]
      l_mouth = lpips.lpips(self.lpips_params, mouth_crops(pred[:, mid], masks, size),
                            mouth_crops(frames[:, mid], masks, size)).mean()
      loss = loss + cfg.lambda_mouth_lpips * l_mouth
      metrics["mouth_lpips"] = l_mouth
    if self.mouth_disc is not None:
      fake = self._clip_mouths(pred, frames, batch["masks"])
      l_adv = jax.nn.softplus(-self.mouth_disc.apply({"params": state["d_params"]}, fake)).mean()
      loss = loss + cfg.lambda_mouth_adv * l_adv
      metrics["mouth_adv"] = l_adv
    if cfg.lambda_lpips:  # VGG16 LPIPS is most of a tiny model's step: skipped when weighted 0
      l_lpips = lpips.multiscale_lpips(self.lpips_params, flat(pred), flat(frames)).mean()
      loss = loss + cfg.lambda_lpips * l_lpips
      metrics["lpips"] = l_lpips
    if self.adaptation:
      w_ref = self.model.apply(variables, reference, method=self.model.encode_reference)
      other = self.model.apply(variables, batch["sync_mels"], method=self.model.encode_audio)
      codes = self.model.apply(variables, w_ref, other, method=self.model.latents)
      pred_other = self.model.apply(variables, masked, codes, rngs={"noise": k2}, method=self.model.decode)
      r_sync = self._sync_loss(state["sync_params"], pred_other, batch["sync_mels"][:, t // 2])
      loss = loss + cfg.lambda_reg * r_sync
      metrics["r_sync"] = r_sync
    metrics["loss"] = loss
    return loss, (metrics, pred)

  def _clip_mouths(self, pred, frames, masks):
    """The mouth squares of every frame of `pred` pasted into `frames` through the mask (as the
    output is used: the discriminator judges the mouth and its seam, not the decoder's rendering
    of the rest), (N, T, R, R, 3) -> (N * T, S, S, 3), clip by clip."""
    m = masks.astype(pred.dtype)
    pasted = pred * m + frames * (1.0 - m)
    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
    return mouth_crops(flat(pasted), flat(masks), self.mouth_size)

  def _d_update(self, state, batch, pred):
    """One step of the mouth discriminator: logistic loss on real vs generated mouth squares."""
    frames = common.to_float(batch["frames"])
    real = self._clip_mouths(frames, frames, batch["masks"])
    fake = jax.lax.stop_gradient(self._clip_mouths(pred, frames, batch["masks"]))

    def loss_fn(dp):
      l_real = self.mouth_disc.apply({"params": dp}, real)
      l_fake = self.mouth_disc.apply({"params": dp}, fake)
      loss = jax.nn.softplus(l_fake).mean() + jax.nn.softplus(-l_real).mean()
      return loss, {"d_loss": loss, "d_real": l_real.mean(), "d_fake": l_fake.mean()}
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state["d_params"])
    return self._d_apply(state, grads), metrics

  def _r1_step(self, state, batch, step):
    """Lazy R1 on the real mouth squares (stylegan2-ada): r1_gamma / 2 * |grad D(real)|^2, weighted
    by the interval; its double backward costs ~4 discriminator steps."""
    frames = common.to_float(batch["frames"])
    real = self._clip_mouths(frames, frames, batch["masks"])
    d = self.config.mouth_disc

    def loss_fn(dp):
      grad_real = jax.grad(lambda x: self.mouth_disc.apply({"params": dp}, x).sum())(real)
      penalty = jnp.square(grad_real).sum(axis=(1, 2, 3)).mean()
      return penalty * (d.r1_gamma / 2) * d.r1_interval, penalty
    grads, penalty = jax.grad(loss_fn, has_aux=True)(state["d_params"])
    return self._d_apply(state, grads), {"d_r1": penalty}

  def _d_apply(self, state, grads):
    updates, d_opt_state = self.d_tx.update(grads, state["d_opt_state"], state["d_params"])
    return {**state, "d_params": optax.apply_updates(state["d_params"], updates),
            "d_opt_state": d_opt_state}

  def _step(self, state, batch, step):
    rng = loop.step_rng(state["rng"], step)
    grads, (metrics, pred) = jax.grad(self.loss, has_aux=True)(state["params"], state, batch, rng)
    if self.mouth_disc is not None:  # D and G step together, both from this step's frames
      state, d_metrics = self._d_update(state, batch, pred)
      metrics = {**metrics, **d_metrics}
    return common.apply_gradients(state, grads, self.tx, metrics, self.learning_rate(step))

  def setup(self, mesh, state_shardings):
    self._jit_step = common.replicated_jit(self._step, mesh, state_shardings,
                                           NamedSharding(mesh, P("data")))
    self._jit_sample = jax.jit(self._samples)
    if self.mouth_disc is not None:
      self._jit_r1 = common.replicated_jit(self._r1_step, mesh, state_shardings,
                                           NamedSharding(mesh, P("data")))

  def train_step(self, state, batch, step):
    state, metrics = self._jit_step(state, batch, jnp.int32(step))
    if self.mouth_disc is not None and step % self.config.mouth_disc.r1_interval == 0:
      state, r1 = self._jit_r1(state, batch, jnp.int32(step))
      metrics = {**metrics, **r1}
    return state, metrics

  def _samples(self, state, batch):
    _, (_, pred) = self.loss(state["params"], state, batch, jax.random.key(0))
    frames = common.to_float(batch["frames"])
    masked = stylelipsync.mask_frames(frames, batch["masks"])
    row = lambda x: common.to_uint8(x[:4, 2])  # noqa: E731  (the middle frame of 4 samples)
    return {"masked": row(masked), "generated": row(pred), "ground_truth": row(frames)}

  def summaries(self, state, batch):
    return jax.device_get(self._jit_sample(state, batch))


def masked_l1(pred, target, masks):
  """Mean |pred - target| over the masked (generated) pixels only: (N, T, R, R, 3) images,
  (N, T, R, R, 1) masks. Not in the paper: it gives the mouth, a few percent of the frame, the
  weight a whole-frame L1 spreads over pixels that SaMF reconstructs anyway."""
  m = masks.astype(pred.dtype)
  return (jnp.abs(pred - target) * m).sum() / (jnp.maximum(m.sum(), 1.0) * pred.shape[-1])


def mouth_crops(images, masks, size: int):
  """The size x size square of each image centred on its mask's centroid (shifted inside the
  image): (N, R, R, C) images, (N, R, R, 1) masks -> (N, size, size, C). An empty mask gives the
  centre square."""
  r = images.shape[1]
  m = masks.astype(jnp.float32)[..., 0]
  coords = jnp.arange(r, dtype=jnp.float32)
  total = m.sum(axis=(1, 2))
  safe = jnp.maximum(total, 1.0)
  cy = jnp.where(total > 0, (m.sum(axis=2) * coords).sum(1) / safe, (r - 1) / 2)
  cx = jnp.where(total > 0, (m.sum(axis=1) * coords).sum(1) / safe, (r - 1) / 2)
  top = jnp.clip(jnp.round(cy - (size - 1) / 2), 0, r - size).astype(jnp.int32)
  left = jnp.clip(jnp.round(cx - (size - 1) / 2), 0, r - size).astype(jnp.int32)
  channels = images.shape[-1]
  return jax.vmap(lambda img, y, x: jax.lax.dynamic_slice(img, (y, x, 0), (size, size, channels)))(
      images, top, left)


def load_pretrained_lipsync(config, tree, params, consts):
  """A lip-sync run's parameters and constants (`tree`, its checkpoint) for this run. Where the
  model is wider than the run's (config.widen_pretrained), its parameters are embedded in this
  run's initial ones by stylelipsync.widen_params, which keeps the model's output."""
  shapes = lambda t: jax.tree_util.tree_map(np.shape, t)  # noqa: E731
  if shapes(tree["params"]) == shapes(params):
    return tree["params"], tree["consts"]
  if not config.get("widen_pretrained", False):
    raise ValueError(f"config.pretrained_lipsync {config.pretrained_lipsync}: its parameters' "
                     "shapes differ from this config's model; set config.widen_pretrained=True "
                     "to start a wider model from it")
  if shapes(tree["consts"]) != shapes(consts):
    raise ValueError(f"config.pretrained_lipsync {config.pretrained_lipsync}: its w_dim or "
                     "resolution differs from this config's model; only channels may grow")
  logging.info("widening %s's parameters (%d) to this model's (%d)", config.pretrained_lipsync,
               stylegan2.count_params(tree["params"]), stylegan2.count_params(params))
  return stylelipsync.widen_params(tree["params"], jax.device_get(params)), tree["consts"]


def load_pretrained_stylegan(workdir, params, consts):
  """The EMA synthesis weights, w_avg and noise maps of a StyleGAN2 run, into StyleLipSync's
  decoder (SaMF weights stay as initialised)."""
  tree = loop.load_checkpoint_tree(workdir)
  synthesis = dict(params["synthesis"])
  for block, weights in tree["g_ema"]["synthesis"].items():
    synthesis[block] = {**synthesis[block], **weights}
  params = {**params, "synthesis": synthesis}
  consts = {"w_avg": {"w_avg": tree["w_avg"]["mapping"]["w_avg"]},
            "noise_const": tree["noise_const"]}
  return params, consts
