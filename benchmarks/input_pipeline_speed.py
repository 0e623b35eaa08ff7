"""Training-sample throughput of the input pipelines, plain and augmented, from a pack or TFDS.

  python benchmarks/input_pipeline_speed.py --data_dir runs/gpu/train128.npz --resolution 128 \
      [--batch_size 32] [--threads 8] [--workers 1,2,4] [--steps 20] [--no_resident]

For each of plain and augmented samples, measured in the same run and printed with their ratio to
the first line (one thread making samples in a loop):
  - the host pipeline with `--threads` threads;
  - the host pipeline with k worker processes, for each k of `--workers` (the host's cores used
    past Python's GIL: the input for data that does not fit on the accelerator);
  - the device-resident input (resident_input): the upload of the split, then the host's index
    making alone and the batches gathered (and augmented) on the default device.
An accelerator step consumes batch / step time samples/s: the input keeps up when its figure is
above that (benchmarks/train_speed.py prints the step's).
"""

import argparse
import os
import time

import jax

from lipsync_jax import input_pipeline, resident_input
from lipsync_jax.training import loop


def rate(make_batch, steps: int, batch_size: int) -> float:
  """Samples/s of make_batch() over `steps` calls after one warm-up call."""
  make_batch()
  start = time.perf_counter()
  for _ in range(steps):
    make_batch()
  return steps * batch_size / (time.perf_counter() - start)


def host_rate(source, config, batch_size, steps) -> float:
  it = input_pipeline.TrainIterator(source, batch_size, config)
  try:
    return rate(lambda: next(it), steps, batch_size)
  finally:
    it.close()


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--data_dir", required=True, help="a pack (.npz) or a TFDS data_dir")
  p.add_argument("--dataset", default="synthetic_talking_faces")
  p.add_argument("--resolution", type=int, default=128)
  p.add_argument("--batch_size", type=int, default=32)
  p.add_argument("--threads", type=int, default=8)
  p.add_argument("--workers", default=",".join(str(k) for k in (1, 2, 4, 8, 16)
                                               if k <= (os.cpu_count() or 1)),
                 help="comma-separated worker-process counts to measure")
  p.add_argument("--steps", type=int, default=20)
  p.add_argument("--no_resident", action="store_true", help="skip the device-resident input")
  args = p.parse_args()
  source = input_pipeline.open_source(args.dataset, args.data_dir, "train")
  workers = [int(k) for k in args.workers.split(",") if k]
  for i in range(len(source)):  # every record read once: each line below starts from a warm cache
    source[i]
  print(f"{len(source)} clips, {args.resolution}x{args.resolution}, batch {args.batch_size}, "
        f"{os.cpu_count()} cores, device {jax.devices()[0].platform}")
  for augment in (False, True):
    config = input_pipeline.PipelineConfig(resolution=args.resolution, augment=augment,
                                           num_threads=args.threads)
    position = iter(range(10**9))
    one = rate(lambda: input_pipeline.sample_example(source, next(position), 0, config),
               args.steps * 2, 1)
    print(f"augment={augment}")
    print(f"  1 thread, sample by sample   {one:9.1f} samples/s   1.00x")
    threaded = host_rate(source, config, args.batch_size, args.steps)
    print(f"  {args.threads:2d} threads                   {threaded:9.1f} samples/s  "
          f"{threaded / one:5.2f}x")
    for k in workers:
      processes = host_rate(source, input_pipeline.PipelineConfig(
          resolution=args.resolution, augment=augment, num_workers=k), args.batch_size, args.steps)
      print(f"  {k:2d} worker processes          {processes:9.1f} samples/s  "
            f"{processes / one:5.2f}x")
    if args.no_resident:
      continue
    start = time.perf_counter()
    resident = resident_input.ResidentIterator(source, args.batch_size, config)
    mesh = loop.make_mesh(jax.devices()[:1])
    resident.gather(loop.global_batch(next(resident), mesh), mesh)  # uploads, compiles
    upload = time.perf_counter() - start
    indices = rate(lambda: next(resident), args.steps, args.batch_size)
    gathered = rate(lambda: jax.block_until_ready(
        resident.gather(loop.global_batch(next(resident), mesh), mesh)), args.steps,
        args.batch_size)
    mb = sum(a.nbytes for a in resident.split.arrays.values()) / 1e6
    print(f"  device-resident ({mb:.0f} MB, ready in {upload:.1f} s): indices on the host "
          f"{indices:9.1f} samples/s, batches on the device {gathered:9.1f} samples/s  "
          f"{gathered / one:5.2f}x")


if __name__ == "__main__":
  main()
