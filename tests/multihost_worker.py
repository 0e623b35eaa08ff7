"""One process of tests/test_multihost.py: the five stages of the tiny configs for 3 steps,
checkpointed at steps 2 and 3, with summaries at step 2.

  python tests/multihost_worker.py TFDS_DIR TARGET_GLOB WORKDIR PRETRAINED_DIR STOPS

STOPS: "3" trains each stage straight to step 3; "2,3" stops at step 2 and resumes from that
checkpoint to step 3. Lip-sync starts from PRETRAINED_DIR/prior and adaptation from
PRETRAINED_DIR/lipsync and PRETRAINED_DIR/syncnet, as users chain stages. PRETRAINED_DIR may be
another worker's WORKDIR (a run on other devices and processes): this one then runs each stage
once that worker has finished it, and loads the executables it compiled (share_compiled_steps).
Distributed when JAX_COORDINATOR_ADDRESS is set (with JAX_NUM_PROCESSES and JAX_PROCESS_ID), as
`python -m lipsync_jax.train --config.distributed=True` is. Each process writes
WORKDIR/process_<i>.json after each stage: its losses at each step and a digest of the state.
"""

import json
import os
import sys
import time
import traceback

import jax
from jax._src import cache_key

from configs import adaptation, lipsync, prior, stylegan2, syncnet
from lipsync_jax import checkpoints
from lipsync_jax.training import loop, stages

PRETRAINED = {"lipsync": ("prior",), "adaptation": ("lipsync", "syncnet")}


class RecordingTrainer:
  """A trainer whose train_step keeps each step's loss (the loop keeps only the latest)."""

  def __init__(self, trainer):
    self.trainer = trainer
    self.losses = []

  def __getattr__(self, name):
    return getattr(self.trainer, name)

  def train_step(self, state, batch, step):
    state, metrics = self.trainer.train_step(state, batch, step)
    self.losses.append((step, metrics["loss"]))
    return state, metrics


def stage_configs(tfds_dir, target, pretrained_dir):
  """(name, config) of each stage in training order. VGG-LPIPS is off (its compile time): the prior
  and adaptation train on their L1 terms. A constant learning rate: a cosine one depends on
  num_steps, which differs between a stopped run and an uninterrupted one."""
  run = lambda name: os.path.join(pretrained_dir, name)  # noqa: E731
  overrides = {
      "stylegan2": (stylegan2, {}),
      "syncnet": (syncnet, {"opening_weight": 0.0}),  # as the recipes train it: no opening tower
      "prior": (prior, {"lambda_mouth_lpips": 0.0, "lr_schedule": "constant"}),
      "lipsync": (lipsync, {"pretrained_prior": run("prior"), "lr_schedule": "constant"}),
      "adaptation": (adaptation, {"pretrained_lipsync": run("lipsync"),
                                  "pretrained_syncnet": run("syncnet"), "target": target,
                                  "min_syncnet_accuracy": 0.0, "lambda_mouth_lpips": 0.0}),
  }
  for name, (module, extra) in overrides.items():
    c = module.get_config("tiny")
    c.update(data_dir=tfds_dir, batch_size=8, checkpoint_every=2, log_every=1, image_every=2,
             **extra)
    yield name, c


def read_report(workdir, process=0):
  path = os.path.join(workdir, f"process_{process}.json")
  if not os.path.exists(path):
    return {"stages": {}}
  with open(path) as f:
    return json.load(f)


def wait_for_stages(workdir, names):
  while not set(names) <= set(read_report(workdir)["stages"]):
    time.sleep(1)


def share_compiled_steps():
  """Process 0 compiles and the others load its executables (jax_share_binary_between_hosts), as
  on a GPU pod. JAX keys an executable by the devices' topology, whose fingerprint on CPU differs
  between processes: keyed by the devices' kinds instead, both processes ask for the same key.
  Without the device assignment in the key too (as JAX keys on GPU), 2 processes of 2 devices load
  what 1 process of 4 compiled: the same program, whose collectives run over gloo instead."""
  cache_key._hash_accelerator_config = cache_key._hash_devices
  hash_options = cache_key._hash_serialized_compile_options
  cache_key._hash_serialized_compile_options = lambda hash_obj, options, **_: hash_options(
      hash_obj, options, strip_device_assignment=True)
  jax.config.update("jax_share_binary_between_hosts", True)


def main(tfds_dir, target, workdir, pretrained_dir, stops):
  loop.initialize_distributed("JAX_COORDINATOR_ADDRESS" in os.environ)
  share_compiled_steps()
  report = {"process_count": jax.process_count(), "device_count": jax.device_count(),
            "stages": {}}
  for name, config in stage_configs(tfds_dir, target, pretrained_dir):
    # A run beside another (PRETRAINED_DIR) follows it a stage behind and loads its executables.
    follows = (name,) if pretrained_dir != workdir else ()
    wait_for_stages(pretrained_dir, PRETRAINED.get(name, ()) + follows)
    losses, seconds = [], []
    for num_steps in map(int, stops.split(",")):
      start = time.perf_counter()
      config.num_steps = num_steps
      trainer = RecordingTrainer(stages.make_trainer(config))
      result = loop.run(trainer, config, os.path.join(workdir, name))
      assert result.step == num_steps and not result.stopped_early
      losses += [(step, float(loss)) for step, loss in jax.device_get(trainer.losses)]
      seconds.append(f"{time.perf_counter() - start:.0f} s")
    report["stages"][name] = {"losses": losses, "digest": checkpoints.digest(result.state)}
    print(f"{name}: losses {losses} in {' + '.join(seconds)}", file=sys.stderr, flush=True)
    path = os.path.join(workdir, f"process_{jax.process_index()}.json")
    with open(path + ".tmp", "w") as f:
      json.dump(report, f)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
  try:
    main(*sys.argv[1:])
  except BaseException:
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(1)  # without JAX's shutdown barrier, which waits minutes for the other processes
