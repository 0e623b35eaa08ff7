"""MediaPipe face mesh (0.10.14, models shipped in the wheel): 478 landmarks in pixel coordinates."""

import os

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class FaceMesh:
  """Landmarks of the most prominent face of RGB frames.

  With `track=True` MediaPipe runs its detector only when it loses the face and otherwise follows
  it from the previous frame, which is what makes video processing fast; use one instance per
  video. `track=False` treats each image independently.
  """

  def __init__(self, track: bool = True, min_detection_confidence: float = 0.5,
               min_tracking_confidence: float = 0.5):
    import mediapipe as mp  # imported here: it is slow and loads TFLite.
    self._mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=not track, max_num_faces=1, refine_landmarks=True,
        min_detection_confidence=min_detection_confidence,
        min_tracking_confidence=min_tracking_confidence)

  def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
    """(478, 3) float32 landmarks (x, y, z in pixels; z scaled like x), or None if no face."""
    h, w = rgb.shape[:2]
    result = self._mesh.process(np.ascontiguousarray(rgb))
    if not result.multi_face_landmarks:
      return None
    lm = result.multi_face_landmarks[0].landmark
    pts = np.array([(p.x, p.y, p.z) for p in lm], np.float32)
    pts *= np.array([w, h, w], np.float32)
    return pts

  def close(self):
    self._mesh.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
