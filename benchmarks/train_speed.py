"""Training speed of one stage's config on this machine: step time, samples/s, FLOPs, fraction of peak.

  python benchmarks/train_speed.py --config configs/prior.py:proof128 \
      --config.data_dir=runs/proof/train/tfds [--steps 10] [--terms] [--dtype bfloat16]

Prints, after compilation (all devices, the config's global batch):
  - this machine's practical peak measured now (benchmarks/model_speed.py: the faster of a 2048
    matmul and XLA's 3x3 convolution on 64x64x512, float32);
  - the step: seconds, samples/s, GFLOP per step from XLA's cost analysis (every jitted piece of a
    step: StyleGAN2's D, G and lazy R1 steps), achieved GFLOP/s and the fraction of that peak. The
    FLOPs are the useful ones: counted with the convolutions that run as matmuls (lips network,
    LPIPS on small maps) in their plain form (ops.useful_flops), where the matmul form also
    multiplies the zero padding; the step as run is counted too, for comparison;
  - with --xla_strided_baseline, the step again with XLA's own input gradient of the strided
    convolutions (encoders, SyncNet) and the per-phase form's speed-up over it;
  - with --terms, each loss term's share of the step: the step timed again with that term's weight
    at 0 (and its FLOPs), the share being what the term adds;
  - the stage's input alone (its fields only; the config's threads, worker processes
    (data_workers) or the device-resident split (device_input)), samples/s with batches ready on
    the devices, and the step with its input as the training loop runs them, against the step
    alone (an input that keeps up adds a few percent at most).
Any --config.x=y is applied, e.g. --config.pretrained_prior=RUN for a frozen decoder.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from benchmarks.model_speed import measure_peak  # noqa: E402
from lipsync_jax.models import ops  # noqa: E402
from lipsync_jax.training import loop, stages  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "A training config.", lock_config=False)
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps (after two warm-up steps).")
_TERMS = flags.DEFINE_bool("terms", False, "Time the step again without each loss term.")
_XLA_STRIDED = flags.DEFINE_bool(
    "xla_strided_baseline", False, "Also time the step with XLA's own input gradient of strided "
    "convolutions (ops.PHASED_STRIDED_GRADIENT off), the baseline of the per-phase one.")
_DTYPE = flags.DEFINE_string("dtype", "", "Compute dtype (config.dtype), e.g. bfloat16.")
flags.mark_flags_as_required(["config"])

LOSS_WEIGHTS = ("lambda_lpips", "lambda_mouth_lpips", "lambda_l1", "lambda_mask_l1", "lambda_sync",
                "lambda_opening", "lambda_latent", "lambda_reg")


def _jitted_pieces(trainer):
  """(jitted function, share of steps it runs in) for every jitted piece of a training step."""
  if hasattr(trainer, "_jit_step"):
    return [(trainer._jit_step, 1.0)]
  return [(trainer._jit_d, 1.0), (trainer._jit_g, 1.0),
          (trainer._jit_r1, 1.0 / trainer.config.r1_interval)]


def step_gflop(trainer, state, batch, extra):
  """GFLOP of one training step by XLA's cost analysis, of the functions as traced now."""
  gflop = 0.0
  for fn, share in _jitted_pieces(trainer):
    cost = fn.lower(state, batch, jnp.int32(0), *extra).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    gflop += share * float(cost.get("flops", 0.0)) / 1e9
  return gflop


def measure(config, steps, count_as_run=False):
  """(seconds per step, useful GFLOP per step, GFLOP of the step as it runs (with the matmul
  forms' multiplications by padding; with count_as_run, else None), (trainer, state, mesh)) of a
  config, compiled and warm."""
  trainer = stages.make_trainer(config)
  mesh = loop.make_mesh()
  state = trainer.init_state(jax.random.key(config.seed))
  shardings = jax.tree_util.tree_map(lambda _: loop.replicated(mesh), state)
  trainer.setup(mesh, shardings)
  state = loop.place_state(state, shardings)
  it = trainer.make_iterator(0, 0, 1)
  batch = next_batch(it, mesh)
  if hasattr(it, "close"):
    it.close()
  extra = (trainer._lpips,) if hasattr(trainer, "_lpips") else ()
  with ops.plain_convolutions():  # the useful FLOPs: no multiplications by padding
    gflop = step_gflop(trainer, state, batch, extra)
  for step in range(2):  # compile and warm up
    state, metrics = trainer.train_step(state, batch, step)
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for step in range(2, 2 + steps):
    state, metrics = trainer.train_step(state, batch, step)
  jax.block_until_ready(metrics)
  seconds = (time.perf_counter() - start) / steps
  ran = step_gflop(trainer, state, batch, extra) if count_as_run else None
  return seconds, gflop, ran, (trainer, state, mesh)


def next_batch(it, mesh):
  """The next batch on the devices, as the training loop makes it."""
  batch = loop.global_batch(next(it), mesh)
  return it.gather(batch, mesh) if hasattr(it, "gather") else batch


def input_rate(trainer, mesh, steps):
  """Samples/s of the stage's input alone (batches ready on the devices)."""
  it = trainer.make_iterator(0, 0, 1)
  jax.block_until_ready(next_batch(it, mesh))
  start = time.perf_counter()
  for _ in range(steps):
    jax.block_until_ready(next_batch(it, mesh))
  seconds = time.perf_counter() - start
  if hasattr(it, "close"):
    it.close()
  return steps * trainer.config.batch_size / seconds


def step_with_input(trainer, state, mesh, steps):
  """Seconds per step of the training loop's work: each step's batch made as the loop makes it
  (prefetched by the host pipeline, or gathered on the devices) and the step dispatched."""
  it = trainer.make_iterator(0, 0, 1)
  for step in range(2):
    state, metrics = trainer.train_step(state, next_batch(it, mesh), step)
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for step in range(2, 2 + steps):
    state, metrics = trainer.train_step(state, next_batch(it, mesh), step)
  jax.block_until_ready(metrics)
  seconds = (time.perf_counter() - start) / steps
  if hasattr(it, "close"):
    it.close()
  return seconds


def main(argv):
  del argv
  config = _CONFIG.value
  if _DTYPE.value:
    config.dtype = _DTYPE.value
  peak = measure_peak(5)
  print(f"{jax.device_count()} x {jax.devices()[0].device_kind}; peak measured now: "
        f"{peak:.0f} GFLOP/s (float32)")
  seconds, gflop, ran, (trainer, state, mesh) = measure(config, _STEPS.value, count_as_run=True)
  batch = config.batch_size
  print(f"{config.stage} (batch {batch}, {config.model.resolution}x{config.model.resolution}): "
        f"{seconds:.3f} s/step, {batch / seconds:.1f} samples/s, {gflop:.1f} GFLOP/step, "
        f"{gflop / seconds:.1f} GFLOP/s = {100 * gflop / seconds / peak:.0f}% of peak "
        f"(as run, padding's multiplications counted: {ran:.1f} GFLOP, "
        f"{100 * ran / seconds / peak:.0f}%)")
  if _XLA_STRIDED.value:
    ops.PHASED_STRIDED_GRADIENT = False
    s, g, _, _ = measure(config, _STEPS.value)
    ops.PHASED_STRIDED_GRADIENT = True
    print(f"  with XLA's strided-convolution input gradient instead: {s:.3f} s/step, "
          f"{g:.1f} GFLOP/step, {100 * g / s / peak:.0f}% of peak; per-phase is {s / seconds:.2f}x "
          "faster")
  if _TERMS.value:
    for key in LOSS_WEIGHTS:
      if not config.get(key, 0.0):
        continue
      without = config.copy_and_resolve_references()
      without[key] = 0.0
      try:
        s, g, _, _ = measure(without, max(2, _STEPS.value // 2))
      except ValueError as e:  # e.g. the prior without any image loss
        print(f"  {key}: not measurable alone ({e})")
        continue
      print(f"  {key}={config[key]:g}: {100 * (1 - s / seconds):5.1f}% of the time, "
            f"{100 * (1 - g / gflop):5.1f}% of the FLOPs ({seconds - s:.3f} s, {gflop - g:.1f} GFLOP)")
  rate = input_rate(trainer, mesh, max(3, _STEPS.value // 2))
  kind = ("device-resident" if config.get("device_input") else
          f"{config.data_workers} worker processes" if config.get("data_workers") else
          f"{config.get('data_threads', 8)} threads")
  print(f"input ({kind}, this stage's fields): {rate:.1f} samples/s = "
        f"{rate / (batch / seconds):.2f}x what the step consumes")
  with_input = step_with_input(trainer, state, mesh, _STEPS.value)
  print(f"step with its input, as the loop runs it: {with_input:.3f} s/step, "
        f"{batch / with_input:.1f} samples/s ({100 * (with_input / seconds - 1):+.1f}% on the "
        "step alone)")


if __name__ == "__main__":
  app.run(main)
