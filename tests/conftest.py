"""Shared fixtures. Before jax is imported anywhere in the test session XLA gets 8 host devices, its
CPU code generation at -O0 and a compilation cache for the session. The suite is bound by XLA's
compile time, not by run time: -O0 halves it (3 model tests: 94 s -> 48 s), and tests and the
training runs they start as subprocesses compile the same steps again and again (a subprocess's
syncnet_tiny run: 58 s cold, 21 s warm)."""

import os
import shutil
import tempfile

TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"
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

# A small corpus: clip 0 is the held-out test identity, clips 1.. are training identities.
NUM_CLIPS = 5
SEED = 7


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
  from data_prep import synthetic
  out = str(tmp_path_factory.mktemp("corpus"))
  index = synthetic.build_corpus(out, NUM_CLIPS, SEED, workers=2, test_fraction=0.2, progress=False)
  assert not index["failures"], index["failures"]
  return out


@pytest.fixture(scope="session")
def prepared_dir(corpus_dir, tmp_path_factory):
  from data_prep import prepare
  out = str(tmp_path_factory.mktemp("prepared"))
  stats = prepare.prepare(os.path.join(corpus_dir, "clips"), out, workers=2, progress=False)
  assert stats["failed"] == 0 and stats["done"] == NUM_CLIPS, stats
  return out


@pytest.fixture(scope="session")
def tfds_dir(prepared_dir, tmp_path_factory):
  from data_prep import tfds_builders
  out = str(tmp_path_factory.mktemp("tfds"))
  tfds_builders.build("synthetic_talking_faces", prepared_dir, out)
  return out


@pytest.fixture(scope="session")
def lipsync_run(tfds_dir, tmp_path_factory):
  """One step of the tiny lip-sync stage: (config, initial state, state, result, workdir)."""
  import jax
  from configs import lipsync_tiny
  from lipsync_jax.training import loop, stages
  c = lipsync_tiny.get_config()
  c.update(data_dir=tfds_dir, log_every=1, image_every=10**9, num_steps=1, checkpoint_every=1,
           lambda_mask_l1=1.0, lambda_opening=1.0, lambda_mouth_lpips=1.0, lambda_mouth_adv=1.0)
  trainer = stages.make_trainer(c)
  mesh = loop.make_mesh(jax.devices()[:1])
  initial = jax.device_get(trainer.init_state(jax.random.key(c.seed)))
  workdir = str(tmp_path_factory.mktemp("lipsync"))
  result = loop.run(trainer, c, workdir, mesh)
  return c, initial, jax.device_get(result.state), result, workdir
