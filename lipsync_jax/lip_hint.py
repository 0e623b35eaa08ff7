"""A spatial hint of the mouth for the decoder (not in the paper): the mesh's lips drawn into the
masked frame, so the decoder sees where the mouth is and how open it is instead of learning both
from a code that reaches it only through the styles (docs/history.md, "A spatial hint of the
lips"). The decoder prior trains with the mesh's lips (config.lip_hint); lip-sync learns to predict
them from audio (models/lip_motion.py), and inference draws the predicted lips.

  lips         = the outer and inner lip rings of the 478-point mesh (RING, 40 points, xyz)
  canonical    = the lips with the head pose taken out (face_geometry.normalize_pose): what audio
                 predicts, and what moves a mouth from one frame to another (posed(canonical, pose))
  hint(lips)   = (lips filled, opening filled)            2 channels in [0, 1], at the crop's size
  masked'      = masked + mask * (0.5 * (lips - opening) - opening)
"""

import cv2
import numpy as np

from lipsync_jax import face_geometry as fg
from lipsync_jax import segments

OUTER_RING = fg.LIPS_UPPER_OUTER + fg.LIPS_LOWER_OUTER[-2:0:-1]
INNER_RING = fg.INNER_LIP_RING
RING = OUTER_RING + INNER_RING
NUM_POINTS = len(RING)
_SHIFT = 4  # fillPoly's fractional bits


def render(points: np.ndarray, size: int, crop: int = segments.SIZE) -> np.ndarray:
  """(478, 2+) mesh points, or (NUM_POINTS, 2+) lip points (RING), in a stored crop of `crop`
  pixels -> (size, size, 2) uint8: the lips and the opening filled."""
  points = np.asarray(points)
  lips = points if len(points) == NUM_POINTS else points[list(RING)]
  out = np.zeros((crop, crop, 2), np.uint8)
  for c, ring in enumerate((lips[:len(OUTER_RING)], lips[len(OUTER_RING):])):
    poly = np.round(ring[:, :2] * (1 << _SHIFT)).astype(np.int32)
    canvas = np.zeros((crop, crop), np.uint8)
    cv2.fillPoly(canvas, [poly], 255, cv2.LINE_AA, _SHIFT)
    out[..., c] = canvas
  if size != crop:
    out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
  return out


def canonical(points: np.ndarray, pose) -> np.ndarray:
  """(478, 3) mesh points, or (NUM_POINTS, 3) lip points (RING), in a frame with head pose (scale,
  rotation, translation) -> the lips in canonical pose (NUM_POINTS, 3) float32."""
  points = np.asarray(points)
  lips = points if len(points) == NUM_POINTS else points[list(RING)]
  return fg.normalize_pose(lips, *pose).astype(np.float32)


def posed(lips: np.ndarray, pose) -> np.ndarray:
  """Canonical lips (NUM_POINTS, 3) -> the lips in a frame with that head pose (its pixels)."""
  return fg.apply_pose(lips, *pose)


def transfer(points: np.ndarray, pose_from, pose_to) -> np.ndarray:
  """Mesh points of one frame moved to another frame's head pose ((scale, rotation, translation))."""
  return fg.apply_pose(fg.normalize_pose(points, *pose_from), *pose_to)


def draw(masked, masks, hint):
  """masked frames (..., R, R, 3) in [-1, 1] with the hint (..., R, R, 2), uint8 or [0, 1], drawn
  inside the lip mask (..., R, R, 1)."""
  h = hint.astype(masked.dtype)
  if hint.dtype == np.uint8:
    h = h / 255.0
  lips, opening = h[..., :1], h[..., 1:2]
  return masked + masks.astype(masked.dtype) * (0.5 * (lips - opening) - opening)
