#!/usr/bin/env bash
# The measurement behind the README's "Does it learn?". About 5 hours on 2 cores; every stage
# resumes where it stopped when rerun. Outputs under ${PROOF_DIR:-runs/proof}.
#   - the training corpus: 200 clips, seed 1 (4 identities, one held out with two voices);
#   - a second corpus, 24 clips, seed 2: new sentences never trained on (its train split: the
#     training identities; its test split: the held-out identity);
#   - lip-sync training at 128x128 exactly as measured, in two phases: the tiny SyncNet (1500
#     steps, 8 minutes), then configs/lipsync_proof128.py, 3300 steps with augmentation, L1 on the
#     frame and the masked region, the sync loss, the learning rate decayed by a cosine (about 95
#     minutes); then the 128x128 SyncNet with its mouth-opening tower (configs/syncnet_proof128.py,
#     20 minutes) and configs/lipsync_proof128_opening.py, 2000 steps more with the opening loss
#     (about an hour); then configs/lipsync_proof128_mouth.py, 2500 steps more with LPIPS on the
#     mouth (about 75 minutes);
#   - few-shot adaptation to one clip (7 s) of the held-out identity (configs/adaptation_proof128.py);
#   - the evaluations: unseen sentences of the training identities, the held-out identity zero-shot,
#     and the held-out identity after adaptation (on clips other than the adaptation clip).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GLOG_minloglevel=2 TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore
PY=.venv/bin/python
DIR=${PROOF_DIR:-runs/proof}
WORKERS=$(nproc)

for corpus in "train 200 1" "unseen 24 2"; do
  read -r name clips seed <<<"$corpus"
  $PY -m data_prep.synthetic --out "$DIR/$name/synthetic" --num_clips "$clips" --seed "$seed" \
      --workers "$WORKERS"
  $PY -m data_prep.prepare --input "$DIR/$name/synthetic/clips" --output "$DIR/$name/prepared" \
      --workers "$WORKERS"
  $PY -m data_prep.build_tfds --dataset synthetic_talking_faces --manual_dir "$DIR/$name/prepared" \
      --data_dir "$DIR/$name/tfds"
done
TFDS="$DIR/train/tfds"
$PY -m lipsync_jax.train --config configs/syncnet_tiny.py --workdir "$DIR/syncnet" \
    --config.data_dir="$TFDS" --config.num_steps=1500 --config.checkpoint_every=250
$PY -m lipsync_jax.train --config configs/lipsync_proof128.py --workdir "$DIR/lipsync128_phase1" \
    --config.data_dir="$TFDS" --config.pretrained_syncnet="$DIR/syncnet"
$PY -m lipsync_jax.train --config configs/syncnet_proof128.py --workdir "$DIR/syncnet128" \
    --config.data_dir="$TFDS"
COMMON=(--config.data_dir="$TFDS" --config.pretrained_syncnet="$DIR/syncnet128")
$PY -m lipsync_jax.train --config configs/lipsync_proof128_opening.py --workdir "$DIR/lipsync128_phase2" \
    "${COMMON[@]}" --config.pretrained_lipsync="$DIR/lipsync128_phase1"
$PY -m lipsync_jax.train --config configs/lipsync_proof128_mouth.py --workdir "$DIR/lipsync128" \
    "${COMMON[@]}" --config.pretrained_lipsync="$DIR/lipsync128_phase2"
TARGET=$(ls "$DIR"/train/prepared/clips/test_*__000.npz | head -1)
$PY -m lipsync_jax.train --config configs/adaptation_proof128.py --workdir "$DIR/adapted128" \
    "${COMMON[@]}" --config.pretrained_lipsync="$DIR/lipsync128" --config.target="$TARGET"
EVAL=($PY -m lipsync_jax.evaluate --syncnet "$DIR/syncnet128" --quiet)
"${EVAL[@]}" --checkpoint "$DIR/lipsync128" --data_dir "$DIR/unseen/tfds" --split train \
    --num_clips 16 --output_dir "$DIR/eval_unseen_sentences"
"${EVAL[@]}" --checkpoint "$DIR/lipsync128" --data_dir "$TFDS" --split test \
    --num_clips 8 --output_dir "$DIR/eval_zero_shot"
# The held-out identity's clips of the second corpus, before and after adaptation.
for model in lipsync128 adapted128; do
  "${EVAL[@]}" --checkpoint "$DIR/$model" --data_dir "$DIR/unseen/tfds" --split test \
      --num_clips 5 --output_dir "$DIR/eval_held_out_identity_$model"
done
