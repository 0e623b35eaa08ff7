#!/usr/bin/env bash
# The measurement behind the README's "Does it learn?": a 200-clip synthetic corpus (4 identities,
# one held out with two voices), the tiny SyncNet (2000 steps), lip-sync training at 128x128
# (configs/lipsync_tiny128.py, 4000 steps) and the evaluation on held-out clips. About 2.5 hours on
# 2 cores; every stage resumes where it stopped when rerun. Outputs under ${PROOF_DIR:-runs/proof}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GLOG_minloglevel=2 TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore
PY=.venv/bin/python
DIR=${PROOF_DIR:-runs/proof}
WORKERS=$(nproc)

$PY -m data_prep.synthetic --out "$DIR/synthetic" --num_clips 200 --seed 1 --workers "$WORKERS"
$PY -m data_prep.prepare --input "$DIR/synthetic/clips" --output "$DIR/prepared" --workers "$WORKERS"
$PY -m data_prep.build_tfds --dataset synthetic_talking_faces --manual_dir "$DIR/prepared" \
    --data_dir "$DIR/tfds"
$PY -m lipsync_jax.train --config configs/syncnet_tiny.py --workdir "$DIR/syncnet" \
    --config.data_dir="$DIR/tfds" --config.num_steps=2000
$PY -m lipsync_jax.train --config configs/lipsync_tiny128.py --workdir "$DIR/lipsync128" \
    --config.data_dir="$DIR/tfds" --config.pretrained_syncnet="$DIR/syncnet"
$PY -m lipsync_jax.evaluate --checkpoint "$DIR/lipsync128" --syncnet "$DIR/syncnet" \
    --data_dir "$DIR/tfds" --split test --num_clips 16 --output_dir "$DIR/eval"
