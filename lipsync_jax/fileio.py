"""Atomic file writes: a result is either complete or absent, never half-written."""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path: str):
  """Yields a temporary path beside `path`, renamed onto it only if the block succeeds."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  suffix = os.path.splitext(path)[1]
  fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
  os.close(fd)
  try:
    yield tmp
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are ordinary files
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
