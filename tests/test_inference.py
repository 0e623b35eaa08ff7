"""Inference, export, evaluation and provenance on the tiny lip-sync checkpoint."""

import glob
import itertools
import json
import os
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest

from lipsync_jax import audio, backends, inference, input_video, media, metrics, watermark
from lipsync_jax.models import syncnet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env():
  env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
  env["XLA_FLAGS"] = ""  # one device is enough for inference
  return env


def _cli(*args, env=None, **kw):
  return subprocess.run([sys.executable, *args], cwd=REPO, env=env or _env(), capture_output=True,
                        text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def workdir(lipsync_run):
  return lipsync_run[4]


@pytest.fixture(scope="module")
def backend(workdir):
  return backends.checkpoint_backend(workdir, batch_size=4)


@pytest.fixture(scope="module")
def clips(corpus_dir):
  test = sorted(glob.glob(os.path.join(corpus_dir, "clips", "test_*.mp4")))
  train = sorted(glob.glob(os.path.join(corpus_dir, "clips", "train_*.mp4")))
  return {"held_out": test[0], "other": train[0]}


@pytest.fixture(scope="module")
def short_video(clips, tmp_path_factory):
  """The held-out clip's first 10 frames with no face in frames 4-5 (a grey card)."""
  frames = list(itertools.islice(media.iter_frames(clips["held_out"], 25), 10))
  for k in (4, 5):
    frames[k] = np.full_like(frames[k], 128)
  path = str(tmp_path_factory.mktemp("short") / "short.mp4")
  media.write_video(path, frames, 25, crf=10)
  return path


def test_inference_smooths_with_the_weights_of_mals():
  from lipsync_jax.models import mals
  assert inference.MALS_ALPHA == mals.ALPHA


def test_streaming_mel_equals_offline():
  x = np.random.default_rng(0).normal(0, 0.1, 12_345).astype(np.float32)
  offline = audio.log_mel(x)
  for chunk in (37, 640, 100_000):
    s = audio.StreamingMel()
    got = np.concatenate([s.push(x[i:i + chunk]) for i in range(0, len(x), chunk)] + [s.finish()])
    np.testing.assert_allclose(got, offline, atol=1e-5)


def test_mals_blocks_equal_the_offline_latents(workdir, backend):
  from lipsync_jax import export
  from lipsync_jax.models import stylelipsync
  config, variables, _ = export.load_checkpoint(workdir)
  m = config["model"]
  model = stylelipsync.from_config(m)
  rng = np.random.default_rng(1)
  ref = rng.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
  mels = rng.normal(-3, 1, (1, 11, 20, 80)).astype(np.float32)
  w_ref = model.apply(variables, ref, method=model.encode_reference)
  offline = model.apply(variables, w_ref, model.apply(variables, mels, method=model.encode_audio),
                        method=model.latents)[0]
  w = backend.audio_w(np.asarray(w_ref), mels[0])
  padded = np.concatenate([w[:1], w, w[-1:]])
  avg = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
  for block in (1, 3, 11):
    hist = np.zeros((2,) + w.shape[1:], np.float32)
    a_hist, h_hist, codes = hist, hist, []
    for i in range(0, 11, block):
      c, a_hist, h_hist = backend.mals(np.asarray(w_ref), a_hist, h_hist, avg[i:i + block], i == 0)
      codes.append(c)
    np.testing.assert_allclose(np.concatenate(codes), offline, atol=1e-5)


def _stream_frames(backend, video, samples, chunk, options):
  stream = inference.LipSyncStream(backend, input_video.VideoFrames(video, 25), options)
  frames, released = [], []
  for i in range(0, len(samples), chunk):
    frames += stream.push(samples[i:i + chunk])
    released.append((min(i + chunk, len(samples)), len(frames)))
  frames += stream.finish()
  stream.close()
  return frames, released, stream


def test_stream_equals_offline_with_one_frame_lookahead(backend, short_video, clips):
  samples = inference.read_driving_audio(clips["other"])[:16_000]  # 1 s: 25 frames, video loops
  options = inference.Options(batch_size=4)
  offline, _, _ = _stream_frames(backend, short_video, samples, len(samples), options)
  streamed, released, stream = _stream_frames(backend, short_video, samples, 640, options)
  assert len(offline) == len(streamed) == 25
  for a, b in zip(offline, streamed):
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
  # Frame t needs audio to the end of its window (mel row 4t+11: sample 640t+2016) plus one frame
  # for MaLS: released exactly when 640(t+1)+2016 samples are in, no later.
  for n, count in released[:-1]:
    assert count == max(0, (n - 2656) // 640 + 1), (n, count)
  assert stream.faces_found == sum(k not in (4, 5) for k in input_video.pingpong(10, 25))


def test_video_loops_backward_in_blocks_of_bounded_bytes(short_video):
  source = list(media.iter_frames(short_video, 25))
  for frames_per_block in (1, 3, 64):  # block_bytes of 1 frame, 3 frames, and more than the video
    video = input_video.VideoFrames(short_video, 25, block_bytes=frames_per_block * source[0].nbytes)
    looped = list(itertools.islice(video, 40))
    for t, k in enumerate(input_video.pingpong(10, 40)):
      np.testing.assert_array_equal(looped[t], source[k])


def test_faceless_frames_pass_through_and_video_loops(backend, short_video, clips):
  samples = inference.read_driving_audio(clips["other"])[:16_000]
  options = inference.Options(batch_size=4, visible_mark=False)
  frames, _, _ = _stream_frames(backend, short_video, samples, len(samples), options)
  source = list(media.iter_frames(short_video, 25))
  order = list(input_video.pingpong(10, 25))
  assert order[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 8, 7] and order[17:19] == [1, 0]
  for t, k in enumerate(order):
    expected = watermark.mark(source[k], visible_mark=False)
    if k in (4, 5):  # no face: unchanged but for the invisible mark
      np.testing.assert_array_equal(frames[t], expected)
    else:  # lip-synced: the top rows (far from the mouth) are the input's
      np.testing.assert_array_equal(frames[t][:40], expected[:40])


def test_infer_cli_checkpoint_and_exported(workdir, clips, tmp_path):
  out, cache = tmp_path / "ckpt.mp4", tmp_path / "xla_cache"
  # Its own compilation cache (not the test session's): the model's functions are kept there.
  env = {k: v for k, v in _env().items() if k != "JAX_COMPILATION_CACHE_DIR"}
  env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  r = _cli("-m", "lipsync_jax.infer", "--checkpoint", workdir, "--video", clips["held_out"],
           "--audio", clips["other"], "--output", str(out), "--quiet", "--batch_size", "4",
           "--compilation_cache_dir", str(cache), env=env)
  assert r.returncode == 0, r.stderr
  kept = {p.name.split("-")[0] for p in cache.iterdir()}
  assert {"jit_encode_reference", "jit_audio_w", "jit_decode"} <= kept, kept
  info = media.probe(str(out))
  n_audio = len(media.read_audio(clips["other"], 16_000))
  assert info["has_audio"] and info["frames"] == round(n_audio / 640)
  assert "synthetic" in info["metadata"]["comment"]
  assert watermark.detect(str(out))["watermarked"]

  artifact = tmp_path / "model.lsj"
  r = _cli("-m", "lipsync_jax.export", "--checkpoint", workdir, "--output", str(artifact))
  assert r.returncode == 0, r.stderr
  # The exported path runs without the model or training code.
  out2 = tmp_path / "exported.mp4"
  code = ("import sys, runpy; sys.argv = sys.argv[1:]; "
          "runpy.run_module('lipsync_jax.infer', run_name='__main__')")
  probe = ("import sys, atexit; atexit.register(lambda: print('LOADED', "
           "sorted(m for m in sys.modules if m.startswith(('flax', 'optax', 'lipsync_jax.models', "
           "'lipsync_jax.training')))))")
  r = _cli("-c", probe + "; " + code, "infer", "--exported", str(artifact), "--video",
           clips["held_out"], "--audio", clips["other"], "--output", str(out2), "--quiet",
           "--batch_size", "4")
  assert r.returncode == 0, r.stderr
  assert "LOADED []" in r.stdout, r.stdout
  assert not r.stderr.strip(), r.stderr  # quiet: no MediaPipe or TFLite start-up messages
  a = np.stack(list(media.iter_frames(str(out), 25)))
  b = np.stack(list(media.iter_frames(str(out2), 25)))
  assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1


def _temporaries(folder):
  return glob.glob(os.path.join(folder, ".tmp-*"))


def test_infer_stops_cleanly_on_sigterm(workdir, clips, tmp_path, interrupt_cli):
  out = tmp_path / "out.mp4"
  speech = inference.read_driving_audio(clips["other"])[:16_000]  # 1 s, then stdin stays open
  pcm = (np.clip(speech, -1, 1) * 32767).astype("<i2").tobytes()
  code, err = interrupt_cli(
      ["-m", "lipsync_jax.infer", "--checkpoint", workdir, "--video", clips["held_out"], "--audio",
       "-", "--output", str(out), "--quiet", "--batch_size", "4"],
      lambda: _temporaries(tmp_path), stdin=pcm, env=_env())
  assert code == 128 + signal.SIGTERM, err
  assert err[-1] == f"infer: stopped by SIGTERM; nothing written to {out}"
  assert not _temporaries(tmp_path) and not out.exists()


def test_export_stops_cleanly_on_sigterm(workdir, tmp_path, interrupt_cli):
  artifact = tmp_path / "model.lsj"
  code, err = interrupt_cli(
      ["-m", "lipsync_jax.export", "--checkpoint", workdir, "--output", str(artifact)],
      lambda: _temporaries(tmp_path), env=_env())
  assert code == 128 + signal.SIGTERM, err
  assert err[-1] == f"export: stopped by SIGTERM; nothing written to {artifact}"
  assert not _temporaries(tmp_path) and not artifact.exists()


def test_evaluate_stops_cleanly_on_sigterm(workdir, tfds_dir, tmp_path, interrupt_cli):
  strip = tmp_path / "mouths.png"  # written after the first clip's own-audio pass, of 4 clips
  code, err = interrupt_cli(
      ["-m", "lipsync_jax.evaluate", "--checkpoint", workdir, "--data_dir", tfds_dir, "--split",
       "train", "--num_clips", "4", "--max_frames", "12", "--output_dir", str(tmp_path),
       "--quiet"], strip.exists, env=_env())
  assert code == 128 + signal.SIGTERM, err
  assert err[-1] == (f"evaluate: stopped by SIGTERM; kept {strip}; nothing written to "
                     f"{tmp_path / 'report.json'}, {tmp_path / 'report.md'}")
  assert not _temporaries(tmp_path) and not (tmp_path / "report.json").exists()


def test_still_image_and_short_audio_trims(backend, clips, tmp_path):
  frame = next(media.iter_frames(clips["held_out"], 25))
  still = str(tmp_path / "face.png")
  cv2.imwrite(still, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  samples = inference.read_driving_audio(clips["other"])[:8_000]  # 0.5 s
  result = inference.run(backend, still, iter([samples]), str(tmp_path / "still.mp4"),
                         inference.Options(batch_size=4), progress=False)
  assert result["frames"] == result["faces"] == 12 or result["frames"] == result["faces"] == 13
  result = inference.run(backend, clips["held_out"], iter([samples]), str(tmp_path / "trim.mp4"),
                         inference.Options(batch_size=4), progress=False)
  assert result["frames"] == round(8_000 / 640)
  assert media.probe(str(tmp_path / "trim.mp4"))["duration"] < 1.0


def test_bad_inputs_fail_clearly(workdir, clips, tmp_path):
  blank = str(tmp_path / "blank.png")
  cv2.imwrite(blank, np.full((200, 200, 3), 90, np.uint8))
  silent_video = str(tmp_path / "novoice.mp4")
  media.write_video(silent_video, list(itertools.islice(media.iter_frames(clips["other"], 25), 5)))
  corrupt = str(tmp_path / "corrupt.mp4")
  with open(corrupt, "wb") as f:
    f.write(b"\x00not a video" * 100)
  cases = [
      (["--checkpoint", workdir, "--video", blank, "--audio", clips["other"]], "no face found"),
      (["--checkpoint", workdir, "--video", clips["held_out"], "--audio", silent_video],
       "no audio"),
      (["--checkpoint", workdir, "--video", corrupt, "--audio", clips["other"]], "corrupt.mp4"),
      (["--exported", corrupt, "--video", clips["held_out"], "--audio", clips["other"]],
       "not a lipsync_jax exported model"),
  ]
  for args, message in cases:
    out = tmp_path / "out.mp4"
    r = _cli("-m", "lipsync_jax.infer", *args, "--output", str(out), "--quiet")
    assert r.returncode == 2, (args, r.stderr)
    assert message in r.stderr, (message, r.stderr)
    assert not out.exists() and not glob.glob(str(tmp_path / ".tmp-*"))


def test_watermark_survives_crf28_and_half_scale(clips, tmp_path):
  frames = list(itertools.islice(media.iter_frames(clips["held_out"], 25), 30))
  for marked in (False, True):
    path = str(tmp_path / f"v{marked}.mp4")
    media.write_video(path, [watermark.mark(f) if marked else f for f in frames], 25,
                      metadata=watermark.METADATA if marked else None)
    degraded = str(tmp_path / f"d{marked}.mp4")
    half = [cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2), interpolation=cv2.INTER_AREA)
            for f in media.iter_frames(path, 25)]
    media.write_video(degraded, half, 25, crf=28)
    result = watermark.detect(degraded)
    assert result["watermarked"] == marked, result["score"]
  r = _cli("-m", "lipsync_jax.watermark", "detect", str(tmp_path / "dTrue.mp4"))
  assert r.returncode == 0 and '"watermarked": true' in r.stdout
  r = _cli("-m", "lipsync_jax.watermark", "detect", str(tmp_path / "dFalse.mp4"))
  assert r.returncode == 1


def test_evaluate_reports_the_six_metrics(workdir, tfds_dir, tmp_path):
  from lipsync_jax import input_pipeline
  first = input_pipeline.open_split("synthetic_talking_faces", tfds_dir, "train")[0]["clip_id"]
  first = first.decode() if isinstance(first, bytes) else str(first)
  r = _cli("-m", "lipsync_jax.evaluate", "--checkpoint", workdir, "--syncnet", workdir,
           "--data_dir", tfds_dir, "--split", "train", "--num_clips", "2", "--max_frames", "12",
           "--output_dir", str(tmp_path), "--quiet", "--exclude", first, "--csim_every", "5")
  assert r.returncode == 0, r.stderr
  report = json.loads((tmp_path / "report.json").read_text())
  assert report["csim_every"] == 5 and "on one generated frame in 5" in r.stdout
  assert len(report["clips"]) == 2 and first not in {row["clip"] for row in report["clips"]}
  s = report["summary"]
  for key in ("psnr", "ssim", "lse_d", "lse_c", "csim"):
    assert np.isfinite(s[key]), key
  # LMD needs MediaPipe to find the mouth in generated frames, which a one-step model's are not.
  frames = sum(row["lmd_frames"] for row in report["clips"])
  assert np.isfinite(s["lmd"]) == (frames > 0)
  assert 0 < s["ssim"] <= 1 and 0 <= s["lse_d"] <= 2 and s["lse_c"] >= 0 and -1 <= s["csim"] <= 1
  assert "| PSNR" in (tmp_path / "report.md").read_text()
  # The corpus's rendered mesh is the ground truth (its sidecars sit beside the source videos).
  assert report["ground_truth"] == "rendered"
  assert 0 <= s["sync_window_accuracy"] <= 1 and 0 <= s["sync_clip_accuracy"] <= 1
  assert s["mouth_std_ratio"] >= 0 and -4 <= s["mouth_lag"] <= 4
  assert 0 <= s["readable_own_clips"] <= 2 and "the clips the instrument reads" in r.stdout


def test_readable_summary_leaves_out_what_the_instrument_cannot_read():
  from lipsync_jax import evaluate
  row = lambda clip, driver, own, cross, gt: {  # noqa: E731
      "clip": clip, "driver": driver, "mouth_corr_own": own, "mouth_corr_cross": cross,
      "mouth_corr_gt_mesh": gt}
  rows = [row("a", "b", 0.9, 0.2, 0.95), row("b", "c", 0.3, 0.8, 0.5), row("c", "a", 0.7, 0.6, 0.9)]
  s = evaluate.readable_summary(rows)
  # b's own r is left out (its real frames read 0.5); so is a's other r, whose truth is b's.
  assert (s["readable_own_clips"], s["readable_cross_clips"]) == (2, 2)
  assert np.isclose(s["mouth_corr_own_readable"], 0.8)
  assert np.isclose(s["mouth_corr_cross_readable"], 0.7)
  none = evaluate.readable_summary(rows, threshold=0.99)
  assert none["readable_own_clips"] == 0 and np.isnan(none["mouth_corr_own_readable"])


def test_metric_definitions(clips):
  rng = np.random.default_rng(0)
  v = rng.normal(size=(40, 8))
  v /= np.linalg.norm(v, axis=-1, keepdims=True)
  a = np.roll(v, 3, axis=0)  # audio embedding of frame t+3 matches video frame t... shifted
  d, c, offset = metrics.lse(v, a)
  assert offset == 3 and d < 1e-9 and c > 0.5
  assert syncnet.sync_discrimination(v, v) == (1.0, 1.0)
  window, clip = syncnet.sync_discrimination(v, a)  # the 3-frame shift beats "aligned"
  assert window < 1 and clip < 1
  u = rng.normal(size=(40, 8))
  window, clip = syncnet.sync_discrimination(v, u / np.linalg.norm(u, axis=-1, keepdims=True))
  assert 0.4 < window < 0.6
  img = next(media.iter_frames(clips["held_out"], 25))
  assert metrics.psnr(img, img) == float("inf") and metrics.ssim(img, img) == 1.0
  mesh = metrics.landmarks(metrics.Landmarks(), [img, np.zeros_like(img)])
  assert mesh[1] is None  # no face
  assert metrics.lip_distance(mesh, mesh) == (0.0, 1)
  opening = metrics.mouth_openings(mesh)
  assert opening[0] > 0 and np.isnan(opening[1])
  noisy = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
  assert 20 < metrics.psnr(noisy, img) < 25
  track = np.sin(np.arange(60) / 3.0)
  trailing = np.roll(track, 2)  # the generated mouth two frames late
  trailing[5] = np.nan  # a frame without a mesh
  assert metrics.best_lag(trailing, track) == 2 and metrics.best_lag(track, track) == 0
