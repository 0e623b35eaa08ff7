"""How well MediaPipe measures mouth opening on *real* frames at a model's resolution: the ceiling
of the learning measure (README, "Does it learn?").

  python benchmarks/mouth_instrument.py --data_dir runs/proof/tfds [--split test] [--num_clips 8] \
      [--resolutions 64,128,256]

For every resolution, the held-out clips' real crops are reduced to it (as the evaluation reduces
them), MediaPipe measures the mouth opening on them (metrics.Landmarks: upscaled to 256), and the
Pearson correlation with the ground-truth track (the renderer's mesh for synthetic clips) is
printed per clip and on average, for the evaluation's inner-lip-area measure and the single
inner-lip gap.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from lipsync_jax import evaluate, input_pipeline, metrics  # noqa: E402
from lipsync_jax import face_geometry as fg  # noqa: E402

MEASURES = {"inner-lip area": fg.inner_lip_opening, "inner-lip gap": fg.mouth_opening}


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--data_dir", required=True)
  p.add_argument("--dataset", default="synthetic_talking_faces")
  p.add_argument("--split", default="test")
  p.add_argument("--num_clips", type=int, default=8)
  p.add_argument("--max_frames", type=int, default=100)
  p.add_argument("--resolutions", default="64,128,256")
  args = p.parse_args()
  source = input_pipeline.open_split(args.dataset, args.data_dir, args.split)
  # Clips spread over the split (consecutive clips of the corpus share an identity and voice).
  picks = np.linspace(0, len(source) - 1, min(args.num_clips, len(source))).astype(int)
  lm = metrics.Landmarks()
  for r in (int(x) for x in args.resolutions.split(",")):
    corr = {name: [] for name in MEASURES}
    truths = set()
    for i in picks:
      clip = evaluate._clip(source, int(i), r, "pose", args.max_frames)
      n = len(clip["frames"])
      ex = source[int(i)]
      pts = [lm(f) for f in clip["frames"]]
      found = np.array([q is not None for q in pts])
      for name, measure in MEASURES.items():
        truth, origin = evaluate.ground_truth_opening(ex, n, measure)
        truths.add(origin)
        got = np.array([measure(q) if q is not None else np.nan for q in pts])
        corr[name].append(metrics.pearson(got[found], truth[found]))
    for name, values in corr.items():
      print(f"{r:4d}x{r:<4d} {name:15s} r = {np.mean(values):.3f}  (per clip: "
            f"{' '.join(f'{v:.2f}' for v in values)}; ground truth: {','.join(sorted(truths))})",
            flush=True)


if __name__ == "__main__":
  main()
