"""More training identities than the shipped photos hold: mesh-aligned morphs and appearance changes.

Three training people in five photos cannot teach a model what a new face is. A *look* is one photo,
or two photos of different people warped to their mean mesh and blended, with an appearance change:
skin tone (brightness and warmth: red against blue), lighting (a smooth gradient across the frame) and hair and
background colour (a hue rotation outside the face oval). Synthetic clips pick a look per training
clip and flip it half the time (data_prep.synthetic). Held-out identities never enter a look, so
the test split's faces stay unseen.

  python -m data_prep.identities --out sheet.jpg     # a contact sheet of the training looks
"""

import argparse
import dataclasses
import itertools

import cv2
import numpy as np

from lipsync_jax import face_geometry as fg

MORPH_WEIGHTS = (0.35, 0.65)  # the second photo's share in a morph
LOOK_SEED = 0  # looks are the same for every corpus seed: the unseen-sentence corpus shares them


@dataclasses.dataclass(frozen=True)
class Look:
  name: str
  photos: tuple  # one photo source, or two to morph
  alpha: float = 0.0  # the second photo's weight in a morph
  gains: tuple = (1.0, 1.0, 1.0)  # RGB gains: skin tone (brightness and warmth)
  light: tuple = (0.0, 0.0)  # a gradient's strength and angle (radians): lighting
  hue: float = 0.0  # degrees of hue rotation outside the face oval: hair and background


def training_looks(identities: dict, held_out, variants: int = 3, seed: int = LOOK_SEED) -> list:
  """Every training look: each photo and each cross-identity morph of two photos, in `variants`
  appearances (the first one unchanged). `identities` maps a name to its photo sources."""
  photos = [(ident, src) for ident, srcs in identities.items() if ident not in held_out
            for src in srcs]
  faces = [((src,), 0.0, _short(src)) for _, src in photos]
  for (id_a, a), (id_b, b) in itertools.combinations(photos, 2):
    if id_a != id_b:  # a morph of one person's two photos is not a new identity
      faces += [((a, b), w, f"{_short(a)}-{_short(b)}-{round(100 * w)}") for w in MORPH_WEIGHTS]
  rng = np.random.default_rng(seed)
  out = []
  for srcs, alpha, name in faces:
    for k in range(variants):
      if k == 0:
        out.append(Look(name, srcs, alpha))
        continue
      brightness, warmth = rng.uniform(0.8, 1.15), rng.uniform(-0.1, 0.1)
      out.append(Look(f"{name}-v{k}", srcs, alpha,
                      gains=(float(brightness * (1 + warmth)), float(brightness),
                             float(brightness * (1 - warmth))),
                      light=(float(rng.uniform(0.1, 0.4)), float(rng.uniform(0, 2 * np.pi))),
                      hue=float(rng.uniform(-90, 90))))
  return out


def _short(source: str) -> str:
  return source.split(":", 1)[1].rsplit(".", 1)[0]


def morph(image_a, points_a, image_b, points_b, alpha: float, warp, triangulate):
  """Both images warped to the blended shape (1 - alpha) * points_a + alpha * points_b and
  blended with the same weights. points_*: (K, 2) corresponding points (landmarks and anchors);
  `warp(image, src, dst, triangles)` and `triangulate(points)` are the renderer's."""
  shape = (1 - alpha) * points_a + alpha * points_b
  triangles = triangulate(shape)
  a = warp(image_a, points_a, shape, triangles).astype(np.float32)
  b = warp(image_b, points_b, shape, triangles).astype(np.float32)
  return np.clip((1 - alpha) * a + alpha * b + 0.5, 0, 255).astype(np.uint8)


def appearance(image: np.ndarray, landmarks: np.ndarray, look: Look) -> np.ndarray:
  """The look's skin tone, lighting and hair colour applied to an RGB uint8 image whose face has
  the given (478, 2+) landmarks."""
  if look.gains == (1.0, 1.0, 1.0) and look.light[0] == 0 and look.hue == 0:
    return image
  h, w = image.shape[:2]
  out = image.astype(np.float32)
  if look.hue:
    face = np.zeros((h, w), np.uint8)
    cv2.fillPoly(face, [np.round(landmarks[list(fg.FACE_OVAL), :2]).astype(np.int32)], 255)
    face = cv2.GaussianBlur(face, (0, 0), 0.03 * w).astype(np.float32)[..., None] / 255
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + round(look.hue / 2)) % 180).astype(np.uint8)
    shifted = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)
    out = face * out + (1 - face) * shifted
  out = out * np.asarray(look.gains, np.float32)
  strength, angle = look.light
  if strength:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = ((xs - w / 2) * np.cos(angle) + (ys - h / 2) * np.sin(angle)) / (w / 2)
    out = out * (1 + strength * np.clip(ramp, -1, 1))[..., None]
  return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def main(argv=None):
  from data_prep import faces, synthetic
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--out", required=True, help="the contact sheet (.jpg or .png)")
  parser.add_argument("--size", type=int, default=128, help="each face's side in pixels")
  args = parser.parse_args(argv)
  looks = training_looks(faces.IDENTITIES, synthetic.TEST_IDENTITIES)
  config = synthetic.RenderConfig()
  tiles = [cv2.resize(synthetic.look_photo(look, False, config)[0].image,
                      (args.size, args.size), interpolation=cv2.INTER_AREA) for look in looks]
  cols = 12
  tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
  rows = [np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)]
  cv2.imwrite(args.out, cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
  print(f"{len(looks)} training looks -> {args.out}")


if __name__ == "__main__":
  main()
