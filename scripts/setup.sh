#!/usr/bin/env bash
# Installs everything lipsync_jax needs, from nothing: Debian packages, a virtual environment at .venv
# with every Python package resolved in one pip call, and the public-domain face photos the synthetic
# corpus is made from. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
ldconfig -p | grep -q libespeak-ng.so.1 || need_apt+=(libespeak-ng1)
ldconfig -p | grep -q 'libGL.so.1' || need_apt+=(libgl1)
ldconfig -p | grep -q 'libglib-2.0.so.0' || need_apt+=(libglib2.0-0)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
stamp=.venv/.requirements.sha
want=$(cat requirements.txt setup.py | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: creating .venv (one pip call for all packages)"
  rm -rf .venv
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  # --no-compile, then compileall on both cores: pip byte-compiles on one (1m40 -> 44 s + 36 s).
  # Compiled here, not on first import: with PYTHONDONTWRITEBYTECODE set (as on our machines)
  # nothing is ever written, and every process, each test's subprocess too, compiled what it
  # imported again (tensorflow, which clu's summary writer imports: 17-22 s -> 6 s; jax 5.5 -> 2 s).
  .venv/bin/python -m pip install -q --no-compile -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  # torch's test helpers hold Python 3.12 syntax; a file that does not compile is compiled (or
  # rejected) on import, as without this step.
  .venv/bin/python -m compileall -q -j 0 -x 'torch/testing/_internal/py312' \
    .venv/lib/python3*/site-packages >/dev/null || echo "setup: some modules did not byte-compile"
  echo "$want" > "$stamp"
fi

.venv/bin/python -m data_prep.faces fetch
.venv/bin/python -m lipsync_jax.models.lpips fetch
