"""The decoder prior by autoencoding (lipsync_jax/training/prior_trainer.py; not in the paper).

  python -m lipsync_jax.train --config configs/prior.py:proof128 --workdir runs/prior

Variants (base.MODELS): tiny (64x64, tests and the demo), proof128 (128x128 on 2 CPU cores: the
learning measure), vox256 (the paper's model size, for an accelerator).
"""

from configs import base


def get_config(variant="proof128"):
  c = base.get_config()
  c.stage = "prior"
  c.model = base.model_config(variant, "configs/prior.py")
  c.num_frames = 1  # frames per sample: the prior needs no clips; more faces per batch help more
  c.augment = True
  c.lambda_l1 = 10.0
  c.lambda_mask_l1 = 30.0  # the mouth is a few percent of the frame
  c.lambda_mouth_lpips = 10.0
  c.mouth_crop = 0.5
  c.lambda_lpips = 0.0
  c.learning_rate = 2e-3
  c.lr_schedule = "cosine"
  c.lr_final_fraction = 0.05
  c.trained_labels = ""  # the stage's default: synthesis, samf, face/reference/frame encoders
  c.pretrained_prior = ""  # continue another prior run
  c.data_threads = 2
  if variant == "tiny":
    c.batch_size = 8
    c.num_steps = 300
    c.checkpoint_every = 100
    c.log_every = 20
  elif variant == "proof128":
    c.batch_size = 16
    c.num_steps = 3000
    c.checkpoint_every = 250
    c.log_every = 50
  else:
    c.augment = False
    c.learning_rate = 1e-3
    c.batch_size = 64
    c.num_steps = 200_000
    c.checkpoint_every = 5000
    c.log_every = 500
    c.data_threads = 16
  return c
