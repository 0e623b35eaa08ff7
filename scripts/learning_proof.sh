#!/usr/bin/env bash
# The measurement behind the README's results (issue: "It lip-syncs"), from nothing, on 2 CPU
# cores in about 1.4 hours (December 5, about 210 GFLOP/s: corpora 6 min, prior 35, lip-sync 13,
# adaptation 3, evaluations 10, the SyncNet 15 and its checks 2); every stage resumes where it
# stopped when rerun. The demo's recipe (scripts/demo.sh) with more data and steps. Outputs under
# ${PROOF_DIR:-runs/proof}.
#   1. corpora: 200 training clips (seed 1: 57 training looks, data_prep.identities; one held-out
#      person, Joe Biden, with two held-out voices) and 24 clips of new sentences (seed 2);
#   2. the decoder prior by autoencoding with the mesh's lips drawn in (configs/prior.py:proof128,
#      lip_hint);
#   3. lip-sync on it, the synthesis frozen: the latent teacher and the lips from audio
#      (configs/lipsync.py:proof128);
#   4. adaptation to a minute of the held-out person (8 clips; configs/adaptation.py:proof128);
#   5. the evaluations: the prior with the true codes (its ceiling), unseen sentences of the
#      training looks, the held-out person zero-shot and after adaptation (clips other than the
#      adaptation clips);
#   6. the SyncNet (configs/syncnet.py:proof128; evaluation's LSE, R_sync) and its accuracy on
#      held-out windows.
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
"${TRAIN[@]}" --config configs/prior.py:proof128 --workdir "$DIR/prior" --config.data_dir="$TFDS" \
    --config.lip_hint=True --config.batch_size=8 --config.learning_rate=6e-3 \
    --config.mouth_crop=0.375
"${TRAIN[@]}" --config configs/lipsync.py:proof128 --workdir "$DIR/lipsync" \
    --config.data_dir="$TFDS" --config.pretrained_prior="$DIR/prior" --config.lip_hint=True
# A minute of the held-out person (8 clips of the training corpus's test split; the paper's
# adaptation study uses 60 s), evaluated on its clips of the second corpus (held-out voices):
# 100 steps on the audio's codes at the paper's step size 1e-4 (longer, larger steps or the
# teacher's codes traded r for PSNR, docs/history.md), without R_sync (the SyncNet comes last).
TARGET=$(ls "$DIR"/train/prepared/clips/test_*__000.npz | head -8 | paste -sd, -)
"${TRAIN[@]}" --config configs/adaptation.py:proof128 --workdir "$DIR/adapted" \
    --config.data_dir="$TFDS" --config.pretrained_lipsync="$DIR/lipsync" --config.lip_hint=True \
    --config.num_steps=100 --config.checkpoint_every=100 --config.image_codes=audio \
    --config.learning_rate=1e-4 --config.lambda_reg=0 --config.target="$TARGET"
EVAL=($PY -m lipsync_jax.evaluate --quiet)
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
# The SyncNet (paper stage 2; evaluation's LSE and adaptation's R_sync), last: the recipe above
# does not use it. Its accuracy against shifted audio on held-out 5-frame windows of new
# sentences and of the held-out person (its 5 clips of the second corpus, its 40 of the first).
"${TRAIN[@]}" --config configs/syncnet.py:proof128 --workdir "$DIR/syncnet" \
    --config.data_dir="$TFDS"
for split in "unseen train 16" "unseen test 5" "train test 40"; do
  read -r corpus name clips <<<"$split"
  $PY -m lipsync_jax.syncnet_check --syncnet "$DIR/syncnet" --data_dir "$DIR/$corpus/tfds" \
      --split "$name" --num_clips "$clips"
done
