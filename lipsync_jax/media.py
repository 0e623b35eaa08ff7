"""Video and audio in and out with PyAV: streamed decode at a fixed frame rate, atomic mp4 writing.

Every failure becomes a MediaError naming the file and the problem, so batch jobs can record it
and move on, and command-line tools can print it and exit non-zero.
"""

import contextlib
import fractions
import os
from collections.abc import Iterable, Iterator

import av
import numpy as np

from lipsync_jax.fileio import atomic_path  # noqa: F401  (part of this module's interface)

# Decoding a video whose frames would not fit in memory is fine (we stream); this only guards
# against absurd declared sizes from broken headers.
MAX_PIXELS = 8192 * 8192


class MediaError(Exception):
  """A media file that cannot be used, with the file and the reason in the message."""

  def __init__(self, path: str, problem: str):
    super().__init__(f"{path}: {problem}")
    self.path = path
    self.problem = problem


@contextlib.contextmanager
def _open(path: str):
  if not os.path.exists(path):
    raise MediaError(path, "no such file")
  if os.path.getsize(path) == 0:
    raise MediaError(path, "empty file")
  try:
    container = av.open(path)
  except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
    raise MediaError(path, f"not a readable media file ({e})") from e
  try:
    yield container
  finally:
    container.close()


def probe(path: str) -> dict:
  """Streams and basic facts of a media file."""
  with _open(path) as c:
    info = {"has_video": bool(c.streams.video), "has_audio": bool(c.streams.audio),
            "duration": c.duration / av.time_base if c.duration else None,
            "metadata": dict(c.metadata)}
    if c.streams.video:
      v = c.streams.video[0]
      rate = v.average_rate or v.guessed_rate
      info.update(width=v.codec_context.width, height=v.codec_context.height,
                  fps=float(rate) if rate else None, frames=v.frames or None)
    if c.streams.audio:
      a = c.streams.audio[0]
      info.update(sample_rate=a.codec_context.sample_rate, channels=a.codec_context.channels)
  return info


def _frame_time(frame, stream) -> float | None:
  if frame.pts is None:
    return None
  return float(frame.pts * stream.time_base)


def iter_frames(path: str, fps: float = 25.0) -> Iterator[np.ndarray]:
  """Yields RGB uint8 frames resampled to `fps` by timestamp (sample and hold), streamed.

  Output frame k shows the source frame on screen at time k / fps, measured from the first
  frame's timestamp, so constant, variable and odd frame rates all map onto the same clock as the
  audio returned by read_audio.
  """
  with _open(path) as c:
    if not c.streams.video:
      raise MediaError(path, "no video stream")
    stream = c.streams.video[0]
    stream.thread_type = "AUTO"
    w, h = stream.codec_context.width, stream.codec_context.height
    if w * h > MAX_PIXELS:
      raise MediaError(path, f"video of {w}x{h} pixels is larger than supported")
    start, prev, prev_t, k = None, None, None, 0
    try:
      for frame in c.decode(stream):
        t = _frame_time(frame, stream)
        if t is None:  # no timestamps: trust the nominal rate
          t = (prev_t + 1.0 / float(stream.average_rate or fps)) if prev_t is not None else 0.0
        if start is None:
          start = t
        t -= start
        if prev is not None:
          while k / fps < t - 1e-6:  # frames whose time falls before this one show the previous
            yield prev
            k += 1
        prev, prev_t = frame.to_ndarray(format="rgb24"), t + start
      if prev is not None:  # the last frame holds for one source frame period
        rate = float(stream.average_rate) if stream.average_rate else fps
        end = prev_t - start + 1.0 / rate
        while k / fps < end - 1e-6:
          yield prev
          k += 1
    except av.error.FFmpegError as e:
      raise MediaError(path, f"video decoding failed after {k} frames ({e})") from e
    if prev is None:
      raise MediaError(path, "video stream has no decodable frames")


def video_start_time(path: str) -> float:
  """Timestamp of the first video frame (what iter_frames calls time zero)."""
  with _open(path) as c:
    if not c.streams.video:
      raise MediaError(path, "no video stream")
    stream = c.streams.video[0]
    try:
      for frame in c.decode(stream):
        t = _frame_time(frame, stream)
        return 0.0 if t is None else t
    except av.error.FFmpegError as e:
      raise MediaError(path, f"video decoding failed ({e})") from e
  raise MediaError(path, "video stream has no decodable frames")


def read_audio(path: str, sample_rate: int = 16_000, start_time: float | None = None) -> np.ndarray:
  """Whole audio track as float32 mono at `sample_rate`, any input rate and channel layout.

  With `start_time`, the result is shifted so that sample 0 is at that timestamp (zero-padded if
  the audio starts later), which aligns it with frames from iter_frames.
  """
  with _open(path) as c:
    if not c.streams.audio:
      raise MediaError(path, "no audio track")
    stream = c.streams.audio[0]
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    chunks, first_t = [], None
    try:
      for frame in c.decode(stream):
        if first_t is None and frame.pts is not None:
          first_t = float(frame.pts * stream.time_base)
        for out in resampler.resample(frame):
          chunks.append(out.to_ndarray().reshape(-1))
      for out in resampler.resample(None):
        chunks.append(out.to_ndarray().reshape(-1))
    except av.error.FFmpegError as e:
      if not chunks:
        raise MediaError(path, f"audio decoding failed ({e})") from e
      # A truncated file: keep what decoded; the caller checks the length against the video.
  audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
  if not audio.size:
    raise MediaError(path, "audio track has no decodable samples")
  if start_time is not None and first_t is not None:
    offset = int(round((first_t - start_time) * sample_rate))
    audio = np.pad(audio, (offset, 0)) if offset > 0 else audio[-offset:]
  return audio


def write_video(path: str, frames: Iterable[np.ndarray], fps: float = 25.0,
                audio: np.ndarray | None = None, sample_rate: int = 16_000, crf: int = 18,
                metadata: dict | None = None, audio_bitrate: int = 96_000) -> int:
  """Writes RGB frames (and mono float audio) as H.264 + AAC mp4, atomically. Returns frame count.

  `audio` may also be a function returning it, called after the last frame (for streams whose
  audio is only complete then); the audio is encoded after the video.
  """
  rate = fractions.Fraction(fps).limit_denominator(1001)
  count = 0
  with atomic_path(path) as tmp:
    with av.open(tmp, mode="w", format="mp4") as out:
      for key, value in (metadata or {}).items():
        out.metadata[key] = str(value)
      vstream = None
      astream = None
      if audio is not None:
        astream = out.add_stream("aac", rate=sample_rate)
        astream.layout = "mono"
        astream.bit_rate = audio_bitrate
      for frame in frames:
        if vstream is None:
          h, w = frame.shape[:2]
          vstream = out.add_stream("libx264", rate=rate)
          vstream.width, vstream.height = w - w % 2, h - h % 2
          vstream.pix_fmt = "yuv420p"
          vstream.options = {"crf": str(crf), "preset": "veryfast"}
        frame = np.ascontiguousarray(frame[:vstream.height, :vstream.width])
        for packet in vstream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
          out.mux(packet)
        count += 1
      if vstream is None:
        raise ValueError(f"{path}: no frames to write")
      for packet in vstream.encode():
        out.mux(packet)
      if astream is not None:
        samples = audio() if callable(audio) else audio
        _encode_audio(out, astream, np.asarray(samples, np.float32), sample_rate)
  return count


def _encode_audio(out, stream, audio: np.ndarray, sample_rate: int):
  chunk = 1024 * 16
  pts = 0
  for i in range(0, max(len(audio), 1), chunk):
    piece = np.clip(audio[i:i + chunk], -1, 1).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(piece), format="fltp", layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = pts
    pts += piece.shape[1]
    for packet in stream.encode(frame):
      out.mux(packet)
  for packet in stream.encode(None):
    out.mux(packet)
