"""StyleGAN2 pretraining on synthetic face frames at 64x64 with the tiny lip-sync decoder's channels."""

from configs import base


def get_config():
  c = base.get_config()
  c.stage = "stylegan2"
  c.model.update(resolution=64, z_dim=64, w_dim=64, channel_base=1024, channel_max=64)
  c.learning_rate = 2e-3
  c.batch_size = 8
  c.mbstd_group = 4
  c.r1_gamma = 0.1
  c.r1_interval = 16
  c.style_mixing = 0.9
  c.ema_beta = 0.99
  c.num_steps = 200
  c.checkpoint_every = 100
  c.log_every = 10
  c.image_every = 100
  return c
