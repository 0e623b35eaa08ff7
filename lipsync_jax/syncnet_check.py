"""How often a trained SyncNet ranks aligned audio above audio shifted by 3-12 frames (either way),
over the 5-frame windows of a split's clips: the check the sync losses run before they trust a
SyncNet (config.min_syncnet_accuracy), as a command. 0.5 is chance.

  python -m lipsync_jax.syncnet_check --syncnet runs/proof/syncnet \
      --data_dir runs/proof/unseen/tfds --split train --num_clips 16
"""

import argparse
import sys

from lipsync_jax import checkpoints, input_pipeline
from lipsync_jax.models import syncnet
from lipsync_jax.training import syncnet_trainer


def check(workdir: str, data_dir: str, split: str, num_clips: int,
          dataset: str = "synthetic_talking_faces") -> dict:
  """The SyncNet run's held-out window accuracy on the first `num_clips` clips of `split`."""
  run = checkpoints.read_run(workdir, ("syncnet",))
  net = syncnet.from_config(run.config["syncnet"])
  source = input_pipeline.open_source(dataset, data_dir, split)
  accuracy = syncnet_trainer.held_out_accuracy(net, run.tree["params"], source,
                                               run.config["model"]["resolution"], num_clips)
  return {"accuracy": accuracy, "clips": min(num_clips, len(source))}


def main(argv=None):
  p = argparse.ArgumentParser(prog="python -m lipsync_jax.syncnet_check", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--syncnet", required=True, help="workdir of a syncnet run")
  p.add_argument("--data_dir", required=True, help="TFDS data folder (data_prep.build_tfds)")
  p.add_argument("--dataset", default="synthetic_talking_faces", help="TFDS dataset name")
  p.add_argument("--split", default="test", help="a split the SyncNet was not trained on")
  p.add_argument("--num_clips", type=int, default=8, help="the split's first N clips")
  args = p.parse_args(argv)
  try:
    result = check(args.syncnet, args.data_dir, args.split, args.num_clips, args.dataset)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"{args.syncnet}: aligned above shifted audio in {100 * result['accuracy']:.1f}% of the "
        f"5-frame windows of {result['clips']} clips ({args.dataset} {args.split}; chance 50%)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
