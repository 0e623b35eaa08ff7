"""How much a prepared corpus's inputs give away the original mouth motion, besides the mouth itself.

  python benchmarks/mouth_leak.py --prepared runs/proof/train/prepared [--every 10]

A lip-sync model sees the frame outside the lip mask and the mask's outline. If the crop box or
the mask follows the jaw, the model can read how the original mouth moved from them and copy it,
instead of listening to the audio. For every `--every`-th prepared segment this prints the Pearson
correlation, over its frames, between the stored mouth opening and: the crop box's side (frame
pixels), the head scale in the crop, the mask's area and the row of its lower edge; then the means.
Near 0 is what a leak-free preparation gives (the head moves at random in the synthetic corpus).
"""

import argparse
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

from data_prep import prepare  # noqa: E402

COLUMNS = ("box side", "head scale in crop", "mask area", "mask lower edge")


def segment_correlations(seg: dict) -> np.ndarray:
  opening = seg["mouth_opening"].astype(np.float64)
  n = len(opening)
  masks = prepare.unpack_mask(seg["lip_mask"], seg["meta"]["size"]).reshape(n, -1, seg["meta"]["size"])
  lower_edge = np.array([np.flatnonzero(m.any(1)).max() for m in masks], np.float64)
  series = (seg["box"][:, 2], seg["head_scale"], masks.sum((1, 2)), lower_edge)
  return np.array([np.corrcoef(np.asarray(x, np.float64), opening)[0, 1] for x in series])


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--prepared", required=True, help="a data_prep.prepare output folder")
  parser.add_argument("--every", type=int, default=10, help="use every k-th segment")
  args = parser.parse_args()
  paths = sorted(glob.glob(os.path.join(args.prepared, "clips", "*.npz")))[::args.every]
  if not paths:
    sys.exit(f"{args.prepared}: no prepared clips under clips/")
  print("segment".ljust(28) + "".join(c.rjust(20) for c in COLUMNS))
  rows = []
  for path in paths:
    rows.append(segment_correlations(prepare.load_segment(path)))
    print(os.path.basename(path).ljust(28) + "".join(f"{r:20.2f}" for r in rows[-1]))
  print(f"mean of {len(rows)}".ljust(28) + "".join(f"{r:20.2f}" for r in np.mean(rows, 0)))


if __name__ == "__main__":
  main()
