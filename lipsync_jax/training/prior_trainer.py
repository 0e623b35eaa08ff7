"""The decoder prior by autoencoding (not in the paper): the stand-in for stage 1 where no
pretrained StyleGAN2 exists.

The paper's decoder is a StyleGAN2 pretrained for days; one learned from scratch inside lip-sync
training only hears about the mouth through audio codes that do not carry it yet, so L1 and LPIPS
average over the mouths it cannot place and it draws a blur. Here the decoder learns to draw the
mouth from a code that already holds it: the frame encoder reads what the lip mask hides in the
real frame, through a narrow code (model.code_dim), and

  w*_t = w_ref + E_frame(Y_t * M_t) + w_avg,   X^_t = G(w*_t, E_face(X_t))     (eqs. 2 and 5)

is trained to reconstruct Y_t (training.losses: L1, L1 on the masked region, LPIPS on the mouth).
The code holds the mesh's mouth shape (face_geometry.mouth_shape, standardised by its mean and
spread over the training split: the consts' shape_stats) beside what the frame encoder learns: a
code learned from pixels alone carried almost none of the mouth and the decoder learned to ignore
it (models.encoders.FrameEncoder).
With config.lip_hint the mesh's lips are also drawn into the masked frame (lipsync_jax.lip_hint):
the decoder then sees where the mouth is and how open, and learned to draw it in 16,000 faces at
64x64 where it had not without (docs/history.md); lip-sync learns to predict the lips from audio.
Trained: the synthesis network, SaMF, the face, reference and frame encoders. Lip-sync then starts
from this run (config.pretrained_prior) with the synthesis frozen and learns w~_t -> w*_t.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lipsync_jax import input_pipeline
from lipsync_jax.models import lpips
from lipsync_jax.training import common, lipsync_trainer, losses, loop

PRIOR_TRAINED = ("synthesis", "samf", "face_encoder", "reference_encoder", "frame_encoder")


class PriorTrainer(common.DecoderSteps):

  def __init__(self, config, source):
    self.config = config
    self.source = source
    self.model = lipsync_trainer.make_model(config)
    self.trained = lipsync_trainer.trained_labels(config, PRIOR_TRAINED)
    self.learning_rate = common.learning_rate_schedule(config)
    if not losses.any_image_loss(config):
      raise ValueError("the decoder prior needs an image loss: set lambda_l1, lambda_mask_l1, "
                       "lambda_mouth_lpips or lambda_lpips")
    self.lpips_params = lpips.load_params() if losses.uses_vgg(config) else None

  def init_state(self, rng):
    r = self.config.model.resolution
    k_model, k_noise = jax.random.split(rng)
    frames = jnp.zeros((1, 5, r, r, 3))
    variables = common.jit_init(self.model.init)({"params": k_model, "noise": k_noise}, frames,
                                                 jnp.zeros((1, 5, 20, 80)), frames[:, 0])
    params = variables["params"]
    consts = {"w_avg": variables["w_avg"], "noise_const": variables["noise_const"],
              "shape_stats": mouth_shape_stats(self.source)}
    if self.config.get("pretrained_prior"):  # continue a prior run (e.g. with other losses)
      params, consts = lipsync_trainer.load_pretrained_model(self.config.pretrained_prior, params,
                                                             consts)
    self.tx = common.partitioned(optax.adam(self.learning_rate), self.trained, params)
    return {"params": params, "consts": consts, "opt_state": self.tx.init(params),
            "rng": loop.key_data(rng)}

  def make_iterator(self, start_step, process_index, process_count):
    cfg = input_pipeline.pipeline_config(self.config,
                                         fields=("frames", "masks", "reference", "mouth_shape")
                                         + (("hint",) if self.config.get("lip_hint") else ()))
    return common.make_iterator(self.config, self.source, cfg, process_index, process_count,
                              start_step)

  def reconstruct(self, params, consts, batch, rng=None):
    """Frames drawn from the teacher codes of `batch` (noise from `rng`, or const), the mouth
    shape read off the codes, and the decoder's intermediates (SaMF's masks). The encoders and
    the decoder run over config.batch_slices slices of the batch (common.in_slices)."""
    frames = common.to_float(batch["frames"])
    variables = {"params": params, **consts}
    apply = lambda *a, **k: self.model.apply(variables, *a, **k)  # noqa: E731
    slices = self.config.get("batch_slices", 1)
    sliced = lambda method, *a: common.in_slices(  # noqa: E731
        lambda *b: apply(*b, method=method), a, slices)
    w_ref = sliced(self.model.encode_reference, common.to_float(batch["reference"]))
    codes = sliced(self.model.teacher_latents, w_ref, frames, batch["masks"], batch["mouth_shape"])
    masked = common.masked_input(frames, batch)
    if rng is None:
      return apply(masked, codes, noise_mode="const", method=self.model.decode), {}
    return common.decode(apply, self.model, masked, codes, rng, slices, intermediates=True)

  def loss(self, params, state, batch, rng, lpips_params):
    frames = common.to_float(batch["frames"])
    pred, inter = self.reconstruct(params, state["consts"], batch, rng)
    pred = pred.astype(jnp.float32)
    loss, metrics = losses.reconstruction(self.config, lpips_params, pred, frames, batch["masks"])
    metrics.update(losses.samf_mask_means(inter, batch["masks"]))
    metrics["loss"] = loss
    return loss, metrics

  def _samples(self, state, batch):
    pred, _ = self.reconstruct(state["params"], state["consts"], batch)
    frames = common.to_float(batch["frames"])
    row = lambda x: common.to_uint8(x[:4, x.shape[1] // 2])  # noqa: E731
    return {"masked": row(common.masked_input(frames, batch)), "reconstructed": row(pred),
            "ground_truth": row(frames)}


def mouth_shape_stats(source, clips: int = 64) -> dict:
  """The mean and spread of face_geometry.mouth_shape over the frames of (up to) `clips` clips of
  the split spread evenly over it: what the teacher codes standardise the shape with."""
  index = np.linspace(0, len(source) - 1, min(clips, len(source))).astype(int)
  shapes = np.concatenate([input_pipeline.mouth_shapes(source[int(i)], 0,
                                                      int(source[int(i)]["num_frames"]))
                           for i in index])
  return {"mean": jnp.asarray(shapes.mean(0)), "std": jnp.asarray(np.maximum(shapes.std(0), 1e-3))}
