"""Runs on disk: a stage's Orbax checkpoints (written by training.loop) and its config.json.

Training saves and resumes through `Checkpoints`; everything else (the next stage, inference,
export, evaluation, weights) reads a finished run with `read_run` or `load_tree`. Each checkpoint
carries a digest of its arrays; a damaged or partial one is named in one line (CheckpointError).
"""

import dataclasses
import hashlib
import json
import os
import re

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging


class Checkpoints:
  """Orbax CheckpointManager (async, keep-N) for the train state and the data position."""

  def __init__(self, workdir: str, max_to_keep: int = 3):
    self.manager = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, "checkpoints")),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             enable_async_checkpointing=True))

  def latest_step(self):
    return self.manager.latest_step()

  def save(self, step: int, state, data_state: dict, force: bool = False):
    """Saves asynchronously; the data item carries a digest of the state's values, which restore
    checks (a flipped byte in an array file can decompress without an error)."""
    data_state = {**data_state, "digest": digest(state)}
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state)), force=force)

  def restore(self, step: int, abstract_state):
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore()))
    check_digest(restored["state"], restored["data"])
    return restored["state"], restored["data"]

  def restore_newest_intact(self, abstract_state):
    """(step, state, data position) of the newest checkpoint that restores, or None when there is
    none; each damaged or partial one on the way is reported in one line and moved aside to
    `<step>.damaged` (kept for inspection; training will save that step again)."""
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        state, data = self.restore(step, abstract_state)
      except Exception as e:  # noqa: BLE001  (Orbax, TensorStore and zstd raise many kinds)
        logging.warning("%s; moved to %s.damaged", damage_message(self.directory, step, e), step)
        if jax.process_index() == 0:
          path = os.path.join(self.directory, str(step))
          os.replace(path, path + ".damaged")
        self.manager.reload()
        continue
      return step, state, data
    return None

  @property
  def directory(self) -> str:
    return str(self.manager.directory)

  def wait(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()


class CheckpointError(ValueError):
  """A checkpoint that cannot be restored (damaged or partial), in one line."""


def digest(state) -> str:
  """sha256 of a state's leaves (this process's copy of each: states here are replicated)."""
  h = hashlib.sha256()
  for leaf in jax.tree_util.tree_leaves(state):
    data = leaf.addressable_data(0) if isinstance(leaf, jax.Array) else leaf
    h.update(np.ascontiguousarray(np.asarray(data)).tobytes())
  return h.hexdigest()


def check_digest(state, data: dict):
  if "digest" in data and digest(state) != data["digest"]:
    raise CheckpointError("its arrays do not match the digest saved with them")


def damage_message(directory: str, step: int, error: Exception) -> str:
  """One line: the checkpoint, the file the error names (if any) and the reason."""
  text = " ".join(str(error).split())
  where = re.search(r"(/[^\s'\"]+)", text)
  file = f", file {where.group(1)}" if where and where.group(1).startswith(directory) else ""
  reason = text[:200] + ("..." if len(text) > 200 else "")
  return (f"{directory}: checkpoint of step {step} is damaged or partial{file}: "
          f"{type(error).__name__}: {reason}")


def load_tree(workdir: str, step: int | None = None):
  """The state saved by a finished stage (latest checkpoint unless `step`), as numpy arrays on
  every process, whatever devices and processes saved it. Raises FileNotFoundError without one,
  CheckpointError (one line) when it is damaged."""
  return _restore(workdir, step)[0]


def _restore(workdir: str, step: int | None):
  """(state as numpy arrays, its step): load_tree's work, with the step it resolved."""
  directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
  manager = ocp.CheckpointManager(directory, item_handlers={
      "state": ocp.StandardCheckpointHandler(), "data": ocp.JsonCheckpointHandler()})
  try:
    step = manager.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"{workdir}: no checkpoint to load")
    try:
      # Numpy targets: without them Orbax puts each array back on the devices that saved it,
      # which fails where those are not this run's (another host count, a pod's run on one host).
      target = jax.tree_util.tree_map(lambda m: np.empty(m.shape, m.dtype),
                                      manager.item_metadata(step)["state"])
      restored = manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(target), data=ocp.args.JsonRestore()))
      check_digest(restored["state"], restored["data"])
    except Exception as e:  # noqa: BLE001
      raise CheckpointError(damage_message(directory, step, e)) from None
  finally:
    manager.close()
  return restored["state"], step


@dataclasses.dataclass
class Run:
  config: dict  # the run's config.json
  tree: dict  # its latest (or chosen) checkpoint's state, numpy arrays
  step: int


def read_config(workdir: str, stages=None) -> dict:
  """A run's config.json; its stage must be one of `stages` (any when None)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{workdir}: no config.json (written by lipsync_jax.train)")
  with open(path) as f:
    config = json.load(f)
  if stages is not None and config.get("stage") not in stages:
    raise ValueError(f"{workdir}: a {config.get('stage')!r} run, where a "
                     f"{' or '.join(stages)} run is needed")
  return config


def read_run(workdir: str, stages=None, step: int | None = None) -> Run:
  """A finished run: its config (stage checked against `stages`) and checkpoint (latest unless
  `step`). FileNotFoundError without them, ValueError for another stage, CheckpointError when
  the checkpoint is damaged."""
  config = read_config(workdir, stages)
  tree, step = _restore(workdir, step)
  return Run(config, tree, step)
