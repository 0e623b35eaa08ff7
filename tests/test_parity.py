"""Our StyleGAN2 synthesis against the PyTorch one (stylegan2-torch) with identical weights."""

from lipsync_jax.models import stylegan2_torch


def test_synthesis_matches_pytorch():
  diff, scale = stylegan2_torch.parity(resolution=64, batch=2)
  assert scale > 1.0  # a real image came out
  assert diff < stylegan2_torch.TOLERANCE, diff
