"""StyleGAN2 pretraining on VoxCeleb2 faces at 256 (stylegan2-ada's paper256 settings)."""

from configs import base


def get_config():
  c = base.get_config()
  c.stage = "stylegan2"
  c.dataset = "voxceleb2"
  c.data_dir = "gs://YOUR_BUCKET/tfds"
  c.learning_rate = 2.5e-3
  c.batch_size = 64
  c.mbstd_group = 4
  c.r1_gamma = 1.0
  c.r1_interval = 16
  c.style_mixing = 0.9
  c.ema_beta = 0.5 ** (64 / 20_000)  # ema_kimg 20
  c.num_steps = 400_000
  c.checkpoint_every = 5000
  return c
