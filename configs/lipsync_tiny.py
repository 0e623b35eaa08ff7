"""Lip-sync training (paper 3.4) on the synthetic corpus at 64x64 with narrow channels, for CPU."""

import ml_collections

from configs import base


def get_config():
  c = base.get_config()
  c.stage = "lipsync"
  c.model.update(resolution=64, w_dim=64, channel_base=1024, channel_max=64, face_stem_channels=16)
  c.syncnet.update(embed_dim=128, width=0.25)  # must match the SyncNet run it loads
  c.lambda_lpips = 10.0
  c.lambda_sync = 0.1
  c.lambda_l1 = 0.0  # not in the paper: an L1 term for decoders that are not converged StyleGAN2s
  c.lambda_mask_l1 = 0.0  # not in the paper: L1 over the masked (generated) pixels only
  # Not in the paper: L1 between the SyncNet mouth-opening tower's readings of generated and real
  # frames (needs a SyncNet trained with that tower).
  c.lambda_opening = 0.0
  # Not in the paper: single-scale LPIPS on a square around the mouth (mouth_crop of the frame's
  # side, centred on the mask), the perceptual loss at a fraction of full-frame LPIPS's cost.
  c.lambda_mouth_lpips = 0.0
  c.mouth_crop = 0.5
  # Not in the paper: a non-saturating adversarial loss on the same squares of all T frames, from a
  # small residual discriminator (lazy R1, Adam with beta1 = 0) trained alongside.
  c.lambda_mouth_adv = 0.0
  c.mouth_disc = ml_collections.ConfigDict(
      dict(channel_base=1024, channel_max=64, learning_rate=2e-4, r1_gamma=1.0, r1_interval=16))
  c.learning_rate = 1e-4
  c.lr_schedule = "constant"  # or "cosine": to lr_final_fraction * learning_rate at num_steps
  c.lr_final_fraction = 0.1
  c.batch_size = 2
  c.num_steps = 200
  c.checkpoint_every = 100
  c.log_every = 10
  c.image_every = 100
  c.pretrained_stylegan = ""  # workdir of a stylegan2 run (its EMA synthesis, w_avg, noise)
  c.pretrained_syncnet = ""  # workdir of a syncnet run
  c.pretrained_lipsync = ""
  # Not in the paper: start a model with more channels than pretrained_lipsync's from it (its
  # parameters embedded so that the wider model's output is the same at the first step).
  c.widen_pretrained = False
  # Comma-separated parameter labels to train; empty: the stage's default (lip-sync: samf,
  # face_encoder, reference_encoder, audio_encoder, mals; adaptation: synthesis).
  c.trained_labels = ""
  return c
