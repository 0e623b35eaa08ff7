"""Where a training step's time goes, by XLA operation: what to fix next for speed.

  python benchmarks/op_profile.py --config configs/lipsync.py:proof128 \
      --config.data_dir=DIR --config.pretrained_prior=RUN [--steps 10] [--top 25]

Times and then traces `steps` compiled steps of the stage (jax.profiler), joins each operation's
time with the optimized HLO and prints:
  - the step's time by network and direction (forward, backward): the `op_name` path JAX gives each
    operation (e.g. .../transpose(jvp(StyleLipSync.encode_audio))/audio_encoder/layer1_0/conv1),
    convolutions and matmuls apart from everything else;
  - the `top` operations: milliseconds per step, share, output shape, the convolution's window or
    the dot, and where in the model it comes from.
Times are the trace's, per step; operations that run concurrently on the 2 threads both count, so
shares are of the summed operation time, which the step's wall time is printed beside. An XLA
convolution that YNNPACK does not run completes asynchronously: its time shows on the operation
that waits for it, usually its bias add. StyleGAN2's step is three jitted pieces (D, G, R1):
operations of the same name in two of them are counted as one.
"""

import collections
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from benchmarks import train_speed  # noqa: E402
from lipsync_jax import xla_profile  # noqa: E402

# --config, --steps (timed, then traced) and --dtype are train_speed.py's flags.
_TOP = flags.DEFINE_integer("top", 25, "Operations listed.")
_MATCH = flags.DEFINE_string("match", "", "List only operations whose op_name contains this.")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  config = train_speed._CONFIG.value
  if train_speed._DTYPE.value:
    config.dtype = train_speed._DTYPE.value
  steps = train_speed._STEPS.value
  seconds, gflop, _, (trainer, state, mesh) = train_speed.measure(config, steps)
  it = trainer.make_iterator(0, 0, 1)
  batch = train_speed.next_batch(it, mesh)
  if hasattr(it, "close"):
    it.close()
  trace_dir = tempfile.mkdtemp(prefix="op_profile_")
  try:
    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    start = time.perf_counter()
    for step in range(steps):
      state, metrics = trainer.train_step(state, batch, 10 + step)
    jax.block_until_ready(metrics)
    traced = (time.perf_counter() - start) / steps
    jax.profiler.stop_trace()
    times = xla_profile.trace_times(trace_dir)
  finally:
    shutil.rmtree(trace_dir, ignore_errors=True)
  ops = {}
  extra = (trainer._lpips,) if hasattr(trainer, "_lpips") else ()
  for fn, _ in train_speed._jitted_pieces(trainer):
    hlo = fn.lower(state, batch, jnp.int32(0), *extra).compile().as_text()
    ops.update(xla_profile.hlo_operations(hlo))
  per_step = {name: us / 1e3 / steps for name, us in times.items()}
  total = sum(per_step.values())
  print(f"step {seconds:.3f} s ({traced:.3f} s traced), {gflop:.1f} GFLOP; operations "
        f"{total:.0f} ms per step summed")
  groups = collections.Counter()
  for name, ms in per_step.items():
    shape, what, op_name = ops.get(name, ("", "", ""))
    network, direction = xla_profile.where(op_name)
    kind = "conv/dot" if what.startswith(("convolution", "dot")) else "rest"
    groups[(network, direction, kind)] += ms
  print(f"\n{'ms':>8} {'share':>6}  network, direction, kind")
  for (network, direction, kind), ms in groups.most_common():
    print(f"{ms:8.1f} {100 * ms / total:5.1f}%  {network}, {direction}, {kind}")
  print(f"\n{'ms':>8} {'share':>6}  operation, output, computes, from")
  listed = [(name, ms) for name, ms in per_step.items()
            if _MATCH.value in ops.get(name, ("", "", ""))[2]]
  for name, ms in sorted(listed, key=lambda kv: -kv[1])[:_TOP.value]:
    shape, what, op_name = ops.get(name, ("", "", ""))
    print(f"{ms:8.2f} {100 * ms / total:5.1f}%  {name} {shape} {what} {op_name[-90:]}")


if __name__ == "__main__":
  app.run(main)
