"""What every training stage shares: devices, DDP, precision, seeds, logs and resumable state.

Multi-GPU / multi-node runs go through ``torch.distributed`` launched by ``torchrun`` (it sets
RANK, WORLD_SIZE, LOCAL_RANK); a plain ``python -m train`` run is a world of one.
"""
from __future__ import annotations

import contextlib
import csv
import datetime
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from core.settings import distributed_launch


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_runtime(timeout_minutes: float = 30.0) -> Runtime:
    """CUDA when present, CPU otherwise; joins the process group when launched by torchrun.
    ``timeout_minutes``: how long a collective may wait for the slowest rank before the run is
    stopped (NCCL's default, 10 minutes, is shorter than some validation or checkpoint writes)."""
    rank, world_size, local_rank = distributed_launch()
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(minutes=timeout_minutes))
    return Runtime(device, rank, world_size)


def teardown_runtime(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(model: torch.nn.Module, runtime: Runtime, find_unused_parameters: bool) -> torch.nn.Module:
    """DDP around ``model`` when distributed. ``find_unused_parameters`` costs a graph walk per
    step: only stages whose steps leave parameters unused ask for it."""
    if not runtime.distributed:
        return model
    device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids,
                                                     find_unused_parameters=find_unused_parameters)


def mean_over_ranks(terms: dict[str, torch.Tensor], runtime: Runtime) -> dict[str, float]:
    """Each loss term averaged over every process (one all-reduce), as plain floats; every rank
    must have the same terms (checked: an all-reduce of mismatched lists would add unlike terms)."""
    names = sorted(terms)
    values = torch.stack([terms[name].detach().float().reshape(()) for name in names])
    if runtime.distributed:
        every_rank = [None] * runtime.world_size
        dist.all_gather_object(every_rank, names)
        if any(other != names for other in every_rank):
            raise RuntimeError("the ranks computed different loss terms, so their means cannot be taken: "
                               + "; ".join(f"rank {rank}: {', '.join(keys)}" for rank, keys in enumerate(every_rank)))
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= runtime.world_size
    return dict(zip(names, values.tolist()))


def autocast(device: torch.device, precision: str = "bf16"):
    """bf16 autocast on CUDA when ``precision`` is bf16; full precision otherwise (fp32: as the
    reference trains). Geometry and depth heads run in float32 either way (core.geometry.precision)."""
    if device.type == "cuda" and precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def synchronise(device: torch.device) -> None:
    """Wait for the device's queued work, so a host clock read after it times that work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class CsvLog:
    """Appends one row per logged step; columns are fixed by the first row written."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fields: list[str] | None = None
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open() as f:
                self.fields = next(csv.reader(f))

    def write(self, row: dict) -> None:
        if self.fields is None:
            self.fields = list(row)
            with self.path.open("w", newline="") as f:
                csv.writer(f).writerow(self.fields)
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields, extrasaction="ignore").writerow(row)


def rng_state() -> dict:
    """Every global random state a step can draw from, as tensors and plain values (so the
    training state still loads with weights_only=True)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached]}


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))


def save_training_state(path: Path, model: torch.nn.Module, optimizer, scheduler, step: int,
                        best: dict | None = None) -> None:
    """Resumable state: weights, optimiser, schedule, step and the best validation so far
    (tensors and plain values only, so it loads with weights_only=True)."""
    _save_atomically({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                      "scheduler": scheduler.state_dict() if scheduler else None, "step": step, "best": best}, path)


def load_training_state(path: Path, model: torch.nn.Module, optimizer, scheduler) -> tuple[int, dict | None]:
    """Restores what save_training_state wrote; returns (step, best validation or None)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler and state["scheduler"]:
        scheduler.load_state_dict(state["scheduler"])
    return int(state["step"]), state["best"]


def rng_state_path(run_dir: Path, rank: int) -> Path:
    """Each process keeps its own random state: ranks are seeded apart."""
    return Path(run_dir) / "rng" / f"rank{rank}.pt"


def save_rng_state(path: Path) -> None:
    _save_atomically(rng_state(), path)


def load_rng_state(path: Path) -> None:
    set_rng_state(torch.load(path, map_location="cpu", weights_only=True))


def _save_atomically(content: dict, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(content, tmp)
    tmp.replace(path)
