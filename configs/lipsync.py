"""Lip-sync (paper 3.4) on a decoder prior (configs/prior.py), the synthesis frozen as in the paper.

  python -m lipsync_jax.train --config configs/lipsync.py:proof128 --workdir runs/lipsync \
      --config.pretrained_prior=runs/prior --config.pretrained_syncnet=runs/syncnet

The latent teacher pulls the audio-driven codes w~_t (eq. 4) towards the prior's codes of the real
frames; the image losses and the sync loss (eqs. 6-7) can be added (they run the decoder).
Variants: tiny, proof128, vox256 (base.MODELS).
"""

from configs import base


def get_config(variant="proof128"):
  c = base.get_config()
  c.stage = "lipsync"
  c.model = base.model_config(variant, "configs/lipsync.py")
  c.syncnet.update(base.SYNCNETS[variant])  # must match the SyncNet run it loads
  c.augment = True
  c.lambda_latent = 1.0
  c.lambda_sync = 0.0
  c.lambda_lpips = 0.0
  c.lambda_l1 = 0.0
  c.lambda_mask_l1 = 0.0
  c.lambda_mouth_lpips = 0.0
  c.mouth_crop = 0.5
  c.lambda_opening = 0.0
  c.learning_rate = 1e-3
  c.lr_schedule = "cosine"
  c.lr_final_fraction = 0.05
  c.trained_labels = "audio_encoder,mals"  # the prior's reference encoder gives w_ref as it did
  c.pretrained_prior = ""
  c.pretrained_syncnet = ""
  # The sync losses refuse a SyncNet that ranks aligned audio above 3-12-frame-shifted audio in fewer
  # held-out windows (syncnet_check_split of the dataset) than this; 0 skips the check.
  c.min_syncnet_accuracy = 0.75
  c.syncnet_check_split = "test"
  c.pretrained_stylegan = ""
  c.pretrained_lipsync = ""
  c.data_threads = 2
  if variant == "tiny":
    c.batch_size = 8
    c.num_steps = 300
    c.checkpoint_every = 100
    c.log_every = 20
  elif variant == "proof128":
    c.batch_size = 16
    c.num_steps = 1500
    c.checkpoint_every = 250
    c.log_every = 50
  else:
    c.batch_size = 64
    c.num_steps = 100_000
    c.checkpoint_every = 5000
    c.log_every = 500
    c.data_threads = 16
  return c
