"""The mesh's lips drawn into the masked frame (lipsync_jax.lip_hint) for the decoder prior."""

import glob
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from lipsync_jax import audio as audio_lib
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


def test_evaluate_hears_the_audio_at_another_level(source):
  plain = evaluate._clip(source, 0, 64, "pose", 6)
  quiet = evaluate._clip(source, 0, 64, "pose", 6, audio_gain_db=-10)
  np.testing.assert_array_equal(quiet["mels"], np.maximum(plain["mels"] - 1, audio_lib.SILENCE))
  assert quiet["mels"].min() == audio_lib.SILENCE < plain["mels"].min() + 1


def test_evaluate_draws_the_drivers_lips_at_the_clips_pose(source):
  clip, driver = (evaluate._clip(source, i, 64, "pose", 4) for i in (0, len(source) - 1))
  hinted = type("Backend", (), {"meta": {"lip_hint": True, "codes": "teacher"}})()
  np.testing.assert_array_equal(evaluate._masked(clip), evaluate._masked(clip, None, driver))
  own = evaluate._masked(clip, hinted, clip)
  expected = lip_hint.draw(evaluate._masked(clip), clip["masks"],
                           np.stack([lip_hint.render(p, 64) for p in clip["landmarks"]]))
  # The pose round trip moves points by float error, which can cross the rasteriser's subpixel
  # grid: an edge pixel a grey level off at most.
  np.testing.assert_allclose(own, expected, atol=2 / 255)
  assert np.abs(own - expected).mean() < 1e-4
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


def test_the_lips_in_canonical_pose_return_to_the_frame(source):
  s = input_pipeline.sample_example(source, 2, 0, input_pipeline.PipelineConfig(
      resolution=64, augment=True, fields=("lips", "reference_lips", "clip_index", "start_frame")))
  assert s["lips"].shape == (5, lip_hint.NUM_POINTS, 3) and s["lips"].dtype == np.float32
  assert s["reference_lips"].shape == (lip_hint.NUM_POINTS, 3)
  clip = source[int(s["clip_index"])]
  for j in range(5):
    t = int(s["start_frame"]) + j
    pose = input_pipeline.pose_at(clip, t)
    np.testing.assert_allclose(lip_hint.posed(s["lips"][j], pose),
                               np.asarray(clip["landmarks"][t])[list(lip_hint.RING)], atol=1e-3)
  # The head pose is out: the same clip's lips differ by the mouth's motion, not by the head's.
  assert np.abs(s["lips"] - s["reference_lips"]).max() < 0.1
  # render() takes the mesh or its lips alike.
  points = np.asarray(clip["landmarks"][0])
  np.testing.assert_array_equal(lip_hint.render(points, 64),
                                lip_hint.render(points[list(lip_hint.RING)], 64))


def test_more_lip_windows_come_from_the_samples_clip_and_change_nothing_else(source):
  fields = ("frames", "lips", "reference_lips", "mels", "clip_index", "start_frame")
  more = ("more_lips", "more_lip_mels", "more_reference_lips")
  config = input_pipeline.PipelineConfig(resolution=64, augment=True, fields=fields)
  plain = input_pipeline.sample_example(source, 3, 1, config)
  config = input_pipeline.PipelineConfig(resolution=64, augment=True, lip_windows=4,
                                         fields=fields + more)
  s = input_pipeline.sample_example(source, 3, 1, config)
  for k in fields:  # the sample itself is the same with or without the further windows
    np.testing.assert_array_equal(s[k], plain[k])
  assert s["more_lips"].shape == (3, 5, lip_hint.NUM_POINTS, 3)
  assert s["more_lip_mels"].shape == (3, 5, 20, 80)
  assert s["more_reference_lips"].shape == (3, lip_hint.NUM_POINTS, 3)
  clip = source[int(s["clip_index"])]
  n = int(clip["num_frames"])
  every = input_pipeline.canonical_lips(clip, range(n))
  starts = set()
  for lips, mels, reference in zip(s["more_lips"], s["more_lip_mels"], s["more_reference_lips"]):
    start = [i for i in range(n - 4) if np.array_equal(every[i:i + 5], lips)]
    assert start, "a further window is not 5 consecutive frames of the sample's clip"
    starts.add(start[0])
    np.testing.assert_array_equal(mels, audio_lib.mel_windows(clip["mel"], range(start[0],
                                                                                  start[0] + 5)))
    assert any(np.array_equal(reference, x) for x in every)
  assert len(starts) > 1  # drawn, not repeated
  again = input_pipeline.sample_example(source, 3, 1, config)
  for k in more:
    np.testing.assert_array_equal(again[k], s[k])


def test_lipsync_and_its_prior_must_agree_on_the_hint(tmp_path, tfds_dir):
  from configs import lipsync
  from lipsync_jax.training import stages
  (tmp_path / "config.json").write_text(json.dumps({"lip_hint": True}))
  c = lipsync.get_config("tiny")
  c.update(data_dir=tfds_dir, pretrained_prior=str(tmp_path), min_syncnet_accuracy=0.0)
  with pytest.raises(ValueError, match="lip_hint=True"):
    stages.make_trainer(c).init_state(jax.random.key(0))
  (tmp_path / "config.json").write_text(json.dumps({"lip_hint": False}))
  c.lip_hint = True
  with pytest.raises(ValueError, match="lip_hint=False"):
    stages.make_trainer(c).init_state(jax.random.key(0))
  # The command line says so in one line.
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  r = subprocess.run([sys.executable, "-m", "lipsync_jax.train", "--config",
                      "configs/lipsync.py:tiny", "--workdir", str(tmp_path / "run"),
                      f"--config.data_dir={tfds_dir}", f"--config.pretrained_prior={tmp_path}",
                      "--config.lip_hint=True"],
                     cwd=repo, capture_output=True, text=True)
  assert r.returncode != 0 and "trained with lip_hint=False" in r.stderr
  assert "Traceback" not in r.stderr


def test_lipsync_trains_the_lips_from_audio(hint_lipsync_run):
  from lipsync_jax.models import labels
  c, initial, state, result, _ = hint_lipsync_run
  assert np.isfinite(result.metrics["lips"]) and result.metrics["lips"] > 0
  changed = {}
  flat = lambda t: dict(jax.tree_util.tree_flatten_with_path(t)[0])  # noqa: E731
  before, after = flat(initial["params"]), flat(state["params"])
  for path, leaf in before.items():
    label = labels.label_for(tuple(str(getattr(k, "key", k)) for k in path))
    changed[label] = changed.get(label, False) or bool(np.any(leaf != after[path]))
  assert changed["lip_motion"] and changed["audio_encoder"] and changed["mals"]
  assert not changed["synthesis"] and not changed["frame_encoder"]


def test_the_lips_loss_reads_the_further_windows(hint_lipsync_run):
  from lipsync_jax.training import stages
  c, _, state, _, _ = hint_lipsync_run
  assert c.lip_windows > 1
  trainer = stages.make_trainer(c)
  it = trainer.make_iterator(0, 0, 1)
  batch = it.batch(0)
  it.close()
  w = c.lip_windows - 1
  assert batch["more_lips"].shape[:3] == (c.batch_size, w, 5)

  def lips_metric(b):
    return float(trainer.loss(state["params"], state, b, jax.random.key(0), None)[1]["lips"])

  own = {k: v for k, v in batch.items() if not k.startswith("more_")}
  copies = {**own, "more_lips": np.repeat(own["lips"][:, None], w, 1),
            "more_lip_mels": np.repeat(own["mels"][:, None], w, 1),
            "more_reference_lips": np.repeat(own["reference_lips"][:, None], w, 1)}
  np.testing.assert_allclose(lips_metric(copies), lips_metric(own), rtol=1e-5)
  assert abs(lips_metric(batch) - lips_metric(own)) > 1e-4


def test_the_decoder_is_shown_the_lips_it_predicts(hint_lipsync_run, tfds_dir):
  from lipsync_jax import backends, inference
  backend = backends.checkpoint_backend(hint_lipsync_run[4], batch_size=4)
  assert backend.meta["lip_hint"]
  source = input_pipeline.open_split("synthetic_talking_faces", tfds_dir, "test")
  clip = evaluate._clip(source, 0, 64, "pose", 12)
  plain = evaluate._masked(clip)
  drawn = evaluate._masked(clip, backend, clip)
  inside = clip["masks"][..., 0] > 0
  assert np.abs(drawn - plain)[~inside].max() == 0 and np.abs(drawn - plain)[inside].max() > 0.4
  # The predicted lips, drawn in each frame's pose: the stream's masked_crop draws the same.
  reference_lips = lip_hint.canonical(clip["landmarks"][0], clip["poses"][0])
  lips = backend.lips(reference_lips, clip["mels"])
  assert lips.shape == (12, lip_hint.NUM_POINTS, 3)
  face = type("Face", (), {"crop": clip["frames"][3], "mask": clip["masks"][3, ..., 0],
                           "pose": clip["poses"][3]})()
  smooth = inference.smoothed_lips(lips)
  np.testing.assert_allclose(inference.masked_crop(face, smooth[3]), drawn[3], atol=1e-6)
  # Smoothed as MaLS smooths the codes: frames t-1, t, t+1 at 1/4, 1/2, 1/4, the ends repeated.
  np.testing.assert_allclose(smooth[3], 0.25 * lips[2] + 0.5 * lips[3] + 0.25 * lips[4], atol=1e-6)
  np.testing.assert_allclose(smooth[0], 0.75 * lips[0] + 0.25 * lips[1], atol=1e-6)


def test_inference_and_export_draw_the_predicted_lips(hint_lipsync_run, corpus_dir, tmp_path,
                                                       monkeypatch):
  import glob
  from lipsync_jax import backends, export, inference, input_video
  workdir = hint_lipsync_run[4]
  backend = backends.checkpoint_backend(workdir, batch_size=4)
  video = sorted(glob.glob(os.path.join(corpus_dir, "clips", "test_*.mp4")))[0]
  samples = inference.read_driving_audio(video)[:8000]

  def shown(hint, chunk=len(samples)):  # what the decoder is given, with and without the lips
    backend.meta["lip_hint"] = hint
    inputs, predicted, drawn_lips = [], [], []
    decode, lips, masked_crop = backend.decode, backend.lips, inference.masked_crop
    backend.decode = lambda masked, codes: inputs.append(masked) or decode(masked, codes)
    backend.lips = lambda ref, mels: predicted.append(lips(ref, mels)) or predicted[-1]
    monkeypatch.setattr(inference, "masked_crop",
                        lambda face, x=None: drawn_lips.append(x) or masked_crop(face, x))
    stream = inference.LipSyncStream(backend, input_video.VideoFrames(video, 25),
                                     inference.Options(batch_size=4))
    frames = [f for i in range(0, len(samples), chunk) for f in stream.push(samples[i:i + chunk])]
    frames += stream.finish()
    stream.close()
    del backend.decode, backend.lips
    monkeypatch.undo()
    assert len(frames) == 12 and not stream._lips  # every predicted frame's lips were used
    if hint:  # the lips drawn are the predictions smoothed over the whole clip, in any chunking
      np.testing.assert_allclose(np.stack(drawn_lips),
                                 inference.smoothed_lips(np.concatenate(predicted)), atol=1e-6)
    return np.concatenate(inputs)

  without, drawn = shown(False), shown(True)
  assert (np.abs(drawn - without).max(axis=(1, 2, 3)) > 0.4).all()
  np.testing.assert_allclose(shown(True, chunk=700), drawn, atol=1e-5)
  artifact = str(tmp_path / "model.lsj")
  export.export(workdir, artifact)
  exported = backends.exported_backend(artifact, batch_size=4)
  mels = np.random.default_rng(0).normal(-2, 1, (6, 20, 80)).astype(np.float32)
  ref = np.zeros((lip_hint.NUM_POINTS, 3), np.float32)
  np.testing.assert_allclose(exported.lips(ref, mels), backend.lips(ref, mels), atol=1e-5)


def test_rsyncs_lips_are_the_other_clips_motion_on_this_face(source):
  clip, other = source[0], source[1]
  window, other_window = range(10, 40), range(5, 35)
  # The same clip and frames: its own lips back.
  own = input_pipeline.moved_lips(clip, window, clip, window)
  for lips, i in zip(own, window):
    np.testing.assert_allclose(lips, np.asarray(clip["landmarks"][i])[list(lip_hint.RING)], atol=1e-3)
  # Another clip's: its mouth's opening over the frames, where this face's mouth is.
  moved = input_pipeline.moved_lips(clip, window, other, other_window)
  opened = [lip_hint.render(p, 64)[..., 1].sum() for p in moved]
  theirs = [lip_hint.render(other["landmarks"][i], 64)[..., 1].sum() for i in other_window]
  assert np.corrcoef(opened, theirs)[0, 1] > 0.9
  for lips, i in zip(moved, window):
    here = np.asarray(clip["landmarks"][i])[list(lip_hint.OUTER_RING), :2].mean(0)
    assert np.abs(lips[:len(lip_hint.OUTER_RING), :2].mean(0) - here).max() < 12


def test_adaptation_shows_rsync_the_other_clips_lips(hint_lipsync_run, prepared_dir):
  from configs import adaptation
  from lipsync_jax.training import stages
  c0, _, _, _, workdir = hint_lipsync_run
  c = adaptation.get_config("tiny")
  c.update(data_dir=c0.data_dir, batch_size=2, lip_hint=True, lambda_reg=0.1,
           min_syncnet_accuracy=0.0, lambda_mouth_lpips=0.0, pretrained_lipsync=workdir,
           target=sorted(glob.glob(os.path.join(prepared_dir, "clips", "test_*.npz")))[0])
  trainer = stages.make_trainer(c)
  assert {"hint", "sync_hint", "sync_mels"} <= set(trainer.fields())
  it = trainer.make_iterator(0, 0, 1)
  batch = it.batch(0)
  it.close()
  assert batch["sync_hint"].shape == batch["hint"].shape and batch["sync_hint"].max() > 0
  state = trainer.init_state(jax.random.key(0))
  r_sync = jax.jit(lambda b: trainer.loss(state["params"], state, b, jax.random.key(1), None)[1]
                   ["r_sync"])
  shown, hidden = r_sync(batch), r_sync({**batch, "sync_hint": np.zeros_like(batch["sync_hint"])})
  assert np.isfinite(shown) and shown != hidden  # R_sync's decode reads the other clip's lips
