"""TFDS builders: the contract between data preparation and training.

Three builders share one feature set (below) and differ in where identities and splits come from:

  synthetic_talking_faces  the embedded synthetic corpus; test = held-out identities
                           (data_prep.synthetic.TEST_IDENTITIES, voices held out too)
  voxceleb2                VoxCeleb2 (manual_dir: the official dev/ and test/ folders, identities
                           id<digits>); test = the official test identities
  hdtf                     HDTF (manual_dir: flat WRA_Name_000.mp4 files); test = a fixed 10% of
                           identities by hash

manual_dir is either a folder already processed by `python -m data_prep.prepare` (it has done/ and
clips/) or the raw videos, which the builder processes itself with the same per-video function:
sequentially, or as an Apache Beam pipeline when a beam runner is given (DirectRunner with several
workers here; Dataflow, Flink or Spark on a cluster). Splits are identity-disjoint by construction.

Each example is one face segment of a video (up to 30 s); the features are defined in
lipsync_jax/segments.py, the contract that training reads:

  clip_id           text     '<video key>__<segment>'
  identity          text
  source            text     the original video's path
  start_frame       int32    the segment's first frame in that video (at 25 fps)
  num_frames        int32    T
  frames            Tensor (T,) bytes                   25 fps 256x256 face crops, JPEG
  lip_mask          Tensor (T, 256, 32) uint8           pose-aware mask, np.packbits along width
  rect_mask         Tensor (T, 256, 32) uint8           lower half of the face box, packed alike
  landmarks         Tensor (T, 478, 3) float32          MediaPipe mesh in crop pixels
  head_rotation     Tensor (T, 3, 3) float32            pose: landmarks ~ s * canonical @ R.T + t
  head_translation  Tensor (T, 3) float32
  head_scale        Tensor (T,) float32
  mouth_opening     Tensor (T,) float32                 inner-lip gap / eye-corner distance
  mel               Tensor (4T+1, 80) float32           log10 mel, 100 frames/s (lipsync_jax.audio)

Build: python -m data_prep.build_tfds --dataset NAME --manual_dir DIR --data_dir DIR
       [--beam_runner DirectRunner --beam_workers 2]
Read:  tfds.builder(NAME, data_dir=DIR).as_data_source(split) (no TensorFlow needed), or
       lipsync_jax.input_pipeline for training batches.
"""

import abc
import glob
import json
import os
import re
import sys
import zlib

import numpy as np
import tensorflow_datasets as tfds

from data_prep import prepare
from lipsync_jax import segments

features = segments.features
segment_to_example = segments.segment_to_example


def _is_prepared(root: str) -> bool:
  return os.path.isdir(os.path.join(root, "done")) and os.path.isdir(os.path.join(root, "clips"))


def _non_empty(by_split: dict, root: str) -> dict:
  """The splits that have examples (TFDS refuses to write an empty one: a folder of one person's
  videos, all of them held out, makes a dataset with a test split only)."""
  kept = {split: items for split, items in by_split.items() if items}
  if not kept:
    raise ValueError(f"{root}: no videos to build a dataset from")
  return kept


def _prepared_videos(root: str) -> list[dict]:
  """Summaries of the videos a prepare run finished (done/*.json), sorted by key."""
  out = []
  for path in sorted(glob.glob(os.path.join(root, "done", "**", "*.json"), recursive=True)):
    with open(path) as f:
      out.append(json.load(f))
  return out


class _TalkingFaceBuilder(tfds.core.GeneratorBasedBuilder):
  """Shared logic; subclasses name the layout and the split rule."""

  VERSION = tfds.core.Version(segments.DATASET_VERSION)
  RELEASE_NOTES = {"1.0.0": "First release.",
                   "1.1.0": "start_frame: where the segment starts in its source video."}
  LAYOUT = "folder"

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(features=features(), homepage=self.HOMEPAGE,
                                          citation=getattr(self, "CITATION", None))

  use_beam = False  # set by build(): process raw videos in a Beam pipeline

  @abc.abstractmethod
  def is_test(self, identity: str, source: str) -> bool:
    """Whether a video belongs to the test split (by identity, so splits never share one)."""

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    if _is_prepared(root):
      by_split = {"train": [], "test": []}
      for video in _prepared_videos(root):
        split = "test" if self.is_test(video["identity"], video["source"]) else "train"
        by_split[split] += [os.path.join(root, s) for s in video["segments"]]
      return {split: self._generate_examples(paths, prepared=True)
              for split, paths in _non_empty(by_split, root).items()}
    items = prepare.discover(root, self.LAYOUT)
    if not items:
      raise ValueError(f"{root}: neither a prepared folder nor videos in the {self.LAYOUT} layout")
    by_split = {"train": [], "test": []}
    for item in items:
      by_split["test" if self.is_test(item.identity, item.path) else "train"].append(item)
    return {split: self._generate_examples(its, prepared=False)
            for split, its in _non_empty(by_split, root).items()}

  def _generate_examples(self, sources, prepared: bool):
    """Examples from prepared segment files, or from raw videos through prepare.process_video
    (in a Beam pipeline when the build has a runner)."""
    if prepared:
      return (segment_to_example(segments.load_segment(path)) for path in sources)
    if self.use_beam:
      beam = tfds.core.lazy_imports.apache_beam
      return beam.Create(sources) | beam.FlatMap(_video_examples)
    return (example for item in sources for example in _video_examples(item))


def _video_examples(item):
  """All examples of one video; a bad video yields none (and says why), never fails the build."""
  from lipsync_jax import media
  try:
    return [segment_to_example(_with_meta(s)) for s in prepare.process_video(item)]
  except (media.MediaError, ValueError) as e:
    print(f"skipped {e}", file=sys.stderr)
    return []


def _with_meta(segment):
  segment = dict(segment)
  segment["meta"] = json.loads(str(segment["meta"]))
  return segment


def _hash_fraction(identity: str) -> float:
  return (zlib.crc32(identity.encode()) % 1000) / 1000


class SyntheticTalkingFaces(_TalkingFaceBuilder):
  """The synthetic talking-face corpus of data_prep.synthetic."""

  HOMEPAGE = "https://github.com/lipsync-jax/lipsync_jax"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Build the corpus with `python -m data_prep.synthetic --out DIR` and prepare it with "
      "`python -m data_prep.prepare --input DIR/clips --output PREPARED`; pass PREPARED (or "
      "DIR/clips) as manual_dir.")

  def is_test(self, identity, source):
    from data_prep import synthetic
    return identity in synthetic.TEST_IDENTITIES


class Voxceleb2(_TalkingFaceBuilder):
  """VoxCeleb2 talking faces (Chung et al., 2018), official identity split."""

  HOMEPAGE = "https://www.robots.ox.ac.uk/~vgg/data/voxceleb/vox2.html"
  CITATION = "@inproceedings{Chung18b, author={Chung, J. S. and Nagrani, A. and Zisserman, A.}, " \
             "title={VoxCeleb2: Deep Speaker Recognition}, booktitle={INTERSPEECH}, year={2018}}"
  LAYOUT = "voxceleb2"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Download VoxCeleb2 (dev and test mp4) and place it so that manual_dir holds "
      "dev/mp4/id<digits>/<video>/<clip>.mp4 and test/mp4/id<digits>/...; or prepare it first with "
      "`python -m data_prep.prepare --layout voxceleb2` and pass the prepared folder.")

  def is_test(self, identity, source):
    parts = re.split(r"[\\/]", source)
    if "test" in parts:
      return True
    if "dev" in parts:
      return False
    return _hash_fraction(identity) < 0.02  # no official folders: hold out 2% of identities


class Hdtf(_TalkingFaceBuilder):
  """HDTF high-resolution talking faces (Zhang et al., 2021)."""

  HOMEPAGE = "https://github.com/MRzzm/HDTF"
  CITATION = "@inproceedings{zhang2021flow, title={Flow-guided one-shot talking face generation " \
             "with a high-resolution audio-visual dataset}, author={Zhang, Zhimeng and Li, " \
             "Lincheng and Ding, Yu and Fan, Changjie}, booktitle={CVPR}, year={2021}}"
  LAYOUT = "hdtf"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Download and cut the HDTF videos (WRA_*/RD_*/WDA_* mp4 files) into manual_dir, flat; or "
      "prepare them first with `python -m data_prep.prepare --layout hdtf`.")

  def is_test(self, identity, source):
    return _hash_fraction(identity) < 0.1


BUILDERS = {"synthetic_talking_faces": SyntheticTalkingFaces, "voxceleb2": Voxceleb2,
            "hdtf": Hdtf}


def build(name: str, manual_dir: str, data_dir: str, beam_runner: str | None = None,
          beam_workers: int = 1):
  """Builds a dataset as array_record files; returns the builder."""
  builder = BUILDERS[name](data_dir=data_dir, file_format="array_record")
  builder.use_beam = bool(beam_runner)
  beam_options = None
  if beam_runner:
    beam = tfds.core.lazy_imports.apache_beam
    opts = [f"--runner={beam_runner}"]
    if beam_runner == "DirectRunner":
      opts += ["--direct_running_mode=multi_processing", f"--direct_num_workers={beam_workers}"]
    beam_options = beam.options.pipeline_options.PipelineOptions(opts)
  config = tfds.download.DownloadConfig(manual_dir=manual_dir, beam_options=beam_options,
                                        beam_runner=None)
  builder.download_and_prepare(download_config=config)
  return builder
