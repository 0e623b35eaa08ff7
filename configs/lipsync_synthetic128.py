"""Lip-sync at 128x128 for the learning measurement, sized for one accelerator.

configs/lipsync_tiny128.py's model (the whole network trains from scratch) with the losses of the
last phase of scripts/learning_proof.sh (L1 on the frame and on the masked mouth region, the sync
loss of configs/syncnet_synthetic128.py's SyncNet), a batch of 32 and the input pipeline's
flip/colour/affine augmentation, which stands in for identities the synthetic corpus lacks.
Run by scripts/learning_proof_gpu.sh in two phases: a constant rate, then a cosine decay.
"""

from configs import lipsync_tiny128


def get_config():
  c = lipsync_tiny128.get_config()
  c.augment = True
  c.batch_size = 32
  c.lambda_l1 = 10.0
  c.lambda_mask_l1 = 30.0
  c.lambda_sync = 0.5
  c.learning_rate = 1e-3
  c.num_steps = 100_000  # the script stops the constant-rate phase by time (SIGTERM saves)
  c.checkpoint_every = 1000
  c.log_every = 200
  c.image_every = 10**9
  c.data_threads = 16
  return c
