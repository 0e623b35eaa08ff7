"""A spatial hint of the mouth for the decoder (not in the paper): the mesh's lips drawn into the
masked frame, so the decoder sees where the mouth is and how open it is instead of learning both
from a code that reaches it only through the styles. The decoder prior trains with it
(config.lip_hint); what lip-sync still lacks is a mapping from audio to the lips (docs/history.md,
"A spatial hint of the lips").

  hint(points) = (lips filled, opening filled)            2 channels in [0, 1], at the crop's size
  masked'      = masked + mask * (0.5 * (lips - opening) - opening)

Lip points are the outer and inner lip rings of the 478-point mesh in the crop's pixels. Another
clip's mouth is moved to a frame by pose: normalise by the driver's pose, apply the frame's.
"""

import cv2
import numpy as np

from lipsync_jax import face_geometry as fg
from lipsync_jax import segments

OUTER_RING = fg.LIPS_UPPER_OUTER + fg.LIPS_LOWER_OUTER[-2:0:-1]
INNER_RING = fg.INNER_LIP_RING
_SHIFT = 4  # fillPoly's fractional bits


def render(points: np.ndarray, size: int, crop: int = segments.SIZE) -> np.ndarray:
  """(478, 2+) mesh points in a stored crop of `crop` pixels -> (size, size, 2) uint8: the lips
  and the opening filled."""
  out = np.zeros((crop, crop, 2), np.uint8)
  for c, ring in enumerate((OUTER_RING, INNER_RING)):
    poly = np.round(np.asarray(points)[list(ring), :2] * (1 << _SHIFT)).astype(np.int32)
    canvas = np.zeros((crop, crop), np.uint8)
    cv2.fillPoly(canvas, [poly], 255, cv2.LINE_AA, _SHIFT)
    out[..., c] = canvas
  if size != crop:
    out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
  return out


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
