"""Lip-sync inference: a video (or a still) and speech in, the face's mouth driven by the speech out.

The pieces, per output frame t (at `fps`, 25 by default, the rate the models are trained at):
  - input frame: the video's frame t, resampled by timestamp; audio longer than the video plays the
    video forward, then backward, and so on; shorter audio trims it. A still image is every frame.
  - face: the MediaPipe mesh, tracked; the crop box (the training framing, lipsync_jax.face_crop)
    averaged over +-`smooth_radius` frames of the same run of detections; the pose-aware lip mask
    (or the lower-half rectangle) at 256, reduced to the model's resolution as in training.
  - audio: the 0.2 s log-mel window centred on the frame, from a streaming mel equal to the offline
    one (audio.StreamingMel).
  - model: w_ref from the reference crop (the first frame with a face, as in the paper, or
    `reference_frame`); w_t = w_ref + E_aud(A_t); MaLS over the whole sequence, run as a stream in
    blocks (one frame of look-ahead); the decoder with SaMF on the masked crop.
  - paste-back: the generated crop, resized to 256 and warped into the frame, blended through the
    lip mask feathered by a Gaussian (no box edge ever shows); frames without a face pass through.
  - provenance: the invisible watermark, the visible label (unless disabled) and container metadata
    (lipsync_jax.watermark) on every output frame.

`LipSyncStream` is the whole pipeline as a stream: push audio chunks, get finished frames back as
soon as the audio they depend on (their window plus MaLS's one frame) has arrived. `run` drives it
over files with bounded memory (frames are decoded, processed and encoded as they go).

The model is a `Backend`: the four functions of lipsync_jax.export, from a checkpoint (jitted) or
from an exported artifact (deserialized StableHLO; no model code imported).
"""

import dataclasses
import io
import itertools
import json
import os
import zipfile
from collections.abc import Iterator

import cv2
import jax
import numpy as np

from lipsync_jax import audio as audio_lib
from lipsync_jax import face_crop, input_pipeline, masking, media, watermark
from lipsync_jax import face_geometry as fg

CROP_SIZE = 256  # the prepared crops' size: masks and the paste-back live at this size
# MaLS's moving average (eq. 4), done here between the exported audio and MaLS functions: the
# weights of models/mals.py's ALPHA, restated because the exported path imports no model code
# (tests/test_inference.py checks that the two agree).
MALS_ALPHA = (0.25, 0.5, 0.25)


@dataclasses.dataclass(frozen=True)
class Options:
  batch_size: int = 8  # frames per model call
  fps: float = 25.0
  pads: tuple = (0, 0, 0, 0)  # top, bottom, left, right pixels added to the face box
  mask: str = "pose"  # pose | rect
  reference_frame: int | None = None  # input frame index; None: the first frame with a face
  smooth_radius: int = 3  # crop box averaged over +-this many frames
  feather: float = 0.025  # blend edge Gaussian sigma, as a fraction of the crop side
  visible_mark: bool = True
  min_face_px: int = 32


# --------------------------------------------------------------------------------------------
# The model as four functions.


class Backend:
  """Runs the four model functions (lipsync_jax.export) on numpy inputs.

  fns: name -> fn(variables, *inputs); variables: the weights pytree; meta: resolution, num_ws...
  Batches are padded to `batch_size` so each function compiles once.
  """

  def __init__(self, fns: dict, variables, meta: dict, batch_size: int = 8):
    self.meta = meta
    self.resolution = int(meta["resolution"])
    self.num_ws, self.w_dim = int(meta["num_ws"]), int(meta["w_dim"])
    self.batch_size = batch_size
    self.variables = jax.device_put(variables)
    self._fns = {name: jax.jit(fn) for name, fn in fns.items()}

  def _call(self, name, *args):
    return self._fns[name](self.variables, *args)

  def _batched(self, name, fixed: tuple, *batched):
    """fn(*fixed, *batched) over rows of the batched inputs, in chunks padded to batch_size."""
    outs = []
    for i in range(0, len(batched[0]), self.batch_size):
      chunks = [x[i:i + self.batch_size] for x in batched]
      k = len(chunks[0])
      chunks = [np.concatenate([c, np.zeros((self.batch_size - k,) + c.shape[1:], c.dtype)])
                for c in chunks]
      outs.append(np.asarray(self._call(name, *fixed, *chunks))[:k])
    return np.concatenate(outs)

  def encode_reference(self, reference: np.ndarray) -> np.ndarray:
    return np.asarray(self._call("encode_reference", reference[None].astype(np.float32)))

  def audio_w(self, w_ref: np.ndarray, mels: np.ndarray) -> np.ndarray:
    return self._batched("audio_w", (w_ref,), mels.astype(np.float32))

  def mals(self, w_ref, avg_history, h_history, avg, first: bool):
    """MaLS over a block of frames of a stream: returns (codes, avg_history, h_history), the
    histories updated for the next block. Blocks are padded at the end: the convolutions are
    causal, so padding never reaches the real frames."""
    codes = []
    for i in range(0, len(avg), self.batch_size):
      block = avg[i:i + self.batch_size]
      k = len(block)
      padded = np.concatenate([block, np.repeat(block[-1:], self.batch_size - k, axis=0)])
      c, h = self._call("mals", w_ref, avg_history, h_history, padded, np.bool_(first))
      c, h = np.asarray(c)[:k], np.asarray(h)[:k]
      if first:  # the sequence's first frame stands in for the frames before it
        avg_history, h_history, first = np.repeat(block[:1], 2, 0), np.repeat(h[:1], 2, 0), False
      avg_history = np.concatenate([avg_history, block])[-2:]
      h_history = np.concatenate([h_history, h])[-2:]
      codes.append(c)
    return np.concatenate(codes), avg_history, h_history

  def decode(self, masked: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """masked (B, R, R, 3) float [-1, 1], codes (B, L, D) -> (B, R, R, 3) float [-1, 1]."""
    return self._batched("decode", (), masked.astype(np.float32), codes.astype(np.float32))


def checkpoint_backend(workdir: str, batch_size: int = 8) -> Backend:
  """A lipsync/adaptation run's latest checkpoint (needs the model code)."""
  from lipsync_jax import export
  config, variables, step = export.load_checkpoint(workdir)
  meta = export.metadata_for(config, workdir, step)
  return Backend(export.build_functions(config), variables, meta, batch_size)


def exported_backend(path: str, batch_size: int = 8) -> Backend:
  """An artifact of lipsync_jax.export: deserialized StableHLO and its weights (jax + numpy only)."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: no such exported model")
  try:
    with zipfile.ZipFile(path) as z:
      meta = json.loads(z.read("metadata.json"))
      weights = np.load(io.BytesIO(z.read("weights.npz")))
      leaves = [weights[f"arr_{i}"] for i in range(meta["num_weights"])]
      exported = {name: jax.export.deserialize(bytearray(z.read(f"{name}.stablehlo")))
                  for name in ("encode_reference", "audio_w", "mals", "decode")}
  except (zipfile.BadZipFile, KeyError, ValueError) as e:
    raise ValueError(f"{path}: not a lipsync_jax exported model ({e})") from e
  in_tree = exported["decode"].in_tree.children()[0].children()[0]  # args -> variables
  variables = jax.tree.unflatten(in_tree, leaves)
  fns = {name: exp.call for name, exp in exported.items()}
  return Backend(fns, variables, meta, batch_size)


# --------------------------------------------------------------------------------------------
# Input frames and faces.


@dataclasses.dataclass
class Face:
  affine: np.ndarray  # 2x3 frame -> 256 crop
  crop: np.ndarray  # (R, R, 3) uint8 model input
  mask: np.ndarray  # (R, R) uint8 {0, 1} at the model's resolution
  alpha: np.ndarray  # (256, 256) float32 blend weight of the generated crop


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


class _Run:
  """One run of consecutive face detections: the least open pose-normalised mesh seen so far, from
  which the run's lip masks are drawn (`masking.closed_mouth_shape`)."""

  def __init__(self):
    self.opening, self.normalized, self._shape = np.inf, None, None

  def add(self, pts):
    normalized = fg.normalize_pose(pts, *fg.estimate_pose(pts))
    opening = fg.inner_lip_opening(normalized)
    if opening < self.opening:
      self.opening, self.normalized, self._shape = opening, normalized, None

  @property
  def shape(self):
    if self._shape is None:
      self._shape = masking.closed_mouth_shape(self.normalized)
    return self._shape


class FaceTracker:
  """Input frames -> (frame, Face | None), the crop box smoothed over +-smooth_radius frames of
  consecutive detections (so each frame is released `smooth_radius` frames later). A run's lip
  masks share its closed-mouth shape, taken from the frames seen up to the look-ahead."""

  def __init__(self, frames, resolution: int, options: Options, mesh=None):
    from lipsync_jax.face_mesh import FaceMesh
    self.frames = iter(frames)
    self.resolution, self.options = resolution, options
    self.mesh = mesh or FaceMesh(track=True)
    self._pending = []  # (frame, landmarks | None, box | None, _Run | None), oldest first
    self._history = []  # raw boxes of up to r released frames of the current run of faces

  def landmarks(self, frame):
    pts = self.mesh(frame)
    if pts is not None and (pts[:, :2].max(0) - pts[:, :2].min(0)).max() < self.options.min_face_px:
      return None
    return pts

  def face(self, frame, pts, box, shape=None) -> Face:
    o = self.options
    crop256, affine = face_crop.crop_face(frame, box, CROP_SIZE)
    local = face_crop.to_crop(pts, affine)
    if o.mask == "pose":
      mask256 = masking.pose_aware_mask(local, CROP_SIZE, shape=shape)
    else:
      mask256 = masking.rect_mask(local, CROP_SIZE)
    r = self.resolution  # reduced exactly as the training pipeline reduces prepared crops
    crop = input_pipeline.resize_image(crop256, r)
    mask = input_pipeline.resize_mask(mask256, r).reshape(r, r)
    sigma = o.feather * CROP_SIZE
    alpha = cv2.GaussianBlur(mask256.astype(np.float32), (0, 0), sigma)
    return Face(affine, crop, mask, alpha)

  def __iter__(self):
    r = self.options.smooth_radius
    run = None
    for frame in self.frames:
      pts = self.landmarks(frame)
      box = None if pts is None else face_crop.box_from_landmarks(pts, pads=self.options.pads)
      if pts is None:
        run = None
      else:
        run = run or _Run()
        run.add(pts)
      self._pending.append((frame, pts, box, run))
      while len(self._pending) > r:
        yield self._release()
    while self._pending:
      yield self._release()

  def _release(self):
    """Emits the oldest pending frame once the r frames after it are known (or the input ended)."""
    r = self.options.smooth_radius
    frame, pts, box, run = self._pending[0]
    self._pending.pop(0)
    if pts is None:
      self._history = []
      return frame, None
    window = list(self._history)
    for _, p, b, _ in [(frame, pts, box, run)] + self._pending[:r]:
      if p is None:
        break
      window.append(b)
    self._history = (self._history + [box])[-r:] if r else []
    return frame, self.face(frame, pts, np.mean(window, axis=0), run.shape)


def reference_face(video: VideoFrames, resolution: int, options: Options) -> tuple[np.ndarray, int]:
  """The reference crop (R, R, 3) uint8 and its input frame index."""
  from lipsync_jax.face_mesh import FaceMesh
  with FaceMesh(track=False) as mesh:
    tracker = FaceTracker([], resolution, options, mesh)
    if options.reference_frame is not None:
      frame = video.frame(options.reference_frame)
      pts = tracker.landmarks(frame)
      if pts is None:
        raise media.MediaError(video.path, f"no face in the reference frame {options.reference_frame}")
      return tracker.face(frame, pts, face_crop.box_from_landmarks(pts, pads=options.pads)).crop, \
          options.reference_frame
    frames = [video.image] if video.still else media.iter_frames(video.path, options.fps)
    for k, frame in enumerate(frames):
      pts = tracker.landmarks(frame)
      if pts is not None:
        return tracker.face(frame, pts, face_crop.box_from_landmarks(pts, pads=options.pads)).crop, k
  what = "the image" if video.still else "any frame"
  raise media.MediaError(video.path, f"no face found in {what}")


def composite(frame: np.ndarray, face: Face, generated: np.ndarray) -> np.ndarray:
  """Pastes the generated crop (R, R, 3) uint8 into the frame through the feathered mask."""
  gen = generated
  if gen.shape[0] != CROP_SIZE:
    gen = cv2.resize(gen, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_CUBIC)
  h, w = frame.shape[:2]
  inv = cv2.invertAffineTransform(face.affine)
  corners = np.array([[0, 0], [CROP_SIZE, 0], [0, CROP_SIZE], [CROP_SIZE, CROP_SIZE]], np.float64)
  pts = corners @ inv[:, :2].T + inv[:, 2]
  x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int), 0)
  x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int), [w, h])
  if x1 <= x0 or y1 <= y0:
    return frame
  affine = face.affine + np.array([[0, 0, face.affine[0, 0] * x0], [0, 0, face.affine[1, 1] * y0]])
  size = (int(x1 - x0), int(y1 - y0))
  flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
  gen_roi = cv2.warpAffine(gen, affine, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
  alpha = cv2.warpAffine(face.alpha, affine, size, flags=flags, borderMode=cv2.BORDER_CONSTANT)
  out = frame.copy()
  roi = out[y0:y1, x0:x1].astype(np.float32)
  a = alpha[..., None]
  out[y0:y1, x0:x1] = np.clip(np.round(roi * (1 - a) + gen_roi.astype(np.float32) * a), 0, 255)
  return out


# --------------------------------------------------------------------------------------------
# The stream.


def mel_window_start(t: int, fps: float) -> int:
  """First mel row of output frame t's 0.2 s window (audio.mel_window_start at 25 fps)."""
  return int(round(t * audio_lib.MEL_FPS / fps)) - 2 * audio_lib.MEL_PER_VIDEO_FRAME


def num_output_frames(num_samples: int, fps: float) -> int:
  return max(1, int(round(num_samples * fps / audio_lib.SAMPLE_RATE)))


class LipSyncStream:
  """The pipeline as a stream: push() 16 kHz mono audio chunks, get output frames back.

  Frame t is released as soon as the audio up to the end of its window plus one frame (MaLS's
  look-ahead) has arrived; finish() ends the stream and returns the rest. Pushing a whole file at
  once is the offline pass; any chunking gives the same frames (tested).
  """

  def __init__(self, backend: Backend, video: VideoFrames, options: Options = Options(),
               mesh=None):
    self.backend, self.options = backend, options
    self.fps = options.fps
    ref, self.reference_index = reference_face(video, backend.resolution, options)
    self.w_ref = backend.encode_reference(_to_float(ref))
    self._tracker = FaceTracker(video, backend.resolution, options, mesh)
    if video.still:  # one image: its face once, for every frame
      pts = self._tracker.landmarks(video.image)
      face = None if pts is None else self._tracker.face(
          video.image, pts, face_crop.box_from_landmarks(pts, pads=options.pads))
      self._faces = itertools.repeat((video.image, face))
    else:
      self._faces = iter(self._tracker)
    self._mel = audio_lib.StreamingMel()
    self._rows = np.zeros((0, audio_lib.N_MELS), np.float32)
    self._rows_start = 0  # mel row index of _rows[0]
    self._w = []  # w of frames _w_start.. (the audio codes not yet smoothed, plus one before)
    self._w_start = 0
    self._next_w = 0  # next frame whose w is computed
    self._next_code = 0  # next frame whose MaLS code is computed
    self._avg_history = np.zeros((2, backend.num_ws, backend.w_dim), np.float32)
    self._h_history = np.zeros_like(self._avg_history)
    self._audio = []  # what was pushed, for muxing
    self.num_frames = None  # known at finish()
    self.frames_out = 0
    self.faces_found = 0

  @property
  def audio(self) -> np.ndarray:
    return np.concatenate(self._audio) if self._audio else np.zeros(0, np.float32)

  def push(self, samples: np.ndarray) -> list[np.ndarray]:
    samples = np.asarray(samples, np.float32).reshape(-1)
    self._audio.append(samples)
    self._add_rows(self._mel.push(samples))
    return self._advance()

  def finish(self) -> list[np.ndarray]:
    if self.num_frames is None:
      self._add_rows(self._mel.finish())
      if self._mel.num_samples == 0:
        raise ValueError("no audio samples were pushed")
      self.num_frames = num_output_frames(self._mel.num_samples, self.fps)
    return self._advance()

  def close(self):
    self._tracker.mesh.close()

  def _add_rows(self, rows):
    if len(rows):
      self._rows = np.concatenate([self._rows, rows])

  def _window(self, t: int) -> np.ndarray:
    start = mel_window_start(t, self.fps) - self._rows_start
    out = np.full((audio_lib.WINDOW_MEL_FRAMES, audio_lib.N_MELS), audio_lib.SILENCE, np.float32)
    lo, hi = max(start, 0), min(start + audio_lib.WINDOW_MEL_FRAMES, len(self._rows))
    if hi > lo:
      out[lo - start:hi - start] = self._rows[lo:hi]
    return out

  def _advance(self) -> list[np.ndarray]:
    final = self.num_frames is not None
    # 1. w_t = w_ref + E_aud(window_t) for every frame whose window is complete.
    have_rows = self._rows_start + len(self._rows)
    stop = self._next_w
    while (self.num_frames is None or stop < self.num_frames) and (
        final or mel_window_start(stop, self.fps) + audio_lib.WINDOW_MEL_FRAMES <= have_rows):
      stop += 1
    if stop > self._next_w:
      mels = np.stack([self._window(t) for t in range(self._next_w, stop)])
      self._w.extend(self.backend.audio_w(self.w_ref, mels))
      self._next_w = stop
      keep = mel_window_start(stop, self.fps) - self._rows_start  # rows no later window needs
      if keep > 0:
        self._rows = self._rows[keep:]
        self._rows_start += keep
    # 2. MaLS codes for frames whose moving average is known (w_{t+1}, or the end).
    code_stop = self._next_w if final else self._next_w - 1
    if code_stop <= self._next_code:
      return []
    ts = range(self._next_code, code_stop)
    w = lambda t: self._w[min(max(t, 0), self._next_w - 1) - self._w_start]  # noqa: E731
    avg = np.stack([sum(a * w(t + k) for a, k in zip(MALS_ALPHA, (-1, 0, 1))) for t in ts])
    codes, self._avg_history, self._h_history = self.backend.mals(
        self.w_ref, self._avg_history, self._h_history, avg, first=self._next_code == 0)
    self._next_code = code_stop
    drop = code_stop - 1 - self._w_start  # keep w_{t-1} for the next average
    if drop > 0:
      del self._w[:drop]
      self._w_start += drop
    # 3. decode and paste back.
    items = [next(self._faces) for _ in ts]
    with_face = [i for i, (_, face) in enumerate(items) if face is not None]
    generated = {}
    if with_face:
      masked = np.stack([_to_float(items[i][1].crop) * (1 - items[i][1].mask[..., None])
                         for i in with_face])
      decoded = _to_uint8(self.backend.decode(masked.astype(np.float32), codes[with_face]))
      generated = dict(zip(with_face, decoded))
    self.faces_found += len(with_face)
    self.frames_out += len(items)
    outputs = []
    for i in range(len(items)):  # each input frame replaced by its output as it is made
      frame, face = items[i]
      items[i] = None
      if face is not None:
        frame = composite(frame, face, generated.pop(i))
      outputs.append(watermark.mark(frame, self.options.visible_mark))
    return outputs


def _to_float(img: np.ndarray) -> np.ndarray:
  return img.astype(np.float32) / 127.5 - 1.0


def _to_uint8(x: np.ndarray) -> np.ndarray:
  return np.clip(np.round((np.asarray(x) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def generate_clip(backend: Backend, reference: np.ndarray, masked: np.ndarray,
                  mels: np.ndarray) -> np.ndarray:
  """A whole prepared clip at once (evaluation): reference (R, R, 3) uint8, masked (T, R, R, 3)
  float [-1, 1], mels (T, 20, 80) -> generated (T, R, R, 3) uint8."""
  w_ref = backend.encode_reference(_to_float(reference))
  w = backend.audio_w(w_ref, mels)
  padded = np.concatenate([w[:1], w, w[-1:]])  # time is axis 0 here
  avg = sum(a * padded[k:k + len(w)] for k, a in enumerate(MALS_ALPHA))
  zeros = np.zeros((2,) + w.shape[1:], np.float32)
  codes, _, _ = backend.mals(w_ref, zeros, zeros, avg, first=True)
  return _to_uint8(backend.decode(masked.astype(np.float32), codes))


# --------------------------------------------------------------------------------------------
# Files.


def read_driving_audio(path: str) -> np.ndarray:
  """The driving speech as 16 kHz mono float32 (wav/mp3/mp4/...); MediaError if there is none."""
  samples = media.read_audio(path, audio_lib.SAMPLE_RATE)
  if samples.size == 0:
    raise media.MediaError(path, "audio track has no samples")
  return samples


def run(backend: Backend, video_path: str, audio, output: str, options: Options = Options(),
        chunk_seconds: float | None = None, progress: bool = True, crf: int = 18) -> dict:
  """Lip-syncs video_path (video or still) to `audio` (a path, or an iterable of 16 kHz float
  chunks for a live stream) and writes output atomically. chunk_seconds: push a file's audio in
  chunks of this length through the stream (None: one decoder batch of frames, 0.32 s at 25 fps,
  so every decoder call is full). Each push holds its frames at the input's size, so the chunk
  bounds the memory whatever the length (ten-second pushes held 250 4K frames: 11-20 GB)."""
  from tqdm import tqdm
  video = VideoFrames(video_path, options.fps)
  stream = LipSyncStream(backend, video, options)
  if isinstance(audio, str):
    samples = read_driving_audio(audio)
    seconds = chunk_seconds or backend.batch_size / options.fps
    step = int(round(audio_lib.SAMPLE_RATE * seconds))
    chunks = (samples[i:i + step] for i in range(0, len(samples), step))
    total = num_output_frames(len(samples), options.fps)
  else:
    chunks, total = audio, None
  bar = tqdm(total=total, unit="frame", disable=not progress, desc="lip-sync")

  def frames():
    for chunk in chunks:
      for f in stream.push(chunk):
        bar.update(1)
        yield f
    for f in stream.finish():
      bar.update(1)
      yield f

  def driving_audio():  # complete once the frames are: trimmed to them
    n = int(round(stream.num_frames * audio_lib.SAMPLE_RATE / options.fps))
    return np.pad(stream.audio[:n], (0, max(0, n - len(stream.audio))))

  try:
    count = media.write_video(output, frames(), options.fps, driving_audio, audio_lib.SAMPLE_RATE,
                              crf=crf, metadata=watermark.METADATA)
  finally:
    bar.close()
    stream.close()
  return {"output": output, "frames": count, "faces": stream.faces_found,
          "reference_frame": stream.reference_index, "fps": options.fps,
          "seconds": count / options.fps}
