"""Defaults shared by every stage; stage configs import and override them."""

import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.stage = ""  # stylegan2 | syncnet | lipsync | adaptation
  c.dataset = "synthetic_talking_faces"
  c.data_dir = "runs/demo/tfds"
  c.split = "train"
  c.seed = 0
  c.batch_size = 8  # global
  c.num_steps = 1000
  c.learning_rate = 1e-4
  c.checkpoint_every = 500
  c.keep_checkpoints = 3
  c.log_every = 50
  c.image_every = 500
  c.distributed = False  # jax.distributed.initialize() for multi-host runs
  # XLA's compiled programs kept here (train.py): a resumed or restarted run loads its init and
  # steps instead of compiling them again. "": off. Safe to delete at any time. The same folder as
  # infer's and evaluate's --compilation_cache_dir (backends.COMPILATION_CACHE_DIR).
  c.compilation_cache_dir = "~/.cache/lipsync_jax/xla"
  c.mask = "pose"  # pose | rect
  # Each sample's own audio heard with another vocal tract (1 +- audio_warp) and level (+-
  # audio_gain_db): input_pipeline.audio_augmentation. For corpora with few voices at one level
  # (the synthetic one).
  c.audio_augment = False
  c.audio_gain_db = 5.0
  c.audio_warp = 0.1
  # The training split held on the devices (decoded at the model's resolution, uint8) and each
  # batch gathered and augmented there (lipsync_jax/resident_input.py): for data that fits in
  # accelerator memory (the synthetic corpus, an adaptation target). False: the host pipeline.
  c.device_input = False
  # Host input: samples made by data_threads threads, or by data_workers processes when > 0 (they
  # scale with the host's cores: benchmarks/input_pipeline_speed.py --workers).
  c.data_threads = 8
  c.data_workers = 0
  # Host input: the clips read kept in memory up to this many MB (input_pipeline.CachedSource; each
  # worker process its own), for a corpus that fits (the synthetic one: about 5 MB a clip). 0: off.
  c.data_cache_mb = 0
  # Compute dtype of the convolutions ("bfloat16" on accelerators); parameters, optimizer state,
  # styles, demodulation, normalisation statistics and losses stay float32.
  c.dtype = "float32"
  # The per-sample networks of a step (encoders, teacher, lips, decoder, VGG) computed over this
  # many slices of the batch, each a separate computation (common.in_slices): on CPU a slice's
  # activations stay in cache (the proof128 lip-sync step 0.903 -> 0.740 s in 8, docs/design.md).
  # The same arithmetic; each slice's decoder noise is drawn from its own key. Accelerators want
  # the whole batch at once: 1.
  c.batch_slices = 1
  c.model = ml_collections.ConfigDict(dict(
      resolution=256, z_dim=512, w_dim=512, channel_base=16384, channel_max=512,
      face_stem_channels=32, code_dim=32, audio_widths=(64, 128, 256, 512)))
  c.syncnet = ml_collections.ConfigDict(dict(embed_dim=512, width=1.0, motion=False))
  return c


# The model sizes of the decoder-prior recipe: one model tree for the prior, lip-sync and
# adaptation stages of a size (their checkpoints load into each other). code_dim: the frame
# encoder's learned numbers beside the mouth's shape (0: the shape alone; measured worse on the
# synthetic corpus, docs/history.md).
MODELS = {
    "tiny": dict(resolution=64, w_dim=64, channel_base=1024, channel_max=64,
                 face_stem_channels=16, code_dim=4, audio_widths=(32, 64, 128, 256)),
    "proof128": dict(resolution=128, w_dim=64, channel_base=2048, channel_max=64,
                     face_stem_channels=16, code_dim=16, audio_widths=(32, 64, 128, 256)),
    "gpu128": dict(resolution=128, w_dim=64, channel_base=2048, channel_max=64,
                   face_stem_channels=16, code_dim=16, audio_widths=(32, 64, 128, 256)),
    "vox256": dict(resolution=256, w_dim=512, channel_base=16384, channel_max=512,
                   face_stem_channels=32, code_dim=64, audio_widths=(64, 128, 256, 512)),
}
# The SyncNet each size's lip-sync stage loads (configs/syncnet_*.py train them).
# motion: the visual tower also reads each frame minus the window's mean (models/syncnet.py); at
# proof128 the held-out person's windows 92.0% against 88.1% (docs/history.md). The paper's
# vox256 keeps its plain input.
SYNCNETS = {"tiny": dict(embed_dim=128, width=0.25, motion=True),
            "proof128": dict(embed_dim=128, width=0.25, motion=True),
            "gpu128": dict(embed_dim=128, width=0.25, motion=True),
            "vox256": dict(embed_dim=512, width=1.0, motion=False)}


def model_config(variant: str, config_file: str):
  if variant not in MODELS:
    raise ValueError(f"{config_file}: unknown variant {variant!r} ({', '.join(MODELS)})")
  return ml_collections.ConfigDict(MODELS[variant])
