#!/usr/bin/env bash
# The main job on the embedded default, from nothing: set up, build the synthetic talking-face
# corpus, prepare it (crops, mesh, pose-aware masks, mel), build the TFDS dataset, train the recipe
# at 128x128 with the mesh's lips drawn for the decoder (lip_hint: a decoder prior, lip-sync by the
# latent teacher with the lips predicted from audio, adaptation to the held-out person),
# lip-sync the held-out person's video to a held-out voice (checkpoint, adapted checkpoint and
# exported artifact), check the watermark and evaluate. Outputs under ${DEMO_DIR:-runs/demo}.
# Sizes: DEMO_CLIPS; step counts: DEMO_{PRIOR,LIPSYNC,ADAPT}_STEPS. The SyncNet stage (R_sync in
# adaptation, LSE in evaluation) needs more steps than 30 minutes allow: scripts/learning_proof.sh
# trains it; here adaptation runs without R_sync (lambda_reg=0).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/jobs_env.sh
DIR=${DEMO_DIR:-runs/demo}
CLIPS=${DEMO_CLIPS:-60}
quiet() {  # MediaPipe's and TFLite's start-up chatter, and absl's log prefix, off the terminal
  "$@" 2> >(grep -v -E '^(W0000|I0000|INFO: Created|WARNING: All log)' >&2)
}

echo "== 1/7 synthetic corpus: $CLIPS clips -> $DIR/synthetic"
quiet $PY -m data_prep.synthetic --out "$DIR/synthetic" --num_clips "$CLIPS" --seed 0 --workers "$WORKERS"
echo "== 2/7 prepare -> $DIR/prepared, TFDS -> $DIR/tfds, contact sheet"
quiet $PY -m data_prep.prepare --input "$DIR/synthetic/clips" --output "$DIR/prepared" --workers "$WORKERS"
quiet $PY -m data_prep.build_tfds --dataset synthetic_talking_faces --manual_dir "$DIR/prepared" \
    --data_dir "$DIR/tfds" > /dev/null
quiet $PY -m data_prep.contact_sheet --corpus "$DIR/synthetic" --prepared "$DIR/prepared" \
    --out "$DIR/contact_sheet.png"
TRAIN=(quiet $PY -m lipsync_jax.train)
COMMON=(--config.data_dir="$DIR/tfds" --config.log_every=50)
echo "== 3/7 decoder prior (autoencoding, the mesh's lips drawn in) -> $DIR/prior"
# Batch 8, not the recipe's 16: in the same minutes 1000 steps of 8 drew a mouth where 700 of 16
# drew none; with the lips drawn in (lip_hint) at lr 6e-3 it draws the held-out person's mouth
# from the true codes at r = 0.74. The mouth LPIPS on a 48-pixel square (mouth_crop 0.375, the
# lips and a margin), not 64: 0.56 of its FLOPs, the prior 18 -> 14 minutes, the adapted held-out
# r 0.72-0.79 / 0.77 against 0.76 / 0.71 (without that LPIPS 0.52 / 0.54; docs/history.md).
"${TRAIN[@]}" --config configs/prior.py:proof128 --workdir "$DIR/prior" "${COMMON[@]}" \
    --config.num_steps="${DEMO_PRIOR_STEPS:-1000}" --config.batch_size=8 \
    --config.lip_hint=True --config.learning_rate=6e-3 --config.mouth_crop=0.375
echo "== 4/7 lip-sync (latent teacher, lips from audio) -> $DIR/lipsync"
"${TRAIN[@]}" --config configs/lipsync.py:proof128 --workdir "$DIR/lipsync" "${COMMON[@]}" \
    --config.num_steps="${DEMO_LIPSYNC_STEPS:-300}" --config.pretrained_prior="$DIR/prior" \
    --config.lip_hint=True
# The held-out person's first 4 clips (about 30 s) are the target of adaptation, the first of them
# the video to lip-sync; the fifth held-out clip (another held-out voice) drives it; evaluation
# reads the rest.
CLIPS_OF_TARGET=$(ls "$DIR"/prepared/clips/test_*__000.npz | head -4)
TARGET=$(echo "$CLIPS_OF_TARGET" | paste -sd, -)
VIDEO=$(ls "$DIR"/synthetic/clips/test_*.mp4 | head -1)
SPEECH=$(ls "$DIR"/synthetic/clips/test_*.mp4 | sed -n 5p)
echo "== 5/7 few-shot adaptation to 4 clips of the held-out person -> $DIR/adapted"
"${TRAIN[@]}" --config configs/adaptation.py:proof128 --workdir "$DIR/adapted" "${COMMON[@]}" \
    --config.num_steps="${DEMO_ADAPT_STEPS:-50}" --config.target="$TARGET" \
    --config.pretrained_lipsync="$DIR/lipsync" --config.lambda_reg=0 --config.lip_hint=True
echo "== 6/7 lip-sync $(basename "$VIDEO") to the speech of $(basename "$SPEECH")"
INFER=(quiet $PY -m lipsync_jax.infer --video "$VIDEO" --audio "$SPEECH")
"${INFER[@]}" --checkpoint "$DIR/lipsync" --output "$DIR/lipsynced_zero_shot.mp4"
"${INFER[@]}" --checkpoint "$DIR/adapted" --output "$DIR/lipsynced_adapted.mp4"
quiet $PY -m lipsync_jax.export --checkpoint "$DIR/adapted" --output "$DIR/adapted.lsj"
"${INFER[@]}" --exported "$DIR/adapted.lsj" --output "$DIR/lipsynced_exported.mp4"
quiet $PY -m lipsync_jax.watermark detect "$DIR/lipsynced_exported.mp4" | grep -E '"(score|watermarked)"'
echo "== 7/7 evaluation of the adapted model on the held-out person's other clips -> $DIR/eval"
# CSIM on one generated frame in 5: dlib's descriptor takes 85 ms a frame, 43 of the 107 s.
quiet $PY -m lipsync_jax.evaluate --checkpoint "$DIR/adapted" --data_dir "$DIR/tfds" --split test \
    --num_clips 6 --output_dir "$DIR/eval" --quiet --csim_every 5 \
    --exclude "$(for f in $CLIPS_OF_TARGET; do basename "$f" .npz; done | paste -sd, -)"
echo "demo done: $DIR (videos: $DIR/lipsynced_*.mp4, metrics: $DIR/eval/report.md, mouths: $DIR/eval/mouths.png)"
