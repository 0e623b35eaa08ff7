"""StyleGAN2 operations against direct, obviously-correct references."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from scipy import signal

from lipsync_jax.models import encoders, ops

F2D = np.outer(ops.fir_1d(), ops.fir_1d())


def _ref_upfirdn(x, up, pad, gain):
  """Per channel: zero insertion, zero padding, scipy 2-D convolution with the 2-D filter."""
  n, h, w, c = x.shape
  u = np.zeros((n, h * up, w * up, c))
  u[:, ::up, ::up] = x
  px0, px1, py0, py1 = pad
  u = np.pad(u, ((0, 0), (py0, py1), (px0, px1), (0, 0)))
  out = np.stack([np.stack([signal.convolve2d(u[i, :, :, j], F2D * gain, mode="valid")
                            for j in range(c)], -1) for i in range(n)])
  return out


def test_upsample2d_matches_scipy():
  x = np.random.default_rng(0).normal(size=(2, 6, 5, 3))
  np.testing.assert_allclose(ops.upsample2d(jnp.asarray(x)), _ref_upfirdn(x, 2, (2, 1, 2, 1), 4.0),
                             atol=1e-5)


def test_blur_matches_scipy():
  x = np.random.default_rng(1).normal(size=(1, 9, 7, 2))
  np.testing.assert_allclose(ops.upfirdn2d(jnp.asarray(x), padding=(1, 2, 2, 1), gain=4.0),
                             _ref_upfirdn(x, 1, (1, 2, 2, 1), 4.0), atol=1e-5)


def _ref_conv_transpose(x, w):
  """torch.conv_transpose2d(x, w, stride=2) by its definition: out[2h+a, 2w+b] += x[h, w] w[a, b]."""
  n, h, wd, _ = x.shape
  out = np.zeros((n, 2 * h + 1, 2 * wd + 1, w.shape[-1]))
  for a in range(3):
    for b in range(3):
      out[:, a:a + 2 * h:2, b:b + 2 * wd:2] += np.einsum("nhwi,io->nhwo", x, w[a, b])
  return out


def test_polyphase_transposed_conv_matches_definition():
  rng = np.random.default_rng(2)
  x, w = rng.normal(size=(2, 5, 4, 3)), rng.normal(size=(3, 3, 3, 4))
  np.testing.assert_allclose(ops.conv_transpose_stride2(jnp.asarray(x), jnp.asarray(w)),
                             _ref_conv_transpose(x, w), atol=1e-4)


def test_polyphase_transposed_conv_gradients_match_xla():
  """Its kernel gradient, one matmul of shifted views on CPU (ops._valid_conv), against XLA's
  gradient of the same transposed convolution written as a convolution with inserted zeros."""
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.normal(size=(3, 6, 5, 4)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(3, 3, 4, 2)), jnp.float32)
  ref = lambda x, w: lax.conv_general_dilated(  # noqa: E731
      x, w[::-1, ::-1], (1, 1), ((2, 2), (2, 2)), lhs_dilation=(2, 2),
      dimension_numbers=("NHWC", "HWIO", "NHWC"))
  y, vjp = jax.vjp(ops.conv_transpose_stride2, x, w)
  ref_y, ref_vjp = jax.vjp(ref, x, w)
  np.testing.assert_allclose(y, ref_y, atol=1e-4)
  dy = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
  for got, want in zip(vjp(dy), ref_vjp(dy)):
    np.testing.assert_allclose(got, want, atol=1e-4)
  kernel_grad = jax.grad(lambda w: jnp.sum(ops.conv_transpose_stride2(x, w) * dy))
  assert "dot_general" in jax.jit(kernel_grad).lower(w).as_text()  # the matmul form ran


def _per_sample_modconv(x, weight, styles, up, demodulate=True):
  """stylegan2's fused path: a modulated (and demodulated) weight per sample, one conv each."""
  outs = []
  for i in range(x.shape[0]):
    w = weight * styles[i][None, None, :, None]
    if demodulate:
      w = w / np.sqrt((w**2).sum(axis=(0, 1, 2), keepdims=True) + 1e-8)
    xi = x[i:i + 1]
    if up == 1:
      y = np.asarray(lax.conv_general_dilated(xi, w, (1, 1), [(1, 1), (1, 1)],
                                              dimension_numbers=("NHWC", "HWIO", "NHWC")))
    else:
      y = _ref_upfirdn(_ref_conv_transpose(xi, w), 1, (1, 1, 1, 1), 4.0)
    outs.append(y)
  return np.concatenate(outs)


@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv_matches_per_sample_weights(up):
  rng = np.random.default_rng(3)
  x = rng.normal(size=(3, 6, 6, 8))
  weight = rng.normal(size=(3, 3, 8, 5))
  styles = rng.normal(size=(3, 8)) + 1.0
  ours = ops.modulated_conv2d(jnp.asarray(x), jnp.asarray(weight), jnp.asarray(styles), up=up)
  np.testing.assert_allclose(ours, _per_sample_modconv(x, weight, styles, up), atol=1e-4)


def test_demodulation_gives_unit_variance():
  rng = np.random.default_rng(4)
  x = rng.normal(size=(4, 32, 32, 64)).astype(np.float32)
  weight = rng.normal(size=(3, 3, 64, 32)).astype(np.float32)
  styles = np.exp(rng.normal(size=(4, 64))).astype(np.float32)  # wildly different scales
  y = np.asarray(ops.modulated_conv2d(jnp.asarray(x), jnp.asarray(weight), jnp.asarray(styles)))
  std = y[:, 2:-2, 2:-2].std(axis=(1, 2))  # away from the zero padding
  assert np.all(np.abs(std - 1.0) < 0.15), std


def test_bf16_path_keeps_styles_and_demodulation_in_float32():
  rng = np.random.default_rng(5)
  x, w, s = rng.normal(size=(2, 8, 8, 16)), rng.normal(size=(3, 3, 16, 16)), rng.normal(size=(2, 16)) + 2
  ref = ops.modulated_conv2d(jnp.asarray(x), jnp.asarray(w), jnp.asarray(s))
  low = ops.modulated_conv2d(jnp.asarray(x), jnp.asarray(w), jnp.asarray(s), compute_dtype=jnp.bfloat16)
  assert low.dtype == jnp.float32
  assert float(jnp.abs(low - ref).max()) < 0.1 * float(jnp.abs(ref).max())


def test_minibatch_stddev_matches_numpy():
  x = np.random.default_rng(6).normal(size=(8, 4, 4, 6)).astype(np.float32)
  out = np.asarray(ops.minibatch_stddev(jnp.asarray(x), group_size=4))
  assert out.shape == (8, 4, 4, 7)
  for g in range(2):
    group = x[4 * g:4 * g + 4]
    expected = np.sqrt(group.var(axis=0) + 1e-8).mean()
    np.testing.assert_allclose(out[4 * g:4 * g + 4, :, :, -1], expected, rtol=1e-5)
  np.testing.assert_array_equal(out[..., :6], x)


def test_bias_act():
  x = jnp.array([-2.0, 3.0])
  np.testing.assert_allclose(ops.bias_act(x, jnp.array([1.0, 1.0]), "lrelu"),
                             np.array([-0.2, 4.0]) * np.sqrt(2), rtol=1e-6)


def test_flops_of_counts_a_matmul():
  a = jnp.ones((64, 128))
  assert abs(ops.flops_of(lambda x: x @ x.T, a) - 2 * 64 * 64 * 128) / (2 * 64 * 64 * 128) < 0.05


def _ref_strided_conv_grads(x, w, dy, strides, pad):
  """The gradients of y[n, i, j] = sum_{a,b} x[n, s*i + a - p, s*j + b - p] @ w[a, b], by their
  definition (x zero outside)."""
  n, h, wd, _ = x.shape
  sy, sx = strides
  xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  dxp, dw = np.zeros_like(xp), np.zeros_like(w)
  ho, wo = dy.shape[1:3]
  for a in range(w.shape[0]):
    for b in range(w.shape[1]):
      window = (slice(None), slice(a, a + sy * ho, sy), slice(b, b + sx * wo, sx))
      dxp[window] += np.einsum("nhwo,io->nhwi", dy, w[a, b])
      dw[a, b] = np.einsum("nhwi,nhwo->io", xp[window], dy)
  return dxp[:, pad:pad + h, pad:pad + wd], dw


@pytest.mark.parametrize("shape,kernel,strides,pad", [
    ((2, 8, 8, 3), 3, (2, 2), 1), ((2, 9, 7, 3), 3, (2, 2), 1), ((2, 8, 8, 3), 1, (2, 2), 0),
    ((2, 6, 10, 3), 3, (1, 2), 1), ((1, 9, 9, 2), 5, (2, 2), 2), ((1, 12, 11, 2), 4, (3, 2), 1)])
def test_strided_conv_gradients_match_definition(shape, kernel, strides, pad):
  rng = np.random.default_rng(3)
  x, w = rng.normal(size=shape), rng.normal(size=(kernel, kernel, shape[-1], 4))
  f = lambda x, w: ops.strided_conv2d(x, w, strides, ((pad, pad), (pad, pad)))  # noqa: E731
  y, vjp = jax.vjp(f, jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32))
  dy = rng.normal(size=y.shape)
  dx, dw = vjp(jnp.asarray(dy, jnp.float32))
  ref_dx, ref_dw = _ref_strided_conv_grads(x, w, dy, strides, pad)
  np.testing.assert_allclose(dx, ref_dx, atol=1e-4)
  np.testing.assert_allclose(dw, ref_dw, atol=1e-4)


@pytest.mark.parametrize("shape,kernel,strides,padding", [
    ((2, 20, 80, 1), 3, (2, 2), "SAME"), ((2, 5, 20, 4), 3, (2, 2), "SAME"),
    ((2, 9, 7, 3), 3, (1, 1), ((1, 1), (1, 1))), ((1, 12, 11, 2), 4, (3, 2), ((1, 2), (0, 1)))])
def test_conv_as_matmul_matches_the_convolution(shape, kernel, strides, padding):
  rng = np.random.default_rng(4)
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  w = jnp.asarray(rng.normal(size=(kernel, kernel, shape[-1], 5)), jnp.float32)
  conv = lambda fn: lambda x, w: fn(x, w, strides, padding,  # noqa: E731
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))
  y, vjp = jax.vjp(conv(ops.conv_as_matmul), x, w)
  ref_y, ref_vjp = jax.vjp(conv(lax.conv_general_dilated), x, w)
  np.testing.assert_allclose(y, ref_y, atol=1e-4)
  dy = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
  for got, want in zip(vjp(dy), ref_vjp(dy)):
    np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("shape", [(2, 20, 80, 3), (1, 7, 9, 2), (3, 1, 2, 1)])
def test_max_pool_3x3_stride2_matches_flax(shape):
  import flax.linen as nn
  rng = np.random.default_rng(5)
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  ref = lambda x: nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))  # noqa: E731
  y, vjp = jax.vjp(ops.max_pool_3x3_stride2, x)
  ref_y, ref_vjp = jax.vjp(ref, x)
  np.testing.assert_array_equal(y, ref_y)
  dy = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
  np.testing.assert_allclose(vjp(dy)[0], ref_vjp(dy)[0], atol=1e-5)


@pytest.mark.parametrize("shape,groups,dtype", [((2, 5, 7, 64), 32, None), ((3, 4, 4, 8), 8, None),
                                                 ((2, 6, 3, 32), 4, jnp.bfloat16)])
def test_group_norm_matches_flax(shape, groups, dtype):
  """The same parameters, values and gradients as nn.GroupNorm (the audio encoder's and SyncNet's
  checkpoints load into it), computed without flax's (..., groups, channels) reshape."""
  import flax.linen as nn
  rng = np.random.default_rng(6)
  x = jnp.asarray(rng.normal(size=shape) * 3 + 1, dtype or jnp.float32)
  ours, ref = ops.GroupNorm(groups, dtype=dtype), nn.GroupNorm(num_groups=groups, dtype=dtype)
  params = ref.init(jax.random.PRNGKey(0), x)
  assert (jax.tree.map(jnp.shape, ours.init(jax.random.PRNGKey(0), x)) ==
          jax.tree.map(jnp.shape, params))
  params = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
  y, vjp = jax.vjp(lambda p, x: ours.apply(p, x), params, x)
  ref_y, ref_vjp = jax.vjp(lambda p, x: ref.apply(p, x), params, x)
  assert y.dtype == ref_y.dtype
  tol = 1e-5 if dtype is None else 2e-2
  np.testing.assert_allclose(y.astype(np.float32), ref_y.astype(np.float32), atol=tol, rtol=tol)
  dy = jnp.asarray(rng.normal(size=shape), y.dtype)
  for got, want in zip(jax.tree.leaves(vjp(dy)), jax.tree.leaves(ref_vjp(dy))):
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32),
                               atol=10 * tol, rtol=10 * tol)
  with pytest.raises(ValueError, match="12 channels do not split into 8 groups"):
    ops.GroupNorm(8).init(jax.random.PRNGKey(0), jnp.zeros((1, 2, 2, 12)))


def test_encoder_gradient_multiplies_no_inserted_zeros():
  """XLA computes a strided convolution's input gradient as a convolution of the output gradient
  with zeros inserted between its samples (lhs dilation); the encoders' convolutions use the
  per-phase form instead."""
  model = encoders.FaceEncoder(32, 256, 16, 4)
  x = jnp.zeros((1, 32, 32, 3))
  params = model.init(jax.random.PRNGKey(0), x)
  loss = lambda p: sum(jnp.sum(v) for v in model.apply(p, x).values())  # noqa: E731
  hlo = jax.jit(jax.grad(loss)).lower(params).as_text()
  dilations = set(re.findall(r"lhs_dilate = \[[0-9, ]*\]", hlo))
  assert dilations == {"lhs_dilate = [1, 1]"}, dilations


def test_useful_flops_leave_out_the_matmul_forms_multiplications_by_padding():
  x = jnp.ones((2, 1, 1, 8), jnp.float32)  # a 1x1 map: 8 of a 3x3 kernel's 9 taps read padding
  w = jnp.ones((3, 3, 8, 4), jnp.float32)
  conv = lambda fn: lambda x, w: fn(x, w, (1, 1), ((1, 1), (1, 1)),  # noqa: E731
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))
  matmul = ops.flops_of(conv(ops.conv_as_matmul), x, w)
  useful = ops.useful_flops(conv(ops.conv_as_matmul), x, w)
  assert useful == ops.flops_of(conv(lax.conv_general_dilated), x, w)
  assert useful < matmul / 4  # 2 * 8 * 4 multiply-adds a sample against 9 times that
  assert ops.flops_of(conv(ops.conv_as_matmul), x, w) == matmul  # the matmul form again outside
