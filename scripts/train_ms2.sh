#!/usr/bin/env bash
# Trains and evaluates every MS2 stage in order, each training stage under torchrun:
#   align -> calibrate -> fuse -> teacher -> distill -> eval (test splits, reference protocol).
#
#   scripts/train_ms2.sh <MS2 root> [processes] [--set key=value ...]
#
# processes: one per GPU (default: every visible GPU, or 1 on a CPU). Every option after them
# goes to every command, eval and calibrate included (e.g. --set data.trust_pickled_calib=true
# --set optim.batch_size=2 --set num_workers=4); eval skips the training-only ones, saying so.
# The root is checked first (python -m core.data.ms2 check): a defect stops the script before
# any GPU is used. Each stage's lr is for the global batch its config declares
# (optim.lr_global_batch) and is scaled linearly to processes x batch_size x accumulate.
# Environment:
#   CLIP_SPEC, DINO_SPEC  the teacher's backbones (default: the real ViT-B/32 OpenAI CLIP and
#                         DINOv2-small), fetched once here before N ranks start, so no rank downloads
#   DINO_IMAGE_SIZE       the DINO input "[H,W]", multiples of its patch (default: the config's
#                         [252,630] for DINOv2's patch of 14)
#   OUT, RUNS             where checkpoints (default checkpoints/) and run logs (default runs/) go:
#                         $OUT/ms2-{align,fuse,teacher,student}/ and $OUT/EVAL-ms2.md
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:?usage: scripts/train_ms2.sh <MS2 root> [processes] [--set key=value ...]}
PY=${PY:-.venv/bin/python}
if [[ $# -ge 2 && $2 != --* ]]; then
    PROCESSES=$2; shift 2
else
    PROCESSES=$("$PY" -c "import torch; print(max(1, torch.cuda.device_count()))"); shift 1
fi
CLIP_SPEC=${CLIP_SPEC:-clip:ViT-B-32/openai}
DINO_SPEC=${DINO_SPEC:-dino:facebook/dinov2-small}
OUT=${OUT:-checkpoints}
RUNS=${RUNS:-runs}
TRAIN=("$PY" -m torch.distributed.run --standalone --nproc_per_node "$PROCESSES" -m train)
CHECK=()
for option in "$@"; do  # the check reads calib.npy only where training is allowed to
    [[ $option == data.trust_pickled_calib=true ]] && CHECK=(--trust-pickled-calib)
done

where() {  # the data root, the stage's output folder and its run folder, as one array
    WHERE=(--set "data.root=$ROOT" --set "out=$OUT/$1" --set "run_dir=$RUNS/$1")
}

"$PY" -m core.data.ms2 check "$ROOT" "${CHECK[@]}"
"$PY" -c "import sys; from core.models.vfm import load_backbone
for spec in sys.argv[1:]: print('backbone ready:', load_backbone(spec).name)" "$CLIP_SPEC" "$DINO_SPEC"

where ms2-align
"${TRAIN[@]}" align --config train/configs/ms2-align.yaml "${WHERE[@]}" "$@"
"$PY" -m train calibrate --config train/configs/ms2-align.yaml "${WHERE[@]}" "$@"
where ms2-fuse
"${TRAIN[@]}" fuse --config train/configs/ms2-fuse.yaml "${WHERE[@]}" --set "align_checkpoint=$OUT/ms2-align" "$@"
where ms2-teacher
"${TRAIN[@]}" teacher --config train/configs/ms2-teacher.yaml "${WHERE[@]}" \
    --set "align_checkpoint=$OUT/ms2-align" --set "model.clip=$CLIP_SPEC" --set "model.dino=$DINO_SPEC" \
    ${DINO_IMAGE_SIZE:+--set "model.dino_image_size=$DINO_IMAGE_SIZE"} "$@"
where ms2-student
"${TRAIN[@]}" distill --config train/configs/ms2-student.yaml "${WHERE[@]}" \
    --set "teacher_checkpoint=$OUT/ms2-teacher" "$@"
"$PY" -m train eval --config train/configs/ms2-eval.yaml --set "data.root=$ROOT" \
    --set "checkpoints=[\"$OUT/ms2-align\",\"$OUT/ms2-fuse\",\"$OUT/ms2-teacher\",\"$OUT/ms2-student\"]" \
    --set "report=$OUT/EVAL-ms2.md" "$@"
