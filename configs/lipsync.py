"""Stage 3, lip-sync (paper 3.4).

  python -m lipsync_jax.train --config configs/lipsync.py:proof128 --workdir runs/lipsync \
      --config.pretrained_prior=runs/prior

On a decoder prior (configs/prior.py; variants tiny, proof128, gpu128, vox256): the synthesis
frozen as in the paper, the latent teacher pulls the audio-driven codes w~_t (eq. 4) towards the
prior's codes of the real frames, training the audio encoder and MaLS; the image losses and the
sync loss (eqs. 6-7) can be added (they run the decoder).
On a StyleGAN2 (variant paper256): the paper's 10 * multi-scale LPIPS + 0.1 * sync loss, SaMF, the
encoders and MaLS trained, Adam at 1e-4.
"""

from configs import base


def get_config(variant="proof128"):
  paper = variant == "paper256"
  c = base.get_config()
  c.stage = "lipsync"
  c.model = base.model_config("vox256" if paper else variant, "configs/lipsync.py")
  c.syncnet.update(base.SYNCNETS["vox256" if paper else variant])  # as the SyncNet run it loads
  c.augment = variant in ("tiny", "proof128", "gpu128")
  # The synthetic corpus speaks at one level: each sample's audio heard at a level within +-10 dB
  # and with another vocal tract (input_pipeline.audio_augmentation), or the lips read the level as
  # speech (new sentences' lips at -10 / +10 dB: r 0.83 / 0.85 without, 0.87 / 0.87 with;
  # docs/history.md).
  c.audio_augment = c.augment
  c.audio_gain_db = 10.0
  c.lambda_latent = 0.0 if paper else 1.0
  c.image_codes = "audio"  # what the image losses decode (adaptation may use "teacher")
  c.lambda_lpips = 10.0 if paper else 0.0
  c.lambda_sync = 0.1 if paper else 0.0
  c.lambda_l1 = 0.0  # not in the paper: L1 on the frame
  c.lambda_mask_l1 = 0.0  # not in the paper: L1 over the masked pixels only
  c.lambda_mouth_lpips = 0.0  # not in the paper: LPIPS on the square around the mouth
  c.mouth_crop = 0.5
  c.lambda_opening = 0.0  # not in the paper: the SyncNet tower's mouth opening
  # On a prior trained with the mesh's lips drawn in (configs/prior.py lip_hint; must match it):
  # the true lips drawn into the decoder's input, the audio-to-lips network trained at lambda_lips.
  c.lip_hint = False
  c.lambda_lips = 1.0
  # T-frame windows per sample for the lips loss: the sample's own and more from its clip, whose
  # lips and audio cost no decoding. With 8 and the lips drawn smoothed, new sentences' r rose
  # 0.808 / 0.789 -> 0.852 / 0.824; the proof128 step 0.66 -> 0.95 s (docs/history.md).
  c.lip_windows = 1 if paper else 8
  c.learning_rate = 1e-4 if paper else 1e-3
  c.lr_schedule = "constant" if paper else "cosine"
  c.lr_final_fraction = 0.05
  # Comma-separated labels to train; empty: SaMF, the face, reference and audio encoders and MaLS.
  c.trained_labels = "" if paper else "audio_encoder,mals,lip_motion"
  c.pretrained_prior = ""  # workdir of a decoder-prior run
  c.pretrained_stylegan = ""  # workdir of a StyleGAN2 run (its EMA synthesis, w_avg, noise)
  c.pretrained_lipsync = ""  # workdir of a lip-sync run to continue from
  c.pretrained_syncnet = ""  # workdir of a SyncNet run (the sync losses; lambda_opening)
  # The sync losses refuse a SyncNet that ranks aligned audio above 3-12-frame-shifted audio in fewer
  # held-out windows (syncnet_check_split of the dataset) than this; 0 skips the check.
  c.min_syncnet_accuracy = 0.75
  c.syncnet_check_split = "test"
  c.data_threads = 2
  # The synthetic corpus fits in host memory: each clip read once (input_pipeline.CachedSource;
  # the proof128 lip-sync step with its input 0.62 -> 0.55-0.57 s on 2 cores).
  c.data_cache_mb = 2048 if variant in ("tiny", "proof128") else 0
  if paper:
    c.dataset = "voxceleb2"
    c.data_dir = "gs://YOUR_BUCKET/tfds"
    c.pretrained_stylegan = "runs/stylegan2_vox256"
    c.pretrained_syncnet = "runs/syncnet_vox256"
    c.image_every = 1000
  sizes = {"tiny": (8, 300, 100, 20), "proof128": (16, 800, 200, 50),
           "gpu128": (64, 5000, 1000, 200), "vox256": (64, 100_000, 5000, 500),
           "paper256": (16, 300_000, 5000, 50)}
  if variant not in sizes:
    raise ValueError(f"configs/lipsync.py: unknown variant {variant!r} ({', '.join(sizes)})")
  c.batch_size, c.num_steps, c.checkpoint_every, c.log_every = sizes[variant]
  c.device_input = variant == "gpu128"  # the synthetic corpus fits on the accelerator
  # CPU: the teacher, audio encoder and lips over 8 slices of the batch (configs/base.py).
  c.batch_slices = 8 if variant == "proof128" else 1
  if variant in ("vox256", "paper256"):
    c.data_workers = 16  # VoxCeleb2 does not: worker processes on the host
  return c
