"""One TFDS split at one training resolution as a single self-contained .npz: a pack.

A pack is what training reads on a machine that has JAX but not TensorFlow Datasets (accelerator
images usually carry only the former): `--config.data_dir=PACK.npz` makes every trainer read it
through `input_pipeline.PackedSource` instead of TFDS. Frames are re-encoded as JPEG at the pack's
resolution and masks reduced with the training pipeline's own resize, so batches equal the TFDS
ones at that resolution up to the image codec's round trip (WebP or JPEG, both read by the
pipeline's decoder) and the mel's float16 storage (log10 values in [-5, 4]: 3 decimal digits,
well below the features' own noise). A 128x128 WebP pack of 140 of the 200-clip corpus's 160
training clips is 57.6 MiB, small enough to travel to a lent machine with the code.

  python -m data_prep.pack --data_dir TFDS_DIR --split train --resolution 128 --output train128.npz
      [--dataset synthetic_talking_faces] [--codec webp|jpeg] [--quality 80] [--max_clips N]

Arrays (N clips, F frames in all, M mel frames in all):
  dataset, split (str), resolution (int)
  clip_id, identity, source (N,) str; start_frame, num_frames (N,) int32
  frame_start (N + 1,) int64: clip i's frames are rows frame_start[i]:frame_start[i + 1]
  image (bytes,) uint8 and image_start (F + 1,) int64: frame k's WebP or JPEG bytes are
      image[image_start[k]:image_start[k + 1]]
  lip_mask, rect_mask (F, R, R / 8) uint8, bit-packed along the width
  mouth_opening (F,) float32; mouth_shape (F, 7) float32 (face_geometry.mouth_shape of the mesh:
      the decoder prior's code; the pack carries no whole mesh)
  lip_points (F, 40, 3) float32, the mesh's lip rings (lip_hint.RING, the stored crop's pixels),
      and head_scale (F,), head_rotation (F, 3, 3), head_translation (F, 3): what lip_hint reads
  mel (M, 80) float16 and mel_start (N + 1,) int64
"""

import argparse
import os
import sys

import cv2
import numpy as np

from lipsync_jax import face_geometry, fileio, input_pipeline, lip_hint


def _pack_masks(packed: np.ndarray, size: int) -> np.ndarray:
  masks = input_pipeline.unpack_masks(packed)
  return np.stack([np.packbits(input_pipeline.resize_mask(m, size)[..., 0], axis=-1) for m in masks])


CODECS = {"webp": (".webp", cv2.IMWRITE_WEBP_QUALITY), "jpeg": (".jpg", cv2.IMWRITE_JPEG_QUALITY)}


def _encode(rgb: np.ndarray, codec: str, quality: int) -> bytes:
  extension, flag = CODECS[codec]
  ok, data = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [flag, quality])
  if not ok:
    raise ValueError(f"{codec} encoding failed")
  return data.tobytes()


def write_pack(source, output: str, resolution: int, codec: str = "webp", quality: int = 80,
               max_clips: int = 0, dataset: str = "", split: str = "") -> dict:
  """Writes the clips of `source` (TFDS-shaped examples) to `output`, atomically; with
  `max_clips`, that many spread evenly over the source's order."""
  if resolution % 8:
    raise ValueError(f"resolution {resolution} is not a multiple of 8 (masks are bit-packed)")
  indices = range(len(source))
  if 0 < max_clips < len(source):
    indices = np.linspace(0, len(source) - 1, max_clips).round().astype(int)
  meta = {k: [] for k in ("clip_id", "identity", "source", "start_frame", "num_frames")}
  images, lip, rect, opening, shape, mels = [], [], [], [], [], []
  lips = {k: [] for k in input_pipeline.PACKED_LIPS}
  for i in indices:
    clip = source[int(i)]
    for k in meta:
      v = clip[k]
      meta[k].append(v.decode() if isinstance(v, bytes) else v)
    for data in clip["frames"]:
      frame = input_pipeline.resize_image(input_pipeline.decode_jpeg(data), resolution)
      images.append(_encode(frame, codec, quality))
    lip.append(_pack_masks(clip["lip_mask"], resolution))
    rect.append(_pack_masks(clip["rect_mask"], resolution))
    opening.append(np.asarray(clip["mouth_opening"], np.float32))
    shape.append(np.stack([face_geometry.mouth_shape(p) for p in np.asarray(clip["landmarks"])]))
    mels.append(np.asarray(clip["mel"], np.float16))
    lips["lip_points"].append(np.asarray(clip["landmarks"], np.float32)[:, list(lip_hint.RING)])
    for k in input_pipeline.PACKED_LIPS[1:]:
      lips[k].append(np.asarray(clip[k], np.float32))
  counts = np.array(meta["num_frames"], np.int64)
  arrays = {
      "dataset": np.array(dataset), "split": np.array(split), "resolution": np.array(resolution),
      "clip_id": np.array(meta["clip_id"]), "identity": np.array(meta["identity"]),
      "source": np.array(meta["source"]),
      "start_frame": np.array(meta["start_frame"], np.int32), "num_frames": counts.astype(np.int32),
      "frame_start": np.concatenate([[0], np.cumsum(counts)]),
      "image": np.frombuffer(b"".join(images), np.uint8),
      "image_start": np.concatenate([[0], np.cumsum([len(j) for j in images])]),
      "lip_mask": np.concatenate(lip), "rect_mask": np.concatenate(rect),
      "mouth_opening": np.concatenate(opening), "mouth_shape": np.concatenate(shape),
      "mel": np.concatenate(mels), "mel_start": np.concatenate([[0], np.cumsum([len(m) for m in mels])]),
      **{k: np.concatenate(v) for k, v in lips.items()},
  }
  with fileio.atomic_path(output) as tmp:
    with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to the temporary name
      np.savez_compressed(f, **arrays)
  return {"clips": len(counts), "frames": int(counts.sum()), "image_bytes": int(arrays["image"].size)}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", required=True, help="the TFDS data_dir")
  parser.add_argument("--dataset", default="synthetic_talking_faces")
  parser.add_argument("--split", default="train")
  parser.add_argument("--resolution", type=int, required=True)
  parser.add_argument("--codec", choices=sorted(CODECS), default="webp")
  parser.add_argument("--quality", type=int, default=80)
  parser.add_argument("--max_clips", type=int, default=0, help="0: all")
  parser.add_argument("--output", required=True)
  args = parser.parse_args(argv)
  try:
    source = input_pipeline.open_split(args.dataset, args.data_dir, args.split)
  except FileNotFoundError as e:
    sys.exit(f"error: {e}")
  summary = write_pack(source, args.output, args.resolution, args.codec, args.quality,
                       args.max_clips, args.dataset, args.split)
  print(f"{args.output}: {summary['clips']} clips, {summary['frames']} frames at "
        f"{args.resolution}x{args.resolution}, {summary['image_bytes'] / 2**20:.1f} MiB of "
        f"{args.codec}, {os.path.getsize(args.output) / 2**20:.1f} MiB in all")


if __name__ == "__main__":
  main()
