"""Speed of the generator and the full per-frame StyleLipSync model at 256x256 on this machine.

  python benchmarks/model_speed.py [--batches 1 8] [--repeats 5] [--dtype float32|bfloat16]

Prints, per batch size:
  - the machine's practical peak, measured now: the faster of a 2048 matmul and an XLA 3x3
    convolution on 64x64x512 (float32);
  - our StyleGAN2 synthesis (W+ -> image): frames/s, GFLOP/s from XLA's cost analysis and the
    fraction of that peak, and the ratio against the PyTorch generator (stylegan2-torch, same
    weights, torch threads = cores), calls alternated in this process;
  - the full per-frame model (face encoder + audio encoder + MaLS + synthesis with SaMF; the
    reference encoder runs once per video and is timed separately): frames/s and GFLOP/s.
Goals (issue 3): generator at batch 8 >= 4x PyTorch and >= 65% of peak; per-frame model >= 5 fps.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from lipsync_jax.models import ops, stylegan2, stylelipsync  # noqa: E402


def _time(fn, *args, repeats):
  jax.block_until_ready(fn(*args))  # compile and warm up
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    best = min(best, time.perf_counter() - start)
  return best


def measure_peak(repeats):
  a = jnp.ones((2048, 2048), jnp.float32)
  mm = jax.jit(lambda x: x @ x)
  t_mm = _time(mm, a, repeats=repeats)
  x = jnp.ones((8, 64, 64, 512), jnp.float32)
  w = jnp.ones((3, 3, 512, 512), jnp.float32) * 0.01
  conv = jax.jit(lambda x, w: ops.conv2d(x, w, padding=1))
  t_conv = _time(conv, x, w, repeats=repeats)
  return max(2 * 2048**3 / t_mm, ops.flops_of(conv, x, w) / t_conv) / 1e9


def torch_baseline(synthesis, variables, ws_np, repeats):
  import torch
  from lipsync_jax.models import stylegan2_torch as torch_stylegan2
  torch.set_num_threads(len(os.sched_getaffinity(0)))
  channels = {r: stylegan2.channels_for(r) for r in stylegan2.block_resolutions(256)}
  gen = torch_stylegan2.build(256, channels)
  noises = torch_stylegan2.copy_synthesis(gen, jax.device_get(variables["params"]),
                                          jax.device_get(variables["noise_const"]))
  torch_stylegan2.synthesize(gen, ws_np, noises)
  def run():
    start = time.perf_counter()
    torch_stylegan2.synthesize(gen, ws_np, noises)
    return time.perf_counter() - start
  return run


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
  parser.add_argument("--no_torch", action="store_true")
  args = parser.parse_args()
  dtype = jnp.dtype(args.dtype)
  print(f"devices: {jax.devices()}, cores: {len(os.sched_getaffinity(0))}, dtype {args.dtype}")
  peak = measure_peak(args.repeats)
  print(f"measured peak: {peak:.0f} GFLOP/s")

  synthesis = stylegan2.SynthesisNetwork(256, dtype=dtype)
  model = stylelipsync.StyleLipSync(256, dtype=dtype)
  key = jax.random.key(0)
  for batch in args.batches:
    ws = jax.random.normal(key, (batch, 14, 512))
    variables = jax.jit(lambda k, w: synthesis.init({"params": k, "noise": k}, w, noise_mode="const"))(key, ws)
    gen = jax.jit(lambda v, w: synthesis.apply(v, w, noise_mode="const"))
    flops = ops.flops_of(gen, variables, ws) / batch
    t_ours = _time(gen, variables, ws, repeats=args.repeats)
    line = (f"generator  batch {batch}: {batch / t_ours:6.2f} frames/s, {t_ours / batch * 1e3:7.1f} ms/frame, "
            f"{flops / 1e9:.1f} GFLOP/frame, {flops * batch / t_ours / 1e9:5.0f} GFLOP/s = "
            f"{100 * flops * batch / t_ours / 1e9 / peak:3.0f}% of peak")
    if not args.no_torch and dtype == jnp.float32:
      run_torch = torch_baseline(synthesis, variables, np.asarray(ws), args.repeats)
      ours_times, torch_times = [], []
      for _ in range(args.repeats):  # alternate the two so both see the same machine state
        start = time.perf_counter()
        jax.block_until_ready(gen(variables, ws))
        ours_times.append(time.perf_counter() - start)
        torch_times.append(run_torch())
      t_ours, t_torch = min(ours_times), min(torch_times)
      line += f"; pytorch {t_torch / batch * 1e3:.1f} ms/frame, ours {t_torch / t_ours:.2f}x faster"
    print(line)

    # The full per-frame model: a batch of `batch` frames of one video.
    masked = jnp.zeros((1, batch, 256, 256, 3))
    mels = jnp.zeros((1, batch, 20, 80))
    ref = jnp.zeros((1, 256, 256, 3))
    mv = jax.jit(lambda k: model.init({"params": k, "noise": k}, masked, mels, ref, noise_mode="const"))(key)
    w_ref = jax.jit(lambda v, r: model.apply(v, r, method=model.encode_reference))(mv, ref)
    def per_frame(v, masked, mels, w_ref):
      codes = model.apply(v, w_ref, model.apply(v, mels, method=model.encode_audio), method=model.latents)
      return model.apply(v, masked, codes, "const", method=model.decode)
    per_frame = jax.jit(per_frame)
    flops = ops.flops_of(per_frame, mv, masked, mels, w_ref) / batch
    t = _time(per_frame, mv, masked, mels, w_ref, repeats=args.repeats)
    ref_fn = jax.jit(lambda v, r: model.apply(v, r, method=model.encode_reference))
    t_ref = _time(ref_fn, mv, ref, repeats=args.repeats)
    print(f"full model batch {batch}: {batch / t:6.2f} frames/s, {t / batch * 1e3:7.1f} ms/frame, "
          f"{flops / 1e9:.1f} GFLOP/frame, {flops * batch / t / 1e9:5.0f} GFLOP/s = "
          f"{100 * flops * batch / t / 1e9 / peak:3.0f}% of peak; reference encoder "
          f"{t_ref * 1e3:.0f} ms once per video")


if __name__ == "__main__":
  main()
