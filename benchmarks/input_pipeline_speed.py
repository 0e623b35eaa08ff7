"""Training-sample throughput of the input pipeline, plain and augmented, from a pack or TFDS.

  python benchmarks/input_pipeline_speed.py --data_dir runs/gpu/train128.npz --resolution 128 \
      [--batch_size 32] [--threads 8] [--steps 20]

Prints samples/s for one thread (sample_example in a loop) and for the threaded iterator, with
augmentation's cost as a ratio measured in the same run. On an accelerator the lip-sync step of
the 128x128 configs is fed by this: what it prints bounds samples/s there.
"""

import argparse
import time

from lipsync_jax import input_pipeline


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--data_dir", required=True, help="a pack (.npz) or a TFDS data_dir")
  p.add_argument("--dataset", default="synthetic_talking_faces")
  p.add_argument("--resolution", type=int, default=128)
  p.add_argument("--batch_size", type=int, default=32)
  p.add_argument("--threads", type=int, default=8)
  p.add_argument("--steps", type=int, default=20)
  args = p.parse_args()
  source = input_pipeline.open_source(args.dataset, args.data_dir, "train")
  rates = {}
  for augment in (False, True):
    config = input_pipeline.PipelineConfig(resolution=args.resolution, augment=augment,
                                           num_threads=args.threads)
    n = args.steps * 4
    start = time.perf_counter()
    for i in range(n):
      input_pipeline.sample_example(source, i, 0, config)
    one = n / (time.perf_counter() - start)
    it = input_pipeline.TrainIterator(source, args.batch_size, config)
    next(it)  # warm the pool
    start = time.perf_counter()
    for _ in range(args.steps):
      next(it)
    threaded = args.steps * args.batch_size / (time.perf_counter() - start)
    it.close()
    rates[augment] = one
    print(f"augment={augment!s:5}  1 thread: {one:7.1f} samples/s   {args.threads} threads, batch "
          f"{args.batch_size}: {threaded:7.1f} samples/s ({threaded / args.batch_size:.1f} steps/s)")
  print(f"augmentation costs {rates[False] / rates[True]:.2f}x the plain sample time (1 thread)")


if __name__ == "__main__":
  main()
