#!/usr/bin/env bash
# Reproduces the shipped teacher and students (core/models/registry.py) and checkpoints/EVAL-distill.md
# on a CPU. Needs runs/msynth-align/checkpoint and checkpoints/msynth-align-continued,
# msynth-align-texture-cycle2 (scripts/train_msynth.sh) and the built-in backbones
# (scripts/train_builtins.sh). Logs go to runs/; the students' earlier cycles to runs/<name>/checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1
mkdir -p runs
$PY -m train teacher --config train/configs/msynth-teacher.yaml > runs/msynth-teacher.out 2>&1
# Four cosine cycles of each student, each from the last one's weights: the student with the graph and
# texture-robust losses beside the plain one (the ablation), at equal training.
for cycle in "" -continued -cycle3 -cycle4; do
  $PY -m train distill --config "train/configs/msynth-student$cycle.yaml" > "runs/msynth-student$cycle.out" 2>&1 &
  $PY -m train distill --config "train/configs/msynth-student-plain$cycle.yaml" \
    > "runs/msynth-student-plain$cycle.out" 2>&1 &
  wait
done
$PY -m train eval --config train/configs/msynth-distill-eval.yaml | tee runs/msynth-distill-eval.out
