import os

import numpy as np
import pytest

from lipsync_jax import media
from tests.media_helpers import write_raw


def _frames(n, size=64):
  return [np.full((size, size, 3), (i * 7) % 256, np.uint8) for i in range(n)]


def test_write_read_roundtrip(tmp_path):
  path = str(tmp_path / "a.mp4")
  audio = np.sin(np.linspace(0, 2000, 16000 * 2)).astype(np.float32) * 0.3
  assert media.write_video(path, _frames(50), 25, audio, 16000, metadata={"comment": "x"}) == 50
  info = media.probe(path)
  assert info["has_audio"] and info["fps"] == 25 and (info["width"], info["height"]) == (64, 64)
  frames = list(media.iter_frames(path, 25))
  assert len(frames) == 50
  back = media.read_audio(path, 16000, start_time=media.video_start_time(path))
  assert abs(len(back) - len(audio)) < 1600  # AAC priming/padding, well under a frame... of audio
  assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]


def test_thirty_fps_resampled_to_twenty_five(tmp_path):
  path = str(tmp_path / "b.mp4")
  write_raw(path, _frames(60), fps=30)  # 2 s
  frames = list(media.iter_frames(path, 25))
  assert len(frames) == 50
  # Output frame k shows the source frame on screen at k/25 s: floor(k * 30 / 25).
  for k in (0, 10, 25, 49):
    src = int(np.floor(k * 30 / 25 + 1e-9))
    assert abs(int(frames[k][0, 0, 0]) - (src * 7) % 256) <= 3


def test_variable_frame_rate(tmp_path):
  path = str(tmp_path / "vfr.mp4")
  times = np.cumsum([0] + [0.02 if i % 3 else 0.07 for i in range(59)])  # irregular gaps
  write_raw(path, _frames(60), fps=25, pts=times)
  frames = list(media.iter_frames(path, 25))
  duration = times[-1] + 0.07
  assert abs(len(frames) - duration * 25) <= 2
  k = 30  # at 1.2 s: the source frame with the latest time <= 1.2
  src = int(np.searchsorted(times, k / 25, side="right") - 1)
  assert abs(int(frames[k][0, 0, 0]) - (src * 7) % 256) <= 3


def test_stereo_8khz_audio_becomes_16khz_mono(tmp_path):
  path = str(tmp_path / "c.mp4")
  t = np.arange(8000 * 2) / 8000
  left = 0.5 * np.sin(2 * np.pi * 440 * t)
  write_raw(path, _frames(50), 25, np.stack([left, left], 1), 8000)
  audio = media.read_audio(path, 16000)
  assert abs(len(audio) - 32000) < 2000
  assert 0.3 < np.abs(audio).max() < 0.9  # downmix of two equal 0.5 channels
  spectrum = np.abs(np.fft.rfft(audio[4000:20000]))
  assert abs(spectrum.argmax() * 16000 / 16000 - 440) < 3  # 16000-sample window: 1 Hz bins


@pytest.mark.parametrize("content,problem", [
    (b"", "empty file"),
    (b"\x00not a video at all" * 100, "not a readable media file"),
])
def test_unreadable_files_name_file_and_problem(tmp_path, content, problem):
  path = str(tmp_path / "bad.mp4")
  with open(path, "wb") as f:
    f.write(content)
  with pytest.raises(media.MediaError) as e:
    list(media.iter_frames(path))
  assert path in str(e.value) and problem in str(e.value)


def test_missing_audio_track(tmp_path):
  path = str(tmp_path / "silent.mp4")
  media.write_video(path, _frames(10), 25)
  with pytest.raises(media.MediaError, match="no audio track"):
    media.read_audio(path)


def test_missing_file():
  with pytest.raises(media.MediaError, match="no such file"):
    media.probe("/nonexistent/x.mp4")
