"""The face crop shared by data preparation and inference, so a model sees at inference the framing
it was trained on: a square around the extent of the canonical face put in the mesh's head pose, 1.6
times its larger side, moved up by 5%, resampled with a similarity transform.

The head pose comes from the vertices above the nose (`face_geometry.estimate_pose`), so the crop
follows the head and not the jaw: a box around the observed mesh grows when the mouth opens (its
side correlated up to 0.9 with the mouth opening on the synthetic corpus), which zooms the whole
crop with the speech and hands the generator the original mouth motion through the upper face.
"""

import cv2
import numpy as np

from lipsync_jax import face_geometry as fg

CROP_SCALE = 1.6  # crop side over the posed canonical face's larger extent
CROP_SHIFT_Y = -0.05  # crop centre moved up by this fraction of the side (more forehead)


def box_from_landmarks(pts: np.ndarray, crop_scale: float = CROP_SCALE,
                       crop_shift_y: float = CROP_SHIFT_Y, pads=(0, 0, 0, 0)) -> np.ndarray:
  """(cx, cy, side) of the square crop for a (478, 3) mesh in pixels (see the module docstring).

  pads: (top, bottom, left, right) pixels added to the face's extent first (Wav2Lip's --pads).
  """
  top, bottom, left, right = pads
  face = fg.apply_pose(fg.canonical_face(), *fg.estimate_pose(pts))
  lo = face[:, :2].min(0) - np.array([left, top], np.float64)
  hi = face[:, :2].max(0) + np.array([right, bottom], np.float64)
  side = (hi - lo).max() * crop_scale
  center = (lo + hi) / 2 + np.array([0.0, crop_shift_y * side])
  return np.array([center[0], center[1], side])


def crop_affine(box: np.ndarray, size: int) -> np.ndarray:
  """The 2x3 frame -> crop affine of a (cx, cy, side) box at size x size."""
  cx, cy, side = box
  zoom = size / side
  return np.array([[zoom, 0, size / 2 - zoom * cx], [0, zoom, size / 2 - zoom * cy]])


def crop_face(frame: np.ndarray, box: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
  """Square crop (cx, cy, side) resized to size x size; returns it and the 2x3 frame->crop affine."""
  affine = crop_affine(box, size)
  zoom = affine[0, 0]
  src, warp = frame, affine
  if zoom < 0.5:  # area-average first so strong downscaling does not alias
    f = 1.0 / (2 * zoom)
    src = cv2.resize(frame, None, fx=1 / f, fy=1 / f, interpolation=cv2.INTER_AREA)
    warp = affine @ np.array([[f, 0, 0], [0, f, 0], [0, 0, 1]])
  crop = cv2.warpAffine(src, warp, (size, size), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT)
  return crop, affine


def to_crop(pts: np.ndarray, affine: np.ndarray) -> np.ndarray:
  """Landmarks (N, 3) in frame pixels -> crop pixels (z scaled like x)."""
  local = np.asarray(pts, np.float64).copy()
  local[:, :2] = local[:, :2] @ affine[:, :2].T + affine[:, 2]
  local[:, 2] *= affine[0, 0]
  return local
