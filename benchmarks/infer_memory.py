"""Peak memory of inference against the output's length, at several input frame sizes.

  python benchmarks/infer_memory.py --exported runs/demo/adapted.lsj
      [--heights 256,1080,2160] [--seconds 10,60] [--inputs short,long,still,stream] [--out DIR]

For each input height H (the corpus clip's own height, 256, as rendered; otherwise a 16:9 frame of
height H with the clip scaled to half that height in the middle),
each input kind (short: a 4 s clip that inference loops forward and backward; long: the clip
played forward and backward as long as the longest output, so nothing loops; still: the clip's
first frame as a PNG; stream: the short clip with the audio fed through `--stream` in 40 ms
chunks, as live audio is) and each output length, runs `python -m lipsync_jax.infer` in a fresh process and prints its peak resident memory
(the child's ru_maxrss), frames/s, and the ratio of each length's peak to the shortest one's.
Inputs are made on the spot from a synthetic corpus clip; --checkpoint RUN works as --exported.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import wave

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from lipsync_jax import media  # noqa: E402

FPS = 25


def source_clip(directory: str):
  """Frames (T, 256, 256, 3) of a synthetic talking face and 16 kHz speech of another clip."""
  from data_prep import synthetic
  synthetic.build_corpus(directory, 2, seed=3, workers=1, test_fraction=0.5, progress=False)
  clips = sorted(os.path.join(directory, "clips", f) for f in os.listdir(
      os.path.join(directory, "clips")) if f.endswith(".mp4"))
  return np.stack(list(media.iter_frames(clips[0], FPS))), media.read_audio(clips[1])


def on_canvas(frame: np.ndarray, height: int) -> np.ndarray:
  """The clip's frame scaled to half the height, centred on a grey 16:9 canvas."""
  if height == frame.shape[0]:
    return frame
  width = (height * 16 // 9) // 2 * 2
  h, w = height // 2, frame.shape[1] * (height // 2) // frame.shape[0]
  canvas = np.full((height, width, 3), 96, np.uint8)
  top, left = (height - h) // 2, (width - w) // 2
  canvas[top:top + h, left:left + w] = cv2.resize(frame, (w, h), interpolation=cv2.INTER_CUBIC)
  return canvas


def write_input(path: str, frames: np.ndarray, height: int, seconds: float):
  """The clip at `height`, played forward and backward for `seconds` (its own length if 0)."""
  n = int(round(seconds * FPS)) if seconds else len(frames)
  order = np.concatenate([np.arange(len(frames)), np.arange(len(frames) - 2, 0, -1)])
  media.write_video(path, (on_canvas(frames[order[i % len(order)]], height) for i in range(n)),
                    FPS, crf=23)


def write_speech(path: str, speech: np.ndarray, seconds: float):
  n = int(seconds * 16_000)
  samples = np.resize(speech, n)  # repeated to the length
  with wave.open(path, "wb") as f:
    f.setnchannels(1)
    f.setsampwidth(2)
    f.setframerate(16_000)
    f.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())


def run_measured(command: list[str]) -> tuple[float, float]:
  """(peak RSS in GB, seconds) of one child process, by wait4's rusage."""
  start = time.perf_counter()
  process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  stderr = process.stderr.read()
  _, status, usage = os.wait4(process.pid, 0)
  wall = time.perf_counter() - start
  if os.waitstatus_to_exitcode(status):
    sys.exit(f"failed: {' '.join(command)}\n{stderr.decode()[-2000:]}")
  return usage.ru_maxrss / 2**20, wall  # KiB on Linux


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  model = p.add_mutually_exclusive_group(required=True)
  model.add_argument("--exported", help="an exported model (.lsj)")
  model.add_argument("--checkpoint", help="a lip-sync or adaptation run")
  p.add_argument("--heights", default="256,1080,2160", help="input frame heights")
  p.add_argument("--seconds", default="10,60", help="output lengths in seconds")
  p.add_argument("--inputs", default="short,long",
                 help="comma-separated: short (a looped 4 s clip), long, still, stream")
  p.add_argument("--out", help="folder for the inputs and outputs (default: a temporary one)")
  args = p.parse_args()
  heights = [int(h) for h in args.heights.split(",")]
  lengths = sorted(float(s) for s in args.seconds.split(","))
  kinds = args.inputs.split(",")
  out = args.out or tempfile.mkdtemp(prefix="infer_memory_")
  os.makedirs(out, exist_ok=True)
  frames, speech = source_clip(os.path.join(out, "corpus"))
  frames = frames[:4 * FPS]
  model_args = ["--exported", args.exported] if args.exported else ["--checkpoint", args.checkpoint]
  print(f"{os.cpu_count()} CPUs; model {model_args[1]}; inputs in {out}")
  print(f"{'input':>16s} {'kind':>6s} {'output s':>8s} {'frames':>6s} {'peak GB':>8s} "
        f"{'vs shortest':>11s} {'frames/s':>8s}")
  for height in heights:
    for kind in kinds:
      if kind == "still":
        video = os.path.join(out, f"face_{height}_still.png")
        cv2.imwrite(video, cv2.cvtColor(on_canvas(frames[0], height), cv2.COLOR_RGB2BGR))
        size = {"height": height, "width": cv2.imread(video).shape[1]}
      else:
        video = os.path.join(out, f"face_{height}_{kind}.mp4")
        write_input(video, frames, height, lengths[-1] + 1 if kind == "long" else 0)
        size = media.probe(video)
      extra = ["--stream"] if kind == "stream" else []
      first = None
      for seconds in lengths:
        speech_path = os.path.join(out, f"speech_{seconds:g}.wav")
        if not os.path.exists(speech_path):
          write_speech(speech_path, speech, seconds)
        output = os.path.join(out, f"out_{height}_{kind}_{seconds:g}.mp4")
        gb, wall = run_measured([sys.executable, "-m", "lipsync_jax.infer", *model_args,
                                 "--video", video, "--audio", speech_path, "--output", output,
                                 *extra])
        n = int(round(seconds * FPS))
        first = first or gb
        print(f"{size['width']:>7d}x{size['height']:<8d} {kind:>6s} {seconds:8g} {n:6d} "
              f"{gb:8.2f} {gb / first:10.2f}x {n / wall:8.1f}", flush=True)


if __name__ == "__main__":
  main()
