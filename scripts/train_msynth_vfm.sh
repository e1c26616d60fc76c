#!/usr/bin/env bash
# Reproduces the teacher / student weights and checkpoints/EVAL-distill.md on a CPU. Needs
# checkpoints/msynth-align, msynth-align-continued, msynth-align-continued-texture and
# msynth-align-texture-cycle2 (scripts/train_msynth.sh) and the
# built-in backbones (scripts/train_builtins.sh). Logs go to runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1
mkdir -p runs
$PY -m train teacher --config train/configs/msynth-teacher.yaml > runs/msynth-teacher.out 2>&1
$PY -m train distill --config train/configs/msynth-student.yaml > runs/msynth-student.out 2>&1 &
$PY -m train distill --config train/configs/msynth-student-plain.yaml > runs/msynth-student-plain.out 2>&1 &
wait
# Further cosine cycles, each from the last one's weights: a longer schedule as a chain of runs.
$PY -m train distill --config train/configs/msynth-student-continued.yaml > runs/msynth-student-continued.out 2>&1 &
$PY -m train distill --config train/configs/msynth-student-plain-continued.yaml \
  > runs/msynth-student-plain-continued.out 2>&1 &
wait
$PY -m train distill --config train/configs/msynth-student-cycle3.yaml > runs/msynth-student-cycle3.out 2>&1 &
$PY -m train distill --config train/configs/msynth-student-plain-cycle3.yaml > runs/msynth-student-plain-cycle3.out 2>&1 &
wait
$PY -m train distill --config train/configs/msynth-student-cycle4.yaml > runs/msynth-student-cycle4.out 2>&1 &
$PY -m train distill --config train/configs/msynth-student-plain-cycle4.yaml > runs/msynth-student-plain-cycle4.out 2>&1 &
wait
# The fourth cycle again with texture that also goes missing or interferes (loss.texture_gain_range),
# beside the teacher trained with texture swaps on the texture-trained network.
$PY -m train distill --config train/configs/msynth-student-cycle4-texture.yaml \
  > runs/msynth-student-cycle4-texture.out 2>&1 &
$PY -m train teacher --config train/configs/msynth-teacher-texture.yaml > runs/msynth-teacher-texture.out 2>&1 &
wait
# The fourth cycle again, distilled from that teacher instead of msynth-teacher.
$PY -m train distill --config train/configs/msynth-student-cycle4-teacher-texture.yaml \
  > runs/msynth-student-cycle4-teacher-texture.out 2>&1
$PY -m train eval --config train/configs/msynth-distill-eval.yaml | tee runs/msynth-distill-eval.out
