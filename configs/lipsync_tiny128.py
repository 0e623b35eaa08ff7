"""Lip-sync training at 128x128 for the learning measurement on CPU (README, "Does it learn?").

At 64x64 the mouth is too small for MediaPipe to measure (its mouth opening on real 64x64 frames
correlates 0.75 with the ground truth, 0.92 at 128: benchmarks/mouth_instrument.py). The whole
model trains (no StyleGAN2 pretraining) with L1 + the sync loss: VGG16 LPIPS would be 93% of the
step time on 2 cores.
"""

from configs import lipsync_tiny


def get_config():
  c = lipsync_tiny.get_config()
  c.model.update(resolution=128, channel_base=2048, channel_max=64)
  c.lambda_lpips = 0.0
  c.lambda_l1 = 10.0
  c.learning_rate = 1e-3
  c.batch_size = 4
  c.num_steps = 4000
  c.checkpoint_every = 250
  c.log_every = 50
  c.image_every = 500
  c.trained_labels = "samf,face_encoder,reference_encoder,audio_encoder,mals,synthesis"
  return c
