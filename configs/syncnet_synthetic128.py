"""SyncNet for the 128x128 learning measurement, sized for one accelerator (minutes on a GPU).

The tiny SyncNet's widths (the lip-sync configs load it), fed 128x128 frames with the pipeline's
flip/colour/affine augmentation, at a larger batch: its negatives are the batch's other audio.
"""

from configs import syncnet_tiny


def get_config():
  c = syncnet_tiny.get_config()
  c.model.resolution = 128
  c.augment = True
  c.batch_size = 64
  c.num_steps = 3000
  c.checkpoint_every = 500
  c.log_every = 100
  c.data_threads = 16
  return c
