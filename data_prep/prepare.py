"""Talking-face videos -> processed clips: 25 fps 256x256 face crops, mesh, head pose, lip masks, mel.

  python -m data_prep.prepare --input DIR --output DIR [--layout voxceleb2|hdtf|folder] [--workers K]

Per video (`process_video`, also what the TFDS Beam pipelines run per element):
  - frames resampled to 25 fps by timestamp; audio to 16 kHz mono on the same clock;
  - MediaPipe mesh tracked on every frame; the crop box (lipsync_jax.face_crop: from the head
    pose, not the jaw) smoothed over +-3 frames; a 256x256 crop; the 478 landmarks and head pose
    in crop pixels;
  - the pose-aware lip masks (lipsync_jax.masking.track_masks: the segment's closed-mouth shape in
    each frame's pose) and the rectangular lower-half baseline mask;
  - the log-mel of the clip's audio (lipsync_jax.audio), 4 mel frames per video frame.
Spans without a detectable face split the video into segments; segments shorter than
PrepareConfig.min_frames are dropped; long ones are cut at --max_frames so memory stays bounded.

Output: OUT/clips/<key>__NNN.npz per segment (written atomically), OUT/done/<key>.json once a video
is finished (reruns skip it: resumable, and a kill -9 loses nothing finished; on Linux the workers
end with the run), and OUT/failures.jsonl with one line per bad video and the reason (skipped on
reruns unless --retry_failed). One run per output folder at a time: a rerun sweeps the temporaries
of a killed run.
SIGTERM or SIGINT stops a run cleanly: the workers remove their temporaries, finished videos are
kept, one line says so and the exit status is 128 + the signal's number.
"""

import argparse
import collections
import dataclasses
import json
import multiprocessing
import os
import re
import signal
import sys
import time

import cv2
import numpy as np

from lipsync_jax import audio as audio_lib
from lipsync_jax import face_geometry as fg
from lipsync_jax import face_crop, face_mesh, fileio, masking, media, segments

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
SAMPLES_PER_FRAME = audio_lib.SAMPLE_RATE // audio_lib.FPS


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
  size: int = 256
  crop_scale: float = face_crop.CROP_SCALE
  crop_shift_y: float = face_crop.CROP_SHIFT_Y
  smooth_radius: int = 3  # box averaged over +-3 frames
  min_frames: int = 15
  max_frames: int = 750  # 30 s per segment
  min_face_px: int = 48  # smaller faces count as no face
  jpeg_quality: int = 95
  mask_jaw_open: float = 1.0
  mask_dilate: float = 0.06
  silence_rms: float = 1e-4


@dataclasses.dataclass(frozen=True)
class VideoItem:
  path: str
  key: str  # unique, filesystem-safe relative name
  identity: str


def _safe_key(rel: str) -> str:
  return re.sub(r"[^A-Za-z0-9_./-]", "_", rel)


def discover(input_dir: str, layout: str = "folder") -> list[VideoItem]:
  """Videos under input_dir with their identity, by dataset layout, sorted."""
  items = []
  for root, _, files in os.walk(input_dir):
    for name in files:
      if not name.lower().endswith(VIDEO_EXTENSIONS) or name.startswith(".tmp-"):
        continue
      path = os.path.join(root, name)
      rel = os.path.relpath(path, input_dir)
      key = _safe_key(os.path.splitext(rel)[0])
      parts = rel.split(os.sep)
      if layout == "voxceleb2":  # [dev|test/][mp4/]id<digits>/<youtube id>/<clip>.mp4
        ids = [p for p in parts[:-1] if re.fullmatch(r"id\d+", p)]
        if not ids:
          continue
        identity = ids[-1]
      elif layout == "hdtf":  # flat: WRA_AdamSchiff_000.mp4 -> WRA_AdamSchiff
        identity = re.sub(r"_\d+$", "", os.path.splitext(name)[0])
      elif layout == "folder":  # identity from a json sidecar, else the parent folder
        identity = None
        sidecar = os.path.splitext(path)[0] + ".json"
        if os.path.exists(sidecar):
          try:
            with open(sidecar) as f:
              identity = json.load(f).get("identity")
          except (OSError, ValueError):
            identity = None
        if not identity:
          identity = parts[-2] if len(parts) > 1 else os.path.splitext(name)[0]
      else:
        raise ValueError(f"unknown layout {layout!r}: use voxceleb2, hdtf or folder")
      items.append(VideoItem(path, key, identity))
  return sorted(items, key=lambda it: it.key)


class _Timer:
  def __init__(self):
    self.seconds = collections.defaultdict(float)

  def add(self, stage, since):
    now = time.perf_counter()
    self.seconds[stage] += now - since
    return now


class _Segment:
  """Accumulates one face segment's per-frame outputs."""

  def __init__(self, start: int):
    self.start = start
    self.jpegs, self.landmarks, self.scale, self.rotation, self.translation = [], [], [], [], []
    self.boxes = []

  def __len__(self):
    return len(self.jpegs)


def _finish_segment(seg: _Segment, audio: np.ndarray, item: VideoItem, index: int,
                    config: PrepareConfig, timer: _Timer) -> dict:
  t = time.perf_counter()
  n = len(seg)
  a0 = seg.start * SAMPLES_PER_FRAME
  clip_audio = audio[a0:a0 + n * SAMPLES_PER_FRAME]
  clip_audio = np.pad(clip_audio, (0, n * SAMPLES_PER_FRAME - len(clip_audio)))
  mel = audio_lib.log_mel(clip_audio)
  t = timer.add("mel", t)
  offsets = np.cumsum([0] + [len(j) for j in seg.jpegs]).astype(np.int64)
  landmarks = np.stack(seg.landmarks).astype(np.float32)
  lip_masks = masking.track_masks(seg.landmarks, list(zip(seg.scale, seg.rotation, seg.translation)),
                                  config.size, config.mask_jaw_open, config.mask_dilate)
  t = timer.add("mask", t)
  return {
      "frames_jpeg": np.frombuffer(b"".join(seg.jpegs), np.uint8),
      "frames_offsets": offsets,
      "landmarks": landmarks,
      "head_scale": np.array(seg.scale, np.float32),
      "head_rotation": np.stack(seg.rotation).astype(np.float32),
      "head_translation": np.stack(seg.translation).astype(np.float32),
      "lip_mask": np.packbits(lip_masks.astype(bool), axis=-1),
      "rect_mask": np.packbits(np.stack([masking.rect_mask(p, config.size) for p in landmarks])
                               .astype(bool), axis=-1),
      "box": np.stack(seg.boxes).astype(np.float32),
      "mouth_opening": np.array([fg.mouth_opening(p) for p in landmarks], np.float32),
      "audio": np.round(np.clip(clip_audio, -1, 1) * 32767).astype(np.int16),
      "mel": mel,
      "meta": np.array(json.dumps({
          "key": item.key, "identity": item.identity, "source": item.path, "segment": index,
          "start_frame": seg.start, "num_frames": n, "fps": audio_lib.FPS, "size": config.size,
          "clip_id": f"{item.key}__{index:03d}"})),
  }


def process_video(item: VideoItem, config: PrepareConfig = PrepareConfig(), mesh=None,
                  timer: _Timer | None = None):
  """Yields the processed segments (dicts of arrays, see _finish_segment) of one video.

  Raises media.MediaError (or ValueError) with the file and the reason for unusable input.
  """
  from lipsync_jax.face_mesh import FaceMesh
  timer = timer or _Timer()
  own_mesh = mesh is None
  mesh = mesh or FaceMesh(track=True)
  try:
    t = time.perf_counter()
    start = media.video_start_time(item.path)
    audio = media.read_audio(item.path, audio_lib.SAMPLE_RATE, start_time=start)
    if np.sqrt(np.mean(audio.astype(np.float64) ** 2)) < config.silence_rms:
      raise media.MediaError(item.path, "audio track is silent")
    max_frames_by_audio = len(audio) // SAMPLES_PER_FRAME
    if max_frames_by_audio < config.min_frames:
      raise media.MediaError(item.path, f"audio lasts {len(audio) / audio_lib.SAMPLE_RATE:.2f} s, "
                             f"shorter than {config.min_frames} frames")
    timer.add("decode", t)
    yield from _segments(item, audio, max_frames_by_audio, config, mesh, timer)
  finally:
    if own_mesh:
      mesh.close()


def _segments(item, audio, max_frames, config, mesh, timer):
  r = config.smooth_radius
  face_frames, emitted = 0, 0
  pending = collections.deque()  # (index, frame, landmarks) awaiting their smoothed box
  boxes = {}  # index -> raw box, for the current run of consecutive face frames
  seg, seg_index, frames_seen = None, 0, 0

  def finalize(k, frame, pts):
    nonlocal seg
    t = time.perf_counter()
    window = [boxes[j] for j in range(k - r, k + r + 1) if j in boxes]
    box = np.mean(window, 0)
    crop, affine = face_crop.crop_face(frame, box, config.size)
    local = face_crop.to_crop(pts, affine)
    t = timer.add("crop", t)
    pose = fg.estimate_pose(local)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])
    timer.add("write", t)
    if seg is None:
      seg = _Segment(k)
    seg.jpegs.append(jpeg.tobytes())
    seg.landmarks.append(local)
    seg.scale.append(pose[0])
    seg.rotation.append(pose[1])
    seg.translation.append(pose[2])
    seg.boxes.append(box)
    if len(seg) >= config.max_frames:
      return close_segment()
    return None

  def close_segment():
    nonlocal seg, seg_index
    out = None
    if seg is not None and len(seg) >= config.min_frames:
      out = _finish_segment(seg, audio, item, seg_index, config, timer)
      seg_index += 1
    seg = None
    return out

  def flush_run():
    outs = []
    while pending:
      outs.append(finalize(*pending.popleft()))
    boxes.clear()
    outs.append(close_segment())
    return [o for o in outs if o is not None]

  t = time.perf_counter()
  for k, frame in enumerate(media.iter_frames(item.path, audio_lib.FPS)):
    if k >= max_frames:  # audio shorter than video: the rest has no sound to learn from
      break
    frames_seen += 1
    t = timer.add("decode", t)
    pts = mesh(frame)
    t = timer.add("mesh", t)
    if pts is not None and (pts[:, :2].max(0) - pts[:, :2].min(0)).max() < config.min_face_px:
      pts = None
    if pts is None:
      for out in flush_run():
        emitted += 1
        yield out
      t = time.perf_counter()
      continue
    face_frames += 1
    boxes[k] = face_crop.box_from_landmarks(pts, config.crop_scale, config.crop_shift_y)
    boxes.pop(k - 2 * r - 1, None)
    pending.append((k, frame, pts))
    while pending and pending[0][0] + r <= k:
      out = finalize(*pending.popleft())
      if out is not None:
        emitted += 1
        yield out
    t = time.perf_counter()
  for out in flush_run():
    emitted += 1
    yield out
  if frames_seen == 0:
    raise media.MediaError(item.path, "no video frames decoded")
  if face_frames == 0:
    raise media.MediaError(item.path, f"no face found in any of its {frames_seen} frames")
  if emitted == 0:
    raise media.MediaError(item.path, f"a face is visible in {face_frames} of {frames_seen} frames, "
                           f"but in no run of {config.min_frames} consecutive frames")


save_segment = segments.save_segment  # the format is lipsync_jax.segments'
load_segment = segments.load_segment


def decode_frame(segment: dict, index: int) -> np.ndarray:
  """RGB frame `index` of a loaded segment."""
  lo, hi = segment["frames_offsets"][index], segment["frames_offsets"][index + 1]
  bgr = cv2.imdecode(segment["frames_jpeg"][lo:hi], cv2.IMREAD_COLOR)
  return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def unpack_mask(packed: np.ndarray, size: int) -> np.ndarray:
  return np.unpackbits(packed, axis=-1, count=size).astype(np.uint8)


def _done_path(output_dir, key):
  return os.path.join(output_dir, "done", key + ".json")


def _segment_path(output_dir, key, index):
  return os.path.join(output_dir, "clips", f"{key}__{index:03d}.npz")


def prepare_one(item: VideoItem, output_dir: str, config: PrepareConfig, mesh=None) -> dict:
  """Processes one video to disk; returns a summary (segments, frames, stage seconds)."""
  timer = _Timer()
  written = []
  frames = 0
  for index, segment in enumerate(process_video(item, config, mesh, timer)):
    t = time.perf_counter()
    path = _segment_path(output_dir, item.key, index)
    save_segment(segment, path)
    timer.add("write", t)
    written.append(os.path.relpath(path, output_dir))
    frames += len(segment["frames_offsets"]) - 1
  summary = {"key": item.key, "identity": item.identity, "source": item.path,
             "segments": written, "frames": frames, "seconds": dict(timer.seconds)}
  with media.atomic_path(_done_path(output_dir, item.key)) as tmp:
    with open(tmp, "w") as f:
      json.dump(summary, f)
  return summary


_worker_mesh = None


def _worker(args):
  item, output_dir, config = args
  global _worker_mesh
  from lipsync_jax.face_mesh import FaceMesh
  if _worker_mesh is None:
    _worker_mesh = FaceMesh(track=True)
  _worker_mesh._mesh.reset()  # tracking state must not leak from the previous video
  try:
    return item, prepare_one(item, output_dir, config, _worker_mesh), None
  except (media.MediaError, ValueError) as e:
    return item, None, str(e)
  except Exception as e:  # anything else is still this video's problem, not the run's
    return item, None, f"{item.path}: {type(e).__name__}: {e}"


def _worker_init(parent_pid: int):
  """The pool's initializer: fileio's signal handling, and on Linux the worker ends when the run
  does. Else, after a kill -9 of the run, a worker finishes its video beside the rerun redoing it."""
  fileio.pool_worker_signals()
  # MediaPipe's threads log on fd 2 at any time (a feedback-manager line mid-progress-bar);
  # the worker's Python stderr keeps the terminal (unless --verbose: then all of it does).
  face_mesh.native_stderr_to_null()
  if sys.platform.startswith("linux"):
    import ctypes
    ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG: SIGTERM when the run dies
  if os.getppid() != parent_pid:  # it died before that
    os._exit(128 + signal.SIGTERM)


def _remove_stale_temporaries(output_dir: str):
  """Temporaries of writes that a killed run never finished (one run per output folder at a time)."""
  for root, _, files in os.walk(output_dir):
    for name in files:
      if name.startswith(".tmp-"):
        os.remove(os.path.join(root, name))


def load_failures(output_dir: str) -> dict:
  path = os.path.join(output_dir, "failures.jsonl")
  out = {}
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        try:
          rec = json.loads(line)
        except ValueError:  # a line cut by a kill: ignore it, the video is retried
          continue
        out[rec["key"]] = rec
  return out


def prepare(input_dir: str, output_dir: str, layout: str = "folder", workers: int = 1,
            config: PrepareConfig = PrepareConfig(), retry_failed: bool = False,
            progress: bool = True) -> dict:
  """Processes every video under input_dir; resumable. Returns counts and the stage timings."""
  from tqdm import tqdm
  items = discover(input_dir, layout)
  if not items:
    raise ValueError(f"{input_dir}: no videos found for layout {layout!r}")
  failures = {} if retry_failed else load_failures(output_dir)
  todo = [it for it in items if not os.path.exists(_done_path(output_dir, it.key))
          and it.key not in failures]
  os.makedirs(output_dir, exist_ok=True)
  _remove_stale_temporaries(output_dir)
  stats = {"videos": len(items), "skipped": len(items) - len(todo), "done": 0, "failed": 0,
           "frames": 0, "seconds": collections.defaultdict(float)}
  jobs = [(it, output_dir, config) for it in todo]
  with open(os.path.join(output_dir, "failures.jsonl"), "a") as failure_log:
    if workers > 1:
      pool = multiprocessing.get_context("spawn").Pool(workers, _worker_init, (os.getpid(),))
      results = pool.imap_unordered(_worker, jobs)
    else:
      pool, results = None, map(_worker, jobs)
    bar = tqdm(total=len(jobs), desc="prepare", unit="video", disable=not progress)
    start = time.perf_counter()
    try:
      for item, summary, error in results:
        if error:
          stats["failed"] += 1
          failure_log.write(json.dumps({"key": item.key, "path": item.path, "reason": error}) + "\n")
          failure_log.flush()
          bar.write(f"skipped {error}")
        else:
          stats["done"] += 1
          stats["frames"] += summary["frames"]
          for stage, s in summary["seconds"].items():
            stats["seconds"][stage] += s
        bar.update(1)
        bar.set_postfix(fps=f"{stats['frames'] / (time.perf_counter() - start):.0f}")
    except BaseException:  # a signal or an error: stop the workers now (they clean up)
      if pool is not None:
        pool.terminate()
      raise
    finally:
      bar.close()
      if pool is not None:
        pool.close()
        pool.join()
  stats["wall_seconds"] = time.perf_counter() - start
  stats["seconds"] = dict(stats["seconds"])
  return stats


def _kept(output_dir: str) -> str:
  done = os.path.join(output_dir, "done")
  n = sum(name.endswith(".json") for name in os.listdir(done)) if os.path.isdir(done) else 0
  return f"{n} finished videos kept in {output_dir}, a rerun resumes"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--input", required=True, help="folder of videos (searched recursively)")
  parser.add_argument("--output", required=True,
                      help="output folder (clips/, done/, failures.jsonl); a rerun resumes")
  parser.add_argument("--layout", default="folder", choices=["voxceleb2", "hdtf", "folder"],
                      help="how a video's identity is read: voxceleb2 id<digits>/<video>/<clip>.mp4"
                           ", hdtf <file name less _NNN>, folder <json sidecar, else parent folder>")
  parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                      help="worker processes (default: the CPU count)")
  parser.add_argument("--retry_failed", action="store_true",
                      help="try again the videos failures.jsonl lists (skipped otherwise)")
  parser.add_argument("--max_frames", type=int, default=PrepareConfig.max_frames,
                      help="longest segment in frames (longer ones are cut; bounds the memory)")
  parser.add_argument("--verbose", action="store_true", help="show MediaPipe's start-up messages")
  args = parser.parse_args(argv)
  face_mesh.set_verbose(args.verbose)
  if not os.path.isdir(args.input):
    parser.error(f"--input {args.input}: not a folder")
  with fileio.stop_on_signals("prepare", lambda: _kept(args.output)):
    try:
      stats = prepare(args.input, args.output, args.layout, args.workers,
                      PrepareConfig(max_frames=args.max_frames), args.retry_failed)
    except ValueError as e:
      print(f"error: {e}", file=sys.stderr)
      return 2
  print(f"{stats['done']} videos prepared, {stats['failed']} failed, {stats['skipped']} already "
        f"done or failed before; {stats['frames']} frames in {stats['wall_seconds']:.1f} s")
  if stats["failed"]:
    print(f"failures are listed in {os.path.join(args.output, 'failures.jsonl')}")
  return 1 if stats["failed"] and not stats["done"] and not stats["skipped"] else 0


if __name__ == "__main__":
  sys.exit(main())
