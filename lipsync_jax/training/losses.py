"""The training losses, by the paper's names where it has them.

The paper's:
  lpips        L_lpips, multi-scale VGG16 LPIPS over whole frames, eq. 6 (lambda_lpips)
  sync_loss    L_sync = 1 - cos(SyncNet(X^), SyncNet(A)), eq. 7; eq. 8 sums them
  r_sync       R_sync, eq. 9: L_sync of frames generated from the adaptation target's faces but
               audio drawn from the training set (the same function on those frames)
  syncnet_contrastive  the SyncNet's own objective (InfoNCE on cosine similarity)
  d_logistic, g_nonsaturating, r1_penalty  StyleGAN2's losses for the decoder's stage 1
Not in the paper (the decoder prior and its recipe; docs/design.md):
  l1           L1 over whole frames (lambda_l1)
  mask_l1      L1 over the masked pixels only, where the mouth is drawn (lambda_mask_l1)
  mouth_lpips  single-scale LPIPS on the square around each clip's middle-frame mask
               (lambda_mouth_lpips, mouth_crop of the side)

In `reconstruction` each image term is computed only when its weight is not zero. VGG16's weights
come in as an argument (`lpips_params`, replicated by the trainer), not as constants baked into
the compiled step.
"""

import jax
import jax.numpy as jnp
import optax

from lipsync_jax.models import lpips
from lipsync_jax.training import common

WEIGHTS = ("lambda_lpips", "lambda_l1", "lambda_mask_l1", "lambda_mouth_lpips")


def uses_vgg(config) -> bool:
  return bool(config.get("lambda_lpips", 0.0) or config.get("lambda_mouth_lpips", 0.0))


def any_image_loss(config) -> bool:
  return any(config.get(k, 0.0) for k in WEIGHTS)


def reconstruction(config, lpips_params, pred, frames, masks):
  """The weighted sum of the image losses of generated clips `pred` against `frames`, both
  (N, T, R, R, 3) in [-1, 1], with lip masks (N, T, R, R, 1). Returns (loss, metrics)."""
  t = frames.shape[1]
  slices = config.get("batch_slices", 1)  # VGG over slices of the batch (common.in_slices)
  loss, metrics = 0.0, {}
  if config.get("lambda_l1", 0.0):
    metrics["l1"] = jnp.abs(pred - frames).mean()
    loss = loss + config.lambda_l1 * metrics["l1"]
  if config.get("lambda_mask_l1", 0.0):
    metrics["mask_l1"] = masked_l1(pred, frames, masks)
    loss = loss + config.lambda_mask_l1 * metrics["mask_l1"]
  if config.get("lambda_mouth_lpips", 0.0):
    # The middle frame of each clip only: VGG16 on all T frames would halve a CPU step's speed.
    size, mid = int(config.mouth_crop * frames.shape[2]), t // 2
    m = masks[:, mid]
    metrics["mouth_lpips"] = common.in_slices(
        lambda x, y: lpips.lpips(lpips_params, x, y),
        (mouth_crops(pred[:, mid], m, size), mouth_crops(frames[:, mid], m, size)), slices).mean()
    loss = loss + config.lambda_mouth_lpips * metrics["mouth_lpips"]
  if config.get("lambda_lpips", 0.0):
    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
    metrics["lpips"] = common.in_slices(  # sliced by clip: a device's clips stay on it
        lambda x, y: lpips.multiscale_lpips(lpips_params, flat(x), flat(y)).reshape(x.shape[:2]),
        (pred, frames), slices).mean()
    loss = loss + config.lambda_lpips * metrics["lpips"]
  return loss, metrics


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


def samf_mask_means(intermediates, masks):
  """The mean SaMF mask S (paper eq. 2; 1 keeps the face encoder's features, 0 the decoder's)
  inside the lip mask, per decoder block, from the model's sown intermediates and the lip masks
  (N, T, R, R, 1): where the mouth is drawn, the decoder must win (S near 0)."""
  flat = masks.reshape((-1,) + masks.shape[2:]).astype(jnp.float32)
  out = {}
  for block, values in intermediates["synthesis"].items():
    if "samf" not in values:
      continue
    (s,) = values["samf"]["mask"]
    r = s.shape[1]
    m = jax.image.resize(flat, (flat.shape[0], r, r, 1), "linear")
    out[f"samf_in_mask/{block}"] = (s * m).sum() / jnp.maximum(m.sum(), 1e-6)
  return out


def sync_loss(visual, audio):
  """L_sync (eq. 7): 1 - cos(f_v, f_a), averaged; inputs are the SyncNet's unit embeddings."""
  return jnp.mean(1.0 - jnp.sum(visual * audio, axis=-1))


r_sync = sync_loss  # eq. 9: the same on frames driven by audio from the training set


def syncnet_contrastive(visual, audio, shifted, temperature):
  """InfoNCE on cosine similarity: sample i's visual embedding (B, D) against the audio of every
  sample (B, D) and the K shifted windows of every sample (B, K, D); its positive is audio i."""
  b, k, d = shifted.shape
  logits = visual @ jnp.concatenate([audio, shifted.reshape(b * k, d)]).T / temperature
  return optax.softmax_cross_entropy_with_integer_labels(logits, jnp.arange(b)).mean()


def d_logistic(logits_real, logits_fake):
  """StyleGAN2's discriminator loss: softplus(D(fake)) + softplus(-D(real))."""
  return jax.nn.softplus(logits_fake).mean() + jax.nn.softplus(-logits_real).mean()


def g_nonsaturating(logits_fake):
  """StyleGAN2's generator loss: softplus(-D(G(z)))."""
  return jax.nn.softplus(-logits_fake).mean()


def r1_penalty(grad_real):
  """R1: the squared norm of D's gradient at real images, per image, averaged."""
  return jnp.square(grad_real).sum(axis=tuple(range(1, grad_real.ndim))).mean()
