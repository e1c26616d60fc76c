"""The training loop both stages share: data, optimiser, schedule, logging, resume, DDP."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm import tqdm

from core.data.dataset import collate_frames
from train.data import build_dataset
from train.engine import (CsvLog, Runtime, autocast, load_training_state, save_training_state,
                          wrap_ddp)

LossFn = Callable[[torch.nn.Module, dict, int], dict[str, torch.Tensor]]


def build_train_loader(cfg: dict, runtime: Runtime) -> DataLoader:
    # Rank 0 renders the MS-Synth cache; the others wait for it instead of racing on the files.
    if runtime.is_main:
        dataset = build_dataset(cfg["data"], "train", augment=True)
    if runtime.distributed:
        dist.barrier()
    if not runtime.is_main:
        dataset = build_dataset(cfg["data"], "train", augment=True, show_progress=False)
    if runtime.distributed:
        sampler = DistributedSampler(dataset, runtime.world_size, runtime.rank, shuffle=True, seed=cfg["seed"])
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(cfg["seed"]))
    return DataLoader(dataset, batch_size=cfg["optim"]["batch_size"], sampler=sampler, drop_last=True,
                      num_workers=cfg.get("num_workers", 0), collate_fn=collate_frames)


def fit(cfg: dict, runtime: Runtime, model: torch.nn.Module, compute_losses: LossFn, run_dir: Path,
        resume: bool, after_step: Callable[[int], None] | None = None) -> int:
    """Train ``model``'s trainable parameters for cfg.optim.steps steps; returns the last step.

    ``compute_losses(module, batch, step)`` returns named loss terms with the total under
    'loss'; ``module`` is the DDP wrapper when distributed. ``after_step(step)`` runs after
    each optimiser step (e.g. an EMA teacher's update).
    """
    optim_cfg = cfg["optim"]
    loader = build_train_loader(cfg, runtime)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=optim_cfg["lr"], weight_decay=optim_cfg["weight_decay"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=optim_cfg["restart_steps"])
    state_path = run_dir / "training_state.pt"
    step = load_training_state(state_path, model, optimizer, scheduler) if resume and state_path.exists() else 0
    module = wrap_ddp(model, runtime)
    if step == 0 and runtime.is_main:
        (run_dir / "log.csv").unlink(missing_ok=True)  # a fresh run never continues an old run's log
    log = CsvLog(run_dir / "log.csv")
    total_steps = optim_cfg["steps"]
    progress = tqdm(total=total_steps, initial=step, desc=cfg["name"], disable=not runtime.is_main)
    start = time.perf_counter()
    epoch = step // max(1, len(loader))
    model.train()
    while step < total_steps:
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        loader.dataset.set_epoch(epoch)
        for batch in loader:
            batch = {k: v.to(runtime.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            with autocast(runtime.device):
                terms = compute_losses(module, batch, step)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(trainable, optim_cfg.get("clip_grad", 1.0))
            optimizer.step()
            scheduler.step()
            if after_step is not None:
                after_step(step)
            step += 1
            progress.update(1)
            if runtime.is_main and (step % cfg["log_every"] == 0 or step == total_steps):
                values = {k: float(v.detach()) for k, v in terms.items()}
                progress.set_postfix(loss=f"{values['loss']:.4f}")
                log.write({"step": step, "epoch": epoch, "lr": scheduler.get_last_lr()[0],
                           "seconds": round(time.perf_counter() - start, 1), **values})
            if runtime.is_main and (step % cfg["save_every"] == 0 or step == total_steps):
                save_training_state(state_path, model, optimizer, scheduler, step)
            if step >= total_steps:
                break
        epoch += 1
    progress.close()
    return step
