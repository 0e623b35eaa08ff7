#!/usr/bin/env bash
# The test suite, from nothing: set up (apt + one pip call), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GLOG_minloglevel=2 TF_CPP_MIN_LOG_LEVEL=3
exec .venv/bin/python -m pytest -q -p no:warnings -p no:cacheprovider tests "$@"
