"""Public-domain face photos that registry packages ship, the identities of the synthetic corpus.

- Eileen Collins: scikit-image's `astronaut` (NASA, public domain).
- Grace Hopper: matplotlib's sample data (US Navy, public domain).
- Barack Obama (three photos) and Joe Biden: the test photos inside the face_recognition 1.3.0
  source distribution (official White House portraits, public domain). `fetch` obtains that sdist
  with pip from the package registry, once, and keeps only the photos.

Usage: python -m data_prep.faces fetch   (run by scripts/setup.sh)
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import numpy as np
from PIL import Image

FACE_RECOGNITION_SDIST = "face_recognition==1.3.0"
_FR_PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")

# identity -> photo sources ("package:name").
IDENTITIES = {
    "eileen_collins": ("skimage:astronaut",),
    "grace_hopper": ("matplotlib:grace_hopper.jpg",),
    "barack_obama": ("face_recognition:obama.jpg", "face_recognition:obama2.jpg",
                     "face_recognition:obama3.jpg"),
    "joe_biden": ("face_recognition:biden.jpg",),
}


def cache_dir() -> str:
  return os.environ.get("LIPSYNC_JAX_CACHE", os.path.expanduser("~/.cache/lipsync_jax"))


def _fr_dir() -> str:
  return os.path.join(cache_dir(), "face_recognition_photos")


def fetch() -> str:
  """Downloads the face_recognition sdist with pip and extracts its test photos (idempotent)."""
  out = _fr_dir()
  if all(os.path.exists(os.path.join(out, p)) for p in _FR_PHOTOS):
    return out
  with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
                    ":all:", FACE_RECOGNITION_SDIST, "-d", tmp], check=True)
    (sdist,) = glob.glob(os.path.join(tmp, "face_recognition-*.tar.gz"))
    staging = os.path.join(tmp, "photos")
    os.makedirs(staging)
    with tarfile.open(sdist) as tar:
      for member in tar.getmembers():
        if os.path.basename(member.name) in _FR_PHOTOS and "test_images" in member.name:
          with tar.extractfile(member) as src, open(
              os.path.join(staging, os.path.basename(member.name)), "wb") as dst:
            shutil.copyfileobj(src, dst)
    missing = [p for p in _FR_PHOTOS if not os.path.exists(os.path.join(staging, p))]
    if missing:
      raise RuntimeError(f"{sdist} lacks the expected photos {missing}")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if os.path.exists(out):
      shutil.rmtree(out)
    shutil.move(staging, out)  # complete or absent, never half there
  return out


def load_photo(source: str) -> np.ndarray:
  """RGB uint8 array of a photo source such as 'skimage:astronaut'."""
  package, name = source.split(":", 1)
  if package == "skimage":
    import skimage.data
    return np.asarray(getattr(skimage.data, name)())[..., :3]
  if package == "matplotlib":
    import matplotlib.cbook
    with matplotlib.cbook.get_sample_data(name) as f:
      return np.asarray(Image.open(f).convert("RGB"))
  if package == "face_recognition":
    path = os.path.join(_fr_dir(), name)
    if not os.path.exists(path):
      raise FileNotFoundError(f"{path} is missing: run `python -m data_prep.faces fetch` "
                              "(scripts/setup.sh does) to obtain the face_recognition photos")
    return np.asarray(Image.open(path).convert("RGB"))
  raise ValueError(f"unknown photo source {source!r}")


def all_photos() -> list[tuple[str, str]]:
  """(identity, source) for every photo."""
  return [(ident, src) for ident, srcs in IDENTITIES.items() for src in srcs]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("command", choices=["fetch", "list"])
  args = parser.parse_args(argv)
  if args.command == "fetch":
    print(f"face photos ready in {fetch()}")
  else:
    for ident, src in all_photos():
      print(ident, src)


if __name__ == "__main__":
  main()
