"""Reading a jax.profiler trace of compiled steps against their optimized HLO: the time of each
XLA operation, with its output shape, what it computes (a convolution's window, a dot) and where
in the model it comes from (the op_name path JAX gives it). benchmarks/op_profile.py prints it."""

import collections
import glob
import gzip
import json
import os
import re

NETWORKS = ("frame_encoder", "audio_encoder", "lip_motion", "reference_encoder", "face_encoder",
            "mals", "synthesis", "lpips", "visual_tower", "audio_tower", "mapping",
            "discriminator")


def hlo_operations(hlo_text: str) -> dict:
  """{instruction name: (output shape, what it computes, op_name)} of an optimized HLO module; a
  fusion's convolution or dot and op_name are read from the computation it calls."""
  computations = {m.group(1): m.group(2) for m in
                  re.finditer(r"^%?([\w.\-]+) [^\n]*\{\n(.*?)\n\}", hlo_text, re.M | re.S)}
  ops = {}
  for m in re.finditer(r"^\s*(?:ROOT )?%([\w.\-]+) = (\S+) ([\w\-]+)\((.*)$", hlo_text, re.M):
    name, shape, opcode, rest = m.groups()
    body = rest
    called = re.search(r"calls=%([\w.\-]+)", rest)
    if called and called.group(1) in computations:
      body = computations[called.group(1)] + rest
    what = opcode
    inner = re.search(r"= \S+ (convolution|dot)\(([^\n]*)", body)
    if inner or opcode in ("convolution", "dot"):
      kind, args = inner.groups() if inner else (opcode, rest)
      window = re.search(r"window=\{[^}]*\}", args)
      what = kind + (" " + window.group(0) if window else "")
    names = re.findall(r'op_name="([^"]+)"', body)
    ops[name] = (shape.split("{")[0], what, names[-1] if names else "")
  return ops


def trace_times(trace_dir: str) -> collections.Counter:
  """Microseconds per operation name over a trace (jax.profiler's perfetto file)."""
  path = glob.glob(os.path.join(trace_dir, "**", "*perfetto_trace.json.gz"), recursive=True)[0]
  with gzip.open(path) as f:
    events = json.load(f)
  events = events["traceEvents"] if isinstance(events, dict) else events
  times = collections.Counter()
  for e in events:
    name = e.get("name", "")
    if e.get("ph") == "X" and not name.startswith(("$", "Thunk", "Slinky", "Pjit", "Common",
                                                   "end: ")):
      times[name] += e.get("dur", 0)
  return times


def where(op_name: str) -> tuple[str, str]:
  """(network, "forward" or "backward") of an operation's op_name."""
  network = next((n for n in NETWORKS if f"/{n}/" in op_name or op_name.endswith(f"/{n}")),
                 "other")
  return network, "backward" if "transpose(jvp" in op_name else "forward"
