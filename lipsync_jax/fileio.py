"""Atomic file writes: a result is either complete or absent, never half-written, also when the
program is stopped by SIGTERM or SIGINT."""

import contextlib
import os
import secrets
import signal
import sys
from typing import Callable

import numpy as np

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_temporaries = set()  # atomic_path's unfinished writes in this process
_stopping = None  # the signal that asked this process to stop
_program = None  # (name, what is kept) of the CLI in stop_on_signals
_deferring = False  # inside deferred_stop: a first signal is raised when the block ends


@contextlib.contextmanager
def atomic_path(path: str):
  """Yields a temporary path beside `path`, renamed onto it only if the block succeeds."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  suffix = os.path.splitext(path)[1]
  while True:
    tmp = os.path.join(directory, f".tmp-{secrets.token_hex(6)}{suffix}")
    # Registered before it exists: a signal between its creation and the `try` below must not
    # leave it behind (stop_on_signals removes what is still registered).
    _temporaries.add(tmp)
    try:
      os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
      break
    except FileExistsError:
      _temporaries.discard(tmp)
  try:
    yield tmp
    if _stopping:  # the Interrupted was swallowed on the way (in a __del__, say): keep nothing
      raise Interrupted(_stopping)
    os.chmod(tmp, 0o644)  # made 0600 while unfinished; results are ordinary files
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
    _temporaries.discard(tmp)  # after: a second signal may come between the two


class Interrupted(SystemExit):
  """SIGTERM or SIGINT, raised where the program was, so every `finally` (atomic_path's) runs.

  A SystemExit rather than an Exception: the per-item `except Exception` of prepare and synthetic
  must not record it as one bad item and go on. Rather than a KeyboardInterrupt: uncaught it ends
  the process quietly, with its code: 128 + the signal's number.
  """

  def __init__(self, signum: int):
    super().__init__(128 + signum)
    self.signum = signum


def _message(signum: int) -> str:
  name, kept = _program
  return f"{name}: stopped by {signal.Signals(signum).name}; {kept()}"


def _remove_temporaries():
  for tmp in list(_temporaries):
    with contextlib.suppress(OSError):
      os.remove(tmp)
    _temporaries.discard(tmp)


def _exit_now(signum: int):
  """Removes this process's temporaries and exits at once: no unwinding that could be cut short."""
  _remove_temporaries()
  if _program:
    print(_message(signum), file=sys.stderr, flush=True)
  os._exit(128 + signum)


def _raise_interrupted(signum, frame):
  global _stopping
  if _stopping:  # a second signal, or the first one's Interrupted was swallowed
    _exit_now(signum)
  _stopping = signum
  if not _deferring:
    raise Interrupted(signum)


@contextlib.contextmanager
def deferred_stop():
  """A short block that a first stop signal does not cut: it is raised when the block ends.

  For library code that breaks when an exception lands at an arbitrary point: zipfile's ZipFile,
  stopped inside its __init__, prints an AttributeError from __del__ when it is collected (so
  np.savez too). A second signal still ends the process at once.
  """
  global _deferring
  outer, _deferring = _deferring, True
  try:
    yield
  finally:
    _deferring = outer
  if _stopping and not outer:
    raise Interrupted(_stopping)


def save_npz(path: str, **arrays):
  """np.savez to `path`, atomically and whole: a stop signal waits for the write to end."""
  with atomic_path(path) as tmp:
    with deferred_stop(), open(tmp, "wb") as f:
      np.savez(f, **arrays)


def pool_worker_signals():
  """A multiprocessing pool's initializer: SIGINT is left to the parent (Ctrl-C reaches the whole
  process group; the parent then terminates the pool) and SIGTERM, which Pool.terminate sends,
  removes the worker's temporaries and ends it at once."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, lambda signum, frame: _exit_now(signum))


def _version(path: str):
  try:
    st = os.stat(path)
  except FileNotFoundError:
    return None
  return st.st_ino, st.st_mtime_ns  # os.replace brings a new inode


def outputs_note(*paths: str) -> Callable[[], str]:
  """A function that says which of `paths` were written since this call and which were not."""
  before = [_version(p) for p in paths]

  def note():
    kept = [p for p, v in zip(paths, before) if _version(p) != v]
    missing = [p for p in paths if p not in kept]
    parts = ([f"kept {', '.join(kept)}"] if kept else []) + (
        [f"nothing written to {', '.join(missing)}"] if missing else [])
    return "; ".join(parts)

  return note


@contextlib.contextmanager
def stop_on_signals(program: str, kept: Callable[[], str]):
  """For a CLI's main: SIGTERM or SIGINT in the block raises Interrupted; once the cleanups have
  run, one line on stderr names the program, the signal and `kept()` (what is on disk), and the
  process exits with 128 + the signal's number. A second signal ends it at once, temporaries
  removed, with the same line."""
  global _program, _stopping
  previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
  _program = (program, kept)
  for s in STOP_SIGNALS:
    signal.signal(s, _raise_interrupted)
  try:
    yield
  except Interrupted as e:
    _remove_temporaries()  # those a signal caught outside atomic_path's `try`
    print(_message(e.signum), file=sys.stderr)
    raise
  finally:
    for s, handler in previous.items():
      signal.signal(s, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
    _program = _stopping = None
