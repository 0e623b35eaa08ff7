#!/usr/bin/env bash
# The device check for a lent accelerator, one prepared script of about 8 minutes: every stage's
# training speed (benchmarks/train_speed.py: step time, samples/s, XLA's FLOPs, the fraction of
# the peak measured in the same run) in float32 and in bfloat16, then a short lip-sync run's
# samples/s as training logs them (input pipeline included).
#
#   bash scripts/gpu_check.sh TRAIN_PACK.npz [OUT_DIR]
#
# TRAIN_PACK is a pack of the training split (python -m data_prep.pack), so the machine needs no
# TFDS. GPU_CHECK_SIZE picks the configs' size (default gpu128; stylegan2 runs at tiny, its only
# size below vox256), GPU_CHECK_STEPS the timed steps (default 20), GPU_CHECK_LIPSYNC_S the
# lip-sync run's seconds (default 90). A CPU dry run: GPU_CHECK_SIZE=tiny GPU_CHECK_STEPS=2.
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=$1
OUT=${2:-/tmp/gpu_check}
SIZE=${GPU_CHECK_SIZE:-gpu128}
STEPS=${GPU_CHECK_STEPS:-20}
LIPSYNC_S=${GPU_CHECK_LIPSYNC_S:-90}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore TF_CPP_MIN_LOG_LEVEL=3
mkdir -p "$OUT"
python_ok=$($PY -c "import jax; print(jax.devices()[0].platform, jax.device_count())") || exit 1
echo "== devices: $python_ok"

speed() {  # config, then more flags: float32 and bfloat16
  for dtype in float32 bfloat16; do
    echo "== $1 $dtype"
    $PY benchmarks/train_speed.py --config "$1" --config.data_dir="$PACK" --steps "$STEPS" \
        --dtype "$dtype" "${@:2}" 2>&1 | grep -v -E '^([IW][0-9]{4} |W0000|I0000|WARNING: All log)'
  done
}

# A decoder prior of a few steps: the frozen decoder the lip-sync stage needs to run at all.
$PY -m lipsync_jax.train --config "configs/prior.py:$SIZE" --workdir "$OUT/prior" \
    --config.data_dir="$PACK" --config.num_steps=4 --config.checkpoint_every=4 > "$OUT/prior.log" 2>&1 \
    || { echo "the prior run failed: $OUT/prior.log"; tail -5 "$OUT/prior.log"; exit 1; }
speed configs/stylegan2.py:tiny
speed "configs/syncnet.py:$SIZE"
speed "configs/prior.py:$SIZE"
speed "configs/lipsync.py:$SIZE" --config.pretrained_prior="$OUT/prior"

echo "== lip-sync run, $LIPSYNC_S s (input pipeline included)"
rm -rf "$OUT/lipsync"
timeout -s TERM -k 60 "$LIPSYNC_S" $PY -m lipsync_jax.train --config "configs/lipsync.py:$SIZE" \
    --workdir "$OUT/lipsync" --config.data_dir="$PACK" --config.pretrained_prior="$OUT/prior" \
    --config.log_every=20 > "$OUT/lipsync.log" 2>&1
batch=$($PY -c "from configs import lipsync; print(lipsync.get_config('$SIZE').batch_size)")
grep -o "steps_per_second=[0-9.]*" "$OUT/lipsync.log" | tail -3 | while IFS== read -r _ rate; do
  $PY -c "print(f'steps/s {$rate:.2f}, samples/s {$rate * $batch:.0f} (global batch $batch)')"
done
