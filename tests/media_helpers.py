"""Writers for test videos with properties our own writer never produces (odd rates, VFR, stereo)."""

import fractions

import av
import numpy as np


def write_raw(path, frames, fps=25, audio=None, sample_rate=16000, pts=None):
  """frames: RGB arrays; audio: (n, channels) float in [-1, 1] or None; pts: per-frame times in s."""
  with av.open(path, "w", format="mp4") as out:
    v = out.add_stream("libx264", rate=fractions.Fraction(fps).limit_denominator(1001))
    v.width, v.height = frames[0].shape[1], frames[0].shape[0]
    v.pix_fmt = "yuv420p"
    if pts is not None:
      v.codec_context.time_base = fractions.Fraction(1, 1000)
    a = None
    if audio is not None:
      channels = audio.shape[1]
      a = out.add_stream("aac", rate=sample_rate)
      a.layout = "stereo" if channels == 2 else "mono"
    for i, f in enumerate(frames):
      frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
      if pts is not None:
        frame.pts = int(round(pts[i] * 1000))
        frame.time_base = fractions.Fraction(1, 1000)
      for p in v.encode(frame):
        out.mux(p)
    for p in v.encode():
      out.mux(p)
    if a is not None:
      data = np.ascontiguousarray(audio.T.astype(np.float32))
      step = 4096
      for i in range(0, data.shape[1], step):
        chunk = np.ascontiguousarray(data[:, i:i + step])
        af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=a.layout.name)
        af.sample_rate = sample_rate
        af.pts = i
        for p in a.encode(af):
          out.mux(p)
      for p in a.encode(None):
        out.mux(p)
