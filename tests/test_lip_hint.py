"""The mesh's lips drawn into the masked frame (lipsync_jax.lip_hint) for the decoder prior."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from lipsync_jax import evaluate, face_geometry as fg, input_pipeline, lip_hint

FIELDS = ("frames", "masks", "reference", "mouth_shape", "hint")


@pytest.fixture(scope="module")
def source(tfds_dir):
  return input_pipeline.open_split("synthetic_talking_faces", tfds_dir, "train")


def _centroid(image):
  ys, xs = np.nonzero(image > 127)
  return np.array([xs.mean(), ys.mean()])


def test_the_hint_fills_the_meshs_lips_inside_the_mask(source):
  where = ("clip_index", "start_frame")
  s = input_pipeline.sample_example(source, 3, 1, input_pipeline.PipelineConfig(
      resolution=64, fields=FIELDS + where))
  without = input_pipeline.sample_example(source, 3, 1, input_pipeline.PipelineConfig(
      resolution=64, fields=FIELDS[:-1] + where))
  for k in without:  # asking for the hint changes no other field
    np.testing.assert_array_equal(s[k], without[k])
  clip, t0 = source[int(s["clip_index"])], int(s["start_frame"])
  assert s["hint"].shape == (5, 64, 64, 2) and s["hint"].dtype == np.uint8
  for j in range(5):
    lips, opening, mask = s["hint"][j, ..., 0], s["hint"][j, ..., 1], s["masks"][j, ..., 0]
    outer = np.asarray(clip["landmarks"][t0 + j])[list(lip_hint.OUTER_RING), :2] * 64 / 256
    assert np.abs(_centroid(lips) - outer.mean(0)).max() < 1.5  # where the mesh's lips are
    assert (opening.astype(int) <= lips.astype(int) + 1).all()  # the opening lies within the lips
    assert lips[mask == 1].sum() >= 0.95 * lips.sum()  # and the lips within the lip mask


def test_augmentation_moves_the_hint_with_the_frames_and_masks(source):
  config = input_pipeline.PipelineConfig(resolution=64, augment=True, fields=FIELDS)
  for step in range(4):
    s = input_pipeline.sample_example(source, step, 0, config)
    lips, mask = s["hint"][..., 0], s["masks"][..., 0]
    assert lips.sum() > 0 and lips[mask == 1].sum() >= 0.9 * lips.sum()


def test_draw_marks_lips_and_opening_inside_the_mask_only():
  masked = np.zeros((1, 8, 8, 3), np.float32) + 0.25
  masks = np.zeros((1, 8, 8, 1), np.uint8)
  masks[:, 2:6, 2:6] = 1
  hint = np.zeros((1, 8, 8, 2), np.uint8)
  hint[:, 3:5, 1:7, 0] = 255  # lips, partly outside the mask
  hint[:, 4, 3:5, 1] = 255  # an opening inside them
  out = lip_hint.draw(masked, masks, hint)
  np.testing.assert_allclose(out[masks[..., 0] == 0], 0.25)  # the visible face is untouched
  np.testing.assert_allclose(out[0, 3, 3], 0.75)  # lips: +0.5
  np.testing.assert_allclose(out[0, 4, 3], -0.75)  # the opening: -1
  np.testing.assert_allclose(out[0, 2, 2], 0.25)  # neither


def test_transfer_moves_a_mouth_to_another_head_pose():
  points = fg.canonical_face()
  pose_a = (100.0, np.eye(3), np.array([128.0, 128.0, 0.0]))
  pose_b = (80.0, fg.rotation_from_euler(0.2, 0.0, 0.1), np.array([120.0, 140.0, 5.0]))
  in_a = fg.apply_pose(points, *pose_a)
  np.testing.assert_allclose(lip_hint.transfer(in_a, pose_a, pose_a), in_a, atol=1e-9)
  np.testing.assert_allclose(lip_hint.transfer(in_a, pose_a, pose_b),
                             fg.apply_pose(points, *pose_b), atol=1e-9)


def test_evaluate_draws_the_drivers_lips_at_the_clips_pose(source):
  clip, driver = (evaluate._clip(source, i, 64, "pose", 4) for i in (0, len(source) - 1))
  hinted = type("Backend", (), {"meta": {"lip_hint": True}})()
  np.testing.assert_array_equal(evaluate._masked(clip), evaluate._masked(clip, None, driver))
  own = evaluate._masked(clip, hinted, clip)
  expected = lip_hint.draw(evaluate._masked(clip), clip["masks"],
                           np.stack([lip_hint.render(p, 64) for p in clip["landmarks"]]))
  np.testing.assert_allclose(own, expected, atol=1e-3)
  cross = evaluate._masked(clip, hinted, driver)
  assert not np.allclose(cross, own)
  # The driver's mouth at the clip's head pose: near the clip's own lips, not the driver's.
  for j in range(4):
    moved = lip_hint.transfer(driver["landmarks"][j], driver["poses"][j], clip["poses"][j])
    own_lips = clip["landmarks"][j][list(lip_hint.OUTER_RING), :2].mean(0)
    assert np.abs(moved[list(lip_hint.OUTER_RING), :2].mean(0) - own_lips).max() < 12


def test_the_prior_draws_from_the_hint(prior_run, tfds_dir):
  from lipsync_jax.training import stages
  config = prior_run[0].copy_and_resolve_references()
  config.lip_hint = True
  trainer = stages.make_trainer(config)
  it = trainer.make_iterator(0, 0, 1)
  batch = it.batch(0)
  it.close()
  assert batch["hint"].shape[-1] == 2 and batch["hint"].max() > 0
  state = prior_run[2]
  reconstruct = jax.jit(lambda b: trainer.reconstruct(state["params"], state["consts"], b)[0])
  with_hint = np.asarray(reconstruct(batch))
  without = np.asarray(reconstruct({**batch, "hint": np.zeros_like(batch["hint"])}))
  assert np.abs(with_hint - without).max() > 1e-3


def test_lipsync_refuses_a_prior_trained_with_the_hint(tmp_path, tfds_dir):
  from configs import lipsync
  from lipsync_jax.training import stages
  (tmp_path / "config.json").write_text(json.dumps({"lip_hint": True}))
  c = lipsync.get_config("tiny")
  c.update(data_dir=tfds_dir, pretrained_prior=str(tmp_path), min_syncnet_accuracy=0.0)
  with pytest.raises(ValueError, match="lip_hint"):
    stages.make_trainer(c).init_state(jax.random.key(0))
  # The command line says so in one line.
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  r = subprocess.run([sys.executable, "-m", "lipsync_jax.train", "--config",
                      "configs/lipsync.py:tiny", "--workdir", str(tmp_path / "run"),
                      f"--config.data_dir={tfds_dir}", f"--config.pretrained_prior={tmp_path}"],
                     cwd=repo, capture_output=True, text=True)
  assert r.returncode != 0 and "trained with lip_hint" in r.stderr and "Traceback" not in r.stderr
