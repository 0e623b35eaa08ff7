"""The synthetic talking-face corpus: the project's embedded default data set.

Each clip animates a face (a shipped photo, or for training clips one of data_prep.identities'
looks: morphs of two training people and appearance changes) with speech from espeak-ng:

  text -> espeak-ng speech + phoneme timings -> visemes with co-articulation (data_prep.visemes)
  -> jaw opening, lip width, lip rounding per frame -> the mouth model of lipsync_jax.face_geometry
  moves the photo's MediaPipe mesh in pose-normalised space -> smooth random head motion (yaw,
  pitch, roll, translation, scale) and blinks -> a piecewise-affine warp of the photo onto the moved
  mesh -> the inner mouth painted where the lips part (dark cavity, teeth, tongue).

Per clip it writes `clips/<id>.mp4` (H.264, 25 fps, AAC 16 kHz mono), `clips/<id>.npz` (per-frame
ground truth: mouth parameters, measured mouth opening, 478 landmarks, head motion) and
`clips/<id>.json` (identity, voice, text, phonemes, split), the json last, as the completion mark.
Output is deterministic for a seed; identities and voices can be held out for the test split (a
held-out person's photo is never part of a training look).

Usage: python -m data_prep.synthetic --out DIR --num_clips N --seed S [--workers K]
SIGTERM or SIGINT stops it cleanly: no temporaries left, finished clips kept, one line says so, and
the exit status is 128 + the signal's number.
"""

import argparse
import dataclasses
import functools
import json
import multiprocessing
import os
import sys

import cv2
import numpy as np
from scipy.spatial import Delaunay

from data_prep import faces, identities, tts, visemes
from lipsync_jax import audio as audio_lib
from lipsync_jax import face_geometry as fg
from lipsync_jax import face_mesh, fileio, media

TRAIN_VOICES = ("en+m1", "en-us+m3", "en-us+f2", "en-029+m2", "en-gb-x-rp+f4", "en+f1",
                "en-us+m7", "en-gb-x-gbclan+f3")
TEST_VOICES = ("en-gb-scotland+m4", "en-us+f5")
TEST_IDENTITIES = ("joe_biden",)

_SUBJECTS = ("the old sailor", "my brother", "a quiet robot", "the doctor", "every morning the baker",
             "our neighbour", "the small boat", "a yellow bird", "the teacher", "my friend Paul",
             "the whole team", "that famous pianist", "the blue truck", "a wise owl")
_VERBS = ("opened", "carried", "painted", "watched", "moved", "found", "loved", "pushed", "played",
          "bought", "followed", "measured", "wrapped", "remembered")
_OBJECTS = ("a heavy box", "the morning paper", "two bright apples", "the broken window",
            "some warm bread", "a map of the moon", "the wooden bridge", "five purple balloons",
            "an old photograph", "the kitchen floor", "a bowl of soup", "the big black umbrella")
_ENDINGS = ("before lunch", "in the rain", "by the river", "with great care", "on Monday",
            "near the harbour", "after the show", "without a sound", "for the children",
            "at the market", "under the bridge", "very slowly")


@dataclasses.dataclass(frozen=True)
class RenderConfig:
  frame_size: int = 384  # square output frames
  fps: int = audio_lib.FPS
  sample_rate: int = audio_lib.SAMPLE_RATE
  face_fraction: float = 0.42  # mesh width over frame width
  max_yaw_deg: float = 14.0
  max_pitch_deg: float = 9.0
  max_roll_deg: float = 6.0
  max_shift: float = 0.04  # of the frame size
  max_scale: float = 0.05
  crf: int = 18


def random_text(rng: np.random.Generator) -> str:
  sentences = []
  for _ in range(rng.integers(1, 3)):
    s = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
    if rng.random() < 0.7:
      s += f" {rng.choice(_ENDINGS)}"
    sentences.append(s[0].upper() + s[1:] + rng.choice([".", ".", "!", "?"]))
  return " ".join(sentences)


@dataclasses.dataclass
class PreparedPhoto:
  image: np.ndarray  # (S, S, 3) uint8, the face centred
  normalized: np.ndarray  # (478, 3) mesh in canonical pose and scale, its lips closed (the rest)
  scale: float
  rotation: np.ndarray
  translation: np.ndarray
  anchors: np.ndarray  # (K, 2) points around the face and on the frame border
  ring_count: int  # the first ring_count anchors surround the face and follow the head
  source_points: np.ndarray  # (478 + K, 2) the photo's landmarks and anchors: the warp's source


def prepare_photo(photo: np.ndarray, landmarks: np.ndarray, config: RenderConfig) -> PreparedPhoto:
  """Crops a photo around its face to the frame size; fits the mesh's pose and its closed mouth."""
  size = config.frame_size
  lo, hi = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
  center = (lo + hi) / 2
  side = (hi - lo)[0] / config.face_fraction
  zoom = size / side
  # Affine crop: frame = zoom * (photo - (center - side / 2)), the face at the centre.
  m = np.array([[zoom, 0, size / 2 - zoom * center[0]], [0, zoom, size / 2 - zoom * center[1]]])
  image = cv2.warpAffine(photo, m, (size, size), flags=cv2.INTER_AREA if zoom < 1 else cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REFLECT101)
  pts = np.array(landmarks, np.float64)
  pts[:, :2] = pts[:, :2] * zoom + m[:, 2]
  pts[:, 2] *= zoom
  scale, rot, trans = fg.estimate_pose(pts)
  # Photos may smile or speak: the rest closes the lips along the whole mouth.
  rest = fg.close_lips(fg.normalize_pose(pts, scale, rot, trans))
  # Anchors: a ring around the face that moves with the head, and the frame border that does not.
  face_c = pts[:, :2].mean(0)
  radii = (pts[:, :2].max(0) - pts[:, :2].min(0)) * np.array([0.85, 0.8])
  angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
  ring = face_c + radii * np.stack([np.cos(angles), np.sin(angles)], 1)
  edge = np.linspace(-0.25 * size, 1.25 * size, 7)
  border = np.array([(x, y) for x in edge for y in edge
                     if min(x, y) < 0 or max(x, y) > size])
  anchors = np.concatenate([ring, border])
  return PreparedPhoto(image, rest, scale, rot, trans, anchors, len(ring),
                       np.concatenate([pts[:, :2], anchors]))


def piecewise_affine_warp(image: np.ndarray, src: np.ndarray, dst: np.ndarray,
                          triangles: np.ndarray) -> np.ndarray:
  """Warps `image` so that each src triangle lands on its dst triangle (backward mapping)."""
  h, w = image.shape[:2]
  dst_h = np.concatenate([dst[triangles], np.ones(triangles.shape + (1,))], -1)  # (n, 3, 3)
  affine = np.linalg.pinv(dst_h) @ src[triangles]  # (n, 3, 2): [x y 1] @ A = src
  index = np.full((h, w), len(triangles), np.int32)  # len(...) = identity for uncovered pixels
  fixed = np.round(dst[triangles] * 16).astype(np.int32)
  for i, tri in enumerate(fixed):
    cv2.fillConvexPoly(index, tri, int(i), lineType=cv2.LINE_8, shift=4)
  affine = np.concatenate([affine, np.array([[[1, 0], [0, 1], [0, 0]]], np.float64)])
  affine = affine.astype(np.float32)
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
  # Each source coordinate from its own (h, w, 3) gather of [x y 1]'s coefficients: contiguous,
  # twice as fast as slicing one (h, w, 3, 2) gather, the same float32 arithmetic.
  map_x, map_y = (xs * a[..., 0] + ys * a[..., 1] + a[..., 2]
                  for a in (affine[:, :, 0][index], affine[:, :, 1][index]))
  return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def _poly_mask(shape, points: np.ndarray) -> np.ndarray:
  mask = np.zeros(shape, np.uint8)
  cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
  return mask.astype(np.float32) / 255.0


def paint_mouth(frame: np.ndarray, pts: np.ndarray, teeth_shade: float) -> np.ndarray:
  """Paints the mouth interior inside the inner lip contour: cavity, upper and lower teeth, tongue.

  Only the box around the inner lips is touched: the cavity, which bounds every layer, lies inside
  it with a margin wider than its antialiased edge and the 3x3 blur, so the pixels are those of
  painting over the whole frame (17 ms a 384x384 frame there, a third of the corpus's time)."""
  ring = pts[list(fg.INNER_LIP_RING), :2]
  x, y = ring[:, 0], ring[:, 1]
  area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
  if area < 4.0:
    return frame
  margin = 4
  h, w = frame.shape[:2]
  x0, y0 = max(int(np.floor(x.min())) - margin, 0), max(int(np.floor(y.min())) - margin, 0)
  x1, y1 = min(int(np.ceil(x.max())) + margin + 1, w), min(int(np.ceil(y.max())) + margin + 1, h)
  shape = (y1 - y0, x1 - x0)
  pts = pts[:, :2] - [x0, y0]  # box coordinates: whole pixels, so the same subpixel positions
  ring = pts[list(fg.INNER_LIP_RING)]
  cavity = _poly_mask(shape, ring)
  mouth_w = np.linalg.norm(pts[fg.MOUTH_CORNERS[3]] - pts[fg.MOUTH_CORNERS[2]])
  opening = np.linalg.norm(pts[fg.LOWER_LIP_INNER_MID] - pts[fg.UPPER_LIP_INNER_MID])
  upper = pts[list(fg.LIPS_UPPER_INNER)]
  lower = pts[list(fg.LIPS_LOWER_INNER)]
  tooth = min(0.09 * mouth_w, 0.4 * opening + 0.5)
  upper_teeth = np.concatenate([upper, upper[::-1] + [0, tooth]])
  lower_teeth = np.concatenate([lower, lower[::-1] - [0, 0.4 * tooth * min(1.0, opening / (0.25 * mouth_w))]])
  teeth = np.maximum(_poly_mask(shape, upper_teeth), _poly_mask(shape, lower_teeth)) * cavity
  center = lower.mean(0) - [0, 0.25 * opening]
  tongue = np.zeros(shape, np.float32)
  cv2.ellipse(tongue, (tuple(np.round(center * 16).astype(int))),
              (int(0.3 * mouth_w * 16), int(0.3 * opening * 16)), 0, 0, 360, 1.0, -1,
              cv2.LINE_AA, 4)
  tongue = tongue * cavity * (1 - teeth)
  box = frame[y0:y1, x0:x1].astype(np.float32)
  layer = np.empty_like(box)
  layer[:] = (48, 16, 20)
  layer = layer * (1 - tongue[..., None]) + np.array([150, 62, 70]) * tongue[..., None]
  layer = layer * (1 - teeth[..., None]) + np.array([232, 226, 212]) * teeth_shade * teeth[..., None]
  layer = cv2.GaussianBlur(layer, (3, 3), 0)
  box = box * (1 - cavity[..., None]) + layer * cavity[..., None]
  out = frame.copy()
  out[y0:y1, x0:x1] = np.clip(box + 0.5, 0, 255).astype(np.uint8)
  return out


def _smooth_noise(rng, num_frames, fps, max_abs):
  """A sum of slow sinusoids in [-max_abs, max_abs]: natural-looking head motion."""
  t = np.arange(num_frames) / fps
  out = np.zeros(num_frames)
  for _ in range(3):
    freq = rng.uniform(0.08, 0.5)
    out += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
  return max_abs * out / 2.3


def _blinks(rng, num_frames, fps):
  amount = np.zeros(num_frames)
  t = rng.uniform(0.3, 2.5)
  while t < num_frames / fps:
    start = int(t * fps)
    profile = np.sin(np.linspace(0, np.pi, 6))
    end = min(start + len(profile), num_frames)
    amount[start:end] = np.maximum(amount[start:end], profile[:end - start])
    t += rng.uniform(2.0, 5.0)
  return amount


def render_frame(photo: PreparedPhoto, triangles: np.ndarray, jaw, width, rnd, blink, yaw, pitch,
                 roll, shift, zoom, teeth_shade) -> tuple[np.ndarray, np.ndarray]:
  """One frame and its (478, 3) landmarks."""
  moved = fg.deform_mouth(photo.normalized, jaw, width, rnd)
  rot = fg.rotation_from_euler(yaw, pitch, 0.0) @ photo.rotation
  pts = fg.apply_pose(moved, photo.scale, rot, photo.translation)
  pts = fg.blink(pts, blink)
  # Roll, zoom and shift as a similarity about the face centre; the ring around the face follows.
  c = photo.translation[:2]
  cr, sr = np.cos(roll), np.sin(roll)
  sim = zoom * np.array([[cr, -sr], [sr, cr]])
  pts[:, :2] = (pts[:, :2] - c) @ sim.T + c + shift
  pts[:, 2] *= zoom
  ring = photo.anchors[:photo.ring_count]
  ring_moved = (ring - c) @ sim.T + c + shift
  dst = np.concatenate([pts[:, :2], ring_moved, photo.anchors[photo.ring_count:]])
  frame = piecewise_affine_warp(photo.image, photo.source_points, dst, triangles)
  frame = paint_mouth(frame, pts, teeth_shade)
  return frame, pts


def _detected(image: np.ndarray, what: str) -> np.ndarray:
  from lipsync_jax.face_mesh import FaceMesh
  with FaceMesh(track=False) as mesh:
    landmarks = mesh(image)
  if landmarks is None:
    raise RuntimeError(f"no face found in {what}")
  return landmarks


@functools.cache
def look_photo(look: identities.Look, flip: bool, config: RenderConfig):
  """A look's prepared photo and triangulation (data_prep.identities), cached per worker process:
  the photo, or two photos cropped alike, warped to their blended mesh and blended; then the
  look's appearance; the face mesh found again on the result."""
  prepared = [prepare_photo(image, _detected(image, source), config)
              for source, image in ((s, faces.load_photo(s)) for s in look.photos)]
  image = prepared[0].image
  if len(prepared) == 2:
    a, b = prepared
    image = identities.morph(a.image, a.source_points, b.image, b.source_points, look.alpha,
                             piecewise_affine_warp, lambda p: Delaunay(p).simplices)
  image = identities.appearance(image, _detected(image, look.name), look)
  if flip:
    image = np.ascontiguousarray(image[:, ::-1])
  photo = prepare_photo(image, _detected(image, look.name), config)
  return photo, Delaunay(photo.source_points).simplices


@dataclasses.dataclass(frozen=True)
class ClipSpec:
  clip_id: str
  split: str
  identity: str
  look: identities.Look
  flip: bool
  voice: str
  rate: int
  pitch: int
  pitch_range: int
  text: str
  articulation: float
  seed: tuple


def clip_specs(num_clips: int, seed: int, test_fraction: float = 0.2,
               test_identities=TEST_IDENTITIES, test_voices=TEST_VOICES,
               train_voices=TRAIN_VOICES) -> list[ClipSpec]:
  """What each clip will be, deterministic for the seed; the test split holds out identities and voices."""
  looks = identities.training_looks(faces.IDENTITIES, test_identities)
  if not looks or not test_identities:
    raise ValueError("need at least one training and one test identity")
  train_voices = [v for v in train_voices if v not in test_voices]
  if not train_voices:
    raise ValueError("need at least one training voice that is not a test voice")
  specs = []
  num_test = int(round(num_clips * test_fraction))
  for i in range(num_clips):
    rng = np.random.default_rng([seed, i])
    split = "test" if i % max(1, round(1 / test_fraction)) == 0 and num_test > 0 else "train"
    if split == "test":
      num_test -= 1
    if split == "test":  # a held-out person's own photo, never a blend
      identity = str(rng.choice(list(test_identities)))
      look = identities.Look(identity, (str(rng.choice(faces.IDENTITIES[identity])),))
    else:
      look = looks[int(rng.integers(len(looks)))]
      identity = look.name
    voice = str(rng.choice(list(test_voices) if split == "test" else train_voices))
    specs.append(ClipSpec(
        clip_id=f"{split}_{i:05d}", split=split, identity=identity, look=look,
        flip=bool(rng.random() < 0.5),
        voice=voice, rate=int(rng.integers(135, 195)), pitch=int(rng.integers(30, 75)),
        pitch_range=int(rng.integers(30, 80)), text=random_text(rng),
        articulation=float(rng.uniform(0.85, 1.3)), seed=(seed, i)))
  return specs


def render_clip(spec: ClipSpec, out_dir: str, config: RenderConfig = RenderConfig()) -> str:
  """Renders one clip into out_dir/clips; returns its mp4 path. Skips clips already complete."""
  clip_dir = os.path.join(out_dir, "clips")
  base = os.path.join(clip_dir, spec.clip_id)
  if os.path.exists(base + ".json") and os.path.exists(base + ".mp4"):
    return base + ".mp4"
  rng = np.random.default_rng(list(spec.seed) + [1])
  speech = tts.synthesize(spec.text, spec.voice, spec.rate, spec.pitch, spec.pitch_range)
  import librosa  # resampling with soxr
  audio = librosa.resample(speech.audio, orig_sr=speech.sample_rate, target_sr=config.sample_rate)
  audio = audio / max(np.abs(audio).max(), 1e-6) * rng.uniform(0.3, 0.7)
  lead, tail = rng.uniform(0.15, 0.5), rng.uniform(0.15, 0.5)
  audio = np.concatenate([np.zeros(int(lead * config.sample_rate)), audio,
                          np.zeros(int(tail * config.sample_rate))])
  num_frames = int(len(audio) / config.sample_rate * config.fps)
  samples_per_frame = config.sample_rate // config.fps
  audio = audio[:num_frames * samples_per_frame]
  audio = (audio + rng.normal(0, 1e-3, audio.shape)).astype(np.float32)
  phonemes = [(t + lead, p) for t, p in speech.phonemes]
  track = visemes.mouth_track(phonemes, num_frames, config.fps)
  jaw = np.clip(track[:, 0] * spec.articulation, 0.0, 1.0)
  width, rnd = track[:, 1], track[:, 2]

  photo, triangles = look_photo(spec.look, spec.flip, config)
  deg = np.pi / 180
  yaw = _smooth_noise(rng, num_frames, config.fps, config.max_yaw_deg * deg)
  pitch = _smooth_noise(rng, num_frames, config.fps, config.max_pitch_deg * deg)
  roll = _smooth_noise(rng, num_frames, config.fps, config.max_roll_deg * deg)
  shift = np.stack([_smooth_noise(rng, num_frames, config.fps, config.max_shift * config.frame_size)
                    for _ in range(2)], 1)
  zoom = 1.0 + _smooth_noise(rng, num_frames, config.fps, config.max_scale)
  blink = _blinks(rng, num_frames, config.fps)
  teeth_shade = rng.uniform(0.85, 1.0)

  landmarks = np.zeros((num_frames, fg.NUM_LANDMARKS, 3), np.float32)

  def frames():
    for k in range(num_frames):
      frame, pts = render_frame(photo, triangles, jaw[k], width[k], rnd[k], blink[k], yaw[k],
                                pitch[k], roll[k], shift[k], zoom[k], teeth_shade)
      landmarks[k] = pts
      yield frame

  os.makedirs(clip_dir, exist_ok=True)
  media.write_video(base + ".mp4", frames(), config.fps, audio, config.sample_rate, crf=config.crf,
                    metadata={"comment": "synthetic talking face, lipsync_jax data_prep.synthetic"})
  opening = np.array([fg.mouth_opening(p) for p in landmarks], np.float32)
  with media.atomic_path(base + ".npz") as tmp:
    with open(tmp, "wb") as f:
      np.savez(f, jaw_open=jaw, lip_width=width, lip_round=rnd, mouth_opening=opening,
               landmarks=landmarks, yaw=yaw.astype(np.float32), pitch=pitch.astype(np.float32),
               roll=roll.astype(np.float32), shift=shift.astype(np.float32),
               zoom=zoom.astype(np.float32), blink=blink.astype(np.float32))
  meta = dataclasses.asdict(spec) | {
      "num_frames": num_frames, "fps": config.fps, "sample_rate": config.sample_rate,
      "frame_size": config.frame_size, "phonemes": phonemes, "lead_silence": lead}
  with media.atomic_path(base + ".json") as tmp:
    with open(tmp, "w") as f:
      json.dump(meta, f, indent=1)
  return base + ".mp4"


def _render_one(args):
  spec, out_dir, config = args
  try:
    return spec.clip_id, render_clip(spec, out_dir, config), None
  except Exception as e:  # recorded and skipped: one bad clip never stops the corpus
    return spec.clip_id, None, f"{type(e).__name__}: {e}"


def build_corpus(out_dir: str, num_clips: int, seed: int, workers: int = 1,
                 config: RenderConfig = RenderConfig(), test_fraction: float = 0.2,
                 test_identities=TEST_IDENTITIES, test_voices=TEST_VOICES, progress: bool = True,
                 train_voices=TRAIN_VOICES):
  """Renders every clip (resuming: complete clips are kept) and writes corpus.json."""
  from tqdm import tqdm
  specs = clip_specs(num_clips, seed, test_fraction, test_identities, test_voices, train_voices)
  jobs = [(s, out_dir, config) for s in specs]
  failures = {}
  if workers > 1:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, fileio.pool_worker_signals) as pool:  # an exception terminates it
      results = list(tqdm(pool.imap_unordered(_render_one, jobs), total=len(jobs),
                          desc="synthetic clips", disable=not progress))
  else:
    results = [_render_one(j) for j in tqdm(jobs, desc="synthetic clips", disable=not progress)]
  for clip_id, _, error in results:
    if error:
      failures[clip_id] = error
  index = {
      "seed": seed, "num_clips": num_clips, "config": dataclasses.asdict(config),
      "test_identities": list(test_identities), "test_voices": list(test_voices),
      "train_voices": list(train_voices),
      "clips": [dataclasses.asdict(s) for s in specs if s.clip_id not in failures],
      "failures": failures,
  }
  with media.atomic_path(os.path.join(out_dir, "corpus.json")) as tmp:
    with open(tmp, "w") as f:
      json.dump(index, f, indent=1)
  return index


def _kept(out_dir: str) -> str:
  clip_dir = os.path.join(out_dir, "clips")
  names = os.listdir(clip_dir) if os.path.isdir(clip_dir) else []
  n = sum(name.endswith(".json") for name in names)  # a clip's json is written last
  return f"{n} finished clips kept in {clip_dir}, a rerun resumes"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--out", required=True, help="output folder")
  parser.add_argument("--num_clips", type=int, default=40, help="clips to render")
  parser.add_argument("--seed", type=int, default=0,
                      help="the corpus's randomness (looks, sentences, motion); same seed, same clips")
  parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)),
                      help="worker processes (default: the CPU count)")
  parser.add_argument("--frame_size", type=int, default=RenderConfig.frame_size,
                      help="side of the rendered square frames in pixels")
  parser.add_argument("--test_fraction", type=float, default=0.2,
                      help="share of the clips given to the held-out identities and voices")
  parser.add_argument("--test_identities", default=",".join(TEST_IDENTITIES),
                      help="comma-separated identities kept out of training")
  parser.add_argument("--test_voices", default=",".join(TEST_VOICES),
                      help="comma-separated voices kept out of training")
  parser.add_argument("--train_voices", default=",".join(TRAIN_VOICES),
                      help="comma-separated espeak-ng voices (language+variant) of the training "
                           "clips")
  parser.add_argument("--verbose", action="store_true", help="show MediaPipe's start-up messages")
  args = parser.parse_args(argv)
  face_mesh.set_verbose(args.verbose)
  test_ids = tuple(x for x in args.test_identities.split(",") if x)
  unknown = [i for i in test_ids if i not in faces.IDENTITIES]
  if unknown:
    parser.error(f"unknown identities {unknown}; known: {list(faces.IDENTITIES)}")
  corpus = fileio.outputs_note(os.path.join(args.out, "corpus.json"))
  with fileio.stop_on_signals("synthetic", lambda: f"{_kept(args.out)}; {corpus()}"):
    index = build_corpus(args.out, args.num_clips, args.seed, args.workers,
                         RenderConfig(frame_size=args.frame_size), args.test_fraction, test_ids,
                         tuple(x for x in args.test_voices.split(",") if x),
                         train_voices=tuple(x for x in args.train_voices.split(",") if x))
  n = len(index["clips"])
  print(f"{n} clips in {args.out} ({len(index['failures'])} failed)")
  for clip_id, error in index["failures"].items():
    print(f"  failed {clip_id}: {error}", file=sys.stderr)
  return 0 if not index["failures"] else 1


if __name__ == "__main__":
  sys.exit(main())
