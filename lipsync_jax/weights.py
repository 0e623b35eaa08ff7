"""A run's weights as one portable .npz, and back into a run directory.

  python -m lipsync_jax.weights export --workdir RUN --output RUN.npz
  python -m lipsync_jax.weights import --weights RUN.npz --workdir NEW_RUN

`export` keeps what inference, evaluation and the next stage load (params, consts, sync_params;
no optimizer state) with the run's config.json and step, as plain arrays: no Orbax format, so a
run trained on another machine with other library versions (a lent accelerator) comes back as a
fraction of its checkpoint's size. `import` writes them as the latest checkpoint of a run
directory that `infer`, `evaluate`, `export` and `--config.pretrained_*` read as they read any run.
Training cannot resume from it (no optimizer state).
"""

import argparse
import json
import os
import sys

import numpy as np

KEPT = ("params", "consts", "sync_params")
SEP = "/"


def export_weights(workdir: str, output: str) -> dict:
  from flax import traverse_util

  from lipsync_jax import checkpoints, fileio
  run = checkpoints.read_run(workdir)
  config, step = json.dumps(run.config, indent=1), run.step
  flat = traverse_util.flatten_dict({k: run.tree[k] for k in KEPT if k in run.tree}, sep=SEP)
  arrays = {k: np.asarray(v) for k, v in flat.items()}
  fileio.save_npz(output, __config__=np.array(config), __step__=np.array(step), **arrays)
  return {"step": step, "arrays": len(arrays), "bytes": sum(a.nbytes for a in arrays.values())}


def import_weights(weights: str, workdir: str) -> int:
  from flax import traverse_util

  from lipsync_jax import checkpoints, fileio
  with np.load(weights) as f:
    if "__config__" not in f.files:
      raise ValueError(f"{weights}: not a weights file of lipsync_jax.weights export")
    config, step = str(f["__config__"]), int(f["__step__"])
    tree = traverse_util.unflatten_dict(
        {k: f[k] for k in f.files if not k.startswith("__")}, sep=SEP)
  if os.path.exists(os.path.join(workdir, "checkpoints")):
    raise FileExistsError(f"{workdir}: already holds checkpoints")
  os.makedirs(workdir, exist_ok=True)
  with fileio.atomic_path(os.path.join(workdir, "config.json")) as tmp:
    with open(tmp, "w") as f:
      f.write(config)
  saver = checkpoints.Checkpoints(workdir)
  saver.save(step, tree, {"step": step})
  saver.close()
  return step


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)
  ex = sub.add_parser("export", help="a run's latest weights -> .npz")
  ex.add_argument("--workdir", required=True, help="a training run's folder")
  ex.add_argument("--output", required=True, help=".npz file to write")
  im = sub.add_parser("import", help=".npz -> a run directory")
  im.add_argument("--weights", required=True, help="an .npz of weights export")
  im.add_argument("--workdir", required=True, help="new run folder (must hold no checkpoints)")
  args = parser.parse_args(argv)
  try:
    if args.command == "export":
      summary = export_weights(args.workdir, args.output)
      print(json.dumps({"output": args.output, **summary}))
    else:
      step = import_weights(args.weights, args.workdir)
      print(json.dumps({"workdir": args.workdir, "step": step}))
  except (FileNotFoundError, FileExistsError, ValueError) as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  main()
