"""`python -m train gpu-check`: one line and exit status 3 without CUDA; its loss-fall verdict."""
import os
import subprocess
import sys
from pathlib import Path

from train.gpu_check import NO_CUDA_EXIT, losses_that_did_not_fall

REPO = Path(__file__).resolve().parents[1]


def test_without_cuda_it_says_so_in_one_line_and_exits_3():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-m", "train", "gpu-check"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == NO_CUDA_EXIT == 3
    assert result.stdout.splitlines() == [
        "gpu-check: no CUDA device visible to torch here; run it on a machine with a GPU"]


def test_a_loss_term_that_does_not_fall_is_named(tmp_path):
    log = tmp_path / "log.csv"
    rows = ["step,epoch,lr,seconds,loss,global,local_valid"]
    rows += [f"{step},0,0.001,{step},{10 - step * 0.5},{1.0 + step * 0.01},0.5" for step in range(1, 11)]
    log.write_text("\n".join(rows) + "\n")
    assert losses_that_did_not_fall(log) == ["global"]
