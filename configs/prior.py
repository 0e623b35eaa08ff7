"""The decoder prior by autoencoding (lipsync_jax/training/prior_trainer.py; not in the paper): the
stand-in for stage 1 where no pretrained StyleGAN2 exists.

  python -m lipsync_jax.train --config configs/prior.py:proof128 --workdir runs/prior

Variants (base.MODELS): tiny (64x64: tests), proof128 (128x128 on 2 CPU cores: the learning
measure and the demo), gpu128 (the same model on one accelerator), vox256 (the paper's size).
"""

from configs import base


def get_config(variant="proof128"):
  c = base.get_config()
  c.stage = "prior"
  c.model = base.model_config(variant, "configs/prior.py")
  c.num_frames = 1  # frames per sample: the prior needs no clips; more faces per batch help more
  c.augment = variant != "vox256"
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
  c.lip_hint = False  # the mesh's lips drawn into the masked frame (lipsync_jax.lip_hint)
  c.data_threads = 2
  # CPU: encoders, decoder and VGG over 2 slices of the batch (configs/base.py): 1.55 -> 1.43 s.
  c.batch_slices = 2 if variant == "proof128" else 1
  c.batch_size = {"tiny": 8, "proof128": 16, "gpu128": 64, "vox256": 64}[variant]
  c.num_steps = {"tiny": 300, "proof128": 3000, "gpu128": 20_000, "vox256": 200_000}[variant]
  c.checkpoint_every = {"tiny": 100, "proof128": 250, "gpu128": 1000, "vox256": 5000}[variant]
  c.log_every = {"tiny": 20, "proof128": 50, "gpu128": 200, "vox256": 500}[variant]
  # One accelerator on the synthetic corpus: the split on the device (resident_input); VoxCeleb2
  # does not fit there: worker processes on the host.
  c.device_input = variant == "gpu128"
  if variant == "vox256":
    c.data_workers = 16
    c.dataset = "voxceleb2"
    c.data_dir = "gs://YOUR_BUCKET/tfds"
    c.learning_rate = 1e-3
  return c
