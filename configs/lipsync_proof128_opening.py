"""The second phase of the CPU learning measurement (README, "Does it learn?").

Continues configs/lipsync_proof128.py's run (config.pretrained_lipsync) with the mouth-opening loss
(lambda_opening): L1 between the opening that the SyncNet's mouth-opening tower reads on the
generated frames and on the real ones. The first phase's decoder moves the mouth with the audio,
but too little: over 16 unseen-sentence clips its MediaPipe opening varies 0.38 as much as the real
one (evaluate's mouth_std_ratio). The SyncNet is configs/syncnet_proof128.py's (128x128 frames,
with the tower); the rate a cosine from 2e-4 over the run.
"""

from configs import lipsync_proof128


def get_config():
  c = lipsync_proof128.get_config()
  c.lambda_opening = 30.0
  c.learning_rate = 2e-4  # a fresh Adam at 5e-4 undid much of the first phase
  c.num_steps = 2000
  return c
