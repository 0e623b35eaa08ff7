"""A contact sheet of a synthetic corpus: per clip, frames across the clip, and the prepared crop
with its pose-aware lip mask (green) when a prepared folder is given.

  python -m data_prep.contact_sheet --corpus DIR [--prepared DIR] --out sheet.jpg [--clips 6]
"""

import argparse
import glob
import json
import os

import cv2
import numpy as np

from lipsync_jax import media

TILE = 160


def _label(img, text):
  cv2.putText(img, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
  cv2.putText(img, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
  return img


def make_sheet(corpus: str, prepared: str | None, num_clips: int = 6, per_clip: int = 5) -> np.ndarray:
  from data_prep import prepare
  by_identity = {}
  for mp4 in sorted(glob.glob(os.path.join(corpus, "clips", "*.mp4"))):
    with open(mp4[:-4] + ".json") as f:
      by_identity.setdefault(json.load(f)["identity"], []).append(mp4)
  chosen = []  # round-robin over identities, so the sheet shows them all
  while len(chosen) < num_clips and any(by_identity.values()):
    for clips in by_identity.values():
      if clips and len(chosen) < num_clips:
        chosen.append(clips.pop(0))
  rows = []
  for mp4 in chosen:
    with open(mp4[:-4] + ".json") as f:
      meta = json.load(f)
    gt = np.load(mp4[:-4] + ".npz")
    frames = list(media.iter_frames(mp4))
    picks = np.argsort(gt["mouth_opening"])[np.linspace(0, len(frames) - 1, per_clip).astype(int)]
    tiles = []
    for i in sorted(picks):
      tile = cv2.resize(frames[i], (TILE, TILE), interpolation=cv2.INTER_AREA)
      tiles.append(_label(tile, f"open {gt['mouth_opening'][i]:.2f}"))
    seg_path = os.path.join(prepared or "", "clips", meta["clip_id"] + "__000.npz")
    if prepared and os.path.exists(seg_path):
      seg = prepare.load_segment(seg_path)
      k = int(np.argmax(seg["mouth_opening"]))
      crop = prepare.decode_frame(seg, k).astype(np.float32)
      mask = prepare.unpack_mask(seg["lip_mask"][k], 256).astype(bool)
      crop[mask] = 0.6 * crop[mask] + 0.4 * np.array([0, 255, 0])
      tiles.append(_label(cv2.resize(crop.astype(np.uint8), (TILE, TILE)), "crop + lip mask"))
    row = np.concatenate(tiles, 1)
    header = np.zeros((20, row.shape[1], 3), np.uint8)
    rows.append(np.concatenate([_label(header, f"{meta['clip_id']} ({meta['split']}): "
                                                f"{meta['identity']}, voice {meta['voice']}"), row]))
  width = max(r.shape[1] for r in rows)
  rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
  return np.concatenate(rows, 0)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--corpus", required=True, help="a data_prep.synthetic output folder")
  parser.add_argument("--prepared", help="its data_prep.prepare output folder (adds the crops)")
  parser.add_argument("--out", required=True, help="image to write (.png or .jpg)")
  parser.add_argument("--clips", type=int, default=6, help="clips shown, one row each")
  args = parser.parse_args(argv)
  sheet = make_sheet(args.corpus, args.prepared, args.clips)
  with media.atomic_path(args.out) as tmp:
    cv2.imwrite(tmp, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
