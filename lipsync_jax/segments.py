"""The data contract between data preparation and training: processed segments and TFDS examples.

data_prep writes what this module defines; training, inference and evaluation read it. Nothing in
lipsync_jax imports data_prep (tests/test_layout.py checks it).

A processed segment (`data_prep.prepare`: OUT/clips/<key>__NNN.npz, save_segment/load_segment) is
one face segment of a video (up to 30 s) at 25 fps:
  frames_jpeg, frames_offsets  the 256x256 face crops, JPEG, concatenated
  landmarks (T, 478, 3), head_scale (T,), head_rotation (T, 3, 3), head_translation (T, 3)
  lip_mask, rect_mask (T, 256, 32) uint8 bit-packed; box (T, 4); mouth_opening (T,)
  audio (16 kHz int16), mel (4T+1, 80); meta (json: key, identity, source, segment, start_frame,
  num_frames, fps, size, clip_id)

A TFDS example (`features()`, DATASET_VERSION) is a segment as the builders store it:
  clip_id, identity, source (text); start_frame, num_frames (int32)
  frames            (T,) JPEG bytes, decoded only when sampled
  lip_mask, rect_mask (T, 256, 32) uint8, zlib
  landmarks (T, 478, 3), head_rotation (T, 3, 3), head_translation (T, 3), head_scale (T,),
  mouth_opening (T,), mel (4T+1, 80)   float32, raw bytes
"""

import json
import os

import numpy as np

from lipsync_jax import fileio

SIZE = 256
MASK_BYTES = SIZE // 8
DATASET_VERSION = "1.1.0"
ARRAYS = ("lip_mask", "rect_mask", "landmarks", "head_rotation", "head_translation", "head_scale",
          "mouth_opening", "mel")


def save_segment(segment: dict, path: str):
  """Writes a segment atomically (a kill never leaves half a file)."""
  fileio.save_npz(path, **segment)


def load_segment(path: str) -> dict:
  with np.load(path) as z:
    out = {k: z[k] for k in z.files}
  out["meta"] = json.loads(str(out["meta"]))
  return out


def segment_to_example(segment: dict) -> tuple[str, dict]:
  """A processed segment as a TFDS example keyed by its clip id."""
  meta = segment["meta"] if isinstance(segment["meta"], dict) else json.loads(str(segment["meta"]))
  offsets = segment["frames_offsets"]
  data = segment["frames_jpeg"]
  frames = np.array([data[offsets[i]:offsets[i + 1]].tobytes() for i in range(len(offsets) - 1)],
                    dtype=object)
  example = {
      "clip_id": meta["clip_id"], "identity": meta["identity"], "source": meta["source"],
      "start_frame": int(meta["start_frame"]), "num_frames": len(frames), "frames": frames,
      **{k: segment[k] for k in ARRAYS},
  }
  return meta["clip_id"], example


def features():
  """The TFDS FeaturesDict of an example. Arrays are stored as raw bytes (masks zlib-compressed):
  protobuf number lists would make reading a clip ~30x slower."""
  import tensorflow_datasets as tfds
  raw, zlib_ = tfds.features.Encoding.BYTES, tfds.features.Encoding.ZLIB
  seq = lambda *shape: tfds.features.Tensor(shape=(None,) + shape, dtype=np.float32, encoding=raw)  # noqa: E731
  mask = lambda: tfds.features.Tensor(shape=(None, SIZE, MASK_BYTES), dtype=np.uint8,  # noqa: E731
                                      encoding=zlib_)
  return tfds.features.FeaturesDict({
      "clip_id": tfds.features.Text(),
      "identity": tfds.features.Text(),
      "source": tfds.features.Text(),
      "start_frame": tfds.features.Scalar(dtype=np.int32),
      "num_frames": tfds.features.Scalar(dtype=np.int32),
      "frames": tfds.features.Tensor(shape=(None,), dtype=np.object_),
      "lip_mask": mask(), "rect_mask": mask(),
      "landmarks": seq(478, 3), "head_rotation": seq(3, 3), "head_translation": seq(3),
      "head_scale": seq(), "mouth_opening": seq(), "mel": seq(80),
  })


def open_split(name: str, data_dir: str, split: str):
  """The array_record data source of a built TFDS split (random access, no TensorFlow), read from
  its directory: the builder classes (data_prep.tfds_builders) are not needed to read."""
  import tensorflow_datasets as tfds
  root = os.path.join(data_dir, name)
  path = os.path.join(root, DATASET_VERSION)
  if not os.path.exists(os.path.join(path, "dataset_info.json")):
    found = sorted(os.listdir(root)) if os.path.isdir(root) else []
    raise FileNotFoundError(
        f"{data_dir}: no {name} dataset version {DATASET_VERSION}" +
        (f" (it holds {', '.join(found)}: built by an older version of this code)" if found else "") +
        f"; build it with python -m data_prep.build_tfds --dataset {name} --manual_dir PREPARED "
        f"--data_dir {data_dir}")
  builder = tfds.builder_from_directory(path)
  if split not in builder.info.splits:
    raise FileNotFoundError(f"{data_dir}: the {name} dataset has no {split} split (it has "
                            f"{', '.join(sorted(builder.info.splits))})")
  return builder.as_data_source(split)
