#!/usr/bin/env bash
# The test suite, from nothing: set up (apt + one pip call), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GLOG_minloglevel=2 TF_CPP_MIN_LOG_LEVEL=3
# Three test processes (pytest-xdist) on 2 cores: the suite is bound by XLA's single-threaded
# compiles, and two processes leave the cores about a tenth idle (pytest 1234 s -> 1076 s with
# three). Idle processes take queued tests from busy ones (worksteal): the multi-host test, which
# conftest puts first, never holds others back. The 20 slowest tests are listed at the end: CI's
# time budget is watched from them. `-n 0` runs the suite in one process.
exec .venv/bin/python -m pytest -q -p no:warnings -p no:cacheprovider -n 3 --dist worksteal \
  --durations=20 tests "$@"
