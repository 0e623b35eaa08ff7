"""Builds one of the TFDS datasets of data_prep.tfds_builders as array_record files.

  python -m data_prep.build_tfds --dataset synthetic_talking_faces|voxceleb2|hdtf \
      --manual_dir DIR --data_dir DIR [--beam_runner DirectRunner --beam_workers 2]

manual_dir: a folder prepared by data_prep.prepare, or the raw videos (then processed per video,
in a Beam pipeline when --beam_runner is given).
"""

import argparse
import os
import sys

from data_prep import tfds_builders


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--dataset", required=True, choices=sorted(tfds_builders.BUILDERS),
                      help="the TFDS builder")
  parser.add_argument("--manual_dir", required=True,
                      help="the output folder of data_prep.prepare (clips/*.npz)")
  parser.add_argument("--data_dir", required=True, help="TFDS data folder to write into")
  parser.add_argument("--beam_runner", default=None,
                      help="Apache Beam runner for large corpora, e.g. DirectRunner, "
                           "DataflowRunner (default: no Beam)")
  parser.add_argument("--beam_workers", type=int, default=os.cpu_count() or 1,
                      help="Beam's local workers (with --beam_runner)")
  args = parser.parse_args(argv)
  if not os.path.isdir(args.manual_dir):
    parser.error(f"--manual_dir {args.manual_dir}: not a folder")
  try:
    builder = tfds_builders.build(args.dataset, args.manual_dir, args.data_dir, args.beam_runner,
                                  args.beam_workers)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  for split, info in builder.info.splits.items():
    print(f"{args.dataset} {split}: {info.num_examples} clips")
  return 0


if __name__ == "__main__":
  sys.exit(main())
