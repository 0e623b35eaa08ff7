#!/usr/bin/env bash
# The main job on the embedded default, from nothing: set up, build the synthetic talking-face
# corpus, prepare it (crops, mesh, pose-aware masks, mel), build the TFDS dataset and load a
# training batch from it. Outputs under ${DEMO_DIR:-runs/demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GLOG_minloglevel=2 TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore
PY=.venv/bin/python
DIR=${DEMO_DIR:-runs/demo}
CLIPS=${DEMO_CLIPS:-40}
WORKERS=$(nproc)

echo "== 1/4 synthetic corpus: $CLIPS clips -> $DIR/synthetic"
$PY -m data_prep.synthetic --out "$DIR/synthetic" --num_clips "$CLIPS" --seed 0 --workers "$WORKERS"
echo "== 2/4 prepare -> $DIR/prepared"
$PY -m data_prep.prepare --input "$DIR/synthetic/clips" --output "$DIR/prepared" --workers "$WORKERS"
echo "== 3/4 TFDS (array_record) -> $DIR/tfds"
$PY -m data_prep.build_tfds --dataset synthetic_talking_faces --manual_dir "$DIR/prepared" \
    --data_dir "$DIR/tfds"
echo "== 4/4 a training batch and a contact sheet"
$PY - "$DIR/tfds" <<'PYEOF'
import sys
from lipsync_jax import input_pipeline
source = input_pipeline.open_split("synthetic_talking_faces", sys.argv[1], "train")
it = input_pipeline.TrainIterator(source, global_batch_size=8)
batch = next(it)
it.close()
for key, value in batch.items():
  print(f"  {key:12s} {str(value.shape):24s} {value.dtype}")
PYEOF
$PY -m data_prep.contact_sheet --corpus "$DIR/synthetic" --prepared "$DIR/prepared" \
    --out "$DIR/contact_sheet.png"
echo "demo done: $DIR"
