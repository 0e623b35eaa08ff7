"""Pose-aware lip masks (paper section 3.1) and the rectangular lower-half baseline.

The paper fits a 3DMM, opens and closes the mouth through its expression parameters, normalises the
mesh by the head pose, keeps the lower frontal vertices, restores the pose, projects and takes the
union. We do the same with the MediaPipe mesh: a face track's closed-mouth shape in
pose-normalised space (`closed_mouth_shape`: its least open mesh with the lips brought together by
the mouth model of face_geometry), as it is and opened by the mouth model's widest jaw rotation,
put in each frame's head pose, restricted to the lower-face vertices, projected and filled. The
mask thus follows the head pose and the jaw line, covers every mouth shape the audio could ask
for, and does not depend on how far the frame's own mouth is open: a mask drawn around the
observed mouth (as this module once did: its lower edge then followed the jaw, r = 0.83 with the
mouth opening) tells the generator how the original mouth moved, a cue it learns to copy instead
of listening to the audio.
"""

import cv2
import numpy as np

from lipsync_jax import face_geometry as fg


def _fill_hull(mask: np.ndarray, points: np.ndarray):
  hull = cv2.convexHull(np.round(points * 16).astype(np.int32))
  cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=4)


def closed_mouth_shape(normalized: np.ndarray) -> np.ndarray:
  """The (478, 3) pose-normalised face shape lip masks are drawn from, for one face track.

  Args:
    normalized: (T, 478, 3) or (478, 3) pose-normalised meshes (`face_geometry.normalize_pose`)
      of one person's consecutive frames.
  Returns the least open of them with its lips brought together (`face_geometry.closed_jaw`).
  """
  normalized = np.asarray(normalized, np.float64).reshape(-1, fg.NUM_LANDMARKS, 3)
  shape = normalized[int(np.argmin([fg.inner_lip_opening(n) for n in normalized]))]
  return fg.deform_mouth(shape, fg.closed_jaw(shape))


def pose_aware_mask(landmarks: np.ndarray, size: int, pose=None, jaw_open: float = 1.0,
                    dilate: float = 0.06, shape: np.ndarray | None = None) -> np.ndarray:
  """(size, size) uint8 {0, 1} lip mask for a (478, 3) mesh in the crop's pixel coordinates.

  Args:
    landmarks: the observed mesh; only its head pose is used when `shape` is given.
    size: mask side in pixels.
    pose: (scale, rotation, translation) if already estimated, else estimated here.
    jaw_open: how far the opened shape opens (1 = the mouth model's widest).
    dilate: margin around the union, as a fraction of the eye-corner distance.
    shape: the track's `closed_mouth_shape`; without it, that of this frame alone (whose closing
      is only approximate: MediaPipe's chin follows the lips less than the mouth model's does).
  """
  landmarks = np.asarray(landmarks, np.float64)
  scale, rot, trans = pose if pose is not None else fg.estimate_pose(landmarks)
  if shape is None:
    shape = closed_mouth_shape(fg.normalize_pose(landmarks, scale, rot, trans))
  idx = fg.lower_face_indices()
  mask = np.zeros((size, size), np.uint8)
  for mesh in (shape, fg.deform_mouth(shape, jaw_open)):
    _fill_hull(mask, fg.apply_pose(mesh, scale, rot, trans)[idx, :2])
  radius = int(round(dilate * scale))
  if radius > 0:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    mask = cv2.dilate(mask, kernel)
  return mask


def track_masks(landmarks: np.ndarray, poses, size: int, jaw_open: float = 1.0,
                dilate: float = 0.06) -> np.ndarray:
  """(T, size, size) pose-aware masks of one face track: (T, 478, 3) meshes and their T poses."""
  normalized = [fg.normalize_pose(p, *pose) for p, pose in zip(landmarks, poses)]
  shape = closed_mouth_shape(normalized)
  return np.stack([pose_aware_mask(p, size, pose, jaw_open, dilate, shape)
                   for p, pose in zip(landmarks, poses)])


def rect_mask(landmarks: np.ndarray, size: int, margin: float = 0.05) -> np.ndarray:
  """The rectangular baseline (Wav2Lip and most peers): the lower half of the face box.

  Peers crop to the face box and mask its lower half; our crops hold more context, so the box is
  the mesh's extent, widened by `margin` of its side. uint8 {0, 1}.
  """
  pts = np.asarray(landmarks)[:, :2]
  lo, hi = pts.min(0), pts.max(0)
  pad = margin * (hi - lo).max()
  x0, x1 = int(np.floor(lo[0] - pad)), int(np.ceil(hi[0] + pad))
  y0, y1 = int(np.floor((lo[1] + hi[1]) / 2)), int(np.ceil(hi[1] + pad))
  mask = np.zeros((size, size), np.uint8)
  mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 1
  return mask
