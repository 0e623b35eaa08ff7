"""MediaPipe face mesh (0.10.14, models shipped in the wheel): 478 landmarks in pixel coordinates."""

import contextlib
import os
import sys
import warnings

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Set LIPSYNC_VERBOSE=1 (or pass --verbose to a command) to see MediaPipe's start-up messages.
VERBOSE_ENV = "LIPSYNC_VERBOSE"
if not os.environ.get(VERBOSE_ENV):  # protobuf's deprecation notice, on each mesh's frames
  warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)


def set_verbose(on: bool):
  """Shows (or hides) MediaPipe's start-up messages in this process and the workers it starts."""
  if on:
    os.environ[VERBOSE_ENV] = "1"
    warnings.filterwarnings("default", message="SymbolDatabase.GetPrototype", category=UserWarning)


def native_stderr_to_null():
  """For command-line programs: what C and C++ libraries write to file descriptor 2 (MediaPipe's
  absl and TFLite lines, which its threads write at any time, not only at start-up) goes to
  /dev/null, while Python's sys.stderr (tracebacks, progress bars, our one-line messages) keeps
  the terminal. Nothing changes when LIPSYNC_VERBOSE is set."""
  if os.environ.get(VERBOSE_ENV):
    return
  sys.stderr.flush()
  terminal = os.dup(2)
  with open(os.devnull, "w") as null:
    os.dup2(null.fileno(), 2)
  sys.stderr = os.fdopen(terminal, "w", buffering=1, errors="backslashreplace")


@contextlib.contextmanager
def quiet_native_stderr():
  """MediaPipe's C++ start-up messages (absl warnings written before absl's log is initialised,
  TFLite's delegate line) go to file descriptor 2 whatever GLOG_minloglevel says: this points it
  at /dev/null for the duration, unless LIPSYNC_VERBOSE is set."""
  if os.environ.get(VERBOSE_ENV):
    yield
    return
  sys.stderr.flush()
  saved = os.dup(2)
  try:
    with open(os.devnull, "w") as null:
      os.dup2(null.fileno(), 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)


class FaceMesh:
  """Landmarks of the most prominent face of RGB frames.

  With `track=True` MediaPipe runs its detector only when it loses the face and otherwise follows
  it from the previous frame, which is what makes video processing fast; use one instance per
  video. `track=False` treats each image independently.
  """

  def __init__(self, track: bool = True, min_detection_confidence: float = 0.5,
               min_tracking_confidence: float = 0.5):
    with quiet_native_stderr():
      import mediapipe as mp  # imported here: it is slow and loads TFLite.
      self._mesh = mp.solutions.face_mesh.FaceMesh(
          static_image_mode=not track, max_num_faces=1, refine_landmarks=True,
          min_detection_confidence=min_detection_confidence,
          min_tracking_confidence=min_tracking_confidence)
    self._started = False  # the graph starts (and talks) on the first frame

  def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
    """(478, 3) float32 landmarks (x, y, z in pixels; z scaled like x), or None if no face."""
    h, w = rgb.shape[:2]
    if self._started:
      result = self._mesh.process(np.ascontiguousarray(rgb))
    else:
      with quiet_native_stderr():
        result = self._mesh.process(np.ascontiguousarray(rgb))
      self._started = True
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
