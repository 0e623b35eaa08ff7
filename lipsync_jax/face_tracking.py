"""Faces in the input frames: the MediaPipe mesh tracked, the crop box smoothed over the run of
detections, each frame's model crop and pose-aware lip mask, and the paste-back of a generated
crop into its frame. `options` is an inference.Options.
"""

import dataclasses

import cv2
import numpy as np

from lipsync_jax import face_crop, input_pipeline, masking, media
from lipsync_jax import face_geometry as fg

CROP_SIZE = 256  # the prepared crops' size: masks and the paste-back live at this size


@dataclasses.dataclass
class Face:
  affine: np.ndarray  # 2x3 frame -> 256 crop
  crop: np.ndarray  # (R, R, 3) uint8 model input
  mask: np.ndarray  # (R, R) uint8 {0, 1} at the model's resolution
  alpha: np.ndarray  # (256, 256) float32 blend weight of the generated crop
  landmarks: np.ndarray  # (478, 3) the mesh in the 256 crop's pixels
  pose: tuple  # its head pose (scale, rotation, translation), face_geometry.estimate_pose


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

  def __init__(self, frames, resolution: int, options, mesh=None):
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
    pose = fg.estimate_pose(local)
    if o.mask == "pose":
      mask256 = masking.pose_aware_mask(local, CROP_SIZE, pose=pose, shape=shape)
    else:
      mask256 = masking.rect_mask(local, CROP_SIZE)
    r = self.resolution  # reduced exactly as the training pipeline reduces prepared crops
    crop = input_pipeline.resize_image(crop256, r)
    mask = input_pipeline.resize_mask(mask256, r).reshape(r, r)
    sigma = o.feather * CROP_SIZE
    alpha = cv2.GaussianBlur(mask256.astype(np.float32), (0, 0), sigma)
    return Face(affine, crop, mask, alpha, local, pose)

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


def reference_face(video, resolution: int, options) -> tuple[Face, int]:
  """The reference face (its crop (R, R, 3) uint8 and mesh) and its input frame index."""
  from lipsync_jax.face_mesh import FaceMesh
  with FaceMesh(track=False) as mesh:
    tracker = FaceTracker([], resolution, options, mesh)
    if options.reference_frame is not None:
      frame = video.frame(options.reference_frame)
      pts = tracker.landmarks(frame)
      if pts is None:
        raise media.MediaError(video.path, f"no face in the reference frame {options.reference_frame}")
      return tracker.face(frame, pts, face_crop.box_from_landmarks(pts, pads=options.pads)), \
          options.reference_frame
    frames = [video.image] if video.still else media.iter_frames(video.path, options.fps)
    for k, frame in enumerate(frames):
      pts = tracker.landmarks(frame)
      if pts is not None:
        return tracker.face(frame, pts, face_crop.box_from_landmarks(pts, pads=options.pads)), k
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
