"""Parity of our StyleGAN2 synthesis with a PyTorch one (stylegan2-torch) on identical weights.

  python benchmarks/stylegan2_parity.py [--resolution 256] [--batch 2]

Initialises our SynthesisNetwork with StyleLipSync's channels, gives non-trivial values to the
noise strengths, copies every weight into the PyTorch generator, runs both on the same W+ codes
with the same (const) noise and prints max |diff| (lipsync_jax/models/stylegan2_torch.py). Exits
non-zero above 1e-4.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from lipsync_jax.models import stylegan2_torch  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--resolution", type=int, default=256)
  parser.add_argument("--batch", type=int, default=2)
  args = parser.parse_args()
  diff, scale = stylegan2_torch.parity(args.resolution, args.batch)
  print(f"StyleGAN2 synthesis {args.resolution}x{args.resolution}, batch {args.batch}: "
        f"max |ours - pytorch| = {diff:.2e} (outputs up to {scale:.2f}); "
        f"tolerance {stylegan2_torch.TOLERANCE:.0e}")
  return 0 if diff < stylegan2_torch.TOLERANCE else 1


if __name__ == "__main__":
  sys.exit(main())
