"""Stage 2: the SyncNet, contrastive on cosine similarity, with a mouth-opening tower (not in the
paper). It serves the sync losses (paper eqs. 7 and 9) and evaluation's LSE-D / LSE-C.

  python -m lipsync_jax.train --config configs/syncnet.py:proof128 --workdir runs/syncnet

Variants: tiny (64x64 frames: tests), proof128 (128x128 on 2 CPU cores: the learning measure and
the demo), gpu128 (the same on one accelerator), vox256 (VoxCeleb2, paper 5.2: T=5, Adam 1e-4).
"""

from configs import base


def get_config(variant="proof128"):
  c = base.get_config()
  c.stage = "syncnet"
  c.temperature = 0.1
  # The mouth-opening tower's L1 (openings are ~0-0.4 eye distances), for the lip-sync stage's
  # lambda_opening (off in every recipe); 0: no tower, a 3.6x faster step at proof128.
  c.opening_weight = 0.0
  c.num_shifts = 4  # negatives per sample: its own audio shifted 3-12 frames either way
  c.learning_rate = 3e-4
  # "cosine" decays it over num_steps to lr_final_fraction; at proof128's 3000 steps that read
  # 83.7% / 81.6% of held-out windows against 86.8% / 85.0% constant (docs/history.md).
  c.lr_schedule = "constant"
  c.lr_final_fraction = 0.05
  c.log_every = 10
  c.image_every = 10**9
  if variant in ("tiny", "proof128", "gpu128"):
    c.model.resolution = 64 if variant == "tiny" else 128
    c.syncnet.update(base.SYNCNETS["proof128"])
    c.augment = variant != "tiny"
    # The corpus's 8 training voices heard with other vocal tracts and levels: at 3000 steps the
    # held-out windows read 86.8% / 85.0% (new sentences / the held-out person) against 81.5% /
    # 77.9% without (docs/history.md).
    c.audio_augment = variant != "tiny"
    c.opening_weight = 10.0 if variant == "tiny" else 0.0  # the tests train the tower too
    c.batch_size = {"tiny": 16, "proof128": 16, "gpu128": 64}[variant]
    # proof128: 9000 steps, about 0.14 s each with its input on 2 cores (186-215 GFLOP/s; 23
    # min); without syncnet.motion 15000 read higher on new sentences (94.4% against 93.2%), not
    # on the held-out person (87.4%).
    c.num_steps = {"tiny": 300, "proof128": 9000, "gpu128": 3000}[variant]
    c.checkpoint_every = 100 if variant == "tiny" else 500
    c.data_threads = 2
    # The synthetic corpus fits on the device, on the 2-core CPU too: there the step with its
    # input took 0.128 s against 0.185 s from the host pipeline (benchmarks/train_speed.py).
    c.device_input = variant != "tiny"
    if variant != "tiny":
      c.log_every = 100
  elif variant == "vox256":
    c.dataset = "voxceleb2"
    c.data_dir = "gs://YOUR_BUCKET/tfds"
    c.temperature = 0.07
    c.learning_rate = 1e-4
    c.batch_size = 256
    c.data_workers = 16
    c.num_steps = 200_000
    c.checkpoint_every = 5000
  else:
    raise ValueError(f"configs/syncnet.py: unknown variant {variant!r} "
                     "(tiny, proof128, gpu128, vox256)")
  return c
