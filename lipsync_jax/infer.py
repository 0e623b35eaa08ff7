"""Lip-syncs a video (or a still image) to any speech.

  python -m lipsync_jax.infer --checkpoint WORKDIR | --exported MODEL.lsj \
      --video IN.mp4|IN.jpg --audio SPEECH.wav|.mp3|.mp4|- --output OUT.mp4 \
      [--batch_size 8] [--fps 25] [--pads 0 0 0 0] [--mask pose|rect] [--reference_frame K]
      [--stream --chunk_ms 40] [--no_visible_mark] [--crf 18]

--audio - reads raw 16 kHz mono signed 16-bit PCM from stdin as it arrives (a live stream): frames
are produced as soon as their audio is in. --stream feeds a file's audio through the same streaming
path in --chunk_ms chunks. The output is H.264 + AAC at --fps with the driving audio, written
atomically, and carries the provenance marks of lipsync_jax.watermark. See lipsync_jax.inference
for the pipeline. Exit status: 0 done, 2 unusable input (the message names the file and why),
128 + N stopped by signal N (SIGTERM 143, SIGINT 130: nothing written, no temporary left).
"""

import argparse
import ctypes
import os
import sys
import time

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def few_malloc_arenas(count: int = 2):
  """glibc gives threads their own heaps (up to 8 per core), each keeping the frame-sized buffers
  it freed: decoder, encoder and XLA threads made a 4K run's peak climb by ~0.6 GB over its
  first minute (4.3 GB, against 3.7 GB with two heaps, at the same speed). No-op without glibc."""
  try:
    ctypes.CDLL("libc.so.6").mallopt(-8, count)  # M_ARENA_MAX, before the threads start
  except (OSError, AttributeError):
    pass


few_malloc_arenas()

import numpy as np  # noqa: E402

from lipsync_jax import audio as audio_lib  # noqa: E402
from lipsync_jax import backends, face_mesh, fileio, inference, media  # noqa: E402


def stdin_chunks(chunk_samples: int):
  """16 kHz mono s16le PCM from stdin, as float32 chunks."""
  stream = sys.stdin.buffer
  while True:
    data = stream.read(chunk_samples * 2)
    if not data:
      return
    data = data[:len(data) - len(data) % 2]
    yield np.frombuffer(data, "<i2").astype(np.float32) / 32768.0


def parse_args(argv):
  p = argparse.ArgumentParser(prog="python -m lipsync_jax.infer", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  model = p.add_mutually_exclusive_group(required=True)
  model.add_argument("--checkpoint", help="workdir of a lipsync or adaptation run")
  model.add_argument("--exported", help="artifact written by python -m lipsync_jax.export")
  p.add_argument("--video", required=True, help="face video, or a still image (.png/.jpg)")
  p.add_argument("--audio", required=True,
                 help="driving speech (any audio or video file), or - for s16le 16 kHz PCM on stdin")
  p.add_argument("--output", required=True, help="output .mp4")
  p.add_argument("--batch_size", type=int, default=8, help="frames per model call")
  p.add_argument("--fps", type=float, default=25.0, help="output frame rate (models train at 25)")
  p.add_argument("--pads", type=int, nargs=4, default=(0, 0, 0, 0),
                 metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
                 help="pixels added to the detected face box before cropping")
  p.add_argument("--mask", choices=("pose", "rect"), default="pose",
                 help="pose-aware lip mask (paper) or the lower-half rectangle")
  p.add_argument("--reference_frame", type=int, default=None,
                 help="input frame index for the reference (default: the first frame with a face)")
  p.add_argument("--smooth_radius", type=int, default=3, help="face box smoothing, +- frames")
  p.add_argument("--stream", action="store_true", help="feed the audio in --chunk_ms chunks")
  p.add_argument("--chunk_ms", type=float, default=40.0, help="chunk length for --stream and -")
  p.add_argument("--no_visible_mark", action="store_true",
                 help="omit the visible 'AI-generated' label (the invisible watermark and the "
                      "metadata stay)")
  p.add_argument("--crf", type=int, default=18, help="H.264 quality (lower is better)")
  p.add_argument("--compilation_cache_dir", default=backends.COMPILATION_CACHE_DIR,
                 help="keeps XLA's compiled model here for the next run ('': off)")
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  p.add_argument("--verbose", action="store_true", help="show MediaPipe's start-up messages")
  args = p.parse_args(argv)
  if args.batch_size < 1:
    p.error("--batch_size must be >= 1")
  if not 1 <= args.fps <= 120:
    p.error("--fps must be within 1..120")
  if args.chunk_ms <= 0:
    p.error("--chunk_ms must be positive")
  return args


def main(argv=None):
  args = parse_args(argv)
  face_mesh.set_verbose(args.verbose)
  face_mesh.native_stderr_to_null()
  backends.use_compilation_cache(args.compilation_cache_dir)
  options = inference.Options(
      batch_size=args.batch_size, fps=args.fps, pads=tuple(args.pads), mask=args.mask,
      reference_frame=args.reference_frame, smooth_radius=args.smooth_radius,
      visible_mark=not args.no_visible_mark)
  start = time.perf_counter()
  with fileio.stop_on_signals("infer", fileio.outputs_note(args.output)):
    try:
      if args.exported:
        backend = backends.exported_backend(args.exported, args.batch_size)
      else:
        backend = backends.checkpoint_backend(args.checkpoint, args.batch_size)
      chunk_samples = int(audio_lib.SAMPLE_RATE * args.chunk_ms / 1000)
      if args.audio == "-":
        audio = stdin_chunks(chunk_samples)
      elif args.stream:
        samples = inference.read_driving_audio(args.audio)
        audio = (samples[i:i + chunk_samples] for i in range(0, len(samples), chunk_samples))
      else:
        audio = args.audio
      result = inference.run(backend, args.video, audio, args.output, options,
                             progress=not args.quiet, crf=args.crf)
    except (media.MediaError, FileNotFoundError, ValueError) as e:
      print(f"error: {e}", file=sys.stderr)
      return 2
    seconds = time.perf_counter() - start
    print(f"wrote {result['output']}: {result['frames']} frames ({result['seconds']:.2f} s), "
          f"face in {result['faces']}, reference frame {result['reference_frame']}, "
          f"{seconds:.1f} s wall")
    return 0


if __name__ == "__main__":
  sys.exit(main())
