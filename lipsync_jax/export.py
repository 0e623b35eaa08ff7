"""A trained lip-sync checkpoint as four pure functions, and their serialized jax.export artifact.

  python -m lipsync_jax.export --checkpoint WORKDIR --output model.lsj [--platforms cpu,cuda]

The four functions are what inference runs (lipsync_jax.inference): the reference encoder, the
audio encoder (w = w_ref + a, eq. 3), MaLS over a block of a stream (eq. 4) and the decoder with
SaMF (eq. 5, constant noise). Each takes the model variables as its first argument, with batch and
block sizes symbolic, so one artifact serves any batch size.

The artifact is a zip: metadata.json (model sizes, audio and crop settings, the checkpoint and
step, jax version), weights.npz (the variables' leaves in tree order) and one serialized
jax.export module per function (StableHLO). `infer --exported FILE` needs only jax and numpy to run
it, not this package's model or training code.
"""

import argparse
import io
import json
import os
import sys
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

from lipsync_jax import checkpoints, fileio, lip_hint

FUNCTIONS = ("encode_reference", "audio_w", "mals", "decode")
FORMAT_VERSION = 1


def load_checkpoint(workdir: str, stages=("lipsync", "adaptation")):
  """(config dict, variables, step) of a run's latest checkpoint; its stage must be in `stages`
  (inference needs a lip-sync or adaptation run)."""
  run = checkpoints.read_run(workdir, stages)
  variables = {"params": run.tree["params"], **run.tree["consts"]}
  return run.config, jax.tree.map(np.asarray, variables), run.step


def build_functions(config: dict):
  """The four pure functions of a model config: fn(variables, *inputs) -> outputs, float32."""
  from lipsync_jax.models import stylelipsync
  model = stylelipsync.from_config(config["model"])

  def encode_reference(variables, reference):  # (1, R, R, 3) -> (1, L, D)
    return model.apply(variables, reference, method=model.encode_reference)

  def audio_w(variables, w_ref, mels):  # (1, L, D), (B, 20, 80) -> (B, L, D)
    a = model.apply(variables, mels[None], method=model.encode_audio)[0]
    return w_ref + a

  def mals(variables, w_ref, avg_history, h_history, avg, first):  # (1,L,D), (2,L,D) x2, (K,L,D)
    codes, h = model.apply(variables, w_ref, avg_history[None], h_history[None], avg[None], first,
                           method=model.latents_block)
    return codes[0], h[0]

  def decode(variables, masked, codes):  # (B, R, R, 3), (B, L, D) -> (B, R, R, 3)
    return model.apply(variables, masked[None], codes[None], "const", method=model.decode)[0]

  def lips(variables, reference_lips, mels):  # (1, P, 3), (B, 20, 80) -> (B, P, 3)
    return model.apply(variables, mels[None], reference_lips, method=model.predict_lips)[0]

  fns = {"encode_reference": encode_reference, "audio_w": audio_w, "mals": mals, "decode": decode}
  if config.get("lip_hint"):
    fns["lips"] = lips
  return fns


def metadata_for(config: dict, checkpoint: str = "", step=None) -> dict:
  from lipsync_jax import audio, face_crop
  from lipsync_jax.models import stylegan2
  m = config["model"]
  return {
      "format_version": FORMAT_VERSION, "resolution": m["resolution"], "w_dim": m["w_dim"],
      "num_ws": stylegan2.num_ws_for(m["resolution"]), "mask": config.get("mask", "pose"),
      "sample_rate": audio.SAMPLE_RATE, "mel_fps": audio.MEL_FPS, "fps": audio.FPS,
      "crop_scale": face_crop.CROP_SCALE, "crop_shift_y": face_crop.CROP_SHIFT_Y,
      "checkpoint": os.path.abspath(checkpoint) if checkpoint else "", "step": step,
      "jax_version": jax.__version__, "model": dict(m),
      "lip_hint": bool(config.get("lip_hint", False)),
  }


def _input_specs(meta: dict):
  r, nl, d = meta["resolution"], meta["num_ws"], meta["w_dim"]
  b, k = jax.export.symbolic_shape("b, k")
  f32 = jnp.float32
  s = jax.ShapeDtypeStruct
  return {
      "encode_reference": (s((1, r, r, 3), f32),),
      "audio_w": (s((1, nl, d), f32), s((b, 20, 80), f32)),
      "mals": (s((1, nl, d), f32), s((2, nl, d), f32), s((2, nl, d), f32), s((k, nl, d), f32),
               s((), jnp.bool_)),
      "decode": (s((b, r, r, 3), f32), s((b, nl, d), f32)),
      "lips": (s((1, lip_hint.NUM_POINTS, 3), f32), s((b, 20, 80), f32)),
  }


def export(checkpoint: str, output: str, platforms=("cpu",)):
  """Writes the artifact; returns its metadata."""
  config, variables, step = load_checkpoint(checkpoint)
  meta = metadata_for(config, checkpoint, step)
  fns = build_functions(config)
  var_spec = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), variables)
  leaves = jax.tree.leaves(variables)
  meta["platforms"] = list(platforms)
  meta["num_weights"] = len(leaves)
  members = {}
  for name, fn in fns.items():
    specs = _input_specs(meta)[name]
    exp = jax.export.export(jax.jit(fn), platforms=tuple(platforms))(var_spec, *specs)
    members[f"{name}.stablehlo"] = bytes(exp.serialize())
  buf = io.BytesIO()
  with fileio.deferred_stop():  # np.savez's ZipFile is not safe against a signal inside it
    np.savez(buf, *leaves)
  members["weights.npz"] = buf.getvalue()
  members["metadata.json"] = json.dumps(meta, indent=1)
  with fileio.atomic_path(output) as tmp:
    with fileio.deferred_stop(), zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
      for name, data in members.items():
        z.writestr(name, data)
  return meta


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m lipsync_jax.export", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--checkpoint", required=True, help="workdir of a lipsync/adaptation run")
  parser.add_argument("--output", required=True, help="artifact file to write")
  parser.add_argument("--platforms", default="cpu",
                      help="comma-separated jax.export platforms, e.g. cpu,cuda,tpu")
  args = parser.parse_args(argv)
  with fileio.stop_on_signals("export", fileio.outputs_note(args.output)):
    try:
      meta = export(args.checkpoint, args.output, tuple(args.platforms.split(",")))
    except (FileNotFoundError, ValueError) as e:
      print(f"error: {e}", file=sys.stderr)
      return 2
  size = os.path.getsize(args.output) / 2**20
  print(f"wrote {args.output} ({size:.1f} MiB): resolution {meta['resolution']}, "
        f"step {meta['step']}, platforms {meta['platforms']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
