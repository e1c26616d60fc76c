#!/usr/bin/env bash
# Reproduces the shipped align-and-fuse weights (core/models/registry.py) and checkpoints/EVAL.md on a
# CPU. Runs pairs of stages side by side with one thread each (a 2-core machine: about eight hours);
# logs go to runs/. The networks the shipped ones start from (msynth-align, msynth-align-continued-texture)
# are written to runs/<name>/checkpoint, not shipped; docs/experiments.md has the runs that were not chosen.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
mkdir -p runs

# Render the MS-Synth caches once, so parallel runs do not race on them.
$PY -c "from train.config import load_config; from train.data import build_dataset
cfg = load_config('train/configs/msynth-align.yaml')
[build_dataset(cfg['data'], split, augment=False) for split in ('train', 'val')]"

# Stage 1, the first shared network, alone with both cores: everything below starts from it.
OMP_NUM_THREADS=2 $PY -m train align --config train/configs/msynth-align.yaml > runs/msynth-align.out 2>&1
# Fusion on it, with and without warping (the no-warp ablation and its reference).
$PY -m train fuse --config train/configs/msynth-fuse.yaml > runs/msynth-fuse.out 2>&1 &
$PY -m train fuse --config train/configs/msynth-fuse-nowarp.yaml > runs/msynth-fuse-nowarp.out 2>&1 &
wait
# msynth-align trained on for 1,000 steps at lr 5e-4 (the teacher's equal-training control), beside the
# same 1,000 steps with texture-swapped inputs.
$PY -m train align --config train/configs/msynth-align-continued.yaml > runs/msynth-align-continued.out 2>&1 &
$PY -m train align --config train/configs/msynth-align-continued-texture.yaml > runs/msynth-align-continued-texture.out 2>&1 &
wait
# A second texture-swap cycle (the default's network), then the default: fusion on it.
OMP_NUM_THREADS=2 $PY -m train align --config train/configs/msynth-align-texture-cycle2.yaml > runs/msynth-align-texture-cycle2.out 2>&1
OMP_NUM_THREADS=2 $PY -m train fuse --config train/configs/msynth-fuse-texture-cycle2.yaml > runs/msynth-fuse-texture-cycle2.out 2>&1
$PY -m train eval --config train/configs/msynth-eval.yaml | tee runs/msynth-eval.out
