"""StyleGAN2 (stylegan2-ada-pytorch training/networks.py maths) in Flax Linen, NHWC.

Equalized learning rate: weights are stored N(0, 1) / lr_multiplier and scaled by their gain at run
time. Parameter shapes are the PyTorch ones transposed to NHWC conventions (dense: (in, out);
conv: (k, k, in, out)), so checkpoints convert by transposition (see models/stylegan2_torch.py).

Channels follow NVIDIA's table min(channel_base / resolution, channel_max); the default
channel_base=16384, channel_max=512 gives StyleLipSync's 512 up to 32x32, then 256, 128, 64 and
14 W+ codes at 256x256. SaMF, which the decoder of StyleLipSync adds at every block from 8x8,
is in models/samf.py.
"""

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lipsync_jax.models import ops
from lipsync_jax.models import samf as samf_lib
from lipsync_jax.models.ops import FullyConnected


def channels_for(resolution: int, channel_base: int = 16384, channel_max: int = 512) -> int:
  return min(channel_base // resolution, channel_max)


def block_resolutions(img_resolution: int) -> list[int]:
  return [2**i for i in range(2, int(math.log2(img_resolution)) + 1)]


def num_ws_for(img_resolution: int) -> int:
  """W+ codes: one per conv layer (1 at 4x4, 2 per later block) plus the last toRGB."""
  return 2 * (int(math.log2(img_resolution)) - 1)


class MappingNetwork(nn.Module):
  """z -> w, with the tracked average w_avg (collection 'w_avg') and truncation."""
  z_dim: int = 512
  w_dim: int = 512
  num_ws: int = 14
  num_layers: int = 8
  lr_multiplier: float = 0.01
  w_avg_beta: float = 0.995

  @nn.compact
  def __call__(self, z, truncation_psi=1.0, truncation_cutoff=None, update_w_avg=False):
    x = ops.normalize_2nd_moment(z.astype(jnp.float32))
    for i in range(self.num_layers):
      x = FullyConnected(self.w_dim, self.lr_multiplier, activation="lrelu", name=f"fc{i}")(x)
    w_avg = self.variable("w_avg", "w_avg", jnp.zeros, (self.w_dim,))
    if update_w_avg and not self.is_initializing():
      mean = jax.lax.stop_gradient(x.mean(0))
      w_avg.value = mean + (w_avg.value - mean) * self.w_avg_beta
    ws = jnp.repeat(x[:, None, :], self.num_ws, axis=1)
    if truncation_psi != 1:
      cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
      trunc = w_avg.value + (ws[:, :cutoff] - w_avg.value) * truncation_psi
      ws = ws.at[:, :cutoff].set(trunc)
    return ws


def _noise_init(resolution):
  return lambda key: jax.random.normal(key, (resolution, resolution))


class SynthesisLayer(nn.Module):
  """Modulated 3x3 conv (optionally upsampling) + noise + bias + lrelu."""
  out_channels: int
  resolution: int
  up: int = 1
  use_noise: bool = True
  conv_clamp: float | None = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, w, noise_mode="random", gain=1.0):
    in_channels = x.shape[-1]
    styles = FullyConnected(in_channels, bias_init=1.0, name="affine")(w)
    weight = self.param("weight", nn.initializers.normal(1.0), (3, 3, in_channels, self.out_channels))
    bias = self.param("bias", nn.initializers.zeros, (self.out_channels,))
    noise = None
    if self.use_noise:
      strength = self.param("noise_strength", nn.initializers.zeros, ())
      const = self.variable("noise_const", "noise_const", _noise_init(self.resolution),
                            self.make_rng("params") if self.is_initializing() else None)
      if noise_mode == "random":
        noise = jax.random.normal(self.make_rng("noise"), (x.shape[0], self.resolution, self.resolution, 1))
        noise = noise * strength
      elif noise_mode == "const":
        noise = (const.value * strength)[None, :, :, None]
    x = ops.modulated_conv2d(x, weight, styles, noise, up=self.up, compute_dtype=self.dtype)
    clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
    return ops.bias_act(x, bias, "lrelu", gain=ops.LRELU_GAIN * gain, clamp=clamp)


class ToRGB(nn.Module):
  out_channels: int = 3
  conv_clamp: float | None = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, w):
    in_channels = x.shape[-1]
    styles = FullyConnected(in_channels, bias_init=1.0, name="affine")(w) / math.sqrt(in_channels)
    weight = self.param("weight", nn.initializers.normal(1.0), (1, 1, in_channels, self.out_channels))
    bias = self.param("bias", nn.initializers.zeros, (self.out_channels,))
    x = ops.modulated_conv2d(x, weight, styles, demodulate=False, compute_dtype=self.dtype)
    return ops.bias_act(x, bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
  out_channels: int
  resolution: int
  img_channels: int = 3
  first: bool = False
  use_samf: bool = False
  conv_clamp: float | None = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, img, ws, encoded=None, noise_mode="random"):
    """ws: (N, 3, w_dim) (conv0, conv1, toRGB) or (N, 2, w_dim) for the first block."""
    kw = dict(conv_clamp=self.conv_clamp, dtype=self.dtype)
    if self.first:
      const = self.param("const", nn.initializers.normal(1.0), (self.resolution, self.resolution,
                                                                self.out_channels))
      x = jnp.broadcast_to(const, (ws.shape[0],) + const.shape)
      x = SynthesisLayer(self.out_channels, self.resolution, name="conv1", **kw)(x, ws[:, 0], noise_mode)
      rgb_w = ws[:, 1]
    else:
      if self.use_samf:
        x = samf_lib.SaMF(dtype=self.dtype, name="samf")(x, encoded, ws[:, 0])
      x = SynthesisLayer(self.out_channels, self.resolution, up=2, name="conv0", **kw)(x, ws[:, 0], noise_mode)
      x = SynthesisLayer(self.out_channels, self.resolution, name="conv1", **kw)(x, ws[:, 1], noise_mode)
      rgb_w = ws[:, 2]
    if img is not None:
      img = ops.upsample2d(img)
    y = ToRGB(self.img_channels, self.conv_clamp, self.dtype, name="torgb")(x, rgb_w)
    img = y if img is None else img + y
    return x, img


class SynthesisNetwork(nn.Module):
  """W+ (N, num_ws, w_dim) -> image (N, R, R, 3) in about [-1, 1]; with `encoded`, SaMF fuses the
  face encoder's features (one per block from 8x8 on, at the previous block's resolution)."""
  img_resolution: int = 256
  img_channels: int = 3
  channel_base: int = 16384
  channel_max: int = 512
  use_samf: bool = False
  conv_clamp: float | None = None
  dtype: jnp.dtype = jnp.float32

  @property
  def num_ws(self):
    return num_ws_for(self.img_resolution)

  def encoder_channels(self) -> dict[int, int]:
    """Resolution -> channels of the face features SaMF expects (inputs of blocks 8..R)."""
    return {r // 2: channels_for(r // 2, self.channel_base, self.channel_max)
            for r in block_resolutions(self.img_resolution)[1:]}

  @nn.compact
  def __call__(self, ws, encoded: dict | None = None, noise_mode="random"):
    x = img = None
    w_idx = 0
    for res in block_resolutions(self.img_resolution):
      first = res == 4
      n = 2 if first else 3
      feat = None if (first or encoded is None) else encoded[res // 2]
      x, img = SynthesisBlock(
          channels_for(res, self.channel_base, self.channel_max), res, self.img_channels, first,
          self.use_samf and not first, self.conv_clamp, self.dtype, name=f"b{res}")(
              x, img, ws[:, w_idx:w_idx + n], feat, noise_mode)
      w_idx += n - 1
    return img


class Generator(nn.Module):
  """Mapping + synthesis: the StyleGAN2 that the decoder starts from (stage 1 pretraining)."""
  img_resolution: int = 256
  z_dim: int = 512
  w_dim: int = 512
  channel_base: int = 16384
  channel_max: int = 512
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    self.mapping = MappingNetwork(self.z_dim, self.w_dim, num_ws_for(self.img_resolution))
    self.synthesis = SynthesisNetwork(self.img_resolution, 3, self.channel_base, self.channel_max,
                                      dtype=self.dtype)

  def __call__(self, z, truncation_psi=1.0, noise_mode="random", update_w_avg=False):
    ws = self.mapping(z, truncation_psi, update_w_avg=update_w_avg)
    return self.synthesis(ws, noise_mode=noise_mode)

  def map(self, z, truncation_psi=1.0, update_w_avg=False):
    return self.mapping(z, truncation_psi, update_w_avg=update_w_avg)

  def synthesize(self, ws, noise_mode="random"):
    return self.synthesis(ws, noise_mode=noise_mode)


class Conv2dLayer(nn.Module):
  """Equalized-lr conv with optional [1,3,3,1] downsampling (discriminator)."""
  out_channels: int
  kernel_size: int = 3
  down: int = 1
  use_bias: bool = True
  activation: str = "linear"
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, gain=1.0):
    in_channels = x.shape[-1]
    k = self.kernel_size
    w = self.param("weight", nn.initializers.normal(1.0), (k, k, in_channels, self.out_channels))
    w = w * (1 / math.sqrt(in_channels * k * k))
    x = x.astype(self.dtype)
    if self.down == 1:
      x = ops.conv2d(x, w, padding=k // 2)
    elif k == 1:
      x = ops.conv2d(ops.upfirdn2d(x, down=2, padding=(1, 1, 1, 1)), w)
    else:
      x = ops.conv2d(ops.upfirdn2d(x, padding=(2, 2, 2, 2)), w, stride=2)
    x = x.astype(jnp.float32)
    b = self.param("bias", nn.initializers.zeros, (self.out_channels,)) if self.use_bias else None
    act_gain = (ops.LRELU_GAIN if self.activation == "lrelu" else 1.0) * gain
    return ops.bias_act(x, b, self.activation, gain=act_gain)


class Discriminator(nn.Module):
  """Residual discriminator with minibatch standard deviation (stylegan2-ada 'resnet')."""
  img_resolution: int = 256
  channel_base: int = 16384
  channel_max: int = 512
  mbstd_group_size: int = 4
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, img):
    ch = lambda r: channels_for(r, self.channel_base, self.channel_max)  # noqa: E731
    x = None
    for res in reversed(block_resolutions(self.img_resolution)[1:]):
      if x is None:
        x = Conv2dLayer(ch(res), 1, activation="lrelu", dtype=self.dtype, name=f"b{res}_fromrgb")(img)
      y = Conv2dLayer(ch(res // 2), 1, down=2, use_bias=False, dtype=self.dtype,
                      name=f"b{res}_skip")(x, gain=math.sqrt(0.5))
      x = Conv2dLayer(ch(res), 3, activation="lrelu", dtype=self.dtype, name=f"b{res}_conv0")(x)
      x = Conv2dLayer(ch(res // 2), 3, down=2, activation="lrelu", dtype=self.dtype,
                      name=f"b{res}_conv1")(x, gain=math.sqrt(0.5))
      x = x + y
    x = ops.minibatch_stddev(x, self.mbstd_group_size)
    x = Conv2dLayer(ch(4), 3, activation="lrelu", dtype=self.dtype, name="b4_conv")(x)
    x = FullyConnected(ch(4), activation="lrelu", name="b4_fc")(x.reshape(x.shape[0], -1))
    return FullyConnected(1, name="b4_out")(x)[:, 0]


def init_generator_variables(model: nn.Module, rng, batch: int = 1):
  """Initial variables of a Generator (params, w_avg, noise_const)."""
  z = jnp.zeros((batch, model.z_dim))
  params_rng, noise_rng = jax.random.split(rng)
  return model.init({"params": params_rng, "noise": noise_rng}, z)


def default_noise_modes() -> Sequence[str]:
  return ("random", "const", "none")


def count_params(tree) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))
