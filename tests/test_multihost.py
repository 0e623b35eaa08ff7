"""Multi-host training proven on one machine: 2 processes joined by jax.distributed on localhost
(CPU collectives over gloo) train every stage as one process with as many devices does.

Each process has 2 devices: the summaries' 4 sample rows then split over the mesh, across the two
processes, which is where a summary without an output sharding cannot be fetched (on 8 devices XLA
replicates 4 rows by itself and hides it)."""

import glob
import json
import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np

import conftest

from configs import adaptation, lipsync, prior, stylegan2, syncnet
from lipsync_jax import checkpoints

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICES_PER_PROCESS = 2
STAGES = {"stylegan2": stylegan2, "syncnet": syncnet, "prior": prior, "lipsync": lipsync,
          "adaptation": adaptation}
# A guard against collectives that never return, not a speed bound: on a 2-core machine measuring
# 70 GFLOP/s the two-process run was still training (its adaptation stage) at 900 s.
TIMEOUT_S = 2400


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start_workers(args, num_processes, devices, log_dir):
  """The worker in `num_processes` processes of `devices` CPU devices each: [(process, log)]."""
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu",
             XLA_FLAGS=(f"{conftest.TEST_XLA_FLAGS} "
                        f"--xla_force_host_platform_device_count={devices}"),
             # A persistent compilation cache for both runs: a resumed stage reuses the executables
             # its first run compiled, as a restarted pod job does with a cache directory, and the
             # two-process run loads what the one-process run compiled (JAX writes it from process
             # 0; process 1 reads it, or is sent process 0's executables:
             # multihost_worker.share_compiled_steps).
             JAX_COMPILATION_CACHE_DIR=os.path.join(log_dir, "jax_cache"),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
  if num_processes > 1:
    env.update(JAX_COORDINATOR_ADDRESS=f"localhost:{_free_port()}",
               JAX_NUM_PROCESSES=str(num_processes))
  workers = []
  for i in range(num_processes):
    log = os.path.join(log_dir, f"log_{num_processes}_{i}.txt")
    with open(log, "w") as out:
      workers.append((subprocess.Popen(
          [sys.executable, os.path.join(REPO, "tests", "multihost_worker.py"), *args], cwd=REPO,
          env=dict(env, JAX_PROCESS_ID=str(i)), stdout=out, stderr=subprocess.STDOUT), log))
  return workers


def _wait(workers):
  """Waits for every worker; when one fails the others are stopped (they would wait for it)."""
  procs = [p for p, _ in workers]
  deadline = time.time() + TIMEOUT_S
  try:
    while time.time() < deadline and any(p.poll() is None for p in procs):
      if any(p.poll() for p in procs):
        break
      time.sleep(1)
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
      p.wait()
  if any(p.returncode for p in procs):
    tails = [f"{log} (exit {p.returncode}):\n{open(log).read()[-3000:]}" for p, log in workers]
    raise AssertionError("\n".join(tails))


def _report(workdir, process):
  with open(os.path.join(workdir, f"process_{process}.json")) as f:
    return json.load(f)


def test_two_processes_train_every_stage_as_one_does(tfds_dir, prepared_dir, tmp_path):
  target = os.path.join(prepared_dir, "clips", "test_*.npz")
  assert glob.glob(target)
  one, two = str(tmp_path / "one"), str(tmp_path / "two")
  devices = 2 * DEVICES_PER_PROCESS
  # Side by side: one process straight to step 3, and two stopped at step 2 and resumed, a stage
  # behind, whose lip-sync and adaptation start from the one-process run's checkpoints (saved on
  # other devices), as a pod run starts from stages trained on one machine.
  _wait(_start_workers([tfds_dir, target, one, one, "3"], 1, devices, str(tmp_path)) +
        _start_workers([tfds_dir, target, two, one, "2,3"], 2, DEVICES_PER_PROCESS, str(tmp_path)))

  reference, first, second = _report(one, 0), _report(two, 0), _report(two, 1)
  assert (reference["process_count"], reference["device_count"]) == (1, devices)
  assert (first["process_count"], first["device_count"]) == (2, devices)
  for name, config_module in STAGES.items():
    ref, got = reference["stages"][name], first["stages"][name]
    assert second["stages"][name] == got, name  # both processes hold the same state
    assert [s for s, _ in got["losses"]] == [s for s, _ in ref["losses"]] == [0, 1, 2], name
    np.testing.assert_allclose([l for _, l in got["losses"]], [l for _, l in ref["losses"]],
                               rtol=1e-4, err_msg=name)
    # Each run's checkpoint read back here (one process of 8 devices, the way inference reads a
    # pod's run). Adam moves a parameter by at most ~lr per step whatever its gradient, so where a
    # gradient is zero up to reduction order the runs may step in opposite directions: at most
    # 2 * lr apart per step, over the 3 steps (the lip-sync and adaptation runs start from the same
    # checkpoints); nothing may differ by more, and most parameters far less.
    lr = config_module.get_config("tiny").learning_rate
    bound = 3 * 2 * lr * 1.01
    a, b = (checkpoints.load_tree(os.path.join(run, name)) for run in (one, two))
    params = [k for k in a if k.endswith("params") or k == "g_ema"]
    assert params and all(k in b for k in params), name
    diffs = [float(np.abs(x - y).max()) for k in params for x, y in
             zip(jax.tree_util.tree_leaves(a[k]), jax.tree_util.tree_leaves(b[k]))]
    assert max(diffs) <= bound, (name, max(diffs), bound)
    assert np.median(diffs) < bound / 10, (name, np.median(diffs), bound)
