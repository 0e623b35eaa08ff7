"""SyncNet on the synthetic corpus, small enough for CPU (tests and the demo)."""

from configs import base


def get_config():
  c = base.get_config()
  c.stage = "syncnet"
  c.model.resolution = 64
  c.syncnet.update(embed_dim=128, width=0.25)
  c.temperature = 0.1
  c.opening_weight = 10.0  # the mouth-opening tower's L1 (openings are ~0-0.4 eye distances)
  c.learning_rate = 3e-4
  c.batch_size = 16
  c.num_steps = 300
  c.checkpoint_every = 100
  c.log_every = 10
  c.image_every = 10**9
  return c
