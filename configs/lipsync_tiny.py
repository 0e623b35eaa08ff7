"""Lip-sync training (paper 3.4) on the synthetic corpus at 64x64 with narrow channels, for CPU."""

from configs import base


def get_config():
  c = base.get_config()
  c.stage = "lipsync"
  c.model.update(resolution=64, w_dim=64, channel_base=1024, channel_max=64, face_stem_channels=16)
  c.syncnet.update(embed_dim=128, width=0.25)  # must match the SyncNet run it loads
  # Not in the paper: the mean squared distance of the audio-driven codes to the decoder prior's
  # codes of the real frames (training.prior_trainer); alone, the step skips the decoder.
  c.lambda_latent = 0.0
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
  # The sync losses refuse a SyncNet that ranks aligned audio above 3-12-frame-shifted audio in fewer
  # held-out windows (syncnet_check_split of the dataset) than this; 0 skips the check.
  c.min_syncnet_accuracy = 0.75
  c.syncnet_check_split = "test"
  c.pretrained_lipsync = ""  # workdir of a lip-sync run to continue from
  c.pretrained_prior = ""  # workdir of a decoder-prior run (training.prior_trainer)
  # Comma-separated parameter labels to train; empty: the stage's default (lip-sync: samf,
  # face_encoder, reference_encoder, audio_encoder, mals; adaptation: synthesis).
  c.trained_labels = ""
  return c
