"""Stage 4, few-shot adaptation (paper section 4).

The encoders and MaLS are frozen; the decoder (the synthesis network) trains on a few seconds of
the target person with L_train + lambda_reg * R_sync (eq. 9), where R_sync is the sync loss of
frames generated from the target's reference and masked frames but audio drawn from the training
set: the decoder must stay able to follow audio it was not tuned on. L_train is the lip-sync
stage's (its image losses, config.image_codes choosing the codes they decode).
"""

import jax.numpy as jnp

from lipsync_jax.training import common, losses
from lipsync_jax.training.lipsync_trainer import LipSyncTrainer

ADAPTATION_TRAINED = ("synthesis",)


class AdaptationTrainer(LipSyncTrainer):
  """source: the target person's prepared segments; audio_source: the training split, whose
  audio drives R_sync."""
  default_trained = ADAPTATION_TRAINED

  def __init__(self, config, source, audio_source):
    super().__init__(config, source, audio_source)
    self.decodes = True

  def uses_sync(self) -> bool:
    return bool(self.config.lambda_sync or self.config.lambda_reg)

  def fields(self):
    if not self.config.lambda_reg:  # no second clip's audio to read
      return super().fields()
    other = {"sync_mels", "sync_hint"} if self.config.get("lip_hint") else {"sync_mels"}
    return tuple(sorted(set(super().fields()) | other))

  def regulariser(self, state, apply, masked, w_ref, batch, rng):
    """lambda_reg * R_sync (eq. 9) of the target's frames driven by other clips' audio; nothing
    at lambda_reg = 0 (its decode and SyncNet would otherwise run, and be differentiated, for a
    logged figure). With lip_hint the decoder is shown the other clip's lip motion on the target's
    face (input_pipeline.moved_lips), as inference shows it the lips predicted from the audio."""
    if not self.config.lambda_reg:
      return 0.0, {}
    if "sync_hint" in batch:
      masked = common.masked_input(common.to_float(batch["frames"]),
                                   {"masks": batch["masks"], "hint": batch["sync_hint"]})
    t = masked.shape[1]
    other = apply(batch["sync_mels"], method=self.model.encode_audio)
    pred = common.decode(apply, self.model, masked, apply(w_ref, other, method=self.model.latents),
                         rng, self.config.get("batch_slices", 1)).astype(jnp.float32)
    r_sync = losses.r_sync(*self._embed(state["sync_params"], pred, batch["sync_mels"][:, t // 2]))
    return self.config.lambda_reg * r_sync, {"r_sync": r_sync}
