# Sourced (from the repository root) by the scripts that run the project's jobs on this machine:
# the set-up (idempotent), third-party logging off, the virtual environment's Python and one
# data-preparation worker per core.
bash scripts/setup.sh
export GLOG_minloglevel=2 TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore
PY=.venv/bin/python
WORKERS=$(nproc)
