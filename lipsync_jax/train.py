"""Trains one stage of StyleLipSync.

  python -m lipsync_jax.train --config configs/lipsync.py:proof128 --workdir runs/lipsync \
      [--config.batch_size=8 ...]

Resumes from the latest checkpoint in --workdir; SIGTERM saves and exits; metrics and sample
images go to TensorBoard in --workdir. Multi-host: set config.distributed=True on every host.
"""

import logging as std_logging
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from lipsync_jax import backends, checkpoints
from lipsync_jax.training import loop, stages

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training configuration file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints and TensorBoard logs go here.")
_VERBOSE = flags.DEFINE_bool("verbose", False, "Also log the checkpointing library's progress, "
                             "and show a refused config's traceback.")
flags.mark_flags_as_required(["config", "workdir"])


def _quiet_orbax(record) -> bool:
  """Orbax logs every save in a dozen INFO lines: keep its warnings and errors only."""
  return record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname


def main(argv):
  del argv
  config = _CONFIG.value
  if not _VERBOSE.value:
    logging.get_absl_handler().addFilter(_quiet_orbax)
  loop.initialize_distributed(config.distributed)
  backends.use_compilation_cache(config.get("compilation_cache_dir", ""))
  try:
    result = loop.run(stages.make_trainer(config), config, _WORKDIR.value)
  except (FileNotFoundError, checkpoints.CheckpointError) as e:
    # a missing or outdated dataset, a pretrained run that is not there, damaged checkpoints
    sys.exit(f"error: {e}")
  except ValueError as e:  # a config the trainers refuse (--verbose: with the traceback)
    if _VERBOSE.value:
      raise
    sys.exit(f"error: {e}")
  logging.info("stopped at step %d%s: %s", result.step, " (early)" if result.stopped_early else "",
               result.metrics)


if __name__ == "__main__":
  app.run(main)
