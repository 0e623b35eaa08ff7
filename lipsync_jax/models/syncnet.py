"""SyncNet for the sync loss (paper eq. 7), the sync regulariser (eq. 9) and the LSE metrics.

A visual tower on the lower half of T=5 frames (stacked on channels, resized to 64x128) and an audio
tower on the matching 0.2 s mel window (20x80), each ending in an L2-normalised 512-d embedding,
trained contrastively on cosine similarity (as in StyleTalker): aligned pairs are positives,
time-shifted windows and other clips' audio are negatives.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

LOWER_HALF_SIZE = (64, 128)


def _tower(x, plan, embed_dim, name):
  for i, (features, stride) in enumerate(plan):
    x = nn.Conv(features, (3, 3), stride, padding=1, name=f"{name}_conv{i}")(x)
    x = nn.relu(nn.GroupNorm(num_groups=min(32, features), name=f"{name}_norm{i}")(x))
  x = x.mean(axis=(1, 2))
  x = nn.Dense(embed_dim, name=f"{name}_fc")(x)
  return x / (jnp.linalg.norm(x, axis=-1, keepdims=True) + 1e-6)


class SyncNet(nn.Module):
  embed_dim: int = 512

  def visual(self, frames):
    """frames (N, T, R, R, 3) in [-1, 1] -> (N, embed_dim) unit vectors."""
    n, t, r = frames.shape[:3]
    lower = frames[:, :, r // 2:]
    lower = jax.image.resize(lower, (n, t) + LOWER_HALF_SIZE + (3,), "linear")
    x = lower.transpose(0, 2, 3, 1, 4).reshape((n,) + LOWER_HALF_SIZE + (t * 3,))
    plan = ((32, 1), (64, 2), (128, 2), (256, 2), (512, 2), (512, 2))
    return _tower(x, plan, self.embed_dim, "visual")

  def audio(self, mel):
    """mel (N, 20, 80) -> (N, embed_dim) unit vectors."""
    plan = ((32, 1), (64, 2), (128, 2), (256, (1, 2)), (512, 2))
    return _tower(mel[..., None], plan, self.embed_dim, "audio")

  @nn.compact
  def __call__(self, frames, mel):
    return self.visual(frames), self.audio(mel)


def sync_loss(visual, audio):
  """1 - cos(f_v, f_a), averaged (eqs. 7 and 9); inputs are unit vectors."""
  return jnp.mean(1.0 - jnp.sum(visual * audio, axis=-1))


def contrastive_loss(visual, audio, temperature=0.07):
  """Symmetric InfoNCE over the batch on cosine similarity: row i's positive is column i."""
  logits = visual @ audio.T / temperature
  labels = jnp.arange(logits.shape[0])
  lv = -jnp.mean(jax.nn.log_softmax(logits, axis=1)[labels, labels])
  la = -jnp.mean(jax.nn.log_softmax(logits, axis=0)[labels, labels])
  return 0.5 * (lv + la)
