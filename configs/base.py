"""Defaults shared by every stage; stage configs import and override them."""

import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.stage = ""  # stylegan2 | syncnet | lipsync | adaptation
  c.dataset = "synthetic_talking_faces"
  c.data_dir = "runs/demo/tfds"
  c.split = "train"
  c.seed = 0
  c.batch_size = 8  # global
  c.num_steps = 1000
  c.learning_rate = 1e-4
  c.checkpoint_every = 500
  c.keep_checkpoints = 3
  c.log_every = 50
  c.image_every = 500
  c.distributed = False  # jax.distributed.initialize() for multi-host runs
  c.mask = "pose"  # pose | rect
  c.model = ml_collections.ConfigDict(dict(
      resolution=256, z_dim=512, w_dim=512, channel_base=16384, channel_max=512,
      face_stem_channels=32))
  c.syncnet = ml_collections.ConfigDict(dict(embed_dim=512, width=1.0))
  return c
