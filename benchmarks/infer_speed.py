"""End-to-end inference speed on CPU, split into decode, face tracking, model, paste-back and encode.

  python benchmarks/infer_speed.py [--checkpoint WORKDIR | --config configs/lipsync.py:tiny]
      [--video V.mp4] [--audio A.wav] [--frames 100] [--batch_size 8]

Without --checkpoint the model of --config is initialised at random (speed does not depend on the
weights). The default video is a synthetic corpus clip made on the spot. Prints frames/s of each
stage measured alone and of the whole `lipsync_jax.inference.run`, in the same process.
"""

import argparse
import importlib.util
import itertools
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import numpy as np  # noqa: E402

from lipsync_jax import backends, export, face_tracking, inference, input_video, media  # noqa: E402
from lipsync_jax import watermark  # noqa: E402


def random_backend(config_path: str, batch_size: int) -> backends.Backend:
  config_path, *variant = config_path.split(":")
  spec = importlib.util.spec_from_file_location("cfg", config_path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(*variant).to_dict()
  from lipsync_jax.models import stylelipsync
  m = config["model"]
  model = stylelipsync.from_config(m)
  r = m["resolution"]
  x = np.zeros((1, 5, r, r, 3), np.float32)
  variables = jax.jit(model.init)({"params": jax.random.key(0), "noise": jax.random.key(1)}, x,
                                  np.zeros((1, 5, 20, 80), np.float32), x[:, 0])
  return backends.Backend(export.build_functions(config), variables,
                           export.metadata_for(config), batch_size)


def timed(fn, n):
  start = time.perf_counter()
  out = fn()
  return out, n / (time.perf_counter() - start)


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--checkpoint")
  p.add_argument("--config", default="configs/lipsync.py:tiny")
  p.add_argument("--video")
  p.add_argument("--audio")
  p.add_argument("--frames", type=int, default=100)
  p.add_argument("--batch_size", type=int, default=8)
  args = p.parse_args()
  tmp = tempfile.mkdtemp()
  if not args.video:
    from data_prep import synthetic
    synthetic.build_corpus(tmp, 2, seed=3, workers=1, test_fraction=0.5, progress=False)
    clips = sorted(f for f in os.listdir(os.path.join(tmp, "clips")) if f.endswith(".mp4"))
    args.video = os.path.join(tmp, "clips", clips[0])
    args.audio = args.audio or os.path.join(tmp, "clips", clips[1])
  backend = (backends.checkpoint_backend(args.checkpoint, args.batch_size) if args.checkpoint
             else random_backend(args.config, args.batch_size))
  samples = inference.read_driving_audio(args.audio or args.video)
  n = min(args.frames, inference.num_output_frames(len(samples), 25))
  samples = samples[:n * 640]
  options = inference.Options(batch_size=args.batch_size)
  print(f"model {backend.resolution}x{backend.resolution}, batch {args.batch_size}, {n} frames of "
        f"{args.video} ({media.probe(args.video)['width']}x{media.probe(args.video)['height']}), "
        f"{os.cpu_count()} CPUs, jax {jax.__version__} on {jax.devices()[0].platform}")

  frames, decode_fps = timed(lambda: list(itertools.islice(
      input_video.VideoFrames(args.video, 25), n)), n)
  tracker = face_tracking.FaceTracker(frames, backend.resolution, options)
  items, track_fps = timed(lambda: list(tracker), n)
  tracker.mesh.close()
  faces = [f for _, f in items if f is not None]
  masked = np.stack([f.crop.astype(np.float32) / 127.5 - 1 for f in faces])
  mels = np.random.default_rng(0).normal(-3, 1, (len(faces), 20, 80)).astype(np.float32)
  ref = faces[0].crop
  inference.generate_clip(backend, ref, masked[:args.batch_size], mels[:args.batch_size])  # compile
  generated, model_fps = timed(lambda: inference.generate_clip(backend, ref, masked, mels),
                               len(faces))
  composited, paste_fps = timed(lambda: [
      watermark.mark(face_tracking.composite(fr, f, g)) for (fr, f), g in zip(
          [(fr, f) for fr, f in items if f is not None], generated)], len(faces))
  out = os.path.join(tmp, "encode.mp4")
  _, encode_fps = timed(lambda: media.write_video(out, composited, 25, samples), len(composited))

  def end_to_end():
    return inference.run(backend, args.video, iter([samples]), os.path.join(tmp, "e2e.mp4"),
                         options, progress=False)
  result, total_fps = timed(end_to_end, n)
  assert result["frames"] == n
  rows = [("decode (PyAV, 25 fps resampling)", decode_fps),
          ("face tracking (MediaPipe mesh, crop, mask)", track_fps),
          ("model (audio encoder, MaLS, face encoder + decoder)", model_fps),
          ("paste-back + watermark", paste_fps), ("encode (H.264 + AAC)", encode_fps)]
  print(f"{'stage':55s} {'frames/s':>9s} {'ms/frame':>9s} {'share':>6s}")
  total_ms = sum(1000 / f for _, f in rows)
  for name, fps in rows:
    print(f"{name:55s} {fps:9.1f} {1000 / fps:9.1f} {100 * (1000 / fps) / total_ms:5.1f}%")
  print(f"{'sum of stages':55s} {1000 / total_ms:9.1f} {total_ms:9.1f}")
  print(f"{'end to end (inference.run, incl. reference + startup)':55s} {total_fps:9.1f} "
        f"{1000 / total_fps:9.1f}")


if __name__ == "__main__":
  main()
