#!/usr/bin/env bash
# The recipe of scripts/learning_proof.sh on one accelerator in about 8 minutes: the SyncNet, the
# decoder prior, lip-sync by the latent teacher and adaptation to the held-out person, each stopped by
# time with SIGTERM (the loop checkpoints on it; the cosine schedules are sized to the steps the
# phase reaches), then the weights exported as .npz files (lipsync_jax.weights) that `python -m
# lipsync_jax.weights import` turns back into runs for `evaluate` and `infer`. It reads packs of
# the training split and of the adaptation target (data_prep.pack), so the machine needs JAX with
# its accelerator plugin, flax, optax, orbax-checkpoint, OpenCV and ml_collections, but no
# TensorFlow, TFDS, librosa, PyAV or MediaPipe.
#
#   bash scripts/learning_proof_gpu.sh TRAIN_PACK.npz TARGET.npz OUT_DIR \
#       [SYNCNET_S PRIOR_S LIPSYNC_S ADAPT_S]
# TARGET.npz: prepared segments of the held-out person (data_prep.prepare's clips/*.npz; globs,
# comma-separated: a minute of them, as scripts/learning_proof.sh adapts on). A pack
# holds one split, so adaptation's R_sync there skips the SyncNet's held-out check
# (min_syncnet_accuracy=0): check the SyncNet afterwards with evaluate.
# PROOF_GPU_ARGS adds --config flags to every phase (e.g. "--config.batch_size=2" for a dry run).
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=$1
TARGET=$2
OUT=$3
SYNC_S=${4:-90}
PRIOR_S=${5:-240}
LIPSYNC_S=${6:-60}
ADAPT_S=${7:-60}
PY=${PYTHON:-python3}
WORK=${PROOF_GPU_DIR:-/tmp/learning_proof_gpu}
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore TF_CPP_MIN_LOG_LEVEL=3
mkdir -p "$OUT" "$WORK"
read -r -a EXTRA <<<"${PROOF_GPU_ARGS:-}"

phase() {  # seconds, then the train arguments
  local seconds=$1
  shift
  local start=$SECONDS
  timeout -s TERM -k 60 "$seconds" $PY -m lipsync_jax.train "$@" --config.data_dir="$PACK" \
      ${EXTRA[@]+"${EXTRA[@]}"}
  echo "== $* : rc $?, $((SECONDS - start)) s"
}

phase "$SYNC_S" --config configs/syncnet.py:gpu128 --workdir "$WORK/syncnet"
# The mesh's lips drawn into the decoder's input (lip_hint), as scripts/learning_proof.sh: the
# host pipeline draws them (the device-resident input does not); adaptation on the audio's codes
# at 1e-4.
HINT=(--config.lip_hint=True --config.device_input=False)
phase "$PRIOR_S" --config configs/prior.py:gpu128 --workdir "$WORK/prior" "${HINT[@]}" \
    --config.mouth_crop=0.375
phase "$LIPSYNC_S" --config configs/lipsync.py:gpu128 --workdir "$WORK/lipsync" "${HINT[@]}" \
    --config.pretrained_prior="$WORK/prior"
phase "$ADAPT_S" --config configs/adaptation.py:gpu128 --workdir "$WORK/adapted" "${HINT[@]}" \
    --config.pretrained_lipsync="$WORK/lipsync" --config.pretrained_syncnet="$WORK/syncnet" \
    --config.target="$TARGET" --config.min_syncnet_accuracy=0 --config.image_codes=audio \
    --config.learning_rate=1e-4
for run in syncnet prior lipsync adapted; do
  ls "$WORK/$run/checkpoints" 2>/dev/null | grep -qE '^[0-9]+$' &&
    $PY -m lipsync_jax.weights export --workdir "$WORK/$run" --output "$OUT/$run.npz"
done
ls -l "$OUT"
