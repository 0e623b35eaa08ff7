"""Few-shot adaptation (paper 4) of a lip-sync run on the decoder prior (configs/lipsync.py).

  python -m lipsync_jax.train --config configs/adaptation.py:proof128 --workdir runs/adapted \
      --config.pretrained_lipsync=runs/lipsync --config.pretrained_syncnet=runs/syncnet \
      --config.target='runs/prepared/clips/PERSON__*.npz'

The decoder (the synthesis network) trains on a few seconds of the target person with the prior's
image losses on frames driven by their own audio, plus lambda_reg * R_sync (eq. 9) on audio drawn
from the training set; the encoders and MaLS stay frozen. Variants: tiny, proof128, vox256.
"""

from configs import base


def get_config(variant="proof128"):
  c = base.get_config()
  c.stage = "adaptation"
  c.model = base.model_config(variant, "configs/adaptation.py")
  c.syncnet.update(base.SYNCNETS[variant])
  c.target = ""  # glob of prepared segments (.npz) of the target person's few seconds of video
  c.augment = False
  c.lambda_latent = 0.0
  c.lambda_l1 = 10.0
  c.lambda_mask_l1 = 30.0
  c.lambda_mouth_lpips = 10.0
  c.mouth_crop = 0.5
  c.lambda_lpips = 0.0
  c.lambda_opening = 0.0
  c.lambda_sync = 0.0
  c.lambda_reg = 0.1
  c.learning_rate = 3e-4
  c.lr_schedule = "constant"
  c.lr_final_fraction = 0.1
  c.trained_labels = ""  # the stage's default: the synthesis network
  c.pretrained_lipsync = ""
  c.pretrained_prior = ""
  c.pretrained_stylegan = ""
  c.pretrained_syncnet = ""
  c.min_syncnet_accuracy = 0.75
  c.syncnet_check_split = "test"
  c.data_threads = 2
  c.batch_size = 4
  c.num_steps = 200 if variant != "vox256" else 2000
  c.checkpoint_every = 100
  c.log_every = 20
  return c
