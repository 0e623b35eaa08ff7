"""Low-level StyleGAN2 operations, NHWC, following stylegan2-ada-pytorch's torch_utils/ops.

FIR filtering is written as separable shifted sums (XLA's depthwise convolution is ~1 GFLOP/s on
CPU), the upsampling convolution as a polyphase convolution on the low-resolution input (no zero
insertion), and modulation as scaling of the activations around one shared-weight convolution
(faster than per-sample grouped convolutions for batches > 1). Strided convolutions elsewhere (the
encoders, the SyncNet) take their input gradient per phase too (strided_conv2d), where XLA's would
insert zeros.
"""

import contextlib
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

RESAMPLE_FILTER = (1.0, 3.0, 3.0, 1.0)
LRELU_GAIN = math.sqrt(2.0)


def fir_1d(taps=RESAMPLE_FILTER) -> np.ndarray:
  """The normalised 1-D filter; the 2-D filter of stylegan2-ada is its outer product."""
  f = np.asarray(taps, np.float64)
  return f / f.sum()


def _filter_axis(x, f, axis, pad0, pad1):
  pad = [(0, 0)] * x.ndim
  pad[axis] = (pad0, pad1)
  x = jnp.pad(x, pad)
  n = x.shape[axis] - len(f) + 1
  out = None
  for k, tap in enumerate(f[::-1]):  # true convolution, as upfirdn2d (symmetric filters anyway)
    # A Python float is weakly typed: bfloat16 activations stay bfloat16 (a numpy float64 tap
    # would promote them to float32).
    term = float(tap) * lax.slice_in_dim(x, k, k + n, axis=axis)
    out = term if out is None else out + term
  return out


def upfirdn2d(x, f=RESAMPLE_FILTER, up=1, down=1, padding=(0, 0, 0, 0), gain=1.0):
  """upfirdn2d of stylegan2-ada on NHWC input with a separable filter.

  Zero-insertion upsampling by `up`, padding (x0, x1, y0, y1) (negative crops), FIR filtering with
  the outer product of `f` scaled by `gain`, then keeping every `down`-th sample.
  """
  f1 = fir_1d(f) * math.sqrt(gain)
  n, h, w, c = x.shape
  if up > 1:
    x = x.reshape(n, h, 1, w, 1, c)
    x = jnp.pad(x, ((0, 0), (0, 0), (0, up - 1), (0, 0), (0, up - 1), (0, 0)))
    x = x.reshape(n, h * up, w * up, c)
  px0, px1, py0, py1 = padding
  x = x[:, max(-py0, 0):x.shape[1] - max(-py1, 0), max(-px0, 0):x.shape[2] - max(-px1, 0)]
  x = _filter_axis(x, f1, 1, max(py0, 0), max(py1, 0))
  x = _filter_axis(x, f1, 2, max(px0, 0), max(px1, 0))
  if down > 1:
    x = x[:, ::down, ::down]
  return x


def upsample2d(x, f=RESAMPLE_FILTER):
  """2x upsampling of the skip image (upfirdn2d.upsample2d)."""
  return upfirdn2d(x, f, up=2, padding=(2, 1, 2, 1), gain=4.0)


def conv2d(x, w, stride=1, padding=0):
  """Cross-correlation, NHWC input, HWIO weight, symmetric integer padding."""
  return lax.conv_general_dilated(
      x, w.astype(x.dtype), (stride, stride), [(padding, padding), (padding, padding)],
      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def conv_transpose_stride2(x, w):
  """torch.conv_transpose2d(x, w, stride=2) for a 3x3 HWIO weight: (N, 2H+1, 2W+1, O).

  Polyphase form: the four output phases are 2x2 convolutions of the input (padded by one), packed
  into one convolution with 4*O output channels and interleaved; no zeros are multiplied.
  """
  n, h, wd, c = x.shape
  kh, kw, cin, cout = w.shape
  assert (kh, kw) == (3, 3), "polyphase path written for 3x3 kernels"
  zero = jnp.zeros_like(w[0, 0])
  # Row tap 0 sees x[m-1], tap 1 sees x[m]; even output rows use kernel rows 2 and 0, odd rows 1.
  rows = {(0, 0): 2, (1, 0): 0, (0, 1): None, (1, 1): 1}  # (tap, phase) -> kernel index
  taps = []
  for ty in range(2):
    row = []
    for tx in range(2):
      phases = []
      for ry in range(2):
        for rx in range(2):
          a, b = rows[(ty, ry)], rows[(tx, rx)]
          phases.append(zero if a is None or b is None else w[a, b])
      row.append(jnp.concatenate(phases, axis=-1))  # (I, 4*O), phase-major
    taps.append(jnp.stack(row))
  kernel = jnp.stack(taps).astype(x.dtype)  # (2, 2, I, 4*O)
  y = _valid_conv(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))), kernel)  # (N, H+1, W+1, 4*O)
  y = y.reshape(n, h + 1, wd + 1, 2, 2, cout)
  y = y.transpose(0, 1, 3, 2, 4, 5).reshape(n, 2 * h + 2, 2 * wd + 2, cout)
  return y[:, :2 * h + 1, :2 * wd + 1]


@jax.custom_vjp
def _valid_conv(x, w):
  """conv2d(x, w) without padding, x and w of one dtype. On CPU its kernel gradient is one matmul
  of the kernel's shifted views of x, stacked on channels, with the output gradient, where XLA's
  weight-gradient convolution over the whole map ran at 12-14 GFLOP/s: for the polyphase
  upsampling (2x2 kernels, 32 -> 4 x 16 channels over 20 maps of 65x65) 81-94 -> 36-48 ms
  (docs/history.md). Elsewhere XLA's, and its input gradient everywhere."""
  return conv2d(x, w)


def _valid_conv_fwd(x, w):
  return conv2d(x, w), (x, w)


def _valid_conv_bwd(residuals, dy):
  x, w = residuals
  kh, kw, c, o = w.shape
  ho, wo = dy.shape[1:3]

  def views_matmul(x, dy):
    views = _window_views(x, kh, kw, ho, wo)
    dw = jnp.matmul(views.reshape(-1, kh * kw * c).T, dy.reshape(-1, o),
                    preferred_element_type=jnp.float32)
    return dw.reshape(w.shape).astype(w.dtype)

  def xla_kernel_gradient(x, dy):
    return jax.vjp(lambda w: conv2d(x, w), w)[1](dy)[0]

  dx = jax.vjp(lambda x: conv2d(x, w), x)[1](dy)[0]
  return dx, lax.platform_dependent(x, dy, cpu=views_matmul, default=xla_kernel_gradient)


_valid_conv.defvjp(_valid_conv_fwd, _valid_conv_bwd)


def _phase_taps(size, stride, pad):
  """Along one axis of a strided convolution, per phase r of its input gradient (input positions
  stride * m + r): [(kernel index k, offset d)], dx[stride * m + r] += dy[m + d] * w[k]."""
  return [[(k, (r + pad - k) // stride) for k in range(size) if (r + pad - k) % stride == 0]
          for r in range(stride)]


def _strided_input_gradient(dy, w, in_hw, strides, padding):
  """The input gradient of a strided NHWC convolution, one stride-1 convolution of dy per phase of
  the input grid, interleaved. XLA would compute it as one convolution of dy with zeros inserted
  between its samples (for stride 2, 3 of every 4 products multiply a zero)."""
  n, _, _, cout = dy.shape
  cin = w.shape[2]
  wt = jnp.swapaxes(w, 2, 3)  # dy's channels in, x's channels out
  lengths = [-(-in_hw[a] // strides[a]) for a in range(2)]  # samples per phase, padded up
  taps = [_phase_taps(w.shape[a], strides[a], padding[a][0]) for a in range(2)]
  phases = []
  for taps_y in taps[0]:
    for taps_x in taps[1]:
      if not taps_y or not taps_x:  # no kernel tap reaches these inputs (1x1 stride 2)
        phases.append(jnp.zeros((n, lengths[0], lengths[1], cin), dy.dtype))
        continue
      lo = [min(d for _, d in t) for t in (taps_y, taps_x)]
      hi = [max(d for _, d in t) for t in (taps_y, taps_x)]
      kernel = jnp.zeros((hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, cout, cin), dy.dtype)
      for ky, dy_ in taps_y:
        for kx, dx_ in taps_x:
          kernel = kernel.at[dy_ - lo[0], dx_ - lo[1]].set(wt[ky, kx].astype(dy.dtype))
      # dy[m + d] for m < lengths, d in [lo, hi]; zeros outside dy.
      pads = [(max(0, -lo[a]), max(0, lengths[a] - 1 + hi[a] - (dy.shape[1 + a] - 1)))
              for a in range(2)]
      z = jnp.pad(dy, ((0, 0), pads[0], pads[1], (0, 0)))
      z = z[:, lo[0] + pads[0][0]:, lo[1] + pads[1][0]:]
      phases.append(conv2d(z, kernel)[:, :lengths[0], :lengths[1]])
  sy, sx = strides
  dx = jnp.stack(phases, axis=3).reshape(n, lengths[0], lengths[1], sy, sx, cin)
  dx = dx.transpose(0, 1, 3, 2, 4, 5).reshape(n, lengths[0] * sy, lengths[1] * sx, cin)
  return dx[:, :in_hw[0], :in_hw[1]]


def _strided_conv(x, w, strides, padding):
  return lax.conv_general_dilated(x, w, strides, padding,
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def strided_conv2d(x, w, strides, padding):
  """A strided NHWC/HWIO convolution whose input gradient is computed per phase (no zeros
  multiplied); the weight gradient is XLA's. strides (sy, sx), padding ((y0, y1), (x0, x1))."""
  return _strided_conv(x, w, strides, padding)


def _strided_conv2d_fwd(x, w, strides, padding):
  return _strided_conv(x, w, strides, padding), (x, w)


def _strided_conv2d_bwd(strides, padding, residuals, dy):
  x, w = residuals
  dx = _strided_input_gradient(dy, w, x.shape[1:3], strides, padding)
  dw = jax.vjp(lambda w_: _strided_conv(x, w_, strides, padding), w)[1](dy)[0]
  return dx.astype(x.dtype), dw


strided_conv2d.defvjp(_strided_conv2d_fwd, _strided_conv2d_bwd)


# False: XLA's own strided input gradient (benchmarks/train_speed.py --xla_strided_baseline).
PHASED_STRIDED_GRADIENT = True


def _is_nhwc(lhs, rhs, dimension_numbers) -> bool:
  return lhs.ndim == 4 and (lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) ==
                            lax.conv_dimension_numbers(lhs.shape, rhs.shape,
                                                       ("NHWC", "HWIO", "NHWC")))


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, precision=None):
  """lax.conv_general_dilated for nn.Conv(conv_general_dilated=...): strided NHWC convolutions go
  through strided_conv2d (their input gradient 3-7x faster on CPU at 8-16 channels, measured in
  docs/design.md); everything else to lax unchanged."""
  dilated = any(d != 1 for d in tuple(lhs_dilation or ()) + tuple(rhs_dilation or ()))
  nhwc = _is_nhwc(lhs, rhs, dimension_numbers)
  if (PHASED_STRIDED_GRADIENT and nhwc and tuple(window_strides) != (1, 1) and not dilated
      and feature_group_count == 1 and precision is None):
    if isinstance(padding, str):
      padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
    return strided_conv2d(lhs, rhs, tuple(window_strides), tuple(map(tuple, padding)))
  return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                  dimension_numbers, feature_group_count, precision=precision)


def conv_as_matmul(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                   dimension_numbers=None, feature_group_count=1, precision=None):
  """lax.conv_general_dilated for nn.Conv(conv_general_dilated=...) as one matmul: the kernel's
  kh * kw shifted (and strided) views of the padded NHWC input stacked on channels, times the HWIO
  kernel. For few-channel convolutions of small maps, where XLA's CPU convolution and its
  gradients run far below peak: the audio-to-lips network's three (1 -> 32 -> 64 -> 128 channels
  on 20x80 mel windows) 1.6x faster forward and backward (docs/design.md); LPIPS's VGG layers on
  maps of 8x8 and less (lpips.conv3x3). Anything else (dilated, grouped, other layouts), and
  everything inside plain_convolutions(), goes to conv_general_dilated."""
  nhwc = _is_nhwc(lhs, rhs, dimension_numbers)
  dilated = any(d != 1 for d in tuple(lhs_dilation or ()) + tuple(rhs_dilation or ()))
  if not nhwc or dilated or feature_group_count != 1 or not _MATMUL_CONVOLUTIONS:
    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                dimension_numbers, feature_group_count, precision)
  kh, kw, c, _ = rhs.shape
  sh, sw = window_strides
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
  (top, bottom), (left, right) = padding
  x = jnp.pad(lhs, ((0, 0), (top, bottom), (left, right), (0, 0)))
  ho, wo = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
  return jnp.matmul(_window_views(x, kh, kw, ho, wo, sh, sw), rhs.reshape(kh * kw * c, -1),
                    precision=precision)


def _window_views(x, kh, kw, ho, wo, sh=1, sw=1):
  """The kh * kw shifted (and strided) (ho, wo) views of NHWC x a kernel window sees, stacked on
  channels in the order of an HWIO kernel's (kh, kw, c)."""
  return jnp.concatenate([x[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
                          for i in range(kh) for j in range(kw)], axis=-1)


def _max_pool_axis(x, axis):
  """Max over windows of 3 with stride 2 and padding 1 along `axis`: the padded axis split into
  (pairs, 2), each window a pair's two samples and the next pair's first."""
  n = x.shape[axis]
  out = (n - 1) // 2 + 1
  pad = [(0, 0)] * x.ndim
  pad[axis] = (1, 2 * out + 1 - n)
  x = jnp.pad(x, pad, constant_values=-jnp.inf)
  x = x.reshape(x.shape[:axis] + (out + 1, 2) + x.shape[axis + 1:])
  even = lax.index_in_dim(x, 0, axis + 1, keepdims=False)
  odd = lax.index_in_dim(x, 1, axis + 1, keepdims=False)
  return jnp.maximum(jnp.maximum(lax.slice_in_dim(even, 0, out, axis=axis),
                                 lax.slice_in_dim(odd, 0, out, axis=axis)),
                     lax.slice_in_dim(even, 1, out + 1, axis=axis))


def max_pool_3x3_stride2(x):
  """nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1))) on NHWC input (ResNet's stem pool),
  as two 1-D pools of shifted views. The same values; its gradient is selects, where XLA's
  gradient of reduce_window on CPU builds index maps and scatters: the proof128 lip-sync step
  1.005 -> 0.903 s (docs/design.md)."""
  return _max_pool_axis(_max_pool_axis(x, 2), 1)


def bias_act(x, b=None, act="linear", alpha=0.2, gain=None, clamp=None):
  """bias_act of stylegan2-ada: add bias, activation, multiply by gain, clamp."""
  if b is not None:
    x = x + b.astype(x.dtype)
  if act == "lrelu":
    x = jnp.where(x >= 0, x, x * alpha)
    gain = LRELU_GAIN if gain is None else gain
  elif act != "linear":
    raise ValueError(f"unknown activation {act!r}")
  if gain is not None and gain != 1:
    x = x * gain
  if clamp is not None:
    x = jnp.clip(x, -clamp, clamp)
  return x


def modulated_conv2d(x, weight, styles, noise=None, up=1, demodulate=True,
                     compute_dtype=jnp.float32):
  """Modulated convolution (stylegan2-ada modulated_conv2d, fused_modconv=False).

  Args:
    x: (N, H, W, I) activations.
    weight: (k, k, I, O) shared weight.
    styles: (N, I) per-sample styles.
    noise: None or (N, H', W', 1) added after demodulation.
    up: 1, or 2 for the upsampling convolution (transposed conv + [1,3,3,1] blur).
  Styles and demodulation coefficients are computed in float32 whatever `compute_dtype` is.
  """
  styles = styles.astype(jnp.float32)
  weight32 = weight.astype(jnp.float32)
  k = weight.shape[0]
  x = (x.astype(jnp.float32) * styles[:, None, None, :]).astype(compute_dtype)
  w = weight32.astype(compute_dtype)
  if up == 1:
    y = conv2d(x, w, padding=k // 2)
  else:
    y = conv_transpose_stride2(x, w)
    y = upfirdn2d(y, padding=(1, 1, 1, 1), gain=4.0)
  y = y.astype(jnp.float32)
  if demodulate:
    dcoefs = lax.rsqrt(jnp.square(styles) @ jnp.sum(jnp.square(weight32), axis=(0, 1)) + 1e-8)
    y = y * dcoefs[:, None, None, :]
  if noise is not None:
    y = y + noise.astype(y.dtype)
  return y


class GroupNorm(nn.Module):
  """nn.GroupNorm(num_groups) over NHWC (the same parameters, `scale` and `bias`, and values),
  with the statistics of each channel reduced over H, W first and only then averaged over its
  group, and the normalisation one multiply-add, y = x * a + b (a, b per sample and channel).
  flax reshapes the map to (..., groups, channels per group), which XLA on CPU lays out with the
  batch minor: copies of every map, forward and backward. The proof128 audio encoder's forward and
  backward about 25% faster (docs/history.md). Statistics in float32 (E[x^2] - E[x]^2, as flax's
  fast variance); the output in `dtype`, else float32 as flax's."""
  num_groups: int = 32
  epsilon: float = 1e-6
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x):
    n, c = x.shape[0], x.shape[-1]
    if c % self.num_groups:
      raise ValueError(f"GroupNorm: {c} channels do not split into {self.num_groups} groups")
    scale = self.param("scale", nn.initializers.ones, (c,))
    bias = self.param("bias", nn.initializers.zeros, (c,))
    x32 = x.astype(jnp.float32)
    axes = tuple(range(1, x.ndim - 1))

    def group_mean(v):  # (N, C) per channel -> the mean of its group, per channel
      g = v.reshape(n, self.num_groups, c // self.num_groups).mean(-1, keepdims=True)
      return jnp.broadcast_to(g, (n, self.num_groups, c // self.num_groups)).reshape(n, c)

    mean = group_mean(x32.mean(axes))
    var = jnp.maximum(group_mean(jnp.square(x32).mean(axes)) - jnp.square(mean), 0.0)
    a = lax.rsqrt(var + self.epsilon) * scale
    b = bias - mean * a
    shape = (n,) + (1,) * (x.ndim - 2) + (c,)
    return (x32 * a.reshape(shape) + b.reshape(shape)).astype(self.dtype or jnp.float32)


def normalize_2nd_moment(x, axis=-1, eps=1e-8):
  return x * lax.rsqrt(jnp.mean(jnp.square(x), axis=axis, keepdims=True) + eps)


def minibatch_stddev(x, group_size=4, num_channels=1):
  """Minibatch standard deviation over groups of consecutive samples (NHWC).

  Groups are consecutive samples, so with the batch sharded over devices (and local batches a
  multiple of the group size) every group lies on one device: no cross-device traffic.
  stylegan2-ada groups strided samples instead; the statistic is the same in distribution.
  """
  n, h, w, c = x.shape
  g = min(group_size, n)
  assert n % g == 0, f"batch {n} is not a multiple of the group size {g}"
  f = num_channels
  y = x.astype(jnp.float32).reshape(n // g, g, h, w, f, c // f)
  y = y - y.mean(axis=1, keepdims=True)
  y = jnp.sqrt(jnp.square(y).mean(axis=1) + 1e-8)  # (n/g, h, w, f, c/f)
  y = y.mean(axis=(1, 2, 4))  # (n/g, f)
  y = jnp.repeat(y, g, axis=0)[:, None, None, :]
  y = jnp.broadcast_to(y, (n, h, w, f)).astype(x.dtype)
  return jnp.concatenate([x, y], axis=-1)


def flops_of(fn, *args) -> float:
  """FLOPs of a jitted function on these arguments, from XLA's cost analysis."""
  compiled = jax.jit(fn).lower(*args).compile()
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get("flops", 0.0))


# False inside plain_convolutions(): conv_as_matmul lowers as XLA's convolution.
_MATMUL_CONVOLUTIONS = True


@contextlib.contextmanager
def plain_convolutions():
  """Functions traced inside lower conv_as_matmul as XLA convolutions, to count useful FLOPs:
  XLA's cost analysis counts a convolution's multiply-adds where the kernel overlaps the input, a
  matmul's all of them, the zero padding's too (8 of 9 for a 3x3 kernel on a 1x1 map). jax's
  caches are cleared on entry and exit: a trace made outside is not reused inside, nor the other
  way round."""
  global _MATMUL_CONVOLUTIONS
  jax.clear_caches()
  _MATMUL_CONVOLUTIONS = False
  try:
    yield
  finally:
    _MATMUL_CONVOLUTIONS = True
    jax.clear_caches()


def useful_flops(fn, *args) -> float:
  """flops_of the function with every convolution in its plain form (plain_convolutions): what
  the arithmetic needs, without the multiplications by padding that the matmul forms add."""
  with plain_convolutions():
    return flops_of(fn, *args)


class FullyConnected(nn.Module):
  """A dense layer with equalized learning rate (weights N(0, 1) / lr_multiplier, scaled by
  lr_multiplier / sqrt(fan-in) at run time), then bias_act."""
  features: int
  lr_multiplier: float = 1.0
  bias_init: float = 0.0
  activation: str = "linear"

  @nn.compact
  def __call__(self, x):
    in_features = x.shape[-1]
    w = self.param("weight", lambda k, s: jax.random.normal(k, s) / self.lr_multiplier,
                   (in_features, self.features))
    b = self.param("bias", lambda k, s: jnp.full(s, self.bias_init / self.lr_multiplier),
                   (self.features,))
    weight_gain = self.lr_multiplier / math.sqrt(in_features)
    x = x.astype(jnp.float32) @ (w * weight_gain)
    return bias_act(x, b * self.lr_multiplier, self.activation)
