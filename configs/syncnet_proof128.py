"""SyncNet for the CPU learning measurement (README, "Does it learn?"):
configs/syncnet_synthetic128.py (the tiny widths on 128x128 frames, the lip-sync model's resolution,
with augmentation) at the batch and thread count of a 2-core machine. Its mouth-opening tower feeds
the lip-sync stage's opening loss (configs/lipsync_proof128_opening.py)."""

from configs import syncnet_synthetic128


def get_config():
  c = syncnet_synthetic128.get_config()
  c.batch_size = 16
  c.num_steps = 2000
  c.data_threads = 2
  return c
