"""Shared fixtures. Before jax is imported anywhere in the test session XLA gets 8 host devices, its
CPU code generation at -O0 and a compilation cache for the session. The suite is bound by XLA's
compile time, not by run time: -O0 halves it (3 model tests: 94 s -> 48 s), XLA's older fusion
code generator halves it again (the tiny StyleGAN2 G step: 10-12 s -> 5-5.6 s), and tests and the
training runs they start as subprocesses compile the same steps again and again (a subprocess's
syncnet.py:tiny run: 58 s cold, 21 s warm)."""

import fcntl
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TEST_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + TEST_XLA_FLAGS +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_OWN_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ
if _OWN_CACHE:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="lipsync_jax_test_xla_cache_")

import pytest  # noqa: E402


def pytest_sessionfinish(session, exitstatus):
  if _OWN_CACHE:
    shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


def pytest_collection_modifyitems(items):
  """The multi-host test first: the longest (3 processes, about a third of the suite's CPU time), it
  runs beside the others instead of after them (with `--dist worksteal`, scripts/test.sh)."""
  items.sort(key=lambda item: not item.nodeid.startswith("tests/test_multihost.py"))


@pytest.fixture
def interrupt_cli():
  """Runs a command line (python ARGS) until ready() says it is mid-run, then sends it a signal:
  returns (return code, stderr's lines). A run that ends or never gets ready fails the test."""
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

  def run(args, ready, sig=signal.SIGTERM, stdin=b"", env=None, timeout=600):
    with tempfile.TemporaryFile("w+") as err:  # a file, not a pipe: a full pipe would block it
      proc = subprocess.Popen([sys.executable, *args], cwd=repo, env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=err)

      def lines():
        err.seek(0)
        return err.read().strip().splitlines()

      try:
        proc.stdin.write(stdin)  # stdin stays open: a reader of it waits, mid-run, for more
        proc.stdin.flush()
        deadline = time.time() + timeout
        while not ready():
          assert proc.poll() is None, ["it ended before it was interrupted"] + lines()[-5:]
          assert time.time() < deadline, ["it never got mid-run"] + lines()[-5:]
          time.sleep(0.005)
        proc.send_signal(sig)
        proc.wait(timeout=120)
      finally:
        if proc.poll() is None:
          proc.kill()
          proc.wait()
        proc.stdin.close()
      return proc.returncode, lines()

  return run


# A small corpus: clip 0 is the held-out test identity, clips 1.. are training identities.
NUM_CLIPS = 5
SEED = 7


def _built_once(tmp_path_factory, name, build):
  """build(out) -> a picklable value, for a session, made once in a new directory `out`: under
  pytest-xdist the first worker to ask builds it in the run's shared temporary folder and the
  others wait for it and read it (the corpus, its preparation, its dataset and the training runs
  are read only), where each worker would make its own at the same time on the same cores."""
  if "PYTEST_XDIST_WORKER" not in os.environ:
    return build(str(tmp_path_factory.mktemp(name)))
  root = tmp_path_factory.getbasetemp().parent  # one per run, above each worker's own
  out, value = root / name, root / f"{name}.pickle"
  with open(root / f"{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the holder dies
    if not value.exists():
      shutil.rmtree(out, ignore_errors=True)  # a holder that died half-way
      out.mkdir()
      made = build(str(out))
      with open(f"{value}.tmp", "wb") as f:
        pickle.dump(made, f)
      os.replace(f"{value}.tmp", value)
  with open(value, "rb") as f:
    return pickle.load(f)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
  from data_prep import synthetic

  def build(out):
    index = synthetic.build_corpus(out, NUM_CLIPS, SEED, workers=2, test_fraction=0.2,
                                   progress=False)
    assert not index["failures"], index["failures"]
    return out
  return _built_once(tmp_path_factory, "corpus", build)


@pytest.fixture(scope="session")
def prepared_dir(corpus_dir, tmp_path_factory):
  from data_prep import prepare

  def build(out):
    stats = prepare.prepare(os.path.join(corpus_dir, "clips"), out, workers=2, progress=False)
    assert stats["failed"] == 0 and stats["done"] == NUM_CLIPS, stats
    return out
  return _built_once(tmp_path_factory, "prepared", build)


@pytest.fixture(scope="session")
def tfds_dir(prepared_dir, tmp_path_factory):
  from data_prep import tfds_builders

  def build(out):
    tfds_builders.build("synthetic_talking_faces", prepared_dir, out)
    return out
  return _built_once(tmp_path_factory, "tfds", build)


def _train_one_device(config, workdir):
  """Trains config's stage on one device: (config, initial state, state, result, workdir)."""
  import jax
  from lipsync_jax.training import loop, stages
  trainer = stages.make_trainer(config)
  mesh = loop.make_mesh(jax.devices()[:1])
  initial = jax.device_get(trainer.init_state(jax.random.key(config.seed)))
  result = loop.run(trainer, config, workdir, mesh)
  return config, initial, jax.device_get(result.state), result, workdir


@pytest.fixture(scope="session")
def prior_run(tfds_dir, tmp_path_factory):
  """Two steps of the tiny decoder prior: (config, initial state, state, result, workdir)."""
  from configs import prior
  c = prior.get_config("tiny")
  c.update(data_dir=tfds_dir, log_every=1, image_every=10**9, num_steps=2, checkpoint_every=2,
           batch_size=4)
  return _built_once(tmp_path_factory, "prior", lambda out: _train_one_device(c, out))


@pytest.fixture(scope="session")
def lipsync_run(tfds_dir, prior_run, tmp_path_factory):
  """One step of the tiny lip-sync stage on the tiny decoder prior, every loss on (the SyncNet
  untrained): (config, initial state, state, result, workdir)."""
  from configs import lipsync
  c = lipsync.get_config("tiny")
  c.update(data_dir=tfds_dir, log_every=1, image_every=10**9, num_steps=1, checkpoint_every=1,
           batch_size=2, pretrained_prior=prior_run[-1], lambda_latent=1.0, lambda_sync=0.1,
           lambda_l1=1.0, lambda_mask_l1=1.0, lambda_opening=1.0, lambda_mouth_lpips=1.0,
           lambda_lpips=1.0, min_syncnet_accuracy=0.0,
           trained_labels="samf,face_encoder,reference_encoder,audio_encoder,mals")
  return _built_once(tmp_path_factory, "lipsync", lambda out: _train_one_device(c, out))


@pytest.fixture(scope="session")
def hint_lipsync_run(tfds_dir, prior_run, tmp_path_factory):
  """Two steps of the tiny lip-sync stage with lip_hint (the latent teacher, L1 on frames with the
  true lips drawn in, the audio-to-lips network), on prior_run's decoder relabelled as trained
  with lip_hint (what is tested is the wiring, not what 2 steps learned): (config, initial state,
  state, result, workdir)."""
  from configs import lipsync

  def build(out):
    prior = os.path.join(out, "prior")
    shutil.copytree(prior_run[-1], prior)
    with open(os.path.join(prior, "config.json")) as f:
      config = json.load(f)
    with open(os.path.join(prior, "config.json"), "w") as f:
      json.dump({**config, "lip_hint": True}, f)
    c = lipsync.get_config("tiny")
    c.update(data_dir=tfds_dir, log_every=1, image_every=10**9, num_steps=2, checkpoint_every=2,
             batch_size=2, pretrained_prior=prior, lip_hint=True, lambda_l1=1.0,
             min_syncnet_accuracy=0.0)
    return _train_one_device(c, os.path.join(out, "run"))
  return _built_once(tmp_path_factory, "hint_lipsync", build)
