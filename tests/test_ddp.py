"""What DDP training relies on, on CPU with gloo: validation sharded over the ranks adds up to
the single-process tables, the learning rate follows the declared global batch, and gradient
accumulation adds up to the large batch's step."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import train.evaluate
from test_ms2_reference import FusingStub, fake_infer_batch
from tiny_ms2 import write_tiny_ms2_root
from train.config import DataConfig, OptimConfig
from train.evaluate import evaluate_model
from train.loop import global_batch, scaled_lr


def data_config(root: Path) -> DataConfig:
    return DataConfig(dataset="ms2", root=str(root), size=[24, 60])


def sharded_validation(rank: int, root: str, rendezvous: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=2)
    train.evaluate.infer_batch = fake_infer_batch  # this process's copy of the module: the made-up network
    for split in ("val", "test"):
        results = evaluate_model(FusingStub(), data_config(Path(root)), 80.0, torch.device("cpu"),
                                 show_progress=False, split=split, shard=(rank, 2))
        Path(out, f"{split}-rank{rank}.json").write_text(json.dumps(results))
    dist.destroy_process_group()


def flattened(results: dict, prefix: str = "") -> dict[str, float]:
    values = {}
    for key, value in results.items():
        values.update(flattened(value, f"{prefix}{key}/") if isinstance(value, dict) else {prefix + key: value})
    return values


@pytest.mark.slow  # two spawned processes: about a minute here
def test_sharded_validation_over_two_gloo_processes_equals_one_process(tmp_path, monkeypatch):
    """Val and test splits, 5 and 3 frames here: the ranks see different frames and different
    conditions (rank 1 sees no day frame of the test split) and still return the same tables."""
    root = tmp_path / "MS2"
    lists = write_tiny_ms2_root(root, frames_per_sequence=4)
    (root / "val_list.txt").write_text("\n".join(lists["val_list.txt"] + lists["train_list.txt"]) + "\n")
    (root / "train_list.txt").write_text("")
    mp.start_processes(sharded_validation, args=(str(root), str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2,
                       start_method="spawn")
    monkeypatch.setattr(train.evaluate, "infer_batch", fake_infer_batch)
    for split in ("val", "test"):
        single = flattened(evaluate_model(FusingStub(), data_config(root), 80.0, torch.device("cpu"),
                                          show_progress=False, split=split))
        for rank in (0, 1):
            sharded = flattened(json.loads((tmp_path / f"{split}-rank{rank}.json").read_text()))
            assert sharded.keys() == single.keys(), (split, rank)
            np.testing.assert_allclose([sharded[k] for k in single], list(single.values()), rtol=0, atol=1e-6,
                                       equal_nan=True)


def test_the_learning_rate_follows_the_declared_global_batch():
    optim = OptimConfig(batch_size=4, lr=5e-4, lr_global_batch=16)
    assert global_batch(optim, 8) == 32 and scaled_lr(optim, 8) == pytest.approx(1e-3)
    assert scaled_lr(OptimConfig(batch_size=2, lr=5e-4, lr_global_batch=16, accumulate=2), 4) == pytest.approx(5e-4)
    assert scaled_lr(OptimConfig(batch_size=4, lr=5e-4), 8) == 5e-4  # no declared batch: as given
