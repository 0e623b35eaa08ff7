"""The input video as the output needs it: output frame t -> the input frame it shows, the video
looped forward and backward past its end, or a still image for every frame; decoded as a stream."""

import itertools
import os
from collections.abc import Iterator

import cv2
import numpy as np

from lipsync_jax import media


def pingpong(n: int, count: int | None = None) -> Iterator[int]:
  """Source frame indices 0..n-1, n-2..1, 0..n-1, ... (no frame repeated at a turn)."""
  period = max(1, 2 * n - 2)
  for t in (range(count) if count is not None else itertools.count()):
    k = t % period
    yield k if k < n else period - k


class VideoFrames:
  """Output frame t -> the input frame it shows: the video by timestamp at `fps`, looped forward
  and backward past its end; a still image for every t. Decoding is streamed: a backward pass
  re-decodes the video in blocks of at most `block_bytes` (and 64 frames), so memory holds one
  block whatever the frame size (20 frames of 3840x2160, 64 of 1080p)."""

  def __init__(self, path: str, fps: float, block_bytes: int = 512 * 2**20):
    self.path, self.fps, self.block_bytes = path, fps, block_bytes
    self.still = os.path.splitext(path)[1].lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp")
    if self.still:
      if not os.path.exists(path):
        raise media.MediaError(path, "no such file")
      bgr = cv2.imread(path, cv2.IMREAD_COLOR)
      if bgr is None:
        raise media.MediaError(path, "not a readable image")
      self.image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
      self.num_frames = 1
    else:
      info = media.probe(path)
      if not info["has_video"]:
        raise media.MediaError(path, "no video stream")
      self.num_frames = None  # known after the first pass

  def frame(self, index: int) -> np.ndarray:
    """One input frame by index (for the reference)."""
    if self.still:
      return self.image
    for k, f in enumerate(media.iter_frames(self.path, self.fps)):
      if k == index:
        return f
    raise media.MediaError(self.path, f"has no frame {index} at {self.fps:g} fps")

  def __iter__(self) -> Iterator[np.ndarray]:
    if self.still:
      while True:
        yield self.image
    n = 0
    for f in media.iter_frames(self.path, self.fps):
      n += 1
      yield f
    if n == 0:
      raise media.MediaError(self.path, "no video frames decoded")
    self.num_frames = n
    if n == 1:
      while True:
        yield f
    block = int(np.clip(self.block_bytes // f.nbytes, 1, 64))
    while True:
      # backward n-2..1 in blocks, then forward 0..n-1 again
      for hi in range(n - 1, 1, -block):
        lo = max(1, hi - block)
        chunk = list(itertools.islice(media.iter_frames(self.path, self.fps), lo, hi))
        yield from reversed(chunk)
      yield from media.iter_frames(self.path, self.fps)
