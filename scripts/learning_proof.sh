#!/usr/bin/env bash
# The measurement behind the README's results (issue: "It lip-syncs"), from nothing, on 2 CPU
# cores in about 3 hours (the SyncNet's 6000 steps about 40 minutes of it, the prior 60); every
# stage resumes where it stopped when rerun. Outputs under
# ${PROOF_DIR:-runs/proof}.
#   1. corpora: 200 training clips (seed 1: 57 training looks, data_prep.identities; one held-out
#      person, Joe Biden, with two held-out voices) and 24 clips of new sentences (seed 2);
#   2. the SyncNet at 128x128 (configs/syncnet.py:proof128): evaluation's LSE and the sync
#      regulariser of adaptation;
#   3. the decoder prior by autoencoding (configs/prior.py:proof128);
#   4. lip-sync on it, the synthesis frozen: the latent teacher (configs/lipsync.py:proof128);
#   5. adaptation to a minute of the held-out person (8 clips; configs/adaptation.py:proof128);
#   6. the evaluations: the prior with the true codes (its ceiling), unseen sentences of the
#      training looks, the held-out person zero-shot and after adaptation (clips other than the
#      adaptation clip).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/jobs_env.sh
DIR=${PROOF_DIR:-runs/proof}

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
TRAIN=($PY -m lipsync_jax.train)
"${TRAIN[@]}" --config configs/syncnet.py:proof128 --workdir "$DIR/syncnet" --config.data_dir="$TFDS"
"${TRAIN[@]}" --config configs/prior.py:proof128 --workdir "$DIR/prior" --config.data_dir="$TFDS"
"${TRAIN[@]}" --config configs/lipsync.py:proof128 --workdir "$DIR/lipsync" \
    --config.data_dir="$TFDS" --config.pretrained_prior="$DIR/prior"
# A minute of the held-out person (8 clips of the training corpus's test split; the paper's
# adaptation study uses 60 s), evaluated on its clips of the second corpus (held-out voices).
TARGET=$(ls "$DIR"/train/prepared/clips/test_*__000.npz | head -8 | paste -sd, -)
"${TRAIN[@]}" --config configs/adaptation.py:proof128 --workdir "$DIR/adapted" \
    --config.data_dir="$TFDS" --config.pretrained_lipsync="$DIR/lipsync" \
    --config.pretrained_syncnet="$DIR/syncnet" --config.target="$TARGET"
EVAL=($PY -m lipsync_jax.evaluate --syncnet "$DIR/syncnet" --quiet)
"${EVAL[@]}" --checkpoint "$DIR/prior" --data_dir "$DIR/unseen/tfds" --split train \
    --num_clips 16 --output_dir "$DIR/eval_prior_teacher_codes"
"${EVAL[@]}" --checkpoint "$DIR/lipsync" --data_dir "$DIR/unseen/tfds" --split train \
    --num_clips 16 --output_dir "$DIR/eval_unseen_sentences"
"${EVAL[@]}" --checkpoint "$DIR/lipsync" --data_dir "$TFDS" --split test \
    --num_clips 8 --output_dir "$DIR/eval_zero_shot"
# The held-out person's clips of the second corpus, before and after adaptation.
for model in lipsync adapted; do
  "${EVAL[@]}" --checkpoint "$DIR/$model" --data_dir "$DIR/unseen/tfds" --split test \
      --num_clips 5 --output_dir "$DIR/eval_held_out_person_$model"
done
