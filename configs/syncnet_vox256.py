"""SyncNet on VoxCeleb2 at 256 (paper 5.2: T=5, Adam 1e-4)."""

from configs import base


def get_config():
  c = base.get_config()
  c.stage = "syncnet"
  c.dataset = "voxceleb2"
  c.data_dir = "gs://YOUR_BUCKET/tfds"
  c.temperature = 0.07
  c.opening_weight = 10.0  # not in the paper: the mouth-opening tower (lipsync's lambda_opening)
  c.batch_size = 256
  c.num_steps = 200_000
  c.checkpoint_every = 5000
  return c
