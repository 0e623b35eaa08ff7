"""Stage 4, few-shot adaptation (paper 4) of a lip-sync run to one person.

  python -m lipsync_jax.train --config configs/adaptation.py:proof128 --workdir runs/adapted \
      --config.pretrained_lipsync=runs/lipsync --config.pretrained_syncnet=runs/syncnet \
      --config.target='runs/prepared/clips/PERSON__*.npz'

The decoder (the synthesis network) trains on a few seconds of the target person, plus
lambda_reg * R_sync (eq. 9) on audio drawn from the training set; the encoders and MaLS stay
frozen. Variants: tiny, proof128, gpu128, vox256 (on a decoder prior: its image losses, on the
prior's codes of the target's frames) and paper256 (the paper's LPIPS and sync loss on codes of
the target's own audio, on a StyleGAN2).
"""

from configs import base


def get_config(variant="proof128"):
  paper = variant == "paper256"
  c = base.get_config()
  c.stage = "adaptation"
  c.model = base.model_config("vox256" if paper else variant, "configs/adaptation.py")
  c.syncnet.update(base.SYNCNETS["vox256" if paper else variant])
  # Globs (comma-separated) of prepared segments (.npz) of the target person's video: a minute
  # of it, as in the paper's adaptation study (on the synthetic corpus's held-out person, 60 s
  # read r = 0.71 / 0.69 where one 7 s clip read 0.34 / 0.44, docs/history.md).
  c.target = ""
  c.augment = False
  c.lambda_latent = 0.0
  # The codes the image losses decode: "audio" (the paper: the frozen encoders' codes of the
  # target's own audio) or "teacher" (the prior's codes of the target's real frames and meshes,
  # which describe its mouth exactly: on the held-out person 0.38 / 0.28 against 0.18 / 0.26 with
  # audio codes, docs/history.md; with lip_hint, 100 steps on the audio's codes kept the learning
  # proof's r where the teacher's lost it, December 3).
  c.image_codes = "audio" if paper else "teacher"
  c.lambda_l1 = 0.0 if paper else 10.0
  c.lambda_mask_l1 = 0.0 if paper else 30.0
  c.lambda_mouth_lpips = 0.0 if paper else 10.0
  c.mouth_crop = 0.5
  c.lambda_lpips = 10.0 if paper else 0.0
  c.lambda_opening = 0.0
  c.lip_hint = False  # as the lip-sync run's (configs/lipsync.py): its true lips drawn in
  c.lambda_lips = 0.0  # the audio-to-lips network stays as lip-sync trained it
  c.lambda_sync = 0.1 if paper else 0.0
  c.lambda_reg = 0.1
  c.learning_rate = 1e-4 if paper else 3e-4
  c.lr_schedule = "constant"
  c.lr_final_fraction = 0.1
  c.trained_labels = ""  # the stage's default: the synthesis network
  c.pretrained_lipsync = "runs/lipsync_vox256" if paper else ""
  c.pretrained_prior = ""
  c.pretrained_stylegan = ""
  c.pretrained_syncnet = "runs/syncnet_vox256" if paper else ""
  c.min_syncnet_accuracy = 0.75
  c.syncnet_check_split = "test"
  c.data_threads = 2
  # The target's few seconds fit on any accelerator, but R_sync's audio is the training split's
  # (VoxCeleb2 for the paper's sizes): on the device for the synthetic corpus only.
  c.device_input = variant == "gpu128"
  sizes = {"tiny": (4, 100), "proof128": (4, 1000), "gpu128": (16, 500), "vox256": (4, 2000),
           "paper256": (4, 2000)}
  if variant not in sizes:
    raise ValueError(f"configs/adaptation.py: unknown variant {variant!r} ({', '.join(sizes)})")
  c.batch_size, c.num_steps = sizes[variant]
  # CPU: the decodes and VGG over 2 slices of the batch (configs/base.py): 1.36 -> 1.10 s
  # with R_sync.
  c.batch_slices = 2 if variant == "proof128" else 1
  c.checkpoint_every = {"tiny": 100, "proof128": 250}.get(variant, 500)
  c.log_every = 20
  if paper:
    c.dataset = "voxceleb2"
    c.data_dir = "gs://YOUR_BUCKET/tfds"
  return c
