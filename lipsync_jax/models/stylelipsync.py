"""StyleLipSync: encoders into W+, MaLS, and the StyleGAN2 decoder with SaMF (paper eqs. 2-5).

  w_ref = E_ref(X_ref)                        (N, L, 512), L = 14 at 256x256
  a_t   = E_aud(A_t)                          per frame
  w_t   = w_ref + a_t                         eq. 3
  w~_t  = w_ref + MaLS(w)_t + w_avg           eq. 4 (w_avg of the pretrained mapping network)
  X^_t  = G(w~_t, E_face(X_t))                eq. 5, E_face features fused by SaMF (eq. 2)

The decoder prior (not in the paper; it stands in for a pretrained StyleGAN2) replaces MaLS's
output by the frame encoder's code of what the mask hides in the real frame:
  w*_t  = w_ref + E_frame(Y_t * M_t, shape_t) + w_avg
                                              teacher codes, shape_t the mesh's mouth shape: the
                                              decoder learns to draw the mouth they describe;
                                              lip-sync learns w~_t -> w*_t

With a prior trained on the mesh's lips drawn into the masked frame (lipsync_jax.lip_hint), the
lips too come from audio: lips_t = LipMotion(A_t, lips_ref) (models/lip_motion.py), in canonical
pose; the caller poses and draws them.

Images are float in [-1, 1], NHWC; masked frames are frames * (1 - mask).
"""

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from lipsync_jax import face_geometry, lip_hint
from lipsync_jax.models import encoders, stylegan2
from lipsync_jax.models.lip_motion import LipMotion
from lipsync_jax.models.mals import MaLS


class StyleLipSync(nn.Module):
  img_resolution: int = 256
  w_dim: int = 512
  channel_base: int = 16384
  channel_max: int = 512
  face_stem_channels: int = 32
  code_dim: int = 32  # the frame encoder's bottleneck
  audio_widths: tuple = (64, 128, 256, 512)  # the audio SE-ResNet18's stage widths
  dtype: jnp.dtype = jnp.float32

  @property
  def num_ws(self):
    return stylegan2.num_ws_for(self.img_resolution)

  def setup(self):
    kw = dict(channel_base=self.channel_base, channel_max=self.channel_max, dtype=self.dtype)
    self.synthesis = stylegan2.SynthesisNetwork(self.img_resolution, 3, use_samf=True, **kw)
    self.face_encoder = encoders.FaceEncoder(self.img_resolution,
                                             stem_channels=self.face_stem_channels, **kw)
    self.reference_encoder = encoders.ReferenceEncoder(self.img_resolution, self.num_ws, self.w_dim, **kw)
    self.audio_encoder = encoders.AudioEncoder(self.num_ws, self.w_dim, tuple(self.audio_widths),
                                               dtype=self.dtype)
    self.mals = MaLS(self.num_ws, self.w_dim)
    self.lip_motion = LipMotion(dtype=self.dtype)
    self.frame_encoder = encoders.FrameEncoder(self.img_resolution, self.num_ws, self.w_dim,
                                               self.code_dim, **kw)
    self.w_avg = self.variable("w_avg", "w_avg", jnp.zeros, (self.w_dim,))
    # The mouth shape's mean and spread over the training data (set by the prior's trainer).
    size = (len(face_geometry.MOUTH_SHAPE),)
    self.shape_mean = self.variable("shape_stats", "mean", jnp.zeros, size)
    self.shape_std = self.variable("shape_stats", "std", jnp.ones, size)

  def encode_reference(self, reference):
    """(N, R, R, 3) -> w_ref (N, L, D)."""
    return self.reference_encoder(reference)

  def encode_audio(self, mels):
    """(N, T, 20, 80) -> a (N, T, L, D)."""
    n, t = mels.shape[:2]
    return self.audio_encoder(mels.reshape((n * t,) + mels.shape[2:])).reshape(n, t, self.num_ws, self.w_dim)

  def predict_lips(self, mels, reference_lips):
    """(N, T, 20, 80) mel windows and the reference's canonical lips (N, P, 3) -> the frames'
    canonical lips (N, T, P, 3)."""
    n, t = mels.shape[:2]
    ref = jnp.broadcast_to(reference_lips[:, None], (n, t) + reference_lips.shape[1:])
    lips = self.lip_motion(mels.reshape((n * t,) + mels.shape[2:]),
                           ref.reshape((n * t,) + reference_lips.shape[1:]))
    return lips.reshape((n, t) + reference_lips.shape[1:])

  def latents(self, w_ref, audio_codes):
    """Smooth video codes w~ (N, T, L, D) from w_ref (N, L, D) and a (N, T, L, D): eqs. 3-4."""
    w = w_ref[:, None] + audio_codes
    return w_ref[:, None] + self.mals(w) + self.w_avg.value

  def teacher_latents(self, w_ref, frames, masks, mouth_shape):
    """The decoder prior's codes w* (N, T, L, D) of real frames (N, T, R, R, 3) in [-1, 1], their
    lip masks (N, T, R, R, 1) and their mesh's mouth shape (N, T, S) (face_geometry.mouth_shape):
    w_ref + E_frame(frames * masks, standardised shape) + w_avg."""
    n, t = frames.shape[:2]
    mouth = (frames * masks.astype(frames.dtype)).reshape((n * t,) + frames.shape[2:])
    shape = (mouth_shape - self.shape_mean.value) / self.shape_std.value
    codes = self.frame_encoder(mouth, shape.reshape(n * t, -1))
    return w_ref[:, None] + codes.reshape(n, t, self.num_ws, self.w_dim) + self.w_avg.value

  def latents_block(self, w_ref, avg_history, h_history, avg, first):
    """latents() for a block of K frames of a stream (see MaLS.block): avg holds the moving averages
    of w = w_ref + a over the block. Returns (codes (N, K, L, D), MaLS state h (N, K, L, D))."""
    smoothed, h = self.mals.block(avg_history, h_history, avg, first)
    return w_ref[:, None] + smoothed + self.w_avg.value, h

  def decode(self, masked, codes, noise_mode="random"):
    """masked (N, T, R, R, 3), codes (N, T, L, D) -> frames (N, T, R, R, 3): eq. 5."""
    n, t = masked.shape[:2]
    flat = masked.reshape((n * t,) + masked.shape[2:])
    features = self.face_encoder(flat)
    img = self.synthesis(codes.reshape(n * t, self.num_ws, self.w_dim), features, noise_mode)
    return img.reshape((n, t) + img.shape[1:])

  def __call__(self, masked, mels, reference, noise_mode="random"):
    w_ref = self.encode_reference(reference)
    codes = self.latents(w_ref, self.encode_audio(mels))
    if self.is_initializing():  # creates the frame encoder's and the lips' parameters too
      self.predict_lips(mels, jnp.zeros((mels.shape[0], lip_hint.NUM_POINTS, 3)))
      self.teacher_latents(w_ref, jnp.zeros_like(masked), jnp.zeros(masked.shape[:-1] + (1,)),
                           jnp.zeros(masked.shape[:2] + (len(face_geometry.MOUTH_SHAPE),)))
    return self.decode(masked, codes, noise_mode)


def from_config(model_config, dtype=jnp.float32) -> StyleLipSync:
  """The model of a run's `config.model` (a ConfigDict or the dict of its config.json)."""
  m = dict(model_config)
  return StyleLipSync(m["resolution"], m["w_dim"], m["channel_base"], m["channel_max"],
                      m["face_stem_channels"], m.get("code_dim", 32),
                      tuple(m.get("audio_widths", (64, 128, 256, 512))), dtype)


def mask_frames(frames, masks):
  """Frames in [-1, 1] with the masked region set to 0 (mid grey)."""
  return frames * (1.0 - masks.astype(frames.dtype))
