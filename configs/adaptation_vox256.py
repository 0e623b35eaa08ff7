"""Few-shot adaptation at 256 (paper 4: lambda_R = 0.1, audio for R_sync from VoxCeleb2)."""

from configs import lipsync_vox256


def get_config():
  c = lipsync_vox256.get_config()
  c.stage = "adaptation"
  c.lambda_reg = 0.1
  c.target = ""
  c.pretrained_lipsync = "runs/lipsync_vox256"
  c.batch_size = 4
  c.num_steps = 2000
  c.checkpoint_every = 500
  return c
