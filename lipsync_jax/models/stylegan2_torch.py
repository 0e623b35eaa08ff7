"""The PyTorch StyleGAN2 baseline (pip `stylegan2-torch` 1.3.0, a rosinality port) with our weights.

Two quirks of the package are handled here: at import it compiles CUDA kernels (upfirdn2d,
fused_bias_act) with torch's extension loader, which fails on a CPU machine, so plain-PyTorch
versions of both modules are installed first; and its ToRGB layers emit one channel, so they are
rebuilt with three. Weights are copied from a lipsync_jax Generator/SynthesisNetwork, so both
networks compute the same function (`parity`: tests/test_parity.py and
benchmarks/stylegan2_parity.py). Needs the `baseline` extra (torch, stylegan2-torch).
"""

import sys
import types

import numpy as np
import torch
import torch.nn.functional as F


def _upfirdn2d(input, kernel, up=1, down=1, pad=(0, 0)):
  """Zero-insertion upsampling, padding, FIR filtering, downsampling (NCHW)."""
  n, c, h, w = input.shape
  x = input.reshape(n * c, 1, h, w)
  if up > 1:
    x = x.reshape(n * c, 1, h, 1, w, 1)
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
    x = x.reshape(n * c, 1, h * up, w * up)
  p0, p1 = pad
  x = F.pad(x, [p0, p1, p0, p1])
  x = F.conv2d(x, torch.flip(kernel, [0, 1])[None, None].to(x.dtype))
  x = x[:, :, ::down, ::down]
  return x.reshape(n, c, x.shape[2], x.shape[3])


def _fused_leaky_relu(input, bias=None, negative_slope=0.2, scale=2**0.5):
  if bias is not None:
    input = input + bias.view(1, -1, *([1] * (input.ndim - 2)))
  return F.leaky_relu(input, negative_slope) * scale


class _FusedLeakyReLU(torch.nn.Module):
  def __init__(self, channel, bias=True, negative_slope=0.2, scale=2**0.5):
    super().__init__()
    self.bias = torch.nn.Parameter(torch.zeros(channel)) if bias else None
    self.negative_slope, self.scale = negative_slope, scale

  def forward(self, input):
    return _fused_leaky_relu(input, self.bias, self.negative_slope, self.scale)


def _install_cpu_ops():
  up = types.ModuleType("stylegan2_torch.op.upfirdn2d")
  up.upfirdn2d = _upfirdn2d
  act = types.ModuleType("stylegan2_torch.op.fused_act")
  act.fused_leaky_relu, act.FusedLeakyReLU = _fused_leaky_relu, _FusedLeakyReLU
  sys.modules.setdefault("stylegan2_torch.op.upfirdn2d", up)
  sys.modules.setdefault("stylegan2_torch.op.fused_act", act)


def build(resolution: int, channels: dict[int, int], w_dim: int = 512):
  _install_cpu_ops()
  from stylegan2_torch.generator import Generator
  gen = Generator(resolution, latent_dim=w_dim, channels=channels)
  for rgb in gen.to_rgbs:
    in_ch = rgb.weight.shape[2]
    rgb.weight = torch.nn.Parameter(torch.randn(1, 3, in_ch, 1, 1))
    rgb.bias = torch.nn.Parameter(torch.zeros(1, 3, 1, 1))
  return gen.eval()


def _t(x):
  return torch.from_numpy(np.array(x, np.float32, copy=True))


def copy_synthesis(gen, synthesis_params, noise_consts):
  """Copies a lipsync_jax SynthesisNetwork's params (and const noise maps) into `gen`.

  Returns the per-layer noise tensors to pass as `noises=` (our 'const' noise mode).
  """
  res = sorted(int(k[1:]) for k in synthesis_params)
  noises = []
  with torch.no_grad():
    gen.input.input.copy_(_t(synthesis_params["b4"]["const"]).permute(2, 0, 1)[None])
    for i, r in enumerate(res):
      block = synthesis_params[f"b{r}"]
      layers = [("conv1", gen.convs[i])] if r == 4 else [("conv0", gen.up_convs[i - 1]),
                                                        ("conv1", gen.convs[i])]
      for name, layer in layers:
        p = block[name]
        layer.affine.weight.copy_(_t(p["affine"]["weight"]).T)
        layer.affine.bias.copy_(_t(p["affine"]["bias"]))
        # rosinality scales the weight by 1/sqrt(fan_in) before demodulation; ours is unscaled.
        layer.weight.copy_(_t(p["weight"]).permute(3, 2, 0, 1)[None] / layer.scale)
        layer.add_noise.weight.copy_(_t(p["noise_strength"]).reshape(1))
        layer.leaky_relu.bias.copy_(_t(p["bias"]))
        noises.append(_t(noise_consts[f"b{r}"][name]["noise_const"])[None, None])
      rgb, p = gen.to_rgbs[i], block["torgb"]
      rgb.affine.weight.copy_(_t(p["affine"]["weight"]).T)
      rgb.affine.bias.copy_(_t(p["affine"]["bias"]))
      rgb.weight.copy_(_t(p["weight"]).permute(3, 2, 0, 1)[None])
      rgb.bias.copy_(_t(p["bias"]).reshape(1, 3, 1, 1))
  return noises


def synthesize(gen, ws: np.ndarray, noises) -> np.ndarray:
  """W+ (N, L, D) -> NHWC images, as numpy."""
  with torch.no_grad():
    img = gen([_t(ws)], input_type="w_plus", noises=noises)
  return img.permute(0, 2, 3, 1).numpy()


TOLERANCE = 1e-4


def parity(resolution: int = 256, batch: int = 2, seed: int = 0) -> tuple[float, float]:
  """max |ours - PyTorch| of the synthesis network (StyleLipSync's channels) on the same W+ codes,
  weights and const noise, and the outputs' largest magnitude."""
  import jax
  import jax.numpy as jnp
  from lipsync_jax.models import stylegan2
  synthesis = stylegan2.SynthesisNetwork(resolution)
  ws = jax.random.normal(jax.random.key(seed), (batch, synthesis.num_ws, 512))
  variables = jax.jit(lambda k: synthesis.init({"params": k, "noise": k}, ws, noise_mode="const"))(
      jax.random.key(seed + 1))
  # Noise strengths start at zero; make them count so the noise path is compared too.
  params = jax.tree_util.tree_map_with_path(
      lambda p, x: jnp.full_like(x, 0.3) if "noise_strength" in jax.tree_util.keystr(p) else x,
      variables["params"])
  variables = {**variables, "params": params}
  ours = np.asarray(jax.jit(lambda v, w: synthesis.apply(v, w, noise_mode="const"))(variables, ws))
  channels = {r: stylegan2.channels_for(r) for r in stylegan2.block_resolutions(resolution)}
  gen = build(resolution, channels)
  noises = copy_synthesis(gen, jax.device_get(params), jax.device_get(variables["noise_const"]))
  theirs = synthesize(gen, np.asarray(ws), noises)
  return float(np.abs(ours - theirs).max()), float(np.abs(theirs).max())
