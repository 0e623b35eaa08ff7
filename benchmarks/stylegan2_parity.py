"""Parity of our StyleGAN2 synthesis with a PyTorch one (stylegan2-torch) on identical weights.

  python benchmarks/stylegan2_parity.py [--resolution 256] [--batch 2]

Initialises our SynthesisNetwork with StyleLipSync's channels, gives non-trivial values to the
noise strengths, copies every weight into the PyTorch generator, runs both on the same W+ codes
with the same (const) noise and prints max |diff|. Exits non-zero above 1e-4.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import torch_stylegan2  # noqa: E402
from lipsync_jax.models import stylegan2  # noqa: E402

TOLERANCE = 1e-4


def parity(resolution: int = 256, batch: int = 2, seed: int = 0) -> float:
  synthesis = stylegan2.SynthesisNetwork(resolution)
  ws = jax.random.normal(jax.random.key(seed), (batch, synthesis.num_ws, 512))
  variables = jax.jit(lambda k: synthesis.init({"params": k, "noise": k}, ws, noise_mode="const"))(
      jax.random.key(seed + 1))
  # Noise strengths start at zero; make them count so the noise path is compared too.
  params = jax.tree_util.tree_map_with_path(
      lambda p, x: jnp.full_like(x, 0.3) if "noise_strength" in jax.tree_util.keystr(p) else x,
      variables["params"])
  variables = {**variables, "params": params}
  ours = np.asarray(jax.jit(lambda v, w: synthesis.apply(v, w, noise_mode="const"))(variables, ws))
  channels = {r: stylegan2.channels_for(r) for r in stylegan2.block_resolutions(resolution)}
  gen = torch_stylegan2.build(resolution, channels)
  noises = torch_stylegan2.copy_synthesis(gen, jax.device_get(params), jax.device_get(variables["noise_const"]))
  theirs = torch_stylegan2.synthesize(gen, np.asarray(ws), noises)
  return float(np.abs(ours - theirs).max()), float(np.abs(theirs).max())


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--resolution", type=int, default=256)
  parser.add_argument("--batch", type=int, default=2)
  args = parser.parse_args()
  diff, scale = parity(args.resolution, args.batch)
  print(f"StyleGAN2 synthesis {args.resolution}x{args.resolution}, batch {args.batch}: "
        f"max |ours - pytorch| = {diff:.2e} (outputs up to {scale:.2f}); tolerance {TOLERANCE:.0e}")
  return 0 if diff < TOLERANCE else 1


if __name__ == "__main__":
  sys.exit(main())
