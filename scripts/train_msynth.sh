#!/usr/bin/env bash
# Reproduces the shipped checkpoints/msynth-* align-and-fuse weights and checkpoints/EVAL.md on a
# CPU. Runs pairs of stages side by side with one thread each (a 2-core machine: about thirteen hours);
# logs go to runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
mkdir -p runs

# Render the MS-Synth caches once, so parallel runs do not race on them.
$PY -c "from train.config import load_config; from train.data import build_dataset
cfg = load_config('train/configs/msynth-align.yaml')
[build_dataset(cfg['data'], split, augment=False) for split in ('train', 'val')]"

$PY -m train align --config train/configs/msynth-align.yaml > runs/msynth-align.out 2>&1 &
$PY -m train align --config train/configs/msynth-align-nolocal.yaml > runs/msynth-align-nolocal.out 2>&1 &
wait
$PY -m train fuse --config train/configs/msynth-fuse.yaml > runs/msynth-fuse.out 2>&1 &
$PY -m train fuse --config train/configs/msynth-fuse-nolocal.yaml > runs/msynth-fuse-nolocal.out 2>&1 &
wait
# msynth-align trained on for 1,000 steps at lr 5e-4: the teacher's equal-training control.
$PY -m train align --config train/configs/msynth-align-continued.yaml > runs/msynth-align-continued.out 2>&1 &
$PY -m train fuse --config train/configs/msynth-fuse-nowarp.yaml > runs/msynth-fuse-nowarp.out 2>&1 &
wait
# The same 1,000 steps with texture-swapped inputs, beside the fusion module on the longer-trained
# network; then a second texture-swap cycle (the default's network) beside fusion on the first;
# then a third cycle beside the default: fusion on the second.
$PY -m train align --config train/configs/msynth-align-continued-texture.yaml > runs/msynth-align-continued-texture.out 2>&1 &
$PY -m train fuse --config train/configs/msynth-fuse-continued.yaml > runs/msynth-fuse-continued.out 2>&1 &
wait
$PY -m train align --config train/configs/msynth-align-texture-cycle2.yaml > runs/msynth-align-texture-cycle2.out 2>&1 &
$PY -m train fuse --config train/configs/msynth-fuse-continued-texture.yaml > runs/msynth-fuse-continued-texture.out 2>&1 &
wait
$PY -m train align --config train/configs/msynth-align-texture-cycle3.yaml > runs/msynth-align-texture-cycle3.out 2>&1 &
$PY -m train fuse --config train/configs/msynth-fuse-texture-cycle2.yaml > runs/msynth-fuse-texture-cycle2.out 2>&1 &
wait
# The second texture cycle again with every input texture-swapped (probability 1.0): the next dose.
# The encoder-capacity trade: msynth-align's run with the wider lcnet_150 encoder, beside it.
$PY -m train align --config train/configs/msynth-align-texture-cycle2-always.yaml > runs/msynth-align-texture-cycle2-always.out 2>&1 &
$PY -m train align --config train/configs/msynth-align-lcnet150.yaml > runs/msynth-align-lcnet150.out 2>&1 &
wait
# The first texture-swap cycle on the wider network, alone, so with both cores.
OMP_NUM_THREADS=2 $PY -m train align --config train/configs/msynth-align-lcnet150-texture.yaml > runs/msynth-align-lcnet150-texture.out 2>&1
# Its second cycle (msynth-align-texture-cycle2's recipe), also alone.
OMP_NUM_THREADS=2 $PY -m train align --config train/configs/msynth-align-lcnet150-texture-cycle2.yaml > runs/msynth-align-lcnet150-texture-cycle2.out 2>&1
# The default network's second cycle on twice the scenes (640 x 4 frames), alone: it renders its own train split.
OMP_NUM_THREADS=2 $PY -m train align --config train/configs/msynth-align-texture-cycle2-scenes640.yaml > runs/msynth-align-texture-cycle2-scenes640.out 2>&1
$PY -m train eval --config train/configs/msynth-eval.yaml | tee runs/msynth-eval.out
