"""The model as four functions on numpy arrays (lipsync_jax.export): encode_reference, audio_w,
mals and decode (and lips, for a model trained with lip_hint), from a training run (jitted model
code) or from an exported artifact (deserialized StableHLO: jax and numpy only, no model code
imported)."""

import io
import json
import os
import zipfile

import jax
import numpy as np

# Where the CLIs keep XLA's compiled programs by default (training, inference, evaluation).
COMPILATION_CACHE_DIR = "~/.cache/lipsync_jax/xla"


def use_compilation_cache(directory: str):
  """Keeps XLA's compiled programs in `directory` (JAX's persistent compilation cache): a resumed or
  restarted run, or the next inference with the same model and batch size, loads them instead of
  compiling them again. "" (or a cache already set, e.g. by JAX_COMPILATION_CACHE_DIR) leaves JAX's
  setting as it is. Multi-host: only process 0 writes it, so give a directory every host reads."""
  if directory and not jax.config.jax_compilation_cache_dir:
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(directory))


class Backend:
  """Runs the four model functions (lipsync_jax.export) on numpy inputs.

  fns: name -> fn(variables, *inputs); variables: the weights pytree; meta: resolution, num_ws...
  Batches are padded to `batch_size` so each function compiles once.
  """

  def __init__(self, fns: dict, variables, meta: dict, batch_size: int = 8):
    self.meta = meta
    self.resolution = int(meta["resolution"])
    self.num_ws, self.w_dim = int(meta["num_ws"]), int(meta["w_dim"])
    self.batch_size = batch_size
    self.variables = jax.device_put(variables)
    self._fns = {name: jax.jit(fn) for name, fn in fns.items()}

  def _call(self, name, *args):
    return self._fns[name](self.variables, *args)

  def _batched(self, name, fixed: tuple, *batched):
    """fn(*fixed, *batched) over rows of the batched inputs, in chunks padded to batch_size."""
    outs = []
    for i in range(0, len(batched[0]), self.batch_size):
      chunks = [x[i:i + self.batch_size] for x in batched]
      k = len(chunks[0])
      chunks = [np.concatenate([c, np.zeros((self.batch_size - k,) + c.shape[1:], c.dtype)])
                for c in chunks]
      outs.append(np.asarray(self._call(name, *fixed, *chunks))[:k])
    return np.concatenate(outs)

  def encode_reference(self, reference: np.ndarray) -> np.ndarray:
    return np.asarray(self._call("encode_reference", reference[None].astype(np.float32)))

  def audio_w(self, w_ref: np.ndarray, mels: np.ndarray) -> np.ndarray:
    return self._batched("audio_w", (w_ref,), mels.astype(np.float32))

  def mals(self, w_ref, avg_history, h_history, avg, first: bool):
    """MaLS over a block of frames of a stream: returns (codes, avg_history, h_history), the
    histories updated for the next block. Blocks are padded at the end: the convolutions are
    causal, so padding never reaches the real frames."""
    codes = []
    for i in range(0, len(avg), self.batch_size):
      block = avg[i:i + self.batch_size]
      k = len(block)
      padded = np.concatenate([block, np.repeat(block[-1:], self.batch_size - k, axis=0)])
      c, h = self._call("mals", w_ref, avg_history, h_history, padded, np.bool_(first))
      c, h = np.asarray(c)[:k], np.asarray(h)[:k]
      if first:  # the sequence's first frame stands in for the frames before it
        avg_history, h_history, first = np.repeat(block[:1], 2, 0), np.repeat(h[:1], 2, 0), False
      avg_history = np.concatenate([avg_history, block])[-2:]
      h_history = np.concatenate([h_history, h])[-2:]
      codes.append(c)
    return np.concatenate(codes), avg_history, h_history

  def lips(self, reference_lips: np.ndarray, mels: np.ndarray) -> np.ndarray:
    """The reference's canonical lips (P, 3) and mel windows (B, 20, 80) -> the frames' (B, P, 3)
    (a lip_hint model)."""
    return self._batched("lips", (reference_lips[None].astype(np.float32),),
                         mels.astype(np.float32))

  def decode(self, masked: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """masked (B, R, R, 3) float [-1, 1], codes (B, L, D) -> (B, R, R, 3) float [-1, 1]."""
    return self._batched("decode", (), masked.astype(np.float32), codes.astype(np.float32))


def checkpoint_backend(workdir: str, batch_size: int = 8) -> Backend:
  """A lipsync/adaptation run's latest checkpoint (needs the model code)."""
  from lipsync_jax import export
  config, variables, step = export.load_checkpoint(workdir)
  meta = export.metadata_for(config, workdir, step)
  return Backend(export.build_functions(config), variables, meta, batch_size)


def exported_backend(path: str, batch_size: int = 8) -> Backend:
  """An artifact of lipsync_jax.export: deserialized StableHLO and its weights (jax + numpy only)."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: no such exported model")
  try:
    with zipfile.ZipFile(path) as z:
      meta = json.loads(z.read("metadata.json"))
      weights = np.load(io.BytesIO(z.read("weights.npz")))
      leaves = [weights[f"arr_{i}"] for i in range(meta["num_weights"])]
      names = ("encode_reference", "audio_w", "mals", "decode") + (
          ("lips",) if meta.get("lip_hint") else ())
      exported = {name: jax.export.deserialize(bytearray(z.read(f"{name}.stablehlo")))
                  for name in names}
  except (zipfile.BadZipFile, KeyError, ValueError) as e:
    raise ValueError(f"{path}: not a lipsync_jax exported model ({e})") from e
  in_tree = exported["decode"].in_tree.children()[0].children()[0]  # args -> variables
  variables = jax.tree.unflatten(in_tree, leaves)
  fns = {name: exp.call for name, exp in exported.items()}
  return Backend(fns, variables, meta, batch_size)
