"""Throughput of data_prep.prepare on the synthetic corpus: frames per second per core, by stage.

  python benchmarks/prepare_throughput.py [--corpus DIR] [--num_clips N] [--cores 1]

Runs the per-video function in this process pinned to --cores CPU cores (MediaPipe and OpenCV
threads included), after one warm-up video (model loading, librosa's first call), and prints
frames/s per core with the share of decode, mesh, crop, mask, mel and write. Goal: >= 100.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("GLOG_minloglevel", "2")

from data_prep import prepare, synthetic  # noqa: E402
from lipsync_jax.face_mesh import FaceMesh  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--corpus", help="a synthetic corpus folder (made if absent)")
  parser.add_argument("--num_clips", type=int, default=8)
  parser.add_argument("--cores", type=int, default=1)
  args = parser.parse_args()
  cores = sorted(os.sched_getaffinity(0))[:args.cores]
  os.sched_setaffinity(0, cores)
  corpus = args.corpus or os.path.join(tempfile.gettempdir(), "lipsync_bench_corpus")
  if not os.path.exists(os.path.join(corpus, "corpus.json")):
    print(f"building a {args.num_clips}-clip synthetic corpus in {corpus} ...")
    synthetic.build_corpus(corpus, args.num_clips, seed=123, workers=1, progress=False)
  items = prepare.discover(os.path.join(corpus, "clips"))
  config = prepare.PrepareConfig()
  with FaceMesh(track=True) as mesh, tempfile.TemporaryDirectory() as out:
    prepare.prepare_one(items[0], out, config, mesh)  # warm-up, not timed
    timer = prepare._Timer()
    frames = 0
    start = time.perf_counter()
    for item in items[1:]:
      mesh._mesh.reset()
      for index, segment in enumerate(prepare.process_video(item, config, mesh, timer)):
        t = time.perf_counter()
        prepare.save_segment(segment, os.path.join(out, f"{item.key}_{index}.npz"))
        timer.add("write", t)
        frames += len(segment["frames_offsets"]) - 1
    wall = time.perf_counter() - start
  fps = frames / wall
  print(f"prepare: {frames} frames of {len(items) - 1} videos in {wall:.2f} s on {len(cores)} core(s)")
  print(f"  {fps / len(cores):.1f} frames/s per core (goal 100)")
  total = sum(timer.seconds.values())
  for stage in ("decode", "mesh", "crop", "mask", "mel", "write"):
    s = timer.seconds.get(stage, 0.0)
    print(f"  {stage:7s} {1000 * s / frames:6.2f} ms/frame  {100 * s / total:5.1f}%")
  print(f"  other   {1000 * (wall - total) / frames:6.2f} ms/frame")


if __name__ == "__main__":
  main()
