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
    blocks (one frame of look-ahead); the decoder with SaMF on the masked crop. A model trained
    with lip_hint also predicts each frame's lips from A_t and the reference's lips (canonical
    pose), puts them in the frame's head pose and draws them into the masked crop
    (lipsync_jax.lip_hint).
  - paste-back: the generated crop, resized to 256 and warped into the frame, blended through the
    lip mask feathered by a Gaussian (no box edge ever shows); frames without a face pass through.
  - provenance: the invisible watermark, the visible label (unless disabled) and container metadata
    (lipsync_jax.watermark) on every output frame.

`LipSyncStream` is the whole pipeline as a stream: push audio chunks, get finished frames back as
soon as the audio they depend on (their window plus MaLS's one frame) has arrived. `run` drives it
over files with bounded memory (frames are decoded, processed and encoded as they go).

The model is a `backends.Backend`: the four functions of lipsync_jax.export, from a checkpoint
(jitted) or from an exported artifact (deserialized StableHLO; no model code imported). The faces
are lipsync_jax.face_tracking's, the input frames lipsync_jax.input_video's.
"""

import dataclasses
import itertools

import numpy as np

from lipsync_jax import audio as audio_lib
from lipsync_jax import face_crop, face_tracking, lip_hint, media, watermark
from lipsync_jax.backends import Backend
from lipsync_jax.input_video import VideoFrames
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
    ref, self.reference_index = face_tracking.reference_face(video, backend.resolution, options)
    self.w_ref = backend.encode_reference(_to_float(ref.crop))
    self.lip_hint = bool(backend.meta.get("lip_hint"))
    self.reference_lips = lip_hint.canonical(ref.landmarks, ref.pose)
    self._lips = {}  # frame -> predicted canonical lips, until its frame is decoded
    self._tracker = face_tracking.FaceTracker(video, backend.resolution, options, mesh)
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
      if self.lip_hint:
        self._lips.update(zip(range(self._next_w, stop),
                              self.backend.lips(self.reference_lips, mels)))
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
    avg = moving_average(lambda t: self._w[min(max(t, 0), self._next_w - 1) - self._w_start], ts)
    codes, self._avg_history, self._h_history = self.backend.mals(
        self.w_ref, self._avg_history, self._h_history, avg, first=self._next_code == 0)
    self._next_code = code_stop
    drop = code_stop - 1 - self._w_start  # keep w_{t-1} for the next average
    if drop > 0:
      del self._w[:drop]
      self._w_start += drop
    # 3. decode and paste back (the lips smoothed as the codes are: no further look-ahead).
    items = [next(self._faces) for _ in ts]
    with_face = [i for i, (_, face) in enumerate(items) if face is not None]
    generated = {}
    lips = [None] * len(items)
    if self.lip_hint:
      lips = list(moving_average(lambda t: self._lips[min(max(t, 0), self._next_w - 1)], ts))
      done = code_stop if final else code_stop - 1  # lips_{t-1} is kept for the next frame
      for t in [t for t in self._lips if t < done]:
        del self._lips[t]
    if with_face:
      masked = np.stack([masked_crop(items[i][1], lips[i]) for i in with_face])
      decoded = _to_uint8(self.backend.decode(masked.astype(np.float32), codes[with_face]))
      generated = dict(zip(with_face, decoded))
    self.faces_found += len(with_face)
    self.frames_out += len(items)
    outputs = []
    for i in range(len(items)):  # each input frame replaced by its output as it is made
      frame, face = items[i]
      items[i] = None
      if face is not None:
        frame = face_tracking.composite(frame, face, generated.pop(i))
      outputs.append(watermark.mark(frame, self.options.visible_mark))
    return outputs


def masked_crop(face: face_tracking.Face, lips: np.ndarray | None = None) -> np.ndarray:
  """The decoder's input: the face's crop in [-1, 1] with the lip mask's region grey and, for a
  lip_hint model, the predicted canonical lips (40, 3) drawn in the face's head pose."""
  mask = face.mask[..., None]
  masked = _to_float(face.crop) * (1 - mask)
  if lips is None:
    return masked
  hint = lip_hint.render(lip_hint.posed(lips, face.pose), masked.shape[0])
  return lip_hint.draw(masked, mask, hint)


def draw_predicted_lips(backend: Backend, masked: np.ndarray, masks: np.ndarray,
                        reference_lips: np.ndarray, mels: np.ndarray, poses) -> np.ndarray:
  """A whole clip's masked frames (T, R, R, 3) with the lips the model predicts from its mel
  windows (T, 20, 80) and the reference's canonical lips drawn in the frames' head poses (what
  the stream draws; evaluation)."""
  r = masked.shape[1]
  lips = smoothed_lips(backend.lips(reference_lips, mels))
  hints = np.stack([lip_hint.render(lip_hint.posed(x, p), r) for x, p in zip(lips, poses)])
  return lip_hint.draw(masked, masks, hints)


def smoothed_lips(lips: np.ndarray) -> np.ndarray:
  """A sequence's predicted lips (T, P, 3) averaged over frames t-1, t, t+1 with MaLS's weights,
  as the stream draws them: each frame's prediction reads one 0.2 s window alone, and the average
  takes out some of its frame-to-frame error (the held-out inner-lip opening's r 0.885 -> 0.893 on
  new sentences, docs/history.md) at no latency the codes do not already have."""
  return moving_average(lambda t: lips[min(max(t, 0), len(lips) - 1)], range(len(lips)))


def moving_average(w_at, ts) -> np.ndarray:
  """MaLS's moving average (eq. 4) of the audio codes at frames ts: sum over k of ALPHA_k
  w_{t+k-1}, where w_at(t) gives frame t's code with t clamped to the frames there are (the first
  and last frame stand in beyond the sequence's ends)."""
  return np.stack([sum(a * w_at(t + k) for a, k in zip(MALS_ALPHA, (-1, 0, 1))) for t in ts])


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
  avg = moving_average(lambda t: w[min(max(t, 0), len(w) - 1)], range(len(w)))
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
