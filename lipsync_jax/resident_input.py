"""Device-resident input: a split held in accelerator memory, each batch gathered there.

For data that fits on the accelerator (the synthetic corpus, an adaptation target), the host
pipeline's per-sample work (JPEG decoding, resizing, mel windows, augmentation: about 2 ms a
sample on a core) is what sets the pace of a fast chip. Here the split is decoded once at the
training resolution and uploaded (frames and masks as uint8, log-mel rows and mouth measures as
float32) and replicated on every device. Each step the host makes only the samples' draws
(input_pipeline.draw, the host pipeline's own rule: the same samples, and exact resume from the
step), a few hundred bytes a sample, and a jitted gather builds the batch on the devices, each
device its own rows, augmented there (the same draws as input_pipeline.augment; bilinear
resampling computed in float, so pixels may differ from OpenCV's fixed-point ones by a grey level).

Use it with config.device_input = True; `python benchmarks/input_pipeline_speed.py` compares it
with the host pipeline.
"""

import concurrent.futures
import functools

import cv2
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec as P

from lipsync_jax import audio as audio_lib
from lipsync_jax import input_pipeline as ip

# Mel rows kept past each end of a clip's track, as silence: a window of a frame up to max_shift
# frames outside the clip (a SyncNet negative) stays inside its own clip's rows.
_MEL = audio_lib.MEL_PER_VIDEO_FRAME


def _mel_margin(config: ip.PipelineConfig) -> int:
  return _MEL * (config.max_shift + audio_lib.WINDOW_VIDEO_FRAMES)


class ResidentSplit:
  """A split's clips decoded at config.resolution into flat host arrays (what is uploaded), and
  each sample's draws turned into indices into them."""

  def __init__(self, source, config: ip.PipelineConfig, audio_source=None):
    self.config = config
    self.wanted = wanted = set(config.fields or ip.ALL_FIELDS)
    if wanted & {"hint", "sync_hint", "lips", "reference_lips"}:
      raise ValueError("the device-resident input does not make the lips or draw lip hints "
                       "(lip_hint): set config.device_input=False")
    self.num_audio_clips = len(source if audio_source is None else audio_source)
    t, margin = config.num_frames, _mel_margin(config)
    mask_key = {"pose": "lip_mask", "rect": "rect_mask"}[config.mask]
    images = bool(wanted & {"frames", "masks", "reference"})

    def load(index):
      clip = source[index]
      n = int(clip["num_frames"])
      if n < t:
        raise ValueError(f"clip {clip['clip_id']!r} has {n} frames, fewer than T={t}")
      out = {"n": n, "mel": self._padded_mel(clip["mel"], n)}
      if images:
        out["frames"] = ip.clip_frames(clip, n, config.resolution)
      if "masks" in wanted:
        out["masks"] = np.stack([ip.resize_mask(m, config.resolution)
                                 for m in ip.unpack_masks(np.asarray(clip[mask_key][:n]))])
      if "mouth_shape" in wanted:
        out["mouth_shape"] = ip.mouth_shapes(clip, 0, n)
      if "mouth_opening" in wanted:
        out["mouth_opening"] = np.asarray(clip["mouth_opening"][:n], np.float32)
      return out

    with concurrent.futures.ThreadPoolExecutor(config.num_threads) as pool:
      clips = list(pool.map(load, range(len(source))))
    self.num_frames = np.array([c["n"] for c in clips])
    self.frame_start = np.concatenate([[0], np.cumsum(self.num_frames)])
    self.mel_origin = self._mel_origins([c["mel"] for c in clips], margin)
    self.arrays = {"mel": np.concatenate([c["mel"] for c in clips])}
    for key in ("frames", "masks", "mouth_shape", "mouth_opening"):
      if key in clips[0]:
        self.arrays[key] = np.concatenate([c[key] for c in clips])
    if audio_source is None or "sync_mels" not in wanted:
      self.audio_frames, self.audio_origin = self.num_frames, self.mel_origin
    else:  # the sync regulariser's audio: another split's mels alone, after this one's rows
      def load_audio(index):
        clip = audio_source[index]
        return int(clip["num_frames"]), self._padded_mel(clip["mel"], int(clip["num_frames"]))
      with concurrent.futures.ThreadPoolExecutor(config.num_threads) as pool:
        audio = list(pool.map(load_audio, range(len(audio_source))))
      self.audio_frames = np.array([n for n, _ in audio])
      self.audio_origin = (self._mel_origins([m for _, m in audio], margin) +
                           len(self.arrays["mel"]))
      self.arrays["mel"] = np.concatenate([self.arrays["mel"]] + [m for _, m in audio])
    logging.info("device-resident split: %d clips, %d frames, %.1f MB", len(clips),
                 self.frame_start[-1], sum(a.nbytes for a in self.arrays.values()) / 1e6)

  def _padded_mel(self, mel, n):
    """A clip's log-mel rows with silence before and after: enough for every window of frames
    -max_shift .. n + max_shift."""
    margin = _mel_margin(self.config)
    mel = np.asarray(mel, np.float32)
    after = max(margin, _MEL * (n + self.config.max_shift) + margin - len(mel))
    fill = lambda k: np.full((k, mel.shape[1]), audio_lib.SILENCE, np.float32)  # noqa: E731
    return np.concatenate([fill(margin), mel, fill(after)])

  @staticmethod
  def _mel_origins(padded, margin):
    """Row of each clip's mel frame 0 in the concatenated rows."""
    sizes = np.array([len(m) for m in padded])
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]) + margin

  def indices(self, step: int, position: int) -> dict:
    """The sample at (step, position) as indices (and augmentation) into the arrays."""
    cfg = self.config
    t = cfg.num_frames
    d = ip.draw(step, position, cfg, len(self.num_frames), self.num_audio_clips,
                lambda i: int(self.num_frames[i]))
    first = self.frame_start[d.clip_index]
    window = d.start + np.arange(t)
    # audio_lib.mel_window_start of each frame, from the clip's mel frame 0
    row = lambda origin, frames: origin + _MEL * (frames - audio_lib.WINDOW_VIDEO_FRAMES // 2)  # noqa: E731
    out = {
        "clip_index": np.int32(d.clip_index), "start_frame": np.int32(d.start),
        "frame_index": (first + window).astype(np.int32),
        "reference_index": np.int32(first + d.ref_index),
        "mel_row": row(self.mel_origin[d.clip_index], window).astype(np.int32),
        "shifted_mel_row": row(self.mel_origin[d.clip_index],
                               d.start + t // 2 + np.array(d.shifts, int)).astype(np.int32),
    }
    if "sync_mels" in self.wanted:
      other_start = d.other_start(int(self.audio_frames[d.other_index]), t)
      out["sync_mel_row"] = row(self.audio_origin[d.other_index],
                                other_start + np.arange(t)).astype(np.int32)
    if cfg.audio_augment:
      factor, gain = ip.audio_augmentation(cfg, step, position)
      lo, hi, w = audio_lib.warp_taps(factor)
      out.update(mel_lo=lo, mel_hi=hi, mel_w=w, mel_gain=np.float32(gain))
    if cfg.augment:
      a = ip.augmentation(ip.augment_rng(cfg, step, position), cfg.resolution)
      out.update(inverse_warp=cv2.invertAffineTransform(a.matrix).astype(np.float32),
                 flip=np.int32(a.flip),
                 colour_map=a.colour_map.astype(np.float32))
    return out


def _reflect(i, n):
  """cv2.BORDER_REFLECT (fedcba|abcdef|fedcba) of integer indices."""
  i = jnp.where(i < 0, -i - 1, i)
  return jnp.where(i >= n, 2 * n - 1 - i, i)


def _warp(images, inverse, nearest: bool):
  """cv2.warpAffine(image, matrix) of (..., R, R, C) uint8 images, with the inverse map given;
  bilinear or nearest, reflected at the borders."""
  r = images.shape[-2]
  y, x = jnp.meshgrid(jnp.arange(r, dtype=jnp.float32), jnp.arange(r, dtype=jnp.float32),
                      indexing="ij")
  sx = inverse[0, 0] * x + inverse[0, 1] * y + inverse[0, 2]
  sy = inverse[1, 0] * x + inverse[1, 1] * y + inverse[1, 2]
  if nearest:
    xi = _reflect(jnp.floor(sx + 0.5).astype(jnp.int32), r)
    yi = _reflect(jnp.floor(sy + 0.5).astype(jnp.int32), r)
    return images[..., yi, xi, :]
  x0, y0 = jnp.floor(sx), jnp.floor(sy)
  fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
  x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
  pixel = lambda yy, xx: images[..., _reflect(yy, r), _reflect(xx, r), :].astype(jnp.float32)  # noqa: E731
  top = pixel(y0, x0) * (1 - fx) + pixel(y0, x0 + 1) * fx
  bottom = pixel(y0 + 1, x0) * (1 - fx) + pixel(y0 + 1, x0 + 1) * fx
  return jnp.clip(jnp.round(top * (1 - fy) + bottom * fy), 0, 255).astype(jnp.uint8)


def _augment_one(frames, masks, reference, inverse, flip, colour_map):
  """input_pipeline.augment of one sample, on the device."""
  def geometry(images, nearest):
    out = _warp(images, inverse, nearest)
    return jnp.where(flip > 0, out[..., ::-1, :], out)

  def colour(images):  # the 3x4 affine map of RGB as multiply-adds: XLA's K=3 matmul 17x slower
    x = images.astype(jnp.float32)
    rgb = (x[..., :1] * colour_map[:, 0] + x[..., 1:2] * colour_map[:, 1]
           + x[..., 2:] * colour_map[:, 2] + colour_map[:, 3])
    return jnp.clip(jnp.round(rgb), 0, 255).astype(jnp.uint8)

  return (colour(geometry(frames, False)), None if masks is None else geometry(masks, True),
          colour(geometry(reference, False)))


def _heard(windows, lo, hi, w, gain):
  """audio.warp_mel of one sample's (..., 20, 80) windows, on the device."""
  warped = windows[..., lo] * (1 - w) + windows[..., hi] * w
  return jnp.maximum(warped + gain, audio_lib.SILENCE)


def gather(arrays: dict, idx: dict, fields: tuple, augment: bool) -> dict:
  """The batch (input_pipeline's fields, dtypes and shapes) of a batch of indices: jit it."""
  window = jnp.arange(audio_lib.WINDOW_MEL_FRAMES)

  def mel_rows(rows, own=True):  # own: the sample's clip, heard as its audio augmentation has it
    windows = arrays["mel"][rows[..., None] + window]
    if own and "mel_gain" in idx:
      windows = jax.vmap(_heard)(windows, idx["mel_lo"], idx["mel_hi"], idx["mel_w"],
                                 idx["mel_gain"])
    return windows

  out = {"clip_index": idx["clip_index"], "start_frame": idx["start_frame"]}
  if {"frames", "masks", "reference"} & set(fields):
    at = idx["frame_index"]
    frames, reference = arrays["frames"][at], arrays["frames"][idx["reference_index"]]
    masks = arrays["masks"][at] if "masks" in arrays else None
    if augment:
      frames, masks, reference = jax.vmap(_augment_one)(
          frames, masks, reference, idx["inverse_warp"], idx["flip"], idx["colour_map"])
    out.update(frames=frames, masks=masks, reference=reference)
  if "mels" in fields:
    out["mels"] = mel_rows(idx["mel_row"])
  if "sync_mels" in fields:
    out["sync_mels"] = mel_rows(idx["sync_mel_row"], own=False)
  if "shifted_mels" in fields:
    out["shifted_mels"] = mel_rows(idx["shifted_mel_row"])
  if "mouth_shape" in fields:
    out["mouth_shape"] = arrays["mouth_shape"][idx["frame_index"]]
  if "mouth_opening" in fields:
    out["mouth_opening"] = arrays["mouth_opening"][idx["frame_index"]]
  return {k: v for k, v in out.items() if k in fields and v is not None}


class ResidentIterator:
  """input_pipeline.TrainIterator's interface over a ResidentSplit: next() gives this host's rows
  of the batch's indices; the loop shards them like a batch and calls gather(indices, mesh)."""

  def __init__(self, source, global_batch_size: int, config: ip.PipelineConfig,
               process_index: int = 0, process_count: int = 1, start_step: int = 0,
               audio_source=None):
    if global_batch_size % process_count:
      raise ValueError(f"global batch {global_batch_size} does not split over {process_count} hosts")
    if len(source) == 0:
      raise ValueError("the training split is empty")
    self.split = ResidentSplit(source, config, audio_source)
    self.config = config
    self.local_batch_size = global_batch_size // process_count
    self.first_position = process_index * self.local_batch_size
    self.step = start_step
    self._on_device = None

  def batch_indices(self, step: int) -> dict:
    rows = [self.split.indices(step, self.first_position + i) for i in range(self.local_batch_size)]
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    out = self.batch_indices(self.step)
    self.step += 1
    return out

  def gather(self, indices: dict, mesh) -> dict:
    """The batch of sharded indices, built on the devices (the split uploaded on first use)."""
    if self._on_device is None:
      replicated = NamedSharding(mesh, P())
      self._on_device = {k: jax.make_array_from_callback(v.shape, replicated,
                                                         lambda index, v=v: v[index])
                         for k, v in self.split.arrays.items()}
      fields = tuple(self.config.fields or ip.ALL_FIELDS)
      self._gather = jax.jit(functools.partial(gather, fields=fields, augment=self.config.augment),
                             out_shardings=NamedSharding(mesh, P("data")))
    return self._gather(self._on_device, indices)

  def get_state(self) -> dict:
    return {"step": self.step}

  def set_state(self, state: dict):
    self.step = int(state["step"])

  def close(self):
    pass
