#!/usr/bin/env bash
# Reproduces the shipped checkpoints/msynth-* weights and checkpoints/EVAL.md on a CPU.
# Runs pairs of stages side by side with one thread each (a 2-core machine); logs go to runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
mkdir -p runs

# Render the MS-Synth cache once, so parallel runs do not race on it.
$PY -c "from train.config import load_config; from train.data import build_dataset
cfg = load_config('train/configs/msynth-align.yaml')
[build_dataset(cfg['data'], split, augment=False) for split in ('train', 'val', 'test')]"

$PY -m train align --config train/configs/msynth-align.yaml > runs/msynth-align.out 2>&1 &
$PY -m train align --config train/configs/msynth-align-nolocal.yaml > runs/msynth-align-nolocal.out 2>&1 &
wait
# The shipped align networks were trained before BatchNorm statistics were kept per spectrum
# and got theirs from this step; a fresh run keeps them per spectrum already, and the step
# re-estimates them the same way (cumulative average over 40 training batches per spectrum).
$PY -m train calibrate --config train/configs/msynth-align.yaml > runs/msynth-align-calibrate.out 2>&1 &
$PY -m train calibrate --config train/configs/msynth-align-nolocal.yaml > runs/msynth-align-nolocal-calibrate.out 2>&1 &
wait
# Both networks trained on with a second, lower learning-rate schedule (1,000 steps, lr 5e-4):
# the fusion modules sit on these. msynth-align itself stays the teacher's starting point.
$PY -m train align --config train/configs/msynth-align-continued.yaml > runs/msynth-align-continued.out 2>&1 &
$PY -m train align --config train/configs/msynth-align-nolocal-continued.yaml \
    > runs/msynth-align-nolocal-continued.out 2>&1 &
wait
$PY -m train fuse --config train/configs/msynth-fuse.yaml > runs/msynth-fuse.out 2>&1 &
$PY -m train fuse --config train/configs/msynth-fuse-nolocal.yaml > runs/msynth-fuse-nolocal.out 2>&1 &
wait
$PY -m train fuse --config train/configs/msynth-fuse-nowarp.yaml > runs/msynth-fuse-nowarp.out 2>&1
$PY -m train eval --config train/configs/msynth-eval.yaml | tee runs/msynth-eval.out
