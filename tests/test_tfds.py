import glob
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_prep import prepare, synthetic, tfds_builders
from tests.conftest import NUM_CLIPS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_splits_are_identity_disjoint(tfds_dir):
  builder = tfds.builder("synthetic_talking_faces", data_dir=tfds_dir)
  train, test = builder.as_data_source("train"), builder.as_data_source("test")
  assert len(train) + len(test) == NUM_CLIPS and len(test) >= 1
  train_ids = {train[i]["identity"] for i in range(len(train))}
  test_ids = {test[i]["identity"] for i in range(len(test))}
  assert test_ids == {i.encode() for i in synthetic.TEST_IDENTITIES}
  assert not train_ids & test_ids


def test_features_match_the_prepared_clips(tfds_dir, prepared_dir):
  source = tfds.builder("synthetic_talking_faces", data_dir=tfds_dir).as_data_source("train")
  ex = source[0]
  seg = prepare.load_segment(os.path.join(prepared_dir, "clips", ex["clip_id"].decode() + ".npz"))
  n = int(ex["num_frames"])
  assert ex["frames"].shape == (n,) and ex["lip_mask"].shape == (n, 256, 32)
  assert ex["start_frame"] == seg["meta"]["start_frame"]
  for key in ("landmarks", "mel", "lip_mask", "rect_mask", "head_rotation", "mouth_opening"):
    np.testing.assert_array_equal(ex[key], seg[key], err_msg=key)
  np.testing.assert_array_equal(
      np.frombuffer(ex["frames"][3], np.uint8),
      seg["frames_jpeg"][seg["frames_offsets"][3]:seg["frames_offsets"][4]])


def test_a_missing_or_outdated_dataset_is_named(tmp_path):
  from lipsync_jax import input_pipeline
  old = tmp_path / "synthetic_talking_faces" / "1.0.0"
  old.mkdir(parents=True)
  with pytest.raises(FileNotFoundError, match="holds 1.0.0.*build_tfds"):
    input_pipeline.open_split("synthetic_talking_faces", str(tmp_path), "train")
  r = subprocess.run([sys.executable, "-m", "lipsync_jax.train", "--config",
                      "configs/syncnet.py:tiny", "--workdir", str(tmp_path / "run"),
                      f"--config.data_dir={tmp_path}"], cwd=REPO, capture_output=True, text=True)
  assert r.returncode != 0 and "build_tfds" in r.stderr and "Traceback" not in r.stderr


def test_reading_needs_no_tensorflow(tfds_dir):
  code = (
      "import sys, tensorflow_datasets as tfds\n"
      "from data_prep import tfds_builders\n"
      f"ds = tfds.builder('synthetic_talking_faces', data_dir={tfds_dir!r}).as_data_source('train')\n"
      "ex = ds[0]\n"
      "assert ex['mel'].shape[1] == 80\n"
      "print('tensorflow' in sys.modules)\n")
  r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
  assert r.returncode == 0, r.stderr
  assert r.stdout.strip() == "False"


def test_split_rules_of_the_real_datasets():
  vox = tfds_builders.Voxceleb2
  assert vox.is_test(None, "id00017", "/data/vox2/test/mp4/id00017/abc/00001.mp4")
  assert not vox.is_test(None, "id00012", "/data/vox2/dev/mp4/id00012/abc/00001.mp4")
  hdtf = tfds_builders.Hdtf
  names = [f"WRA_Person{i}" for i in range(200)]
  held = [n for n in names if hdtf.is_test(None, n, n + "_000.mp4")]
  assert 5 <= len(held) <= 40  # about 10%, and stable: a function of the identity alone
  assert held == [n for n in names if hdtf.is_test(None, n, "/elsewhere/" + n + "_007.mp4")]


def test_layouts_are_discovered(tmp_path):
  for rel in ("dev/mp4/id00012/vidA/00001.mp4", "test/mp4/id00017/vidB/00002.mp4", "notes.txt"):
    (tmp_path / "vox" / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "vox" / rel).write_bytes(b"x")
  items = prepare.discover(str(tmp_path / "vox"), "voxceleb2")
  assert [(i.identity, i.key) for i in items] == [
      ("id00012", "dev/mp4/id00012/vidA/00001"), ("id00017", "test/mp4/id00017/vidB/00002")]
  for name in ("WRA_AdamSchiff_000.mp4", "RD_Radio1_001.mp4"):
    (tmp_path / "hdtf").mkdir(exist_ok=True)
    (tmp_path / "hdtf" / name).write_bytes(b"x")
  assert {i.identity for i in prepare.discover(str(tmp_path / "hdtf"), "hdtf")} == {
      "WRA_AdamSchiff", "RD_Radio1"}


def test_beam_pipeline_on_raw_videos(corpus_dir, prepared_dir, tmp_path):
  """The builder runs the per-video function as a Beam pipeline (DirectRunner, 2 workers)."""
  raw = tmp_path / "raw"
  raw.mkdir()
  clips = sorted(glob.glob(os.path.join(corpus_dir, "clips", "*.mp4")))
  for path in (clips[0], clips[-1]):  # the test clip and a training clip
    for ext in (".mp4", ".json"):
      shutil.copy(path[:-4] + ext, raw)
  builder = tfds_builders.build("synthetic_talking_faces", str(raw), str(tmp_path / "tfds"),
                                beam_runner="DirectRunner", beam_workers=2)
  assert builder.info.splits["train"].num_examples == 1
  assert builder.info.splits["test"].num_examples == 1
  ex = builder.as_data_source("test")[0]
  seg = prepare.load_segment(os.path.join(prepared_dir, "clips", ex["clip_id"].decode() + ".npz"))
  np.testing.assert_allclose(ex["landmarks"], seg["landmarks"], atol=1e-2)


def test_a_dataset_of_held_out_videos_only(corpus_dir, tmp_path):
  """All videos of held-out people: the dataset has a test split and no empty train split, and
  asking for the missing split names it; no videos at all is refused by name."""
  from lipsync_jax import input_pipeline
  raw = tmp_path / "raw"
  raw.mkdir()
  test_clip = sorted(glob.glob(os.path.join(corpus_dir, "clips", "test_*.mp4")))[0]
  for ext in (".mp4", ".json"):
    shutil.copy(test_clip[:-4] + ext, raw)
  out = str(tmp_path / "tfds")
  builder = tfds_builders.build("synthetic_talking_faces", str(raw), out)
  assert list(builder.info.splits) == ["test"]
  assert len(input_pipeline.open_split("synthetic_talking_faces", out, "test")) == 1
  with pytest.raises(FileNotFoundError, match="no train split .it has test"):
    input_pipeline.open_split("synthetic_talking_faces", out, "train")
  for sub in ("done", "clips"):  # a prepare run that finished no video
    (tmp_path / "empty" / sub).mkdir(parents=True)
  with pytest.raises(ValueError, match="empty: no videos to build a dataset from"):
    tfds_builders.build("synthetic_talking_faces", str(tmp_path / "empty"), str(tmp_path / "t2"))
