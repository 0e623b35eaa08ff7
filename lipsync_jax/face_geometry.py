"""Geometry of the 478-point MediaPipe face mesh: canonical shape, head pose, a parametric mouth.

Coordinates follow the image: x right, y down, z away from the camera, all in pixels (MediaPipe's z
is scaled like x). The canonical face lives in the same axes, centred on the mesh mean and scaled so
that the outer eye corners are 1 apart. Head pose is the similarity transform
`points ~= scale * canonical @ rotation.T + translation`, fitted on the rigid upper face only, so an
open mouth does not tilt the pose.

The mouth model moves mesh vertices in pose-normalised space with three parameters, jaw opening,
lip width and lip rounding. The synthetic corpus animates photos with it and the pose-aware mask
uses it to open the mouth of the observed mesh (paper section 3.1), so both agree on what "open" is.
"""

import functools
import os

import numpy as np

NUM_LANDMARKS = 478
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263  # image left, image right on a frontal face
FOREHEAD, CHIN, NOSE_TIP, SUBNASALE = 10, 152, 1, 2
UPPER_LIP_INNER_MID, LOWER_LIP_INNER_MID = 13, 14
MOUTH_CORNERS = (61, 291, 78, 308)

LIPS_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_LOWER_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
# Closed ring of the inner lip contour, upper lip left to right then lower lip right to left.
INNER_LIP_RING = LIPS_UPPER_INNER + LIPS_LOWER_INNER[-2:0:-1]
# Lip vertices between the outer and inner contours, by lip.
LIPS_UPPER_MIDDLE = (76, 184, 74, 73, 72, 11, 302, 303, 304, 408, 306, 62, 183, 42, 41, 38, 12, 268,
                     271, 272, 407, 292)
LIPS_LOWER_MIDDLE = (77, 96, 89, 179, 86, 15, 316, 403, 319, 325, 307, 146, 90, 180, 85, 16, 315,
                     404, 320, 307)

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67,
             109)
RIGHT_EYE_UPPER = (246, 161, 160, 159, 158, 157, 173)
RIGHT_EYE_LOWER = (7, 163, 144, 145, 153, 154, 155)
LEFT_EYE_UPPER = (466, 388, 387, 386, 385, 384, 398)
LEFT_EYE_LOWER = (249, 390, 373, 374, 380, 381, 382)

# Jaw: rotation about a horizontal hinge behind and above the mouth, in canonical units.
MAX_JAW_ANGLE = 0.2  # radians at jaw_open = 1
_HINGE_ABOVE_MOUTH = 0.35
_HINGE_BEHIND_MOUTH = 1.0

_ASSET = os.path.join(os.path.dirname(__file__), "assets", "canonical_face.npy")


@functools.cache
def canonical_face() -> np.ndarray:
  """The (478, 3) float64 canonical face (see data_prep/make_canonical_face.py for its making)."""
  return np.load(_ASSET).astype(np.float64)


def frontal_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
  """Centre, axes (rows x, y, z) and scale of a face's own frame, from eyes, forehead and chin."""
  x = points[LEFT_EYE_OUTER] - points[RIGHT_EYE_OUTER]
  scale = float(np.linalg.norm(x))
  x = x / scale
  y = points[CHIN] - points[FOREHEAD]
  y = y - x * (x @ y)
  y = y / np.linalg.norm(y)
  z = np.cross(x, y)
  return points.mean(0), np.stack([x, y, z]), scale


@functools.cache
def rigid_indices() -> np.ndarray:
  """Vertices above the nose base: they move with the head, not with the mouth."""
  c = canonical_face()
  return np.flatnonzero(c[:, 1] < c[SUBNASALE, 1] - 0.05)


@functools.cache
def lower_face_indices() -> np.ndarray:
  """The lower-face vertices the pose-aware lip mask covers: below the nose, down to the jaw."""
  c = canonical_face()
  return np.flatnonzero(c[:, 1] > c[SUBNASALE, 1] - 0.02)


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
  """Least-squares similarity (scale, rotation, translation) with dst ~= s * src @ R.T + t."""
  mu_s, mu_d = src.mean(0), dst.mean(0)
  a, b = src - mu_s, dst - mu_d
  cov = b.T @ a / len(src)
  u, sig, vt = np.linalg.svd(cov)
  d = np.ones(3)
  if np.linalg.det(u) * np.linalg.det(vt) < 0:
    d[-1] = -1
  rot = (u * d) @ vt
  scale = float((sig * d).sum() / (a**2).sum() * len(src))
  return scale, rot, mu_d - scale * mu_s @ rot.T


def estimate_pose(points: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
  """Head pose of a (478, 3) mesh: (scale, rotation (3, 3), translation (3,))."""
  idx = rigid_indices()
  return umeyama(canonical_face()[idx], np.asarray(points, np.float64)[idx])


def normalize_pose(points, scale, rot, trans) -> np.ndarray:
  """Brings a posed mesh into canonical pose and scale (expression and identity stay)."""
  return (np.asarray(points, np.float64) - trans) @ rot / scale


def apply_pose(points, scale, rot, trans) -> np.ndarray:
  return scale * np.asarray(points, np.float64) @ rot.T + trans


def rotation_from_euler(yaw: float, pitch: float, roll: float) -> np.ndarray:
  """Rotation for yaw (about y), pitch (about x) and roll (about z), in radians."""
  cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
  ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
  rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
  rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
  return rz @ rx @ ry


def euler_from_rotation(rot: np.ndarray) -> tuple[float, float, float]:
  """Inverse of rotation_from_euler (yaw, pitch, roll) away from gimbal lock."""
  # rot = Rz Rx Ry: rot[2,1] = sin(pitch), rot[2,0] = -cos(p) sin(yaw), rot[0,1] = -sin(roll) cos(p)
  pitch = float(np.arcsin(np.clip(rot[2, 1], -1, 1)))
  yaw = float(np.arctan2(-rot[2, 0], rot[2, 2]))
  roll = float(np.arctan2(-rot[0, 1], rot[1, 1]))
  return yaw, pitch, roll


@functools.cache
def _mouth_weights() -> dict[str, np.ndarray]:
  """Per-vertex weights of the mouth model, from the canonical shape."""
  c = canonical_face()
  corners = c[list(MOUTH_CORNERS)]
  mouth_y = corners[:, 1].mean()
  mouth_center = np.array([0.0, mouth_y, c[list(LIPS_UPPER_OUTER + LIPS_LOWER_OUTER), 2].mean()])
  # Jaw: full below the mouth line, fading out over the cheeks above it.
  below = np.clip((c[:, 1] - mouth_y + 0.05) / 0.2, 0.0, 1.0)
  jaw = below * below * (3 - 2 * below)
  lower = list(LIPS_LOWER_INNER[1:-1] + LIPS_LOWER_OUTER[1:-1] + LIPS_LOWER_MIDDLE)
  upper = list(LIPS_UPPER_INNER[1:-1] + LIPS_UPPER_OUTER[1:-1] + LIPS_UPPER_MIDDLE)
  jaw[lower] = 1.0
  jaw[upper] = 0.0
  jaw[list(MOUTH_CORNERS)] = 0.5
  r2 = ((c[:, :2] - mouth_center[:2]) ** 2).sum(1)
  lips = np.exp(-r2 / (2 * 0.22**2))  # soft tissue around the mouth follows the lips
  upper_lift = np.zeros(len(c))
  upper_lift[upper] = 1.0
  upper_lift[list(LIPS_UPPER_INNER[1:-1])] = 1.5
  upper_lift *= lips
  lower_drop = np.zeros(len(c))
  lower_drop[list(LIPS_LOWER_INNER[1:-1])] = 1.0
  return dict(jaw=jaw, lips=lips, upper_lift=upper_lift, lower_drop=lower_drop,
              center=mouth_center)


def deform_mouth(points: np.ndarray, jaw_open: float, lip_width: float = 0.0,
                 lip_round: float = 0.0) -> np.ndarray:
  """Moves the mouth of a pose-normalised mesh.

  Args:
    points: (478, 3) mesh in canonical pose and scale (`normalize_pose`), any identity.
    jaw_open: 0 closed .. 1 wide open (jaw rotation of MAX_JAW_ANGLE).
    lip_width: -1 narrow .. 1 spread (smile-like), 0 neutral.
    lip_round: 0 neutral .. 1 rounded and protruded ("oo").
  """
  w = _mouth_weights()
  p = np.array(points, np.float64)
  center = w["center"]
  # Lip shape: horizontal scale around the mouth centre, protrusion, a small rounded opening.
  sx = 1.0 + 0.14 * lip_width - 0.22 * lip_round
  p[:, 0] = center[0] + (p[:, 0] - center[0]) * (1.0 + (sx - 1.0) * w["lips"])
  p[:, 2] -= 0.08 * lip_round * w["lips"]
  p[:, 1] -= 0.025 * lip_round * w["upper_lift"]
  p[:, 1] += 0.025 * lip_round * w["lower_drop"]
  # Upper lip lifts a little as the mouth opens.
  p[:, 1] -= 0.03 * jaw_open * w["upper_lift"]
  # Jaw: rotate about the hinge, each vertex by its weight.
  hinge = np.array([0.0, center[1] - _HINGE_ABOVE_MOUTH, center[2] + _HINGE_BEHIND_MOUTH])
  angle = MAX_JAW_ANGLE * jaw_open * w["jaw"]
  dy, dz = p[:, 1] - hinge[1], p[:, 2] - hinge[2]
  cos, sin = np.cos(angle), np.sin(angle)
  # Opening turns the chin down and back: y grows, z grows (away from the camera).
  p[:, 1] = hinge[1] + cos * dy - sin * dz
  p[:, 2] = hinge[2] + sin * dy + cos * dz
  return p


def _jaw_bringing(gap_at, gap: float) -> float:
  """The jaw value in [-1, 0.6] where gap_at(jaw), growing with the jaw, is `gap` (bisection)."""
  lo, hi = -1.0, 0.6
  for _ in range(20):
    mid = (lo + hi) / 2
    if gap_at(mid) > gap:
      hi = mid
    else:
      lo = mid
  return (lo + hi) / 2


def closed_jaw(normalized: np.ndarray, gap: float = 0.004) -> float:
  """The `deform_mouth` jaw value that brings the inner lips of a pose-normalised mesh together.

  Negative for an open mouth (it closes it), about 0 for a closed one. Bisection on the signed gap
  between the middle inner-lip points, lower minus upper, in canonical units (`gap`: the target).
  """
  def signed_gap(jaw):
    moved = deform_mouth(normalized, jaw)
    return moved[LOWER_LIP_INNER_MID, 1] - moved[UPPER_LIP_INNER_MID, 1]

  return _jaw_bringing(signed_gap, gap)


def inner_lip_gaps(points: np.ndarray) -> np.ndarray:
  """(9,) lower minus upper y of the inner-lip pairs between the corners (negative: crossed)."""
  p = np.asarray(points)
  return p[list(LIPS_LOWER_INNER[1:-1]), 1] - p[list(LIPS_UPPER_INNER[1:-1]), 1]


def close_lips(normalized: np.ndarray, gap: float = 0.004) -> np.ndarray:
  """A pose-normalised mesh with its lips closed as lips close: along the whole mouth, no pair of
  inner-lip points past the other.

  The jaw (`deform_mouth`) closes the least open pair to `gap`; where the mouth is still open, the
  lips then meet halfway, each lip moved by half the rest at its x (zero at the corners). The jaw
  alone (`closed_jaw`) closes the middle, and an open mouth's arch pushes the corners past each
  other: the lower lip above the upper by up to 0.12 eye distances on the smiling photos.
  """
  jaw = _jaw_bringing(lambda j: inner_lip_gaps(deform_mouth(normalized, j)).min(), gap)
  p = deform_mouth(normalized, jaw)
  # The opening left at each pair's x, none at the corners.
  upper, lower = list(LIPS_UPPER_INNER[1:-1]), list(LIPS_LOWER_INNER[1:-1])
  xs = np.concatenate([(p[upper, 0] + p[lower, 0]) / 2,
                       p[[LIPS_UPPER_INNER[0], LIPS_UPPER_INNER[-1]], 0]])
  rest = np.concatenate([np.maximum(inner_lip_gaps(p) - gap, 0.0), [0.0, 0.0]])
  order = np.argsort(xs)
  half = np.interp(p[:, 0], xs[order], rest[order], left=0.0, right=0.0) / 2
  upper_lip = list(LIPS_UPPER_INNER[1:-1] + LIPS_UPPER_OUTER[1:-1] + LIPS_UPPER_MIDDLE)
  lower_lip = list(LIPS_LOWER_INNER[1:-1] + LIPS_LOWER_OUTER[1:-1] + LIPS_LOWER_MIDDLE)
  p[upper_lip, 1] += half[upper_lip]
  p[lower_lip, 1] -= half[lower_lip]
  return p


def blink(points: np.ndarray, amount: float) -> np.ndarray:
  """Closes the eyes of a mesh (any pose) by `amount` in [0, 1]: upper lids move to the lower."""
  p = np.array(points, np.float64)
  for upper, lower in ((RIGHT_EYE_UPPER, RIGHT_EYE_LOWER), (LEFT_EYE_UPPER, LEFT_EYE_LOWER)):
    for u, l in zip(upper, lower):
      p[u] += 0.9 * amount * (p[l] - p[u])
  return p


def mouth_opening(points: np.ndarray) -> float:
  """Inner-lip gap over the outer eye-corner distance: the mouth-opening measure used throughout."""
  gap = np.linalg.norm(points[LOWER_LIP_INNER_MID, :2] - points[UPPER_LIP_INNER_MID, :2])
  eyes = np.linalg.norm(points[LEFT_EYE_OUTER, :2] - points[RIGHT_EYE_OUTER, :2])
  return float(gap / max(eyes, 1e-6))


def inner_lip_opening(points: np.ndarray) -> float:
  """Square root of the area inside the inner lip contour over the outer eye-corner distance: the
  evaluation's mouth opening, steadier than the one gap of `mouth_opening` on small faces (it uses
  the whole contour)."""
  ring = points[list(INNER_LIP_RING), :2].astype(np.float64)
  x, y = ring[:, 0], ring[:, 1]
  area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
  eyes = np.linalg.norm(points[LEFT_EYE_OUTER, :2] - points[RIGHT_EYE_OUTER, :2])
  return float(np.sqrt(area) / max(eyes, 1e-6))


MOUTH_SHAPE = ("inner_gap", "inner_area_sqrt", "width", "outer_height", "upper_lip", "lower_lip",
               "nose_to_chin")


def mouth_shape(points: np.ndarray) -> np.ndarray:
  """(7,) float32: the mouth's shape in 2D landmark distances over the outer eye-corner distance
  (MOUTH_SHAPE): unchanged by a flip, a rotation in the image plane and scale. The decoder prior's
  code learns to carry these (training.prior_trainer)."""
  p = np.asarray(points, np.float64)[:, :2]
  dist = lambda a, b: np.linalg.norm(p[a] - p[b])  # noqa: E731
  eyes = max(dist(LEFT_EYE_OUTER, RIGHT_EYE_OUTER), 1e-6)
  ring = p[list(INNER_LIP_RING)]
  area = 0.5 * abs(np.dot(ring[:, 0], np.roll(ring[:, 1], 1)) -
                   np.dot(ring[:, 1], np.roll(ring[:, 0], 1)))
  return np.array([dist(UPPER_LIP_INNER_MID, LOWER_LIP_INNER_MID), np.sqrt(area),
                   dist(MOUTH_CORNERS[0], MOUTH_CORNERS[1]), dist(0, 17), dist(0, UPPER_LIP_INNER_MID),
                   dist(LOWER_LIP_INNER_MID, 17), dist(1, 152)], np.float32) / np.float32(eyes)
