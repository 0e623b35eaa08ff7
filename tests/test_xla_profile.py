"""The speed tools' own logic (never timings): benchmarks/xla_profile.py's reading of a trace."""

import jax
import jax.numpy as jnp
from jax import lax

from lipsync_jax import xla_profile


def test_op_profile_names_each_traced_operation(tmp_path):
  def step(x, w):
    y = lax.conv_general_dilated(x, w, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.tanh(y.reshape(y.shape[0], -1) @ jnp.ones((y[0].size, 8)))

  x, w = jnp.ones((4, 32, 32, 8)), jnp.ones((3, 3, 8, 16))
  fn = jax.jit(jax.grad(lambda x, w: step(x, w).sum(), argnums=1))
  ops = xla_profile.hlo_operations(fn.lower(x, w).compile().as_text())
  convs = [v for v in ops.values() if v[1].startswith("convolution")]
  assert any("stride=2x2" in what and shape == "f32[4,16,16,16]" for shape, what, _ in convs)
  assert any(what.startswith("dot") for _, what, _ in ops.values())
  assert any("transpose(jvp" in op_name for _, _, op_name in ops.values())
  jax.block_until_ready(fn(x, w))
  jax.profiler.start_trace(str(tmp_path), create_perfetto_trace=True)
  jax.block_until_ready(fn(x, w))
  jax.profiler.stop_trace()
  times = xla_profile.trace_times(str(tmp_path))
  assert sum(1 for n in times if n in ops) >= 3, sorted(times)  # the trace's names are HLO's
  assert xla_profile.where("jit(f)/transpose(jvp(M.encode_audio))/audio_encoder/layer1/conv") == (
      "audio_encoder", "backward")
  assert xla_profile.where("jit(f)/jvp(M.teacher_latents)/frame_encoder/stem/add") == (
      "frame_encoder", "forward")
