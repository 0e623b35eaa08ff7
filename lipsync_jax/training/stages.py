"""Config -> trainer for each of the four stages."""

import glob

from lipsync_jax import input_pipeline


def make_trainer(config):
  from lipsync_jax.training import (adaptation_trainer, lipsync_trainer, prior_trainer,
                                    stylegan2_trainer, syncnet_trainer)
  source = input_pipeline.cached(
      input_pipeline.open_source(config.dataset, config.data_dir, config.split),
      config.get("data_cache_mb", 0))
  if config.stage == "stylegan2":
    return stylegan2_trainer.StyleGAN2Trainer(config, source)
  if config.stage == "prior":
    return prior_trainer.PriorTrainer(config, source)
  if config.stage == "syncnet":
    return syncnet_trainer.SyncNetTrainer(config, source)
  if config.stage == "lipsync":
    return lipsync_trainer.LipSyncTrainer(config, source)
  if config.stage == "adaptation":
    paths = sorted({p for pattern in config.target.split(",") if pattern.strip()
                    for p in glob.glob(pattern.strip())})
    if not paths:
      raise ValueError(f"config.target {config.target!r} matches no prepared segments (.npz)")
    target = input_pipeline.SegmentSource(paths)
    return adaptation_trainer.AdaptationTrainer(config, target, audio_source=source)
  raise ValueError(f"unknown stage {config.stage!r}: stylegan2, prior, syncnet, lipsync "
                   "or adaptation")
