#!/usr/bin/env bash
# The training of the learning measurement (README, "Does it learn?") on one accelerator, in
# about 9 minutes: the SyncNet, then lip-sync at a constant rate, then a cosine decay from there,
# each stopped by time with SIGTERM (the loop checkpoints on it), then the weights exported as
# .npz files (lipsync_jax.weights) that `python -m lipsync_jax.weights import` turns back into
# runs for `evaluate` and `infer`. It reads a pack of the training split (data_prep.pack), so the
# machine needs JAX with its accelerator plugin, flax, optax, orbax-checkpoint, OpenCV and
# ml_collections, but no TensorFlow, TFDS, librosa, PyAV or MediaPipe.
#
#   bash scripts/learning_proof_gpu.sh PACK.npz OUT_DIR [SYNCNET_S CONSTANT_S DECAY_S]
# PROOF_GPU_ARGS adds --config flags to every phase (e.g. "--config.batch_size=2" for a dry run);
# PROOF_GPU_SYNCNET=RUN uses that SyncNet run (e.g. one trained on CPU) and skips the first phase.
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=$1
OUT=$2
SYNC_S=${3:-80}
CONST_S=${4:-300}
DECAY_S=${5:-130}
PY=${PYTHON:-python3}
WORK=${PROOF_GPU_DIR:-/tmp/learning_proof_gpu}
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore TF_CPP_MIN_LOG_LEVEL=3
mkdir -p "$OUT" "$WORK"
read -r -a EXTRA <<<"${PROOF_GPU_ARGS:-}"

latest_step() {
  ls "$1/checkpoints" 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -1
}

phase() {  # seconds, then the train arguments
  local seconds=$1
  shift
  local start=$SECONDS
  timeout -s TERM -k 60 "$seconds" $PY -m lipsync_jax.train "$@" --config.data_dir="$PACK" \
      ${EXTRA[@]+"${EXTRA[@]}"}
  echo "== $* : rc $?, $((SECONDS - start)) s"
}

SYNCNET=${PROOF_GPU_SYNCNET:-$WORK/syncnet}
[ -n "${PROOF_GPU_SYNCNET:-}" ] ||
  phase "$SYNC_S" --config configs/syncnet_synthetic128.py --workdir "$WORK/syncnet"
phase "$CONST_S" --config configs/lipsync_synthetic128.py --workdir "$WORK/lipsync" \
    --config.pretrained_syncnet="$SYNCNET"
# The decay phase gets as many steps as the constant phase made in the same time (its compile
# included), so the cosine reaches its end before the time does.
const_steps=$(latest_step "$WORK/lipsync")
decay_steps=$(( ${const_steps:-0} * DECAY_S * 9 / (CONST_S * 10) + 1 ))
phase "$DECAY_S" --config configs/lipsync_synthetic128.py --workdir "$WORK/lipsync_decay" \
    --config.pretrained_syncnet="$SYNCNET" --config.pretrained_lipsync="$WORK/lipsync" \
    --config.lr_schedule=cosine --config.lambda_sync=2.0 --config.num_steps="$decay_steps"
for run in syncnet lipsync lipsync_decay; do
  [ -n "$(latest_step "$WORK/$run")" ] &&
    $PY -m lipsync_jax.weights export --workdir "$WORK/$run" --output "$OUT/$run.npz"
done
ls -l "$OUT"
