#!/usr/bin/env bash
# Reproduces checkpoints/builtin-clip (captions, then dense language) and checkpoints/builtin-dino
# (the offline backbones) on a CPU, side by side with one thread each; logs go to runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
mkdir -p runs
{ $PY -m train pretrain-vfm --config train/configs/builtin-clip.yaml > runs/builtin-clip.out 2>&1 &&
  $PY -m train pretrain-vfm --config train/configs/builtin-clip-language.yaml > runs/builtin-clip-language.out 2>&1; } &
$PY -m train pretrain-vfm --config train/configs/builtin-dino.yaml > runs/builtin-dino.out 2>&1 &
wait
