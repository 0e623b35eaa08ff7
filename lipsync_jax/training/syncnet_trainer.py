"""Stage 2: SyncNet, trained contrastively on cosine similarity (as in StyleTalker).

For each sample the visual embedding of its 5 frames must be closest to the audio of the same 0.2 s
among: the audio of every other sample in the global batch and the same clip's audio shifted by
3-12 frames either way, num_shifts times (input_pipeline's shifted_mels): negatives that only
timing tells apart.
With config.opening_weight > 0 a mouth-opening tower regresses each frame's prepared mouth opening
(L1, that weight), for the lip-sync stage's lambda_opening: a separate tower, so the contrastive
embedding is unchanged by it; without, the SyncNet has no such tower (a 3.6x faster step).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from lipsync_jax import audio, input_pipeline
from lipsync_jax.models import syncnet
from lipsync_jax.training import common, losses, loop


class SyncNetTrainer:

  def __init__(self, config, source):
    self.config = config
    self.source = source
    self.opening_weight = config.get("opening_weight", 0.0)
    self.model = syncnet.from_config(config.syncnet, jnp.dtype(config.get("dtype", "float32")),
                                     opening=self.opening_weight > 0)
    self.learning_rate = common.learning_rate_schedule(config)
    self.tx = optax.adam(self.learning_rate)

  def init_state(self, rng):
    r = self.config.model.resolution
    frames = jnp.zeros((1, 5, r, r, 3))
    params = common.jit_init(self.model.init)(rng, frames, jnp.zeros((1, 20, 80)))["params"]
    return {"params": params, "opt_state": self.tx.init(params), "rng": loop.key_data(rng)}

  def make_iterator(self, start_step, process_index, process_count):
    fields = ("frames", "mels", "shifted_mels") + (("mouth_opening",) if self.model.opening else ())
    cfg = input_pipeline.pipeline_config(
        self.config, fields=fields,
        num_shifts=self.config.get("num_shifts", 4))
    return common.make_iterator(self.config, self.source, cfg, process_index, process_count,
                              start_step)

  def loss(self, params, batch):
    frames = common.to_float(batch["frames"])
    t = frames.shape[1]
    v = self.model.apply({"params": params}, frames, method=self.model.visual)
    a = self.model.apply({"params": params}, batch["mels"][:, t // 2], method=self.model.audio)
    b, k = batch["shifted_mels"].shape[:2]
    s = self.model.apply({"params": params}, batch["shifted_mels"].reshape((b * k, 20, 80)),
                         method=self.model.audio)
    s = s.reshape(b, k, -1)
    contrastive = losses.syncnet_contrastive(v, a, s, self.config.temperature)
    pos, shifted = jnp.sum(v * a, -1), jnp.sum(v[:, None] * s, -1)
    loss, metrics = contrastive, {"contrastive": contrastive, "cos_aligned": pos.mean(),
                                  "cos_shifted": shifted.mean(),
                                  "accuracy_vs_shifted": jnp.mean(pos[:, None] > shifted)}
    if self.model.opening:
      opening = self.model.apply({"params": params}, frames, method=self.model.mouth_opening)
      metrics["opening_l1"] = jnp.abs(opening - batch["mouth_opening"]).mean()
      loss = loss + self.opening_weight * metrics["opening_l1"]
    return loss, dict(metrics, loss=loss)

  def _step(self, state, batch, step):
    grads, metrics = jax.grad(self.loss, has_aux=True)(state["params"], batch)
    return common.apply_gradients(state, grads, self.tx, metrics, self.learning_rate(step))

  def setup(self, mesh, state_shardings):
    self._jit_step = common.replicated_jit(self._step, mesh, state_shardings,
                                           NamedSharding(mesh, P("data")))

  def train_step(self, state, batch, step):
    return self._jit_step(state, batch, jnp.int32(step))


def held_out_accuracy(net, params, source, resolution: int, num_clips: int = 8,
                      max_frames: int = 100) -> float:
  """How often the SyncNet ranks aligned audio above audio shifted by 3-12 frames, over the 5-frame
  windows of the first `num_clips` clips of `source` (a held-out split): 0.5 is chance."""
  embedder = syncnet.ClipEmbedder(net, params)
  hits = []
  for i in range(min(num_clips, len(source))):
    example = source[i]
    n = min(int(example["num_frames"]), max_frames)
    frames = input_pipeline.clip_frames(example, n, resolution)
    window, _ = syncnet.sync_discrimination(*embedder.embed(
        frames, audio.mel_windows(np.asarray(example["mel"]), range(n))))
    hits.append(window)
  if not hits:
    raise ValueError("no held-out clips to measure the SyncNet on")
  return float(np.nanmean(hits))
