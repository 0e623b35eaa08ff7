"""Few-shot adaptation (paper 4) of a tiny lip-sync model to one person, for CPU."""

from configs import lipsync_tiny


def get_config():
  c = lipsync_tiny.get_config()
  c.stage = "adaptation"
  c.lambda_reg = 0.1
  c.target = ""  # glob of prepared segments (.npz) of the target person's few seconds of video
  c.num_steps = 100
  c.checkpoint_every = 50
  return c
