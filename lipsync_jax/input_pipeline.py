"""Training batches from the TFDS talking-face datasets, without TensorFlow.

Every sample of a global batch is a pure function of (seed, step, position in the global batch):

  - a clip, drawn uniformly from the split;
  - T = 5 consecutive frames of it, with their lip masks (pose-aware or rectangular) and the
    0.2 s mel window of each frame (lipsync_jax.audio);
  - one reference frame from the same clip, away from the T frames when the clip allows;
  - T mel windows from an independently drawn training clip, the audio of the sync regulariser
    (paper eq. 9).

So the iterator's whole state is the step: checkpoint `get_state()`, `set_state()` it back and the
next batch is exactly the one an uninterrupted run would have seen. In a multi-host run process p
of P builds the rows [p * B / P, (p + 1) * B / P) of each global batch, each host reading its own
samples, ready for jax.make_array_from_process_local_data.

Batch (this host's rows, B' = B / P):
  frames      (B', T, 256, 256, 3) uint8
  masks       (B', T, 256, 256, 1) uint8 {0, 1}
  mels        (B', T, 20, 80) float32
  reference   (B', 256, 256, 3) uint8
  sync_mels   (B', T, 20, 80) float32
  shifted_mels (B', K, 20, 80) float32  the middle frame's window moved 3-12 frames either way, K
              times (num_shifts): SyncNet negatives that only timing tells apart
  mouth_opening (B', T) float32  the frames' inner-lip gap over the eye-corner distance (MediaPipe
              mesh of the prepared clip; face_geometry.mouth_opening): the SyncNet's opening target
  mouth_shape (B', T, 7) float32  face_geometry.mouth_shape of the same mesh: the decoder prior's
              code target
  clip_index  (B',) int32, start_frame (B',) int32  (which samples these are)
"""

import collections
import concurrent.futures
import dataclasses
import multiprocessing
import os
import threading
from collections.abc import Sequence

import cv2
import numpy as np

from lipsync_jax import audio as audio_lib
from lipsync_jax import face_geometry, lip_hint, segments


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  num_frames: int = 5  # T
  mask: str = "pose"  # "pose" (paper 3.1) or "rect" (lower half of the face box)
  reference_gap: int = 5  # frames kept between the reference and the T-frame window when possible
  seed: int = 0
  num_threads: int = 8
  num_workers: int = 0  # >0: samples made in that many worker processes instead of threads
  prefetch: int = 2  # batches prepared ahead
  resolution: int = 256  # frames, masks and reference are resized (area) when smaller
  min_shift: int = 3  # frames: SyncNet negatives are at least this far out of sync
  max_shift: int = 12
  num_shifts: int = 4  # shifted windows per sample (SyncNet negatives)
  augment: bool = False  # per-sample flip, colour and small affine jitter (see augment())
  audio_augment: bool = False  # per-sample vocal-tract warp and level of the clip's mel (see
  # audio_augmentation())
  audio_gain_db: float = 5.0  # its level: uniform in +-this many dB
  audio_warp: float = 0.1  # its vocal-tract factor: uniform in 1 +- this
  lip_windows: int = 1  # T-frame windows per sample for the audio-to-lips loss (more_lip_windows)
  fields: tuple | None = None  # the batch entries to make (None: all); a stage asks for its own


ALL_FIELDS = ("frames", "masks", "mels", "reference", "sync_mels", "shifted_mels", "mouth_opening",
              "mouth_shape", "clip_index", "start_frame")
# Made only when asked for: "hint" (T, R, R, 2) uint8, the mesh's lips and mouth opening filled
# (lip_hint.render), moved by augmentation with the frames; "lips" (T, 40, 3) and "reference_lips"
# (40, 3) float32, the frames' and the reference's lips in canonical pose (lip_hint.canonical), what
# lip-sync's audio-to-lips network learns (not augmented: they are the mesh's, not the image's);
# "sync_hint" (T, R, R, 2) uint8, the hint of the sync_mels clip's lips moved onto this clip's
# frames (moved_lips), what adaptation's R_sync draws with lip_hint; "more_lips" (W, T, 40, 3),
# "more_lip_mels" (W, T, 20, 80), "more_reference_lips" (W, 40, 3): W = lip_windows - 1 further
# windows for the audio-to-lips loss alone (more_lip_windows).


open_split = segments.open_split


def pipeline_config(config, **overrides) -> PipelineConfig:
  """The input pipeline's settings from a training config (ml_collections.ConfigDict)."""
  kw = dict(resolution=config.model.resolution, mask=config.get("mask", "pose"), seed=config.seed,
            augment=config.get("augment", False), audio_augment=config.get("audio_augment", False),
            audio_gain_db=config.get("audio_gain_db", 5.0),
            audio_warp=config.get("audio_warp", 0.1),
            num_threads=config.get("data_threads", 8), num_workers=config.get("data_workers", 0),
            num_frames=config.get("num_frames", 5), lip_windows=config.get("lip_windows", 1))
  return PipelineConfig(**{**kw, **overrides})


def open_source(name: str, data_dir: str, split: str):
  """A split to train on: a pack file (data_prep.pack, `data_dir` ending in .npz) or TFDS."""
  if data_dir.endswith(".npz"):
    return PackedSource(data_dir, name, split)
  return open_split(name, data_dir, split)


def decode_jpeg(data) -> np.ndarray:
  """A frame's stored bytes (JPEG; WebP in packs) -> RGB uint8."""
  bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  if bgr is None:
    raise ValueError("corrupt image frame in the dataset")
  return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def unpack_masks(packed: np.ndarray) -> np.ndarray:
  """(..., H, W/8) bit-packed masks -> (..., H, W, 1) uint8 {0, 1}."""
  return np.unpackbits(packed, axis=-1)[..., None]


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
  if image.shape[0] == size:
    return image
  return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
  """A mask stays binary: any covered pixel of the area covers the small pixel."""
  if mask.shape[0] == size:
    return mask
  small = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
  return (small > 0).astype(np.uint8)[..., None]


@dataclasses.dataclass(frozen=True)
class Draw:
  """Where a sample's pieces come from: the rule both the host pipeline (sample_example) and the
  device-resident one (resident_input) follow."""
  clip_index: int
  start: int  # the first of the T frames
  ref_index: int  # the reference frame
  other_index: int  # the sync regulariser's audio clip (in audio_source)
  other_at: float  # where in it, as a fraction of its possible starts: other_start()
  shifts: tuple  # the SyncNet negatives' offsets from the middle frame

  def other_start(self, other_frames: int, t: int) -> int:
    return int(self.other_at * (other_frames - t + 1))


def draw(step: int, position: int, config: PipelineConfig, num_clips: int,
         num_audio_clips: int, frames_of) -> Draw:
  """The draws of the sample at (step, position) of the global batch, deterministic for the
  config's seed; frames_of(clip_index) gives a clip's frame count."""
  rng = np.random.default_rng([config.seed, step, position])
  t = config.num_frames
  clip_index = int(rng.integers(num_clips))
  n = frames_of(clip_index)
  start = int(rng.integers(n - t + 1))
  far = [i for i in range(n) if i < start - config.reference_gap or i >= start + t + config.reference_gap]
  ref_index = int(rng.choice(far)) if far else int(rng.integers(n))
  other_index, other_at = int(rng.integers(num_audio_clips)), rng.random()
  return Draw(clip_index, start, ref_index, other_index, float(other_at),
              tuple(shifts(n, start + t // 2, config, step, position)))


def sample_example(source: Sequence, step: int, position: int, config: PipelineConfig,
                   audio_source: Sequence | None = None) -> dict:
  """The sample at (step, position) of the global batch: deterministic for the config's seed.

  `audio_source` is where the sync regulariser's audio comes from (default: `source`); few-shot
  adaptation samples frames from the target video and this audio from the training set.
  """
  t = config.num_frames
  audio_source = source if audio_source is None else audio_source
  clip = {}

  def frames_of(index):
    clip.update(source[index])
    n = int(clip["num_frames"])
    if n < t:
      raise ValueError(f"clip {clip['clip_id']!r} has {n} frames, fewer than T={t}")
    return n

  d = draw(step, position, config, len(source), len(audio_source), frames_of)
  window = range(d.start, d.start + t)
  mask_key = {"pose": "lip_mask", "rect": "rect_mask"}[config.mask]
  size = config.resolution
  wanted = set(config.fields or ALL_FIELDS)
  out = {"clip_index": np.int32(d.clip_index), "start_frame": np.int32(d.start)}
  # Every draw above is made whatever is wanted, so a sample is the same in every stage.
  if wanted & {"sync_mels", "sync_hint"}:  # a second clip's record: read only by the stages using it
    other = audio_source[d.other_index]
    other_start = d.other_start(int(other["num_frames"]), t)
    other_window = range(other_start, other_start + t)
  if wanted & {"frames", "masks", "reference"}:
    frames = np.stack([resize_image(decode_jpeg(clip["frames"][i]), size) for i in window])
    masks = np.stack([resize_mask(m, size) for m in unpack_masks(clip[mask_key][d.start:d.start + t])])
    reference = resize_image(decode_jpeg(clip["frames"][d.ref_index]), size)
    # The hints are moved by augment() with the masks, as extra channels (2 each).
    hints = {}
    if "hint" in wanted:
      hints["hint"] = [lip_points(clip, i) for i in window]
    if "sync_hint" in wanted:
      hints["sync_hint"] = moved_lips(clip, window, other, other_window)
    for points in hints.values():
      masks = np.concatenate([masks, np.stack([lip_hint.render(p, size) for p in points])], -1)
    if config.augment:
      frames, masks, reference = augment(frames, masks, reference,
                                         augment_rng(config, step, position))
    out.update(frames=frames, masks=masks[..., :1], reference=reference)
    out.update({k: masks[..., 1 + 2 * i:3 + 2 * i] for i, k in enumerate(hints)})
  voice = audio_augmentation(config, step, position) if config.audio_augment else None

  def heard(windows):  # the sample's own clip's mel windows, as its audio augmentation hears them
    return windows if voice is None else audio_lib.warp_mel(windows, *voice)

  if "lips" in wanted:
    out["lips"] = canonical_lips(clip, window)
  if "reference_lips" in wanted:
    out["reference_lips"] = canonical_lips(clip, [d.ref_index])[0]
  if "mels" in wanted:
    out["mels"] = heard(audio_lib.mel_windows(clip["mel"], window))
  if "sync_mels" in wanted:
    out["sync_mels"] = audio_lib.mel_windows(other["mel"], other_window)
  if "shifted_mels" in wanted:
    middle = d.start + t // 2
    out["shifted_mels"] = heard(np.stack([audio_lib.mel_window(clip["mel"], middle + k)
                                          for k in d.shifts]))
  if "more_lips" in wanted:
    out.update(more_lip_windows(clip, config, step, position))
    out["more_lip_mels"] = heard(out["more_lip_mels"])
  if "mouth_shape" in wanted:
    out["mouth_shape"] = mouth_shapes(clip, d.start, d.start + t)
  if "mouth_opening" in wanted:
    out["mouth_opening"] = np.asarray(clip["mouth_opening"][d.start:d.start + t], np.float32)
  return {k: v for k, v in out.items() if k in wanted}


def more_lip_windows(clip: dict, config: PipelineConfig, step: int, position: int) -> dict:
  """config.lip_windows - 1 further T-frame windows of the sample at (step, position) for the
  audio-to-lips loss alone: other starts and reference frames in the sample's clip (its record is
  read already), drawn apart from the sample's other draws, and their canonical lips and mel
  windows. No frame is decoded, so the lips network sees more of the corpus per step than the
  image losses can afford."""
  rng = np.random.default_rng([config.seed, step, position, 2])
  t, n = config.num_frames, int(clip["num_frames"])
  lips, mels, reference = [], [], []
  for _ in range(config.lip_windows - 1):
    window = range(start := int(rng.integers(n - t + 1)), start + t)
    lips.append(canonical_lips(clip, window))
    mels.append(audio_lib.mel_windows(clip["mel"], window))
    reference.append(canonical_lips(clip, [int(rng.integers(n))])[0])
  return {"more_lips": np.stack(lips), "more_lip_mels": np.stack(mels),
          "more_reference_lips": np.stack(reference)}


def audio_augmentation(config: PipelineConfig, step: int, position: int) -> tuple[float, float]:
  """The sample's audio augmentation, audio.warp_mel's factor and gain for all of its own clip's
  mel windows (mels, the SyncNet's shifted negatives, the lips windows: one voice; not the sync
  regulariser's other clip): a vocal-tract factor in 1 +- audio_warp and a level in +-audio_gain_db
  (0.9-1.1 and +-5 dB by default), from a stream of its own (other fields stay the same). The
  synthetic corpus has 8 training voices at one level: this keeps the audio towers from learning
  them, and the model from reading a recording's level as speech."""
  rng = np.random.default_rng([config.seed, step, position, 3])
  return (float(rng.uniform(1 - config.audio_warp, 1 + config.audio_warp)),
          float(rng.uniform(-config.audio_gain_db / 10, config.audio_gain_db / 10)))


def augment_rng(config: PipelineConfig, step: int, position: int) -> np.random.Generator:
  """The stream of a sample's augmentation draws (apart from the others: fields stay the same)."""
  return np.random.default_rng([config.seed, step, position, 1])


def mouth_shapes(example, start: int, stop: int) -> np.ndarray:
  """face_geometry.mouth_shape of a stored clip's frames start..stop-1: (n, 7) float32, from its
  mesh (TFDS) or as a pack stores it. (Shapes relative to the clip's closed mouth were tried and
  measured no better on a held-out person and worse on new sentences: docs/history.md.)"""
  if "mouth_shape" in example:  # a pack stores them, not the mesh
    return np.asarray(example["mouth_shape"][start:stop], np.float32)
  return np.stack([face_geometry.mouth_shape(p) for p in np.asarray(example["landmarks"][start:stop])])


def lip_points(example, i: int) -> np.ndarray:
  """The mesh's lip rings (lip_hint.RING: (40, 3), the stored crop's pixels) of a stored clip's
  frame i, from its mesh (TFDS, prepared segments) or as a pack stores them."""
  if "lip_points" in example:
    return np.asarray(example["lip_points"][i])
  if "landmarks" not in example:
    raise ValueError(f"clip {example['clip_id']!r} has no face mesh: the lips (lip_hint) need the "
                     "TFDS dataset, prepared segments or a pack made by this version")
  return np.asarray(example["landmarks"][i])[list(lip_hint.RING)]


def canonical_lips(example, indices) -> np.ndarray:
  """lip_hint.canonical of a stored clip's frames at `indices`: (n, 40, 3) float32."""
  return np.stack([lip_hint.canonical(lip_points(example, i), pose_at(example, i))
                   for i in indices])


def moved_lips(example, window, other, other_window) -> list[np.ndarray]:
  """The lips of `other`'s frames other_window moved onto `example`'s face in its frames `window`
  (the sync regulariser's lips with lip_hint): `example`'s mean lips in canonical pose plus the
  other's less their own mean (the motion, not the other person's lip shape), put in each frame's
  head pose -> T (40, 3) point arrays in the stored crop's pixels, what lip_hint.render draws."""
  own = canonical_lips(example, range(int(example["num_frames"]))).mean(0)
  others = canonical_lips(other, range(int(other["num_frames"])))
  moving = own + others[list(other_window)] - others.mean(0)
  return [lip_hint.posed(lips, pose_at(example, i)) for lips, i in zip(moving, window)]


def pose_at(example, i: int) -> tuple:
  """A stored clip's head pose at frame i: (scale, rotation (3, 3), translation (3,)), float64."""
  return (float(example["head_scale"][i]), np.asarray(example["head_rotation"][i], np.float64),
          np.asarray(example["head_translation"][i], np.float64))


def clip_frames(example, count: int, resolution: int) -> np.ndarray:
  """The first `count` frames of a stored clip, decoded and resized: (count, R, R, 3) uint8."""
  return np.stack([resize_image(decode_jpeg(example["frames"][i]), resolution)
                   for i in range(count)])


def shifts(n: int, middle: int, config: PipelineConfig, step: int, position: int) -> list[int]:
  """config.num_shifts offsets of min_shift..max_shift frames, either way, that stay inside a clip
  of n frames where they can (drawn from the sample's own stream: other fields are unchanged)."""
  rng = np.random.default_rng([config.seed, step, position, 2])
  out = []
  for _ in range(config.num_shifts):
    k = int(rng.integers(config.min_shift, config.max_shift + 1)) * (1 if rng.random() < 0.5 else -1)
    out.append(k if 0 <= middle + k < n else -k)
  return out


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """One sample's appearance and framing change (augment()): the affine map of its pixels
  (cv2.warpAffine's forward 2x3 matrix, then a flip) and the affine map of its RGB values (3x4)."""
  matrix: np.ndarray
  flip: bool
  colour_map: np.ndarray


def augmentation(rng: np.random.Generator, size: int) -> Augmentation:
  """A horizontal flip (p = 0.5), a scale of 0.93-1.07, a shift of up to 3% and a roll of up to 4
  degrees, then per-channel gains of 0.8-1.2, a contrast of 0.8-1.2 and a saturation of 0.6-1.4,
  for frames of size x size."""
  angle, scale = rng.uniform(-4, 4), rng.uniform(0.93, 1.07)
  shift = rng.uniform(-0.03, 0.03, 2) * size
  matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
  matrix[:, 2] += shift
  flip = bool(rng.random() < 0.5)
  gains = rng.uniform(0.8, 1.2, 3).astype(np.float32)
  contrast, saturation = rng.uniform(0.8, 1.2), rng.uniform(0.6, 1.4)
  # Gains, saturation (towards the grey mean) and contrast (about mid-grey) are one affine map
  # of RGB: a single cv2.transform, which saturates to uint8 and releases the GIL, where the same
  # steps in numpy float32 made augmentation 8x the rest of a sample's cost.
  mix = saturation * np.eye(3) + (1 - saturation) / 3 * np.ones((3, 3))
  colour_map = np.concatenate([contrast * mix * gains, np.full((3, 1), 127.5 * (1 - contrast))], 1)
  return Augmentation(matrix, flip, colour_map)


def augment(frames: np.ndarray, masks: np.ndarray, reference: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """One random appearance and framing change (augmentation()) applied alike to a sample's T
  frames, masks and reference. The synthetic corpus has few identities: this keeps a model from
  tying mouths to their colours and framing, and keeps the samples of a clip and its reference
  consistent."""
  n = frames.shape[1]
  a = augmentation(rng, n)

  def geometry(image, interpolation):
    out = cv2.warpAffine(image, a.matrix, (n, n), flags=interpolation,
                         borderMode=cv2.BORDER_REFLECT)
    out = out.reshape(image.shape)  # warpAffine drops a single channel axis
    return out[:, ::-1] if a.flip else out

  def colour(image):
    return cv2.transform(np.ascontiguousarray(image), a.colour_map)

  frames = np.stack([colour(geometry(f, cv2.INTER_LINEAR)) for f in frames])
  masks = np.stack([geometry(m, cv2.INTER_NEAREST) for m in masks])
  return frames, masks, colour(geometry(reference, cv2.INTER_LINEAR))


# A worker process's sources and config (set once by _start_worker, used by _worker_sample).
_WORKER = {}


def _start_worker(source, audio_source, config):
  _WORKER.update(source=source, audio_source=audio_source, config=config)


def _worker_sample(step, position):
  return sample_example(_WORKER["source"], step, position, _WORKER["config"],
                        _WORKER["audio_source"])


class TrainIterator:
  """Yields this host's share of each global batch, step after step, prefetching in threads or,
  with config.num_workers, in worker processes (the host's cores used past Python's GIL: for data
  that does not fit on the accelerator, resident_input otherwise)."""

  def __init__(self, source: Sequence, global_batch_size: int, config: PipelineConfig = PipelineConfig(),
               process_index: int = 0, process_count: int = 1, start_step: int = 0,
               audio_source: Sequence | None = None):
    if global_batch_size % process_count:
      raise ValueError(f"global batch {global_batch_size} does not split over {process_count} hosts")
    if len(source) == 0:
      raise ValueError("the training split is empty")
    if getattr(source, "resolution", config.resolution) < config.resolution:
      raise ValueError(f"a pack at {source.resolution}x{source.resolution} cannot feed "
                       f"{config.resolution}x{config.resolution} training")
    self.source = source
    self.audio_source = audio_source
    self.config = config
    self.local_batch_size = global_batch_size // process_count
    self.first_position = process_index * self.local_batch_size
    self.step = start_step
    if config.num_workers:
      # spawn, not fork: the parent runs JAX's threads. Each worker gets the sources pickled
      # (a TFDS data source is its file list; a pack reopens from its path).
      self._pool = concurrent.futures.ProcessPoolExecutor(
          config.num_workers, mp_context=multiprocessing.get_context("spawn"),
          initializer=_start_worker, initargs=(source, audio_source, config))
      self._make = _worker_sample
    else:
      self._pool = concurrent.futures.ThreadPoolExecutor(config.num_threads)
      self._make = self._sample
    self._pending = {}  # step -> futures of its samples

  def _sample(self, step, position):
    return sample_example(self.source, step, position, self.config, self.audio_source)

  def _submit(self, step):
    if step not in self._pending:
      self._pending[step] = [self._pool.submit(self._make, step, self.first_position + i)
                             for i in range(self.local_batch_size)]

  def batch(self, step: int) -> dict:
    """The batch at `step` (computed now, not prefetched): for evaluation and tests."""
    return _stack([self._sample(step, self.first_position + i)
                   for i in range(self.local_batch_size)])

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    for s in range(self.step, self.step + 1 + self.config.prefetch):
      self._submit(s)
    samples = [f.result() for f in self._pending.pop(self.step)]
    self.step += 1
    return _stack(samples)

  def get_state(self) -> dict:
    return {"step": self.step}

  def set_state(self, state: dict):
    for futures in self._pending.values():
      for f in futures:
        f.cancel()
    self._pending.clear()
    self.step = int(state["step"])

  def close(self):
    self._pool.shutdown(wait=False, cancel_futures=True)


class SegmentSource(Sequence):
  """Prepared segments (data_prep.prepare's .npz files) as a source of TFDS-shaped examples: the
  few seconds of a target person's video that adaptation trains on."""

  def __init__(self, paths: list[str]):
    if not paths:
      raise ValueError("no prepared segments given")
    self.examples = [segments.segment_to_example(segments.load_segment(p))[1] for p in paths]

  def __len__(self):
    return len(self.examples)

  def __getitem__(self, index):
    return self.examples[index]


def _example_bytes(example: dict) -> int:
  return sum(sum(len(x) for x in v) if isinstance(v, (list, tuple)) or
             getattr(v, "dtype", None) == object else np.asarray(v).nbytes
             for v in example.values())


def _read_only(example: dict) -> dict:
  for v in example.values():
    if isinstance(v, np.ndarray):
      v.setflags(write=False)
  return example


class CachedSource(Sequence):
  """A source's examples kept once read, the least recently used dropped past `max_mb`: a sample
  reads a whole clip's record for its few frames (the lip-sync stage's host sample: 14 ms on a
  core, 7 of them reading, decompressing and parsing a 2.9 MB record), and a corpus that fits in
  host memory (the synthetic one: about 5 MB a decoded clip) is then read once. The examples are the
  source's, made read-only. Safe across the pipeline's threads; each worker process holds its own."""

  def __init__(self, source: Sequence, max_mb: float):
    self.source = source
    self.max_bytes = int(max_mb * 2**20)
    self._cache = collections.OrderedDict()
    self._bytes = 0
    self._lock = threading.Lock()

  def __reduce__(self):  # a worker process starts with an empty cache of its own
    return CachedSource, (self.source, self.max_bytes / 2**20)

  def __len__(self):
    return len(self.source)

  def __getattr__(self, name):  # e.g. a pack's resolution
    if name == "source":
      raise AttributeError(name)
    return getattr(self.source, name)

  def __getitem__(self, index):
    index = int(index)
    with self._lock:
      if index in self._cache:
        self._cache.move_to_end(index)
        return self._cache[index][0]
    example = _read_only(dict(self.source[index]))
    size = _example_bytes(example)
    with self._lock:
      if index not in self._cache and size <= self.max_bytes:
        self._cache[index] = (example, size)
        self._bytes += size
        while self._bytes > self.max_bytes:
          self._bytes -= self._cache.popitem(last=False)[1][1]
    return example


def cached(source: Sequence, max_mb: float) -> Sequence:
  """`source` behind a CachedSource of max_mb megabytes (0: the source itself)."""
  return CachedSource(source, max_mb) if max_mb > 0 else source


PACKED_LIPS = ("lip_points", "head_scale", "head_rotation", "head_translation")


class PackedSource(Sequence):
  """The clips of a pack (data_prep.pack) as TFDS-shaped examples, held in memory. It needs
  neither TensorFlow Datasets nor TensorFlow."""

  def __init__(self, path: str, dataset: str = "", split: str = ""):
    if not os.path.isfile(path):
      raise FileNotFoundError(f"{path}: no such pack; make one with python -m data_prep.pack")
    with np.load(path) as f:
      self.arrays = {k: f[k] for k in f.files}
    for key, want in (("dataset", dataset), ("split", split)):
      have = str(self.arrays[key])
      if want and have and want != have:
        raise FileNotFoundError(f"{path}: a pack of {key} {have!r}, not {want!r}")
    self.resolution = int(self.arrays["resolution"])
    self._args = (path, dataset, split)

  def __reduce__(self):  # a worker process reopens the pack instead of receiving its arrays
    return PackedSource, self._args

  def __len__(self):
    return len(self.arrays["num_frames"])

  def __getitem__(self, index):
    a = self.arrays
    f0, f1 = a["frame_start"][index], a["frame_start"][index + 1]
    images, starts = a["image"], a["image_start"]
    return {
        "clip_id": str(a["clip_id"][index]), "identity": str(a["identity"][index]),
        "source": str(a["source"][index]), "start_frame": a["start_frame"][index],
        "num_frames": a["num_frames"][index],
        "frames": [images[starts[k]:starts[k + 1]] for k in range(f0, f1)],
        "lip_mask": a["lip_mask"][f0:f1], "rect_mask": a["rect_mask"][f0:f1],
        "mouth_opening": a["mouth_opening"][f0:f1], "mouth_shape": a["mouth_shape"][f0:f1],
        "mel": a["mel"][a["mel_start"][index]:a["mel_start"][index + 1]].astype(np.float32),
        # The lips and head poses (lip_hint), in packs made since they were added.
        **{k: a[k][f0:f1] for k in PACKED_LIPS if k in a},
    }


def _stack(samples: list[dict]) -> dict:
  return {k: np.stack([s[k] for s in samples]) for k in samples[0]}
