"""The training loop shared by the four stages: mesh, checkpoints, metrics, signals, NaN stop.

A trainer provides:
  init_state(rng) -> state             a pytree of arrays (host or device)
  setup(mesh, state_shardings)         called once before training: jit its steps with them
  make_iterator(start_step, process_index, process_count) -> iterator of host batches
                                       (common.make_iterator: the host or device-resident input)
  train_step(state, batch, step) -> (state, metrics)    its own jitted pieces, global-view
  summaries(state, batch) -> {name: images}             optional, uint8 NHWC

The loop shards each host's batch rows into one global array on P('data'), keeps every step's
randomness a function of (seed, step) and the data position equal to the step, so a run restarted
from a checkpoint continues exactly as an uninterrupted one. SIGTERM (a preempted pod) saves and
exits; a non-finite loss stops the run with the step named.
"""

import dataclasses
import os
import signal
import time

import jax
import numpy as np
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec as P

from lipsync_jax import checkpoints as ckpt


def initialize_distributed(enabled: bool):
  """jax.distributed.initialize() for multi-host runs. JAX finds the coordinator, the number of
  processes and this one's id on Cloud TPU, SLURM and Open MPI; elsewhere every process sets
  JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES and JAX_PROCESS_ID (JAX
  reads the first itself, these two are read here). Processes on CPU exchange data through
  gloo, JAX's default."""
  if not enabled:
    return
  given = {name: int(os.environ[var]) for name, var in (("num_processes", "JAX_NUM_PROCESSES"),
                                                        ("process_id", "JAX_PROCESS_ID"))
           if os.environ.get(var)}
  jax.distributed.initialize(**given)
  logging.info("process %d of %d, %d of %d devices", jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count())


def make_mesh(devices=None):
  """A 1-D data-parallel mesh over all (or the given) devices."""
  devices = list(devices if devices is not None else jax.devices())
  return jax.sharding.Mesh(np.array(devices), ("data",),
                           axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh):
  return NamedSharding(mesh, P())


def data_sharded(mesh):
  return NamedSharding(mesh, P("data"))


def global_batch(local_batch: dict, mesh) -> dict:
  """This host's rows of every batch entry -> global arrays sharded on P('data')."""
  sharding = data_sharded(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local_batch.items()}


def place_state(state, shardings):
  """A fresh state on the devices, through host copies, which carry no weak types: a weakly typed
  leaf from init (a bias from jnp.full with a Python float) made the first steps compile two or
  three times (20 s each at 64x64), and once more in a resumed run, whose restored leaves are not
  weak."""
  return jax.device_put(jax.device_get(state), shardings)


def abstract_like(state, shardings):
  return jax.tree_util.tree_map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings)


class _Preemption:
  """Turns SIGTERM into a flag the loop checks after each step."""

  def __init__(self):
    self.requested = False
    self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    logging.warning("SIGTERM: saving a checkpoint and stopping after this step")
    self.requested = True

  def restore(self):
    signal.signal(signal.SIGTERM, self._previous)


@dataclasses.dataclass
class LoopResult:
  state: object
  step: int
  stopped_early: bool
  metrics: dict


def save_config(config, workdir: str):
  """workdir/config.json: what inference and export need to rebuild the model."""
  from lipsync_jax import fileio
  with fileio.atomic_path(os.path.join(workdir, "config.json")) as tmp:
    with open(tmp, "w") as f:
      f.write(config.to_json(indent=1))


class LogWriter:
  """Scalars to the log, for machines without TensorFlow, which clu's metric writers import
  (accelerator images often carry JAX alone). Images are not kept."""

  def write_scalars(self, step, scalars):
    logging.info("[%d] %s", step, ", ".join(f"{k}={v:.6g}" for k, v in sorted(scalars.items())))

  def write_images(self, step, images):
    del step, images

  def flush(self):
    pass


def _writer_and_progress(workdir: str, num_steps: int, every_steps: int):
  """CLU's TensorBoard writer and progress reporter, or LogWriter and a progress log line when
  clu cannot be imported (no TensorFlow)."""
  try:
    from clu import metric_writers, periodic_actions
  except ImportError as e:
    logging.warning("no TensorBoard summaries (%s): metrics go to the log only", e)
    def report(step):
      if step % every_steps == 0:
        logging.info("step %d of %d", step, num_steps)
    return LogWriter(), report
  writer = metric_writers.create_default_writer(workdir, just_logging=jax.process_index() > 0)
  report = periodic_actions.ReportProgress(num_train_steps=num_steps, writer=writer,
                                           every_steps=every_steps)
  return writer, report


def run(trainer, config, workdir: str, mesh=None) -> LoopResult:
  """Trains `trainer` for config.num_steps from the latest checkpoint in workdir (if any)."""
  mesh = mesh if mesh is not None else make_mesh()
  os.makedirs(workdir, exist_ok=True)
  if jax.process_index() == 0:
    save_config(config, workdir)
  writer, report = _writer_and_progress(workdir, config.num_steps, config.get("log_every", 50))
  checkpoints = ckpt.Checkpoints(workdir, config.get("keep_checkpoints", 3))

  state = trainer.init_state(jax.random.key(config.seed))
  shardings = jax.tree_util.tree_map(lambda _: replicated(mesh), state)
  trainer.setup(mesh, shardings)
  start = 0
  found = checkpoints.restore_newest_intact(abstract_like(state, shardings))
  if found is not None:
    _, state, data_state = found
    start = int(data_state["step"])
    logging.info("resumed from step %d", start)
  else:
    if checkpoints.latest_step() is not None:
      raise ckpt.CheckpointError(f"{checkpoints.directory}: no checkpoint restores (each is "
                                 "reported above); move the folder away to start afresh")
    state = place_state(state, shardings)
  iterator = trainer.make_iterator(start, jax.process_index(), jax.process_count())
  preemption = _Preemption()
  metrics, pending = {}, []
  step = start
  last_time, last_step = time.perf_counter(), start
  # Steps are dispatched without waiting for them, so the host prepares the next batch while the
  # device computes; their metrics are fetched when they are logged or checkpointed (or every step
  # where CPU collectives over several host devices could deadlock out of order).
  every_step = jax.default_backend() == "cpu" and jax.device_count() > 1

  def fetch():
    """The pending steps' metrics as floats, checked in order: a non-finite value stops the run
    naming its step, before anything after it is checkpointed."""
    latest = {}
    for at, values in jax.device_get(pending):
      latest = {k: float(np.asarray(v)) for k, v in values.items()}
      bad = {k: v for k, v in latest.items() if not np.isfinite(v)}
      if bad:
        raise FloatingPointError(f"non-finite {bad} at step {at}; last checkpoint: "
                                 f"{checkpoints.latest_step()}")
    pending.clear()
    return latest

  try:
    while step < config.num_steps:
      batch = global_batch(next(iterator), mesh)
      if hasattr(iterator, "gather"):  # device-resident input: the batch built from its indices
        batch = iterator.gather(batch, mesh)
      state, step_metrics = trainer.train_step(state, batch, step)
      pending.append((step, step_metrics))
      step += 1
      report(step)
      # Read once: a SIGTERM landing later in this step (while fetching or logging) is acted on
      # after the next one, so a step never stops the loop without saving.
      stopping = preemption.requested
      logging_now = step % config.get("log_every", 50) == 0 or step == config.num_steps
      saving_now = (step % config.checkpoint_every == 0 or step == config.num_steps or stopping)
      if every_step or logging_now or saving_now:
        metrics = fetch() or metrics
      if logging_now:
        now = time.perf_counter()
        metrics["steps_per_second"] = (step - last_step) / max(now - last_time, 1e-9)
        last_time, last_step = now, step
        writer.write_scalars(step, metrics)
      if hasattr(trainer, "summaries") and step % config.get("image_every", 500) == 0:
        writer.write_images(step, trainer.summaries(state, batch))
      if saving_now:
        checkpoints.save(step, state, {"step": step, "iterator": iterator.get_state()},
                         force=stopping)
      if stopping:
        break
  finally:
    preemption.restore()
    checkpoints.close()
    writer.flush()
    if hasattr(iterator, "close"):
      iterator.close()
  return LoopResult(state, step, step < config.num_steps, metrics)


def step_rng(state_rng, step):
  """Per-step randomness: a function of the run's key and the step alone."""
  return jax.random.fold_in(jax.random.wrap_key_data(state_rng), step)


def key_data(key):
  """Typed key -> uint32 data, which checkpoints hold."""
  return jax.random.key_data(key)

