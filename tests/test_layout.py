"""The project's layering: data flows one way (data_prep -> lipsync_jax), tests use no benchmark."""

import ast
import glob
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _imports(path):
  tree = ast.parse(open(path).read(), path)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      yield node.module


def _offenders(folder, forbidden):
  out = []
  for path in glob.glob(os.path.join(REPO, folder, "**", "*.py"), recursive=True):
    out += [f"{os.path.relpath(path, REPO)}: {name}" for name in _imports(path)
            if name.split(".")[0] == forbidden]
  return out


def test_lipsync_jax_never_imports_data_prep():
  assert not _offenders("lipsync_jax", "data_prep")


def test_tests_import_no_benchmark():
  assert not _offenders("tests", "benchmarks")
