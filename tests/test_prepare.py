import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from data_prep import prepare
from lipsync_jax import audio as audio_lib
from lipsync_jax import face_geometry as fg
from lipsync_jax import face_crop, masking, media
from tests.conftest import NUM_CLIPS
from tests.media_helpers import write_raw

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _segments(prepared_dir):
  return [prepare.load_segment(p) for p in sorted(glob.glob(os.path.join(prepared_dir, "clips", "*.npz")))]


def _clip(corpus_dir, index=1):
  path = sorted(glob.glob(os.path.join(corpus_dir, "clips", "*.mp4")))[index]
  frames = list(media.iter_frames(path))
  audio = media.read_audio(path, 16000, start_time=media.video_start_time(path))
  return path, frames, audio


def test_outputs_have_the_contracted_shapes(prepared_dir):
  segs = _segments(prepared_dir)
  assert len(segs) == NUM_CLIPS
  for s in segs:
    n = s["meta"]["num_frames"]
    assert s["landmarks"].shape == (n, 478, 3)
    assert s["lip_mask"].shape == s["rect_mask"].shape == (n, 256, 32)
    assert s["head_rotation"].shape == (n, 3, 3)
    assert s["mel"].shape == (4 * n + 1, 80)
    assert s["audio"].shape == (640 * n,)
    assert prepare.decode_frame(s, n - 1).shape == (256, 256, 3)


def test_masks_cover_the_mouth_in_every_frame_and_spare_the_eyes(prepared_dir):
  lips = list(fg.LIPS_UPPER_OUTER + fg.LIPS_LOWER_OUTER + fg.LIPS_UPPER_INNER + fg.LIPS_LOWER_INNER)
  eyes = list(fg.RIGHT_EYE_UPPER + fg.LEFT_EYE_UPPER)
  for s in _segments(prepared_dir):
    masks = prepare.unpack_mask(s["lip_mask"], 256)
    for mask, pts in zip(masks, s["landmarks"]):
      xy = np.clip(np.round(pts[:, :2]).astype(int), 0, 255)
      assert mask[xy[lips, 1], xy[lips, 0]].all()
      assert not mask[xy[eyes, 1], xy[eyes, 0]].any()
    rect = prepare.unpack_mask(s["rect_mask"], 256)
    assert (rect[:, :100].sum() == 0) and rect.sum() > 0  # lower half of the face box only


def _iou(a, b):
  return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def _rotate_about_centre(points, degrees, size=256):
  m = cv2.getRotationMatrix2D((size / 2, size / 2), degrees, 1.0)
  out = np.array(points, np.float64)
  out[:, :2] = out[:, :2] @ m[:, :2].T + m[:, 2]
  return out, m


def test_mask_follows_a_rotated_head(prepared_dir):
  s = _segments(prepared_dir)[1]
  pts = s["landmarks"][10]
  mask = masking.pose_aware_mask(pts, 256)
  rotated_pts, m = _rotate_about_centre(pts, 25)
  rotated_mask = masking.pose_aware_mask(rotated_pts, 256)
  expected = cv2.warpAffine(mask, m, (256, 256), flags=cv2.INTER_NEAREST)
  assert _iou(rotated_mask, expected) > 0.9
  assert _iou(rotated_mask, mask) < 0.8  # it moved with the head


def test_mask_from_the_mesh_of_a_rotated_image(prepared_dir):
  """End to end: rotate the picture, find the mesh again, and the mask turns with the face."""
  from lipsync_jax.face_mesh import FaceMesh
  s = _segments(prepared_dir)[1]
  frame = prepare.decode_frame(s, 10)
  mask = masking.pose_aware_mask(s["landmarks"][10], 256)
  m = cv2.getRotationMatrix2D((128, 128), -20, 1.0)
  rotated = cv2.warpAffine(frame, m, (256, 256), borderMode=cv2.BORDER_REFLECT)
  with FaceMesh(track=False) as mesh:
    pts = mesh(rotated)
  assert pts is not None
  found = masking.pose_aware_mask(pts, 256)
  expected = cv2.warpAffine(mask, m, (256, 256), flags=cv2.INTER_NEAREST)
  assert _iou(found, expected) > 0.8


def test_crop_and_mask_do_not_follow_the_mouth(prepared_dir):
  """The crop box and the lip mask depend on the head, not on how far the mouth is open, so a
  generator cannot read the original mouth motion off its input's framing or mask outline."""
  pts = _segments(prepared_dir)[1]["landmarks"][10].astype(np.float64)
  pose = fg.estimate_pose(pts)
  normalized = fg.normalize_pose(pts, *pose)
  shut = fg.closed_jaw(normalized)
  closed, opened = (fg.apply_pose(fg.deform_mouth(normalized, shut + jaw), *pose) for jaw in (0, 0.8))
  assert fg.inner_lip_opening(opened) > 2 * fg.inner_lip_opening(closed) + 0.05
  assert np.ptp(opened[:, 1]) > np.ptp(closed[:, 1]) + 2  # the mesh's extent grows with the jaw
  np.testing.assert_allclose(face_crop.box_from_landmarks(opened), face_crop.box_from_landmarks(closed),
                             atol=1e-6)
  masks = masking.track_masks(np.stack([closed, opened]), [pose, pose], 256)
  np.testing.assert_array_equal(masks[0], masks[1])
  lips = list(fg.LIPS_LOWER_OUTER + fg.LIPS_UPPER_OUTER)
  for mask, mesh in zip(masks, (closed, opened)):
    xy = np.round(mesh[lips, :2]).astype(int)
    assert mask[xy[:, 1], xy[:, 0]].all()
  # A lone frame's mask (no track) closes that frame's own mouth first: the same mask again.
  assert _iou(masking.pose_aware_mask(opened, 256), masks[0]) > 0.97


def test_crop_is_stable(prepared_dir):
  for s in _segments(prepared_dir):
    box = s["box"]
    side = box[:, 2].mean()
    jerk = np.abs(np.diff(box[:, :2], 2, axis=0)).mean()
    assert jerk < 0.004 * side, jerk / side  # smoothed: no frame-to-frame shake
    nose = s["landmarks"][:, fg.NOSE_TIP, :2]
    assert nose.std(0).max() < 0.05 * 256  # the crop follows the head


def _flash_and_click(frames, audio, frame_index, fps_out=25):
  frames = [f.copy() for f in frames]
  frames[frame_index] = np.clip(frames[frame_index].astype(int) + 60, 0, 255).astype(np.uint8)
  audio = audio * 0.05
  t = frame_index / fps_out
  audio[int(t * 16000):int(t * 16000) + 160] = 0.9
  return frames, audio


def _measured_times(segment):
  brightness = [prepare.decode_frame(segment, i).mean() for i in range(segment["meta"]["num_frames"])]
  k = int(np.argmax(brightness)) + segment["meta"]["start_frame"]
  energy = segment["mel"].mean(1)
  m = int(np.argmax(energy)) + 4 * segment["meta"]["start_frame"]
  return k / 25, m / 100


@pytest.mark.parametrize("fps", [25, 30])
def test_audio_and_video_stay_aligned(corpus_dir, tmp_path, fps):
  _, frames, audio = _clip(corpus_dir)
  if fps != 25:  # resample the clip to 30 fps by time, then flash a 30 fps frame
    frames = [frames[min(int(j * 25 / fps), len(frames) - 1)] for j in range(len(frames) * fps // 25)]
  flash = 40
  frames, audio = _flash_and_click(frames, audio, flash, fps)
  src = tmp_path / "in"
  src.mkdir()
  write_raw(str(src / "clip.mp4"), frames, fps, audio[:, None])
  prepare.prepare(str(src), str(tmp_path / "out"), progress=False)
  (segment,) = _segments(str(tmp_path / "out"))
  video_t, audio_t = _measured_times(segment)
  assert abs(video_t - flash / fps) <= 1 / 25 + 1e-6
  assert abs(audio_t - flash / fps) <= 0.02
  assert abs(video_t - audio_t) <= 1 / 25 + 0.01
  # And the mel window handed to the model for that frame is centred on the click.
  k = round(video_t * 25) - segment["meta"]["start_frame"]
  window = audio_lib.mel_window(segment["mel"], k)
  assert 6 <= int(np.argmax(window.mean(1))) <= 11


@pytest.fixture(scope="module")
def bad_videos(corpus_dir, tmp_path_factory):
  """A folder with one good video and every kind of bad or odd one."""
  src = tmp_path_factory.mktemp("bad") / "in"
  src.mkdir()
  path, frames, audio = _clip(corpus_dir)
  frames, audio = frames[:60], audio[:60 * 640]
  shutil.copy(path, src / "good.mp4")
  (src / "corrupt.mp4").write_bytes(os.urandom(20000))
  data = open(path, "rb").read()
  (src / "truncated.mp4").write_bytes(data[:len(data) * 2 // 5])
  noise = [np.random.default_rng(i).integers(0, 255, f.shape, dtype=np.uint8) for i, f in enumerate(frames)]
  write_raw(str(src / "no_face.mp4"), noise, 25, audio[:, None])
  write_raw(str(src / "no_audio.mp4"), frames, 25)
  write_raw(str(src / "silent.mp4"), frames, 25, np.zeros((len(audio), 1)))
  stereo = np.stack([audio[::2], audio[::2]], 1)  # 8 kHz stereo
  write_raw(str(src / "stereo_8khz.mp4"), frames, 25, stereo, 8000)
  write_raw(str(src / "fps30.mp4"), [frames[int(j * 25 / 30)] for j in range(72)], 30, audio[:, None])
  times = np.cumsum([0] + [0.03 if i % 2 else 0.05 for i in range(len(frames) - 1)])
  write_raw(str(src / "vfr.mp4"), frames, 25, audio[:, None], pts=times)
  write_raw(str(src / "short_audio.mp4"), frames, 25, audio[:36 * 640, None])
  return src


@pytest.fixture(scope="module")
def bad_inputs(bad_videos):
  """bad_videos prepared once: (input folder, output folder, stats)."""
  out = bad_videos.parent / "out"
  stats = prepare.prepare(str(bad_videos), str(out), workers=2, progress=False)
  return bad_videos, out, stats


def test_bad_inputs_are_recorded_and_skipped(bad_inputs):
  src, out, stats = bad_inputs
  failures = prepare.load_failures(str(out))
  expected = {"corrupt": "not a readable media file", "truncated": "not a readable media file",
              "no_face": "no face found", "no_audio": "no audio track", "silent": "silent"}
  assert set(failures) == set(expected), failures
  for key, problem in expected.items():
    reason = failures[key]["reason"]
    assert problem in reason and str(src / key) in reason, reason
  done = {os.path.basename(p)[:-5] for p in glob.glob(str(out / "done" / "*.json"))}
  assert done == {"good", "stereo_8khz", "fps30", "vfr", "short_audio"}
  assert stats["failed"] == 5 and stats["done"] == 5


def test_odd_inputs_are_handled(bad_inputs):
  _, out, _ = bad_inputs
  seg = lambda key: prepare.load_segment(str(out / "clips" / f"{key}__000.npz"))  # noqa: E731
  assert seg("fps30")["meta"]["num_frames"] == 60  # 72 frames at 30 fps = 2.4 s = 60 at 25
  assert abs(seg("vfr")["meta"]["num_frames"] - 0.04 * 59 * 25) <= 2
  assert seg("short_audio")["meta"]["num_frames"] == 36  # cut where the audio ends
  stereo = seg("stereo_8khz")
  assert np.abs(stereo["audio"]).max() > 1000  # audible after resampling and downmixing


def test_rerun_skips_everything(bad_inputs):
  src, out, _ = bad_inputs
  stats = prepare.prepare(str(src), str(out), progress=False)
  assert stats["skipped"] == 10 and stats["done"] == 0 and stats["failed"] == 0


def test_cli_reports_bad_arguments(tmp_path):
  r = subprocess.run([sys.executable, "-m", "data_prep.prepare", "--input", str(tmp_path / "nope"),
                      "--output", str(tmp_path / "o")], cwd=REPO, capture_output=True, text=True)
  assert r.returncode != 0 and "not a folder" in r.stderr
  (tmp_path / "empty").mkdir()
  r = subprocess.run([sys.executable, "-m", "data_prep.prepare", "--input", str(tmp_path / "empty"),
                      "--output", str(tmp_path / "o")], cwd=REPO, capture_output=True, text=True)
  assert r.returncode != 0 and "no videos found" in r.stderr


def _worker_pids(pid):
  """The multiprocessing workers that process `pid` started."""
  out = []
  for stat in glob.glob("/proc/[0-9]*/stat"):
    try:
      with open(stat) as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
      with open(stat[:-4] + "cmdline", "rb") as f:
        cmdline = f.read()
    except (OSError, IndexError, ValueError):
      continue
    if ppid == pid and b"--multiprocessing-fork" in cmdline:
      out.append(int(stat.split("/")[2]))
  return out


def _alive(pid):
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
  except OSError:
    return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="finds the workers in /proc")
def test_killed_at_random_points_then_resumed(corpus_dir, prepared_dir, bad_videos, tmp_path):
  """Good and bad videos, two workers, stopped three times at random points (kill -9 of the run, or
  SIGTERM), then run to the end: the output is the uninterrupted run's (prepared_dir), each bad video
  recorded once; nothing lost, twice or half-written; no worker goes on after its run."""
  good = sorted(glob.glob(os.path.join(corpus_dir, "clips", "*.mp4"))) * 2  # twice: room for 3 kills
  bad = [str(bad_videos / f"{k}.mp4") for k in ("corrupt", "no_audio", "no_face", "silent", "truncated")]
  videos = good + bad
  rng = np.random.default_rng(19)
  src = tmp_path / "in"
  src.mkdir()
  source = {}  # key in the mixed folder -> the video it links to
  for i, j in enumerate(rng.permutation(len(videos))):  # a seeded random mix
    path = videos[j]
    key = f"{i:02d}_{os.path.basename(path)[:-4]}"
    source[key] = path
    os.symlink(path, src / f"{key}.mp4")
    if os.path.exists(path[:-4] + ".json"):  # the identity sidecar, as in prepared_dir
      os.symlink(path[:-4] + ".json", src / f"{key}.json")
  out = tmp_path / "out"
  cmd = [sys.executable, "-m", "data_prep.prepare", "--input", str(src), "--output", str(out),
         "--workers", "2"]

  def progress():  # videos finished or recorded as failed
    failed = 0
    if os.path.exists(out / "failures.jsonl"):
      with open(out / "failures.jsonl") as f:
        failed = sum(1 for _ in f)
    return len(glob.glob(str(out / "done" / "*.json"))) + failed

  def written():  # the finished files, temporaries aside
    return sorted(glob.glob(str(out / "clips" / "*")) + glob.glob(str(out / "done" / "*")))

  proc, workers = None, []
  try:
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL):
      target = progress() + int(rng.integers(1, 3))
      proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
      deadline = time.time() + 300
      while progress() < target:
        assert proc.poll() is None and time.time() < deadline, "it ended or stalled before the kill"
        time.sleep(0.02)
      time.sleep(rng.uniform(0, 0.5))  # then anywhere in the next videos
      pids = _worker_pids(proc.pid)
      workers += pids
      assert pids and proc.poll() is None, "the kill should land mid-run"
      proc.send_signal(sig)
      assert proc.wait(timeout=60) == (-sig if sig == signal.SIGKILL else 128 + sig)
      kept = written()
      deadline = time.time() + 5
      while any(map(_alive, pids)) and time.time() < deadline:
        time.sleep(0.05)
      assert not any(map(_alive, pids)), f"a worker outlived its run ({signal.Signals(sig).name})"
      assert written() == kept, "a worker went on writing after its run was killed"
      for marker in glob.glob(str(out / "done" / "*.json")):  # finished videos are whole
        for segment in json.load(open(marker))["segments"]:
          assert os.path.exists(out / segment)
      for p in glob.glob(str(out / "clips" / "*.npz")):  # whatever is there is whole
        prepare.load_segment(p)
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
  finally:  # the processes this test started, if a check above failed
    if proc is not None and proc.poll() is None:
      proc.kill()
      proc.wait()
    for pid in workers:
      if _alive(pid):
        os.kill(pid, signal.SIGKILL)
  assert not glob.glob(str(out / "**" / ".tmp-*"), recursive=True)
  markers = lambda d: {os.path.basename(p)[:-5]: json.load(open(p))  # noqa: E731
                       for p in glob.glob(os.path.join(d, "done", "*.json"))}
  ours, theirs = markers(str(out)), markers(prepared_dir)
  assert sorted(ours) == sorted(k for k, p in source.items() if p not in bad)
  segments = []
  for key, summary in ours.items():
    clean = theirs[os.path.basename(source[key])[:-4]]
    assert (summary["frames"], len(summary["segments"])) == (clean["frames"], len(clean["segments"]))
    for ours_path, clean_path in zip(summary["segments"], clean["segments"]):
      a = prepare.load_segment(str(out / ours_path))
      b = prepare.load_segment(os.path.join(prepared_dir, clean_path))
      np.testing.assert_allclose(a["landmarks"], b["landmarks"], atol=1e-2)
      np.testing.assert_array_equal(a["mel"], b["mel"])
    segments += [os.path.basename(p) for p in summary["segments"]]
  assert sorted(os.listdir(out / "clips")) == sorted(segments)  # nothing else, nothing twice
  with open(out / "failures.jsonl") as f:  # each bad video once, after every restart
    assert sorted(json.loads(line)["key"] for line in f) == sorted(
        k for k, p in source.items() if p in bad)


def test_a_span_without_face_splits_the_clip(corpus_dir, tmp_path):
  lengths = [json.load(open(p))["num_frames"]
             for p in sorted(glob.glob(os.path.join(corpus_dir, "clips", "*.json")))]
  _, frames, audio = _clip(corpus_dir, int(np.argmax(lengths)))  # the longest: at least 90 frames
  assert len(frames) >= 90, len(frames)
  frames = frames[:90]
  gap = range(40, 50)
  frames = [np.full_like(f, 90) if i in gap else f for i, f in enumerate(frames)]
  src = tmp_path / "in"
  src.mkdir()
  write_raw(str(src / "gap.mp4"), frames, 25, audio[:90 * 640, None])
  prepare.prepare(str(src), str(tmp_path / "out"), progress=False)
  segs = _segments(str(tmp_path / "out"))
  assert [(s["meta"]["start_frame"], s["meta"]["num_frames"]) for s in segs] == [(0, 40), (50, 40)]
  # Each segment carries its own stretch of audio (up to the AAC round trip).
  expected = np.clip(audio[50 * 640:52 * 640], -1, 1) * 32767
  got = segs[1]["audio"][:2 * 640].astype(float)
  assert np.corrcoef(got, expected)[0, 1] > 0.99
  assert np.abs(got - expected).max() < 0.01 * 32767


def test_sigint_stops_cleanly_then_resume(corpus_dir, tmp_path, interrupt_cli):
  out = tmp_path / "out"
  cmd = ["-m", "data_prep.prepare", "--input", os.path.join(corpus_dir, "clips"),
         "--output", str(out), "--workers", "2"]
  done = lambda: glob.glob(str(out / "done" / "*.json"))  # noqa: E731
  writing = lambda: glob.glob(str(out / "clips" / ".tmp-*"))  # noqa: E731  (only workers write)
  # Mid-run: a video finished, and preferably a worker writing the next one's segment.
  ready = lambda: len(done()) >= 2 or (done() and writing())  # noqa: E731
  code, err = interrupt_cli(cmd, ready, signal.SIGINT)
  assert code == 128 + signal.SIGINT, err
  finished = done()
  assert 1 <= len(finished) < NUM_CLIPS, "the signal should land mid-run"
  assert err[-1] == (f"prepare: stopped by SIGINT; {len(finished)} finished videos kept in {out}, "
                     "a rerun resumes")
  assert not glob.glob(str(out / "**" / ".tmp-*"), recursive=True)
  for path in finished:  # the finished videos are whole
    for segment in json.load(open(path))["segments"]:
      prepare.load_segment(str(out / segment))
  r = subprocess.run([sys.executable, *cmd], cwd=REPO, capture_output=True, text=True)
  assert r.returncode == 0, r.stderr
  assert f"{len(finished)} already done" in r.stdout, r.stdout
  assert len(done()) == NUM_CLIPS
