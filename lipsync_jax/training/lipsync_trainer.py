"""Stage 3, lip-sync training (paper 3.4); stage 4, adaptation, builds on it (adaptation_trainer).

Lip-sync: T=5 clips; L = lambda1 * multi-scale LPIPS + lambda2 * (1 - cos(SyncNet(X^), SyncNet(A)));
the pretrained decoder's synthesis weights are frozen while SaMF, the encoders and MaLS train.

The latent teacher (lambda_latent; not in the paper): with a decoder prior (prior_trainer), whose
frozen frame encoder gives each real frame its code w*_t, the mean squared distance of the
audio-driven codes w~_t (eq. 4) to w*_t. With every image loss and the sync loss at 0 the step
never runs the decoder: it trains the audio encoder and MaLS on codes alone, at a fraction of the
cost. Also not in the paper, all off by default: L1 on the frame and on the masked region, LPIPS on
the mouth (training.losses), and the SyncNet tower's mouth opening.
"""

import json
import os

import jax
import jax.numpy as jnp
import optax
from absl import logging

from lipsync_jax import checkpoints, input_pipeline
from lipsync_jax.models import lip_motion, lpips, stylelipsync, syncnet
from lipsync_jax.training import common, losses, loop, syncnet_trainer

LIPSYNC_TRAINED = ("samf", "face_encoder", "reference_encoder", "audio_encoder", "mals",
                   "lip_motion")


def make_model(config) -> stylelipsync.StyleLipSync:
  """The config's model, computing in config.dtype (bfloat16 on accelerators: convolutions only;
  parameters, optimizer state, styles, demodulation and losses stay float32)."""
  return stylelipsync.from_config(config.model, jnp.dtype(config.get("dtype", "float32")))


def trained_labels(config, default):
  """config.trained_labels (comma-separated) or the stage's default."""
  labels = config.get("trained_labels") or ""
  if isinstance(labels, str):
    labels = tuple(x.strip() for x in labels.split(",") if x.strip())
  return tuple(labels) or default


def load_pretrained_model(workdir, params, consts):
  """The params and consts of a decoder-prior, lip-sync or adaptation run into this model's; its
  shapes must be this config's (one model tree for all three stages). A module the run's version
  of the model did not have (lip_motion before it existed) keeps this model's initialisation."""
  tree = checkpoints.load_tree(workdir)
  shapes = lambda t: jax.tree_util.tree_map(jnp.shape, t)  # noqa: E731
  missing = sorted(set(params) - set(tree["params"]))
  if missing:
    logging.info("%s has no %s: initialised", workdir, ", ".join(missing))
    tree["params"] = {**tree["params"], **{k: jax.device_get(params[k]) for k in missing}}
  if shapes(tree["params"]) != shapes(jax.device_get(params)):
    raise ValueError(f"{workdir}: its model's parameters differ in shape from this config's "
                     "model (resolution, channels, w_dim or code_dim)")
  return tree["params"], tree["consts"]


def check_lip_hint(config, workdir):
  """A decoder trained with the mesh's lips drawn in (lip_hint) draws its mouth from them, one
  trained without ignores them: the stages built on a run must agree with it."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return
  with open(path) as f:
    trained = bool(json.load(f).get("lip_hint", False))
  if trained != bool(config.get("lip_hint", False)):
    raise ValueError(f"{workdir} was trained with lip_hint={trained} (the mesh's lips drawn into "
                     f"the masked frame): set config.lip_hint={trained} to build on it")


def check_syncnet(config, workdir):
  """The SyncNet this stage builds (config.syncnet) must be the one the run trained."""
  trained = checkpoints.read_config(workdir, ("syncnet",))["syncnet"]
  for key, default in (("embed_dim", None), ("width", None), ("motion", False)):
    if trained.get(key, default) != config.syncnet.get(key, default):
      raise ValueError(f"config.pretrained_syncnet {workdir} was trained with syncnet.{key}="
                       f"{trained.get(key, default)}: set config.syncnet.{key} to match")


class LipSyncTrainer(common.DecoderSteps):
  default_trained = LIPSYNC_TRAINED

  def __init__(self, config, source, audio_source=None):
    self.config = config
    self.source = source
    self.audio_source = audio_source
    self.model = make_model(config)
    self.sync = syncnet.from_config(config.syncnet, jnp.dtype(config.get("dtype", "float32")))
    self.trained = trained_labels(config, self.default_trained)
    self.learning_rate = common.learning_rate_schedule(config)
    # The decoder runs only for the image and sync losses: the latent teacher alone trains on codes.
    self.decodes = (losses.any_image_loss(config) or config.lambda_sync or
                    config.get("lambda_opening", 0.0))
    image_codes = config.get("image_codes", "audio")
    if image_codes not in ("audio", "teacher"):
      raise ValueError(f"image_codes {image_codes!r}: audio or teacher")
    self.uses_teacher = bool(config.get("lambda_latent", 0.0)) or image_codes == "teacher"
    # VGG16's weights are loaded only when used: runs without LPIPS need neither them nor their
    # fetch step (a bare accelerator machine).
    self.lpips_params = lpips.load_params() if losses.uses_vgg(config) else None

  def init_state(self, rng):
    cfg = self.config
    r = cfg.model.resolution
    k_model, k_noise, k_sync = jax.random.split(rng, 3)
    pretrained = cfg.get("pretrained_lipsync") or cfg.get("pretrained_prior")
    if pretrained:
      check_lip_hint(cfg, pretrained)
    if "synthesis" not in self.trained and not (pretrained or cfg.get("pretrained_stylegan")):
      raise ValueError("the synthesis network is frozen but no pretrained decoder is given: set "
                       "config.pretrained_prior (or pretrained_stylegan / pretrained_lipsync), or "
                       "train it (config.trained_labels)")
    pretrained_sync = self._load_syncnet()  # checked first: a wrong one fails before any init
    frames = jnp.zeros((1, 5, r, r, 3))
    variables = common.jit_init(self.model.init)({"params": k_model, "noise": k_noise}, frames,
                                                 jnp.zeros((1, 5, 20, 80)), frames[:, 0])
    params = variables["params"]
    consts = {"w_avg": variables["w_avg"], "noise_const": variables["noise_const"],
              "shape_stats": variables["shape_stats"]}
    sync_params = pretrained_sync
    if sync_params is None:
      sync_params = common.jit_init(self.sync.init)(k_sync, frames,
                                                    jnp.zeros((1, 20, 80)))["params"]
    if cfg.get("pretrained_stylegan"):
      params, consts = load_pretrained_stylegan(cfg.pretrained_stylegan, params, consts)
    if pretrained:
      params, consts = load_pretrained_model(pretrained, params, consts)
    self.tx = common.partitioned(optax.adam(self.learning_rate), self.trained, params)
    return {"params": params, "consts": consts, "sync_params": sync_params,
            "opt_state": self.tx.init(params), "rng": loop.key_data(rng)}

  def _load_syncnet(self):
    """The pretrained SyncNet's params, refused when the losses that use it would learn nothing
    from it: missing, without the mouth-opening tower that lambda_opening reads, or no better
    than config.min_syncnet_accuracy at telling aligned from shifted audio on held-out clips
    (a SyncNet at chance, 0.5, turns the sync loss into noise)."""
    cfg = self.config
    uses_sync = self.uses_sync()
    threshold = cfg.get("min_syncnet_accuracy", 0.75)
    if not cfg.get("pretrained_syncnet"):
      if (uses_sync or cfg.get("lambda_opening", 0.0)) and threshold:
        raise ValueError("the sync loss (lambda_sync, lambda_reg) and lambda_opening need a "
                         "trained SyncNet: set config.pretrained_syncnet (an untrained one only "
                         "with config.min_syncnet_accuracy=0, for tests)")
      return None
    check_syncnet(cfg, cfg.pretrained_syncnet)
    params = checkpoints.load_tree(cfg.pretrained_syncnet)["params"]
    if cfg.get("lambda_opening", 0.0) and "mouth_tower" not in params:
      raise ValueError(f"config.pretrained_syncnet {cfg.pretrained_syncnet} has no "
                       "mouth-opening tower, which lambda_opening > 0 needs: train a SyncNet "
                       "with this version (opening_weight > 0)")
    if uses_sync and threshold:
      split = cfg.get("syncnet_check_split", "test")
      accuracy = syncnet_trainer.held_out_accuracy(
          self.sync, params, input_pipeline.open_source(cfg.dataset, cfg.data_dir, split),
          cfg.model.resolution)
      logging.info("SyncNet %s: aligned above shifted audio in %.1f%% of held-out windows (%s)",
                   cfg.pretrained_syncnet, 100 * accuracy, split)
      if accuracy < threshold:
        raise ValueError(f"config.pretrained_syncnet {cfg.pretrained_syncnet}: aligned audio "
                         f"beats shifted audio in {100 * accuracy:.1f}% of held-out windows "
                         f"({cfg.dataset} {split}), below config.min_syncnet_accuracy "
                         f"{100 * threshold:.0f}%: train it longer")
    return params

  def uses_sync(self) -> bool:
    """Whether a loss reads the SyncNet's embeddings."""
    return bool(self.config.lambda_sync)

  def make_iterator(self, start_step, process_index, process_count):
    cfg = input_pipeline.pipeline_config(self.config, fields=self.fields())
    return common.make_iterator(self.config, self.source, cfg, process_index, process_count,
                              start_step, self.audio_source)

  def fields(self):
    """The batch entries this stage reads (the pipeline makes no others)."""
    needed = {"frames", "masks", "mels", "reference"}
    if self.uses_teacher:
      needed.add("mouth_shape")
    if self.config.get("lip_hint") and self.decodes:
      needed.add("hint")
    if self.config.get("lip_hint") and self.config.get("lambda_lips", 0.0):
      needed |= {"lips", "reference_lips"}
      if self.config.get("lip_windows", 1) > 1:
        needed |= {"more_lips", "more_lip_mels", "more_reference_lips"}
    return tuple(sorted(needed))

  def _embed(self, sync_params, frames, mel):
    """The SyncNet's unit embeddings of clips (N, 5, R, R, 3) and their middle mel windows."""
    return (self.sync.apply({"params": sync_params}, frames, method=self.sync.visual),
            self.sync.apply({"params": sync_params}, mel, method=self.sync.audio))

  def _opening_loss(self, sync_params, pred, frames):
    """Mean |opening(generated) - opening(real)| by the SyncNet's mouth-opening tower, the real
    frames' reading as the target (so the tower's bias cancels)."""
    def read(x):
      return self.sync.apply({"params": sync_params}, x, method=self.sync.mouth_opening)
    return jnp.abs(read(pred) - jax.lax.stop_gradient(read(frames))).mean()

  def loss(self, params, state, batch, rng, lpips_params):
    cfg = self.config
    frames = common.to_float(batch["frames"])
    t = frames.shape[1]
    masked = common.masked_input(frames, batch)  # the true lips drawn in with lip_hint
    reference = common.to_float(batch["reference"])
    variables = {"params": params, **state["consts"]}
    apply = lambda *a, **k: self.model.apply(variables, *a, **k)  # noqa: E731
    k1, k2 = jax.random.split(rng)
    sliced = lambda method, *a: common.in_slices(  # noqa: E731
        lambda *b: apply(*b, method=method), a, cfg.get("batch_slices", 1))
    w_ref = apply(reference, method=self.model.encode_reference)
    codes = apply(w_ref, sliced(self.model.encode_audio, batch["mels"]), method=self.model.latents)
    loss, metrics, pred = 0.0, {}, None
    teacher = None
    if self.uses_teacher:
      teacher = jax.lax.stop_gradient(sliced(self.model.teacher_latents, w_ref, frames,
                                             batch["masks"], batch["mouth_shape"]))
    if cfg.get("lambda_latent", 0.0):
      metrics["latent"] = jnp.square(codes - teacher).mean()
      # The share of the teacher's mouth codes' variance (about their clip mean) left unexplained.
      spread = jnp.square(teacher - teacher.mean(axis=1, keepdims=True)).mean()
      metrics["latent_unexplained"] = jnp.square(
          (codes - codes.mean(axis=1, keepdims=True)) -
          (teacher - teacher.mean(axis=1, keepdims=True))).mean() / jnp.maximum(spread, 1e-12)
      loss = loss + cfg.lambda_latent * metrics["latent"]
    if "lips" in batch:  # audio to the lips the decoder is shown (config.lip_hint)
      mels, reference_lips, true_lips = batch["mels"], batch["reference_lips"], batch["lips"]
      if "more_lips" in batch:  # config.lip_windows: further windows for this loss alone
        flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
        mels = jnp.concatenate([mels, flat(batch["more_lip_mels"])])
        reference_lips = jnp.concatenate([reference_lips, flat(batch["more_reference_lips"])])
        true_lips = jnp.concatenate([true_lips, flat(batch["more_lips"])])
      pred_lips = sliced(self.model.predict_lips, mels, reference_lips)
      metrics["lips"] = lip_motion.lips_loss(pred_lips, true_lips)
      metrics["lips_opening_error"] = jnp.abs(lip_motion.inner_opening(pred_lips) -
                                              lip_motion.inner_opening(true_lips)).mean()
      loss = loss + cfg.lambda_lips * metrics["lips"]
    if self.decodes:
      # The image losses decode the audio-driven codes, or with image_codes="teacher" (adaptation
      # on a prior) the prior's codes of the real frames, which describe the mouth exactly.
      image_codes = teacher if cfg.get("image_codes", "audio") == "teacher" else codes
      pred, inter = common.decode(apply, self.model, masked, image_codes, k1,
                                  cfg.get("batch_slices", 1), intermediates=True)
      pred = pred.astype(jnp.float32)
      image_loss, image_metrics = losses.reconstruction(cfg, lpips_params, pred, frames,
                                                        batch["masks"])
      loss = loss + image_loss
      metrics.update(image_metrics)
      metrics.update(losses.samf_mask_means(inter, batch["masks"]))
      if cfg.lambda_sync:
        metrics["sync"] = losses.sync_loss(*self._embed(state["sync_params"], pred,
                                                        batch["mels"][:, t // 2]))
        loss = loss + cfg.lambda_sync * metrics["sync"]
      if cfg.get("lambda_opening", 0.0):
        metrics["opening"] = self._opening_loss(state["sync_params"], pred, frames)
        loss = loss + cfg.lambda_opening * metrics["opening"]
    extra, extra_metrics = self.regulariser(state, apply, masked, w_ref, batch, k2)
    loss = loss + extra
    metrics.update(extra_metrics)
    metrics["loss"] = loss
    return loss, metrics

  def regulariser(self, state, apply, masked, w_ref, batch, rng):
    """A stage's further loss term and its metrics: none in lip-sync (adaptation adds R_sync)."""
    del state, apply, masked, w_ref, batch, rng
    return 0.0, {}

  def _samples(self, state, batch):
    frames = common.to_float(batch["frames"])
    masked = common.masked_input(frames, batch)
    variables = {"params": state["params"], **state["consts"]}
    apply = lambda *a, **k: self.model.apply(variables, *a, **k)  # noqa: E731
    w_ref = apply(common.to_float(batch["reference"]), method=self.model.encode_reference)
    codes = apply(w_ref, apply(batch["mels"], method=self.model.encode_audio),
                  method=self.model.latents)
    pred = apply(masked, codes, noise_mode="const", method=self.model.decode)
    row = lambda x: common.to_uint8(x[:4, 2])  # noqa: E731  (the middle frame of 4 samples)
    return {"masked": row(masked), "generated": row(pred), "ground_truth": row(frames)}


def load_pretrained_stylegan(workdir, params, consts):
  """The EMA synthesis weights, w_avg and noise maps of a StyleGAN2 run, into StyleLipSync's
  decoder (SaMF weights stay as initialised)."""
  tree = checkpoints.load_tree(workdir)
  synthesis = dict(params["synthesis"])
  for block, weights in tree["g_ema"]["synthesis"].items():
    synthesis[block] = {**synthesis[block], **weights}
  params = {**params, "synthesis": synthesis}
  consts = {**consts, "w_avg": {"w_avg": tree["w_avg"]["mapping"]["w_avg"]},
            "noise_const": tree["noise_const"]}
  return params, consts
