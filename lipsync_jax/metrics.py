"""What evaluate measures: the paper's metrics on arrays, and the models that measure.

PSNR and SSIM on crops; LMD from MediaPipe lip landmarks; LSE-D/LSE-C by syncnet_python's recipe
from SyncNet embeddings; CSIM from dlib's face descriptor; the mouth opening from the MediaPipe
mesh, with Pearson r and the best-correlating lag against a ground-truth track.
"""

import os

import cv2
import numpy as np

from lipsync_jax import face_crop
from lipsync_jax import face_geometry as fg
from lipsync_jax.models import syncnet

LIP_LANDMARKS = np.array(sorted(set(fg.LIPS_UPPER_OUTER + fg.LIPS_LOWER_OUTER +
                                    fg.LIPS_UPPER_INNER + fg.LIPS_LOWER_INNER)))
OFFSETS = range(-15, 16)


# ---------------------------------------------------------------------------------------------
# Metrics on arrays.


def psnr(a: np.ndarray, b: np.ndarray) -> float:
  mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
  return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
  from skimage.metrics import structural_similarity
  return float(structural_similarity(a, b, channel_axis=-1, data_range=255))


def lse(visual: np.ndarray, audio: np.ndarray) -> tuple[float, float, int]:
  """syncnet_python's LSE-D, LSE-C and best offset from per-frame embeddings (T, D) of 5-frame
  windows and of the audio windows of the same frames."""
  t = len(visual)
  means = []
  for off in OFFSETS:
    lo, hi = max(0, -off), min(t, t - off)
    if hi <= lo:
      means.append(np.inf)
      continue
    means.append(np.linalg.norm(visual[lo:hi] - audio[lo + off:hi + off], axis=-1).mean())
  means = np.array(means)
  finite = means[np.isfinite(means)]
  best = int(np.argmin(means))
  return float(means[best]), float(np.median(finite) - means[best]), list(OFFSETS)[best]


def lip_distance(generated, real) -> tuple[float, int]:
  """LMD from the MediaPipe meshes (`landmarks`) of generated and real frames: the mean distance of
  their lip landmarks (pixels of the 256 crop) over the frames where the mesh is found in both;
  and that number of frames (LMD is NaN when it is 0)."""
  dists = [np.linalg.norm(pg[LIP_LANDMARKS, :2] - pr[LIP_LANDMARKS, :2], axis=-1).mean()
           for pg, pr in zip(generated, real) if pg is not None and pr is not None]
  return (float(np.mean(dists)) if dists else float("nan")), len(dists)


def pearson(a, b) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if len(a) < 3 or a.std() == 0 or b.std() == 0:
    return float("nan")
  return float(np.corrcoef(a, b)[0, 1])


def best_lag(generated, truth, max_lag: int = 4) -> int:
  """The shift in frames (-max_lag..max_lag) at which `generated` correlates best with `truth`:
  positive when the generated track trails the true one. NaNs (no mesh found) are left out."""
  generated, truth = np.asarray(generated, np.float64), np.asarray(truth, np.float64)
  n = len(generated)
  scores = []
  for lag in range(-max_lag, max_lag + 1):
    g = generated[max(0, lag):n + min(0, lag)]
    t = truth[max(0, -lag):n + min(0, -lag)]
    ok = np.isfinite(g)
    scores.append(pearson(g[ok], t[ok]))
  scores = np.nan_to_num(np.array(scores), nan=-np.inf)
  return int(np.argmax(scores)) - max_lag


# ---------------------------------------------------------------------------------------------
# Models used for measuring.


class Landmarks:
  """MediaPipe mesh on crops (upscaled to 256), one image at a time."""

  def __init__(self):
    from lipsync_jax.face_mesh import FaceMesh
    self.mesh = FaceMesh(track=False)

  def __call__(self, crop: np.ndarray):
    big = cv2.resize(crop, (256, 256), interpolation=cv2.INTER_CUBIC) if crop.shape[0] != 256 else crop
    return self.mesh(big)


class FaceEmbedding:
  """dlib's ResNet face descriptor (128-d) of a face crop: the face box is the crop's centre (our
  crops frame the face at a fixed scale), refined by the 5-point shape predictor."""

  def __init__(self):
    import dlib
    import face_recognition_models as frm
    self.dlib = dlib
    self.shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    self.net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

  def __call__(self, crop: np.ndarray) -> np.ndarray:
    img = np.ascontiguousarray(cv2.resize(crop, (256, 256), interpolation=cv2.INTER_CUBIC))
    side = 256 / face_crop.CROP_SCALE  # the mesh extent inside a crop
    c = 128 - face_crop.CROP_SHIFT_Y * 256  # the crop centre sits above the face's
    box = self.dlib.rectangle(int(128 - side / 2), int(c - side / 2), int(128 + side / 2),
                              int(c + side / 2))
    shape = self.shape(img, box)
    return np.array(self.net.compute_face_descriptor(img, shape))


class SyncNetEmbedder:
  def __init__(self, workdir: str):
    from lipsync_jax import checkpoints
    run = checkpoints.read_run(workdir, ("syncnet", "lipsync", "adaptation"))
    config = run.config
    self.name = f"{os.path.abspath(workdir)} (embed {config['syncnet']['embed_dim']}, " \
                f"width {config['syncnet']['width']})"
    params = run.tree["params"] if config["stage"] == "syncnet" else run.tree["sync_params"]
    self.embed = syncnet.ClipEmbedder(
        syncnet.from_config(config["syncnet"]), params).embed


def landmarks(lm: Landmarks, frames) -> list:
  """The MediaPipe mesh of each frame, None where no face is found: computed once per clip for
  both the mouth opening and LMD."""
  return [lm(f) for f in frames]


def mouth_openings(meshes) -> np.ndarray:
  """Mouth opening per frame from its mesh (`landmarks`; NaN where no face was found)."""
  return np.array([np.nan if p is None else fg.inner_lip_opening(p) for p in meshes])
