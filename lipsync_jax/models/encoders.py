"""The three encoders of paper section 3.3, NHWC.

- FaceEncoder: masked frame -> one feature map per decoder block input (resolutions R/2 .. 4, the
  decoder's channels), fused into the decoder by SaMF. The public demo runs 3x3 convolutions at full
  resolution before each 2x average pool (~36.6 GFLOP per 256x256 frame); ours downsamples with
  stride-2 convolutions (~8 GFLOP) so the per-frame model can reach 5 frames/s on 2 CPU cores.
- ReferenceEncoder: reference frame -> residual down-blocks to 4x4x512 -> linear -> 2L codes of 512.
- AudioEncoder: the 20x80 log-mel window of a frame -> SE-ResNet18 (1-channel stem) -> 2L codes.
- FrameEncoder (not in the paper; the decoder prior's teacher): the mouth's shape measured on the
  mesh and `code_dim` numbers the reference encoder's form reads off the masked region of the
  *real* frame -> linear -> 2L codes. It sees only what the mask hides, through a narrow code, so
  its codes carry the mouth and not the rest of the frame, which the decoder gets from the face
  encoder.

Normalisation is per sample (instance norm; group norm in the audio ResNet instead of batch norm),
so a frame's codes never depend on the rest of its batch: offline, streaming and any batching agree.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from lipsync_jax.models import ops, stylegan2


def _conv(features, kernel=3, stride=1, use_bias=True, dtype=jnp.float32, name=None):
  return nn.Conv(features, (kernel, kernel), (stride, stride), padding=kernel // 2,
                 use_bias=use_bias, dtype=dtype, name=name,
                 conv_general_dilated=ops.conv_general_dilated)


class FaceEncoder(nn.Module):
  img_resolution: int = 256
  channel_base: int = 16384
  channel_max: int = 512
  stem_channels: int = 32
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x) -> dict[int, jax.Array]:
    """x: (N, R, R, 3) masked frames in [-1, 1] -> {resolution: (N, r, r, C_r)} for r = R/2 .. 4."""
    x = nn.relu(nn.InstanceNorm(name="stem_norm")(_conv(self.stem_channels, 3, dtype=self.dtype,
                                                         name="stem")(x)))
    features = {}
    res = self.img_resolution
    while res > 4:
      res //= 2
      ch = stylegan2.channels_for(res, self.channel_base, self.channel_max)
      x = _conv(ch, 3, 2, dtype=self.dtype, name=f"down{res}")(x)
      x = nn.leaky_relu(nn.InstanceNorm(name=f"norm{res}")(x), 0.2)
      features[res] = x.astype(jnp.float32)
    return features


class _DownResidual(nn.Module):
  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    y = _conv(self.features, 3, 2, dtype=self.dtype, name="conv")(x)
    y = nn.relu(nn.InstanceNorm(name="norm")(y))
    return nn.relu(y + _conv(self.features, 1, 2, dtype=self.dtype, name="skip")(x))


class ReferenceEncoder(nn.Module):
  img_resolution: int = 256
  num_ws: int = 14
  w_dim: int = 512
  channel_base: int = 16384
  channel_max: int = 512
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    """x: (N, R, R, 3) reference frames in [-1, 1] -> w_ref (N, num_ws, w_dim)."""
    x = nn.relu(nn.InstanceNorm(name="stem_norm")(_conv(
        stylegan2.channels_for(self.img_resolution, self.channel_base, self.channel_max), 7,
        dtype=self.dtype, name="stem")(x)))
    res = self.img_resolution
    while res > 4:
      res //= 2
      x = _DownResidual(stylegan2.channels_for(res, self.channel_base, self.channel_max),
                        self.dtype, name=f"down{res}")(x)
    x = nn.Dense(self.num_ws * self.w_dim, dtype=self.dtype, name="fc")(x.reshape(x.shape[0], -1))
    return x.astype(jnp.float32).reshape(-1, self.num_ws, self.w_dim)


class _SEBasicBlock(nn.Module):
  features: int
  stride: int = 1
  reduction: int = 16
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    norm = lambda name: ops.GroupNorm(min(32, self.features), name=name)  # noqa: E731
    y = nn.relu(norm("norm1")(_conv(self.features, 3, self.stride, False, self.dtype, "conv1")(x)))
    y = norm("norm2")(_conv(self.features, 3, 1, False, self.dtype, "conv2")(y))
    s = y.mean(axis=(1, 2))
    s = nn.relu(nn.Dense(self.features // self.reduction, name="se_fc1")(s))
    s = jax.nn.sigmoid(nn.Dense(self.features, name="se_fc2")(s))
    y = y * s[:, None, None, :]
    if self.stride != 1 or x.shape[-1] != self.features:
      x = norm("down_norm")(_conv(self.features, 1, self.stride, False, self.dtype, "down")(x))
    return nn.relu(x + y)


class AudioEncoder(nn.Module):
  num_ws: int = 14
  w_dim: int = 512
  widths: tuple = (64, 128, 256, 512)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, mel):
    """mel: (N, 20, 80) log-mel windows -> audio codes a (N, num_ws, w_dim)."""
    x = mel[..., None].astype(jnp.float32)
    x = _conv(self.widths[0], 3, 1, False, self.dtype, "stem")(x)
    x = ops.GroupNorm(32, name="stem_norm")(x)
    x = nn.PReLU(name="stem_prelu")(x)
    x = ops.max_pool_3x3_stride2(x)
    for stage, width in enumerate(self.widths):
      for block in range(2):
        stride = 2 if (stage > 0 and block == 0) else 1
        x = _SEBasicBlock(width, stride, dtype=self.dtype, name=f"layer{stage + 1}_{block}")(x)
    x = x.mean(axis=(1, 2))
    x = nn.Dense(self.num_ws * self.w_dim, name="fc")(x)
    return x.astype(jnp.float32).reshape(-1, self.num_ws, self.w_dim)


class FrameEncoder(nn.Module):
  img_resolution: int = 256
  num_ws: int = 14
  w_dim: int = 512
  code_dim: int = 32
  channel_base: int = 16384
  channel_max: int = 512
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, mouth, shape):
    """mouth: (N, R, R, 3) real frames times their lip masks, in [-1, 1]; shape: (N, S) the mesh's
    mouth shape, standardised -> W+ codes (N, num_ws, w_dim).

    The code is the mouth's shape as measured on the mesh, with `code_dim` learned numbers of what
    the shape leaves out (teeth, tongue, lip colour), at unit second moment; a linear map lifts it
    to W+. Learned alone, the code carried almost none of the mouth (its spread over a clip's
    frames was 1-3% of its size) and the decoder learned to ignore it: a shape that varies by its
    whole range from frame to frame is a code the decoder cannot ignore."""
    code = shape.astype(jnp.float32)
    if self.code_dim:  # 0: the code is the mouth's shape alone, the pixels unused
      rest = ReferenceEncoder(self.img_resolution, 1, self.code_dim, self.channel_base,
                              self.channel_max, self.dtype, name="encoder")(mouth)[:, 0]
      code = jnp.concatenate([code, ops.normalize_2nd_moment(rest)], -1)
    codes = nn.Dense(self.num_ws * self.w_dim, use_bias=False, name="lift")(code)
    return codes.reshape(-1, self.num_ws, self.w_dim)
