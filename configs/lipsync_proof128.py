"""Lip-sync at 128x128 as measured on 2 CPU cores for the README's "Does it learn?".

configs/lipsync_synthetic128.py's model, losses and augmentation (L1 10, masked-region L1 30,
sync 0.5 from configs/syncnet_tiny.py's SyncNet) at the batch and thread count of a 2-core machine,
with the learning rate decayed by a cosine over the run: 3300 steps, about 95 minutes.
"""

from configs import lipsync_synthetic128


def get_config():
  c = lipsync_synthetic128.get_config()
  c.batch_size = 4
  c.data_threads = 2
  c.lr_schedule = "cosine"
  c.num_steps = 3300
  c.checkpoint_every = 250
  c.log_every = 50
  return c
