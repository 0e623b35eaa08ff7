"""Lip-sync training on VoxCeleb2 at 256 (paper 5.2: T=5, Adam 1e-4, lambda1=10, lambda2=0.1)."""

from configs import lipsync_tiny


def get_config():
  c = lipsync_tiny.get_config()
  c.dataset = "voxceleb2"
  c.data_dir = "gs://YOUR_BUCKET/tfds"
  c.model.update(resolution=256, z_dim=512, w_dim=512, channel_base=16384, channel_max=512,
                 face_stem_channels=32)
  c.syncnet.update(embed_dim=512, width=1.0)
  c.batch_size = 16
  c.num_steps = 300_000
  c.checkpoint_every = 5000
  c.log_every = 50
  c.image_every = 1000
  c.pretrained_stylegan = "runs/stylegan2_vox256"
  c.pretrained_syncnet = "runs/syncnet_vox256"
  return c
