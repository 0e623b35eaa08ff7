"""Stage 1 of the paper: StyleGAN2 pretraining of the decoder (stylegan2-ada's maths).

  python -m lipsync_jax.train --config configs/stylegan2.py:vox256 --workdir runs/stylegan2

Variants: tiny (64x64, the tiny channels: tests), vox256 (VoxCeleb2 faces at 256, stylegan2-ada's
paper256 settings; days on accelerators). Without a pretrained StyleGAN2, the decoder prior
(configs/prior.py) stands in for this stage.
"""

from configs import base


def get_config(variant="vox256"):
  c = base.get_config()
  c.stage = "stylegan2"
  c.mbstd_group = 4
  c.r1_interval = 16
  c.style_mixing = 0.9
  if variant == "tiny":
    c.model.update(resolution=64, z_dim=64, w_dim=64, channel_base=1024, channel_max=64)
    c.learning_rate = 2e-3
    c.batch_size = 8
    c.r1_gamma = 0.1
    c.ema_beta = 0.99
    c.num_steps = 200
    c.checkpoint_every = 100
    c.log_every = 10
    c.image_every = 100
  elif variant == "vox256":
    c.dataset = "voxceleb2"
    c.data_dir = "gs://YOUR_BUCKET/tfds"
    c.learning_rate = 2.5e-3
    c.batch_size = 64
    c.r1_gamma = 1.0
    c.ema_beta = 0.5 ** (64 / 20_000)  # ema_kimg 20
    c.num_steps = 400_000
    c.checkpoint_every = 5000
  else:
    raise ValueError(f"configs/stylegan2.py: unknown variant {variant!r} (tiny, vox256)")
  return c
