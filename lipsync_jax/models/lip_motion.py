"""Audio to lips (not in the paper): the mouth the decoder is shown (lipsync_jax.lip_hint),
predicted from speech.

  lips_t = lips_ref + 0.1 * MLP(CNN(A_t), 10 * (lips_ref - mean(lips_ref)))

A_t is frame t's 0.2 s log-mel window (20x80), lips_ref the reference frame's lips in canonical
pose (40 points, xyz; lip_hint.canonical), lips_t frame t's in canonical pose: the head's pose is
taken out, so what a few identities teach carries to new ones (the demo's 300 lip-sync steps: the
held-out person's inner-lip opening at r = 0.78 over 12 clips, docs/history.md), and inference
puts the prediction back into each frame's pose (lip_hint.posed). Three stride-2 convolutions read
the window, two dense layers mix it with the reference's shape; the output is the change from the
reference, so the person's lips stay theirs.
"""

import flax.linen as nn
import jax.numpy as jnp

from lipsync_jax import face_geometry
from lipsync_jax.models import ops

NUM_OUTER = len(face_geometry.LIPS_UPPER_OUTER) + len(face_geometry.LIPS_LOWER_OUTER) - 2


class LipMotion(nn.Module):
  widths: tuple = (32, 64, 128)
  hidden: int = 256
  dtype: jnp.dtype = jnp.float32  # compute (parameters and the output stay float32)

  @nn.compact
  def __call__(self, mels, reference_lips):
    """mels (N, 20, 80), reference_lips (N, P, 3) -> lips (N, P, 3), canonical pose."""
    n, p = reference_lips.shape[:2]
    x = mels[..., None]
    for ch in self.widths:
      x = nn.relu(nn.Conv(ch, (3, 3), (2, 2), dtype=self.dtype,
                          conv_general_dilated=ops.conv_as_matmul)(x))
    centred = reference_lips - reference_lips.mean(axis=1, keepdims=True)
    h = jnp.concatenate([x.reshape(n, -1), 10.0 * centred.reshape(n, -1).astype(x.dtype)], -1)
    h = nn.relu(nn.Dense(self.hidden, dtype=self.dtype)(h))
    h = nn.relu(nn.Dense(self.hidden, dtype=self.dtype)(h))
    delta = nn.Dense(p * 3, dtype=self.dtype)(h).astype(jnp.float32)
    return reference_lips + 0.1 * delta.reshape(n, p, 3)


def inner_opening(lips):
  """(..., P, 3) lips (outer ring, then inner) -> (...,) the square root of the inner ring's area
  in the xy plane: how open the mouth is, in the lips' units."""
  ring = lips[..., NUM_OUTER:, :]
  x, y = ring[..., 0], ring[..., 1]
  area = 0.5 * jnp.abs(jnp.sum(x * jnp.roll(y, 1, -1) - y * jnp.roll(x, 1, -1), axis=-1))
  return jnp.sqrt(area + 1e-8)


def lips_loss(pred, target):
  """Mean |pred - target| over points and coordinates plus mean |opening(pred) - opening(target)|:
  the opening is what the decoder's mouth and the measures of sync read."""
  return (jnp.abs(pred - target).mean() +
          jnp.abs(inner_opening(pred) - inner_opening(target)).mean())
