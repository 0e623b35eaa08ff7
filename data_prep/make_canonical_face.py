"""Makes lipsync_jax/assets/canonical_face.npy: the mean frontal face mesh of the shipped photos.

MediaPipe 0.10.14's wheel carries no canonical face model, so ours is the average of the meshes of
every photo in data_prep.faces and of its mirror image (which makes it symmetric), each expressed in
its own eye/forehead/chin frame and aligned by a similarity transform.

Usage: python -m data_prep.make_canonical_face [--output PATH]
"""

import argparse

import numpy as np

from data_prep import faces
from lipsync_jax import face_geometry
from lipsync_jax.face_mesh import FaceMesh


def build() -> np.ndarray:
  meshes = []
  with FaceMesh(track=False) as mesh:
    for _, source in faces.all_photos():
      photo = faces.load_photo(source)
      for image in (photo, np.ascontiguousarray(photo[:, ::-1])):
        pts = mesh(image)
        if pts is None:
          raise RuntimeError(f"no face found in {source}")
        center, axes, scale = face_geometry.frontal_frame(pts.astype(np.float64))
        meshes.append((pts - center) @ axes.T / scale)
  ref = meshes[0]
  for _ in range(3):  # generalized Procrustes: align to the running mean
    aligned = []
    for m in meshes:
      s, r, t = face_geometry.umeyama(m, ref)
      aligned.append(s * m @ r.T + t)
    ref = np.mean(aligned, 0)
  center, axes, scale = face_geometry.frontal_frame(ref)
  return ((ref - center) @ axes.T / scale).astype(np.float32)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--output", default=face_geometry._ASSET)
  args = parser.parse_args(argv)
  canonical = build()
  np.save(args.output, canonical)
  print(f"wrote {args.output}: {canonical.shape}, eye distance "
        f"{np.linalg.norm(canonical[263] - canonical[33]):.3f}")


if __name__ == "__main__":
  main()
