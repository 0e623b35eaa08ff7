"""Pose-aware lip masks (paper section 3.1) and the rectangular lower-half baseline.

The paper fits a 3DMM, opens and closes the mouth through its expression parameters, normalises the
mesh by the head pose, keeps the lower frontal vertices, restores the pose, projects and takes the
union. We do the same with the MediaPipe mesh: the mesh as observed and the mesh with the jaw opened
by the mouth model of face_geometry (applied in pose-normalised space, so the opening follows the
head's rotation), restricted to the lower-face vertices, projected and filled. The mask thus follows
the head pose and the jaw line, and covers every mouth shape the audio could ask for.
"""

import cv2
import numpy as np

from lipsync_jax import face_geometry as fg


def _fill_hull(mask: np.ndarray, points: np.ndarray):
  hull = cv2.convexHull(np.round(points * 16).astype(np.int32))
  cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=4)


def pose_aware_mask(landmarks: np.ndarray, size: int, pose=None, jaw_open: float = 1.0,
                    dilate: float = 0.06) -> np.ndarray:
  """(size, size) uint8 {0, 1} lip mask for a (478, 3) mesh in the crop's pixel coordinates.

  Args:
    landmarks: the observed mesh.
    size: mask side in pixels.
    pose: (scale, rotation, translation) if already estimated, else estimated here.
    jaw_open: how far the opened mesh opens (1 = the mouth model's widest).
    dilate: margin around the union, as a fraction of the eye-corner distance.
  """
  landmarks = np.asarray(landmarks, np.float64)
  scale, rot, trans = pose if pose is not None else fg.estimate_pose(landmarks)
  idx = fg.lower_face_indices()
  opened = fg.apply_pose(fg.deform_mouth(fg.normalize_pose(landmarks, scale, rot, trans), jaw_open),
                         scale, rot, trans)
  mask = np.zeros((size, size), np.uint8)
  _fill_hull(mask, landmarks[idx, :2])
  _fill_hull(mask, opened[idx, :2])
  radius = int(round(dilate * scale))
  if radius > 0:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    mask = cv2.dilate(mask, kernel)
  return mask


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
