"""Few-shot adaptation (paper 4) of configs/lipsync_tiny128.py's model to one person, for CPU.

The decoder trains on the target's few seconds with the losses of the last lip-sync phase of
scripts/learning_proof.sh (L1 on the frame and on the masked region, the sync loss weighted 2),
plus lambda_R * R_sync on audio from the training set; the encoders stay frozen.
"""

from configs import lipsync_tiny128


def get_config():
  c = lipsync_tiny128.get_config()
  c.stage = "adaptation"
  c.lambda_reg = 0.1
  c.target = ""  # glob of prepared segments (.npz) of the target person's few seconds of video
  c.trained_labels = ""  # the stage's default: the synthesis network
  c.lambda_mask_l1 = 30.0
  c.lambda_sync = 2.0
  c.learning_rate = 3e-4
  c.num_steps = 300
  c.checkpoint_every = 100
  return c
