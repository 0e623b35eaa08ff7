"""SyncNet for the sync loss (paper eq. 7, training.losses), the sync regulariser (eq. 9) and LSE.

A visual tower on the lower half of T=5 frames (stacked on channels, resized to 64x128) and an audio
tower on the matching 0.2 s mel window (20x80), each ending in an L2-normalised 512-d embedding,
trained contrastively on cosine similarity (as in StyleTalker): aligned pairs are positives,
time-shifted windows and other clips' audio are negatives.

Not in the paper: with `motion`, the visual tower also reads each frame minus the window's mean
frame, where a face's still appearance cancels and what moves remains. Trained on a few
identities, it read a held-out person's windows better (92.0% against 88.1% at proof128).

Not in the paper: an optional third tower (`opening`; the trainer's opening_weight > 0), trained
alongside by regression, reads one frame's lower half and gives its mouth opening
(face_geometry.mouth_opening of the prepared mesh). The lip-sync stage's optional opening loss
(lambda_opening) compares it on generated and real frames: the contrastive embedding hardly sees
how far a mouth opens, and the mouths of an L1-trained decoder moved less than the real ones
without the sync loss objecting.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lipsync_jax.models import ops

LOWER_HALF_SIZE = (64, 128)
VISUAL_FRAMES = 5  # T
SHIFTS = range(3, 13)  # frames: the shifted negatives of training (syncnet_trainer) and evaluation


def _pooled_stages(x, plan, dtype, motion_frames=0):
  """Conv -> GroupNorm -> ReLU per (features, stride) of `plan`, then the global average (float32);
  called inside a compact module, whose parameters they become (conv{i}, norm{i}). The
  convolutions compute in `dtype`; GroupNorm's statistics are taken in float32. With
  `motion_frames`, the first convolution is a `_MotionConv` over that many stacked frames."""
  x = x.astype(dtype)
  for i, (features, stride) in enumerate(plan):
    if i == 0 and motion_frames:
      x = _MotionConv(features, motion_frames, dtype, name="conv0")(x)
    else:
      x = nn.Conv(features, (3, 3), stride, padding=1, dtype=dtype, name=f"conv{i}",
                  conv_general_dilated=ops.conv_general_dilated)(x)
    x = nn.relu(ops.GroupNorm(min(32, features), dtype=dtype, name=f"norm{i}")(x))
  return x.astype(jnp.float32).mean(axis=(1, 2))


class _MotionConv(nn.Module):
  """The first 3x3 convolution of the motion input, over the T frames alone.

  Its kernel (3, 3, 6T, C) reads each frame's colours x_t and their difference from the window's
  mean frame m (channels t * 6 + 0..2 and t * 6 + 3..5). The convolution is linear and m is the
  same in every frame, so  sum_t A_t x_t + B_t (x_t - m) = sum_t (A_t + B_t - mean_s B_s) x_t:
  the same output from the 3T channels of the frames, at half the multiply-adds and without the
  differences made. The parameters are nn.Conv's (names, shapes, initialisation)."""
  features: int
  frames: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    """x: (N, H, W, 3T) the T frames stacked on channels."""
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (3, 3, 6 * self.frames, self.features))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    k = kernel.reshape(3, 3, self.frames, 2, 3, self.features)
    colour, difference = k[:, :, :, 0], k[:, :, :, 1]
    folded = colour + difference - difference.mean(axis=2, keepdims=True)
    folded = folded.reshape(3, 3, 3 * self.frames, self.features).astype(self.dtype)
    y = ops.conv_general_dilated(x, folded, (1, 1), ((1, 1), (1, 1)),
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + bias.astype(self.dtype)


class _Tower(nn.Module):
  """The pooled stages, linear, unit norm."""
  plan: tuple  # (features, stride) per stage
  embed_dim: int
  dtype: jnp.dtype = jnp.float32
  motion_frames: int = 0  # the input: T frames stacked, their motion read by the first layer

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(self.embed_dim, name="fc")(_pooled_stages(x, self.plan, self.dtype,
                                                           self.motion_frames))
    return x / (jnp.linalg.norm(x, axis=-1, keepdims=True) + 1e-6)


class _Regressor(nn.Module):
  """The pooled stages, linear to one number."""
  plan: tuple
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    return nn.Dense(1, name="fc")(_pooled_stages(x, self.plan, self.dtype))[..., 0]


class SyncNet(nn.Module):
  embed_dim: int = 512
  width: float = 1.0  # channel multiplier (tiny CPU configs use less)
  dtype: jnp.dtype = jnp.float32  # of the convolutions; parameters and embeddings stay float32
  # The mouth-opening tower. It reads every frame on its own: at proof128 it is 4.7 of the step's
  # 7.6 GFLOP and three quarters of its time, for lambda_opening alone (benchmarks/train_speed.py).
  opening: bool = True
  # The visual tower also sees each frame minus the window's mean frame: what moves, with the
  # face's still appearance taken out.
  motion: bool = False

  def setup(self):
    w = lambda c: max(8, int(c * self.width))  # noqa: E731
    self.visual_tower = _Tower(((w(32), 1), (w(64), 2), (w(128), 2), (w(256), 2), (w(512), 2),
                                (w(512), 2)), self.embed_dim, self.dtype,
                               VISUAL_FRAMES if self.motion else 0)
    self.audio_tower = _Tower(((w(32), 1), (w(64), 2), (w(128), 2), (w(256), (1, 2)), (w(512), 2)),
                              self.embed_dim, self.dtype)
    if self.opening:
      self.mouth_tower = _Regressor(((w(32), 1), (w(64), 2), (w(128), 2), (w(256), 2),
                                     (w(256), 2)), self.dtype)

  def _lower_half(self, frames):
    n, t, r = frames.shape[:3]
    return jax.image.resize(frames[:, :, r // 2:], (n, t) + LOWER_HALF_SIZE + (3,), "linear")

  def visual(self, frames):
    """frames (N, T, R, R, 3) in [-1, 1] -> (N, embed_dim) unit vectors."""
    n, t = frames.shape[:2]
    if self.motion and t != VISUAL_FRAMES:
      raise ValueError(f"SyncNet with motion reads {VISUAL_FRAMES} frames, got {t}")
    stacked = self._lower_half(frames).transpose(0, 2, 3, 1, 4)  # the T frames on channels
    return self.visual_tower(stacked.reshape((n,) + LOWER_HALF_SIZE + (t * 3,)))

  def mouth_opening(self, frames):
    """frames (N, T, R, R, 3) in [-1, 1] -> (N, T) mouth openings (inner-lip gap / eye distance)."""
    n, t = frames.shape[:2]
    lower = self._lower_half(frames).reshape((n * t,) + LOWER_HALF_SIZE + (3,))
    return self.mouth_tower(lower).reshape(n, t)

  def audio(self, mel):
    """mel (N, 20, 80) -> (N, embed_dim) unit vectors."""
    return self.audio_tower(mel[..., None])

  def __call__(self, frames, mel):
    """The embeddings and, with the opening tower, the mouth openings (else None)."""
    return (self.visual(frames), self.audio(mel),
            self.mouth_opening(frames) if self.opening else None)


def from_config(syncnet_config, dtype=jnp.float32, opening: bool = True) -> SyncNet:
  """The SyncNet a run's config.syncnet describes (runs from before `motion` have none)."""
  return SyncNet(syncnet_config["embed_dim"], syncnet_config["width"], dtype, opening=opening,
                 motion=bool(syncnet_config.get("motion", False)))


class ClipEmbedder:
  """Per-frame embeddings of whole clips with a trained SyncNet (jitted, in chunks of 16)."""

  def __init__(self, net: SyncNet, params):
    self._visual = jax.jit(lambda f: net.apply({"params": params}, f, method=net.visual))
    self._audio = jax.jit(lambda m: net.apply({"params": params}, m, method=net.audio))

  def embed(self, frames: np.ndarray, mels: np.ndarray):
    """frames (T, R, R, 3) uint8, mels (T, 20, 80) -> per-frame visual and audio embeddings of
    the 5-frame windows centred on each frame (edges repeated)."""
    t = len(frames)
    idx = np.clip(np.arange(t)[:, None] + np.arange(-2, 3)[None], 0, t - 1)
    x = frames.astype(np.float32) / 127.5 - 1
    v = np.concatenate([np.asarray(self._visual(x[idx[i:i + 16]])) for i in range(0, t, 16)])
    a = np.concatenate([np.asarray(self._audio(mels[i:i + 16])) for i in range(0, t, 16)])
    return v, a


def sync_discrimination(visual: np.ndarray, audio: np.ndarray, shifts=None) -> tuple[float, float]:
  """How well a SyncNet tells aligned from time-shifted audio on one clip, from per-frame unit
  embeddings (T, D) of its 5-frame windows and audio windows. For every shift k (both signs):
  per window, whether cos(v_t, a_t) > cos(v_t, a_t+k); per clip, whether the mean aligned cosine
  over those t beats the mean shifted one. Returns the two fractions (chance: 0.5)."""
  t = len(visual)
  windows, clips = [], []
  for k in shifts or SHIFTS:
    for off in (k, -k):
      lo, hi = max(0, -off), min(t, t - off)
      if hi <= lo:
        continue
      aligned = np.sum(visual[lo:hi] * audio[lo:hi], -1)
      shifted = np.sum(visual[lo:hi] * audio[lo + off:hi + off], -1)
      windows.append(aligned > shifted)
      clips.append(aligned.mean() > shifted.mean())
  if not clips:
    return float("nan"), float("nan")
  return float(np.concatenate(windows).mean()), float(np.mean(clips))
