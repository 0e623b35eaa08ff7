#!/usr/bin/env bash
# The test suite, from nothing: set up (apt + one pip call), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GLOG_minloglevel=2 TF_CPP_MIN_LOG_LEVEL=3
# Two test processes (pytest-xdist): the suite is bound by XLA's single-threaded compiles, and one
# process keeps 2 cores about two-thirds busy (1077 s -> 831 s for the suite; `-n 0` runs it in one).
# The 20 slowest tests are listed at the end: CI's time budget is watched from them.
exec .venv/bin/python -m pytest -q -p no:warnings -p no:cacheprovider -n 2 --durations=20 tests "$@"
