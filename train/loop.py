"""The training loop every stage shares: data, optimiser, schedule, validation and model choice,
logging, exact resume, DDP."""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from core.data.dataset import collate_frames
from train.batching import to_device
from train.board import Board
from train.config import OptimConfig, TrainingConfig
from train.data import build_dataset
from train.engine import (CsvLog, Runtime, autocast, load_rng_state, load_training_state, mean_over_ranks,
                          rng_state_path, save_rng_state, save_training_state, synchronise, wrap_ddp)

LossFn = Callable[[torch.nn.Module, dict, int], dict[str, torch.Tensor]]
Validator = Callable[[torch.nn.Module], tuple[float, dict]]
BEST_WEIGHTS = "best_model.pt"


@dataclass
class Selection:
    """The validation result that chose the checkpoint: its step, score (lower is better) and tables."""

    step: int
    score: float
    results: dict


class ResumableSampler(DistributedSampler):
    """A sampler whose order depends only on (seed, epoch, rank), shuffled like DistributedSampler
    (a world of one outside DDP), that can start ``skip`` samples into an epoch: a resumed run
    then sees exactly the batches an uninterrupted run would."""

    def __init__(self, dataset, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.skip:])

    def __len__(self) -> int:
        return self.num_samples - self.skip


def global_batch(optim_cfg: OptimConfig, world_size: int) -> int:
    """Frames per optimiser step over every process."""
    return world_size * optim_cfg.batch_size * optim_cfg.accumulate


def scaled_lr(optim_cfg: OptimConfig, world_size: int) -> float:
    """optim.lr scaled linearly from the global batch it was set for (optim.lr_global_batch;
    None: used as given) to this run's."""
    if optim_cfg.lr_global_batch is None:
        return optim_cfg.lr
    return optim_cfg.lr * global_batch(optim_cfg, world_size) / optim_cfg.lr_global_batch


def build_train_loader(cfg: TrainingConfig, runtime: Runtime) -> DataLoader:
    # Rank 0 renders the MS-Synth cache; the others wait for it instead of racing on the files.
    if runtime.is_main:
        dataset = build_dataset(cfg.data, "train", augment=True)
    if runtime.distributed:
        dist.barrier()
    if not runtime.is_main:
        dataset = build_dataset(cfg.data, "train", augment=True, show_progress=False)
    sampler = ResumableSampler(dataset, runtime.world_size, runtime.rank, cfg.seed)
    return DataLoader(dataset, batch_size=cfg.optim.batch_size, sampler=sampler, drop_last=True,
                      num_workers=cfg.num_workers, collate_fn=collate_frames,
                      pin_memory=runtime.device.type == "cuda", persistent_workers=False)


def fit(cfg: TrainingConfig, runtime: Runtime, model: torch.nn.Module, compute_losses: LossFn, run_dir: Path,
        resume: bool, after_step: Callable[[int], None] | None = None,
        validate: Validator | None = None) -> Selection | None:
    """Train ``model``'s trainable parameters for cfg.optim.steps steps.

    ``compute_losses(module, batch, step)`` returns named loss terms with the total under
    'loss'; ``module`` is the DDP wrapper when distributed. ``after_step(step)`` runs after
    each optimiser step (e.g. an EMA teacher's update). ``validate(model) -> (score, results)``
    runs on every rank (each scores its shard) every cfg.validate_every steps and at the last
    step; the model is left with the weights of the best validation score, which is returned
    (None without validate). A step adds the gradients of cfg.optim.accumulate batches.
    """
    optim_cfg = cfg.optim
    loader = build_train_loader(cfg, runtime)
    if len(loader) == 0:
        raise ValueError(f"the training split has {len(loader.dataset)} frames, fewer than one batch of "
                         f"{optim_cfg.batch_size} per process")
    trainable = [p for p in model.parameters() if p.requires_grad]
    lr = scaled_lr(optim_cfg, runtime.world_size)
    if runtime.is_main and lr != optim_cfg.lr:
        print(f"optim.lr {optim_cfg.lr:g} is for a global batch of {optim_cfg.lr_global_batch}; this run's is "
              f"{runtime.world_size} processes x {optim_cfg.batch_size} x {optim_cfg.accumulate} accumulated = "
              f"{global_batch(optim_cfg, runtime.world_size)}: lr {lr:g}")
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=optim_cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer, T_0=optim_cfg.restart_steps or optim_cfg.steps)
    state_path = run_dir / "training_state.pt"
    step, best = 0, None
    if resume and state_path.exists():
        step, best = load_training_state(state_path, model, optimizer, scheduler)
        best = Selection(**best) if best else None
        load_rng_state(rng_state_path(run_dir, runtime.rank))
    module = wrap_ddp(model, runtime, cfg.ddp_find_unused_parameters)
    if step == 0 and runtime.is_main:
        (run_dir / "log.csv").unlink(missing_ok=True)  # a fresh run never continues an old run's log
    log = CsvLog(run_dir / "log.csv")
    board = Board(run_dir, runtime.is_main)
    total_steps, validate_every, accumulate = optim_cfg.steps, cfg.validate_every, optim_cfg.accumulate
    # A step takes ``accumulate`` batches; an epoch's batches left over after its last whole step are not used.
    steps_per_epoch = len(loader) // accumulate
    if steps_per_epoch == 0:
        raise ValueError(f"one step takes optim.accumulate={accumulate} batches, more than the "
                         f"{len(loader)} batches per process of the training split")
    epoch = step // steps_per_epoch
    loader.sampler.skip = (step % steps_per_epoch) * accumulate * optim_cfg.batch_size
    progress = tqdm(total=total_steps, initial=step, desc=cfg.name, disable=not runtime.is_main)
    start = time.perf_counter()
    logged_at, logged_step = start, step
    model.train()
    while step < total_steps:
        loader.sampler.set_epoch(epoch)
        loader.dataset.set_epoch(epoch)
        micro = 0
        for batch in loader:
            batch = to_device(batch, runtime.device)
            if micro == 0:
                optimizer.zero_grad(set_to_none=True)
            micro += 1
            # DDP averages gradients only on the step's last batch; the others add up locally.
            syncing = micro == accumulate or not runtime.distributed
            with contextlib.nullcontext() if syncing else module.no_sync():
                with autocast(runtime.device, cfg.precision):
                    terms = compute_losses(module, batch, step)
                (terms["loss"] / accumulate).backward()
            if micro < accumulate:
                continue
            micro = 0
            torch.nn.utils.clip_grad_norm_(trainable, optim_cfg.clip_grad)
            optimizer.step()
            scheduler.step()
            if after_step is not None:
                after_step(step)
            step += 1
            progress.update(1)
            last = step == total_steps
            if step % cfg.log_every == 0 or last:
                values = mean_over_ranks(terms, runtime)  # every rank joins the reduction
                synchronise(runtime.device)  # CUDA runs ahead of the host: time what it has done
                now = time.perf_counter()
                frames = global_batch(optim_cfg, runtime.world_size) * (step - logged_step)
                frames_per_second = frames / (now - logged_at)
                logged_at, logged_step = now, step
                if runtime.is_main:
                    progress.set_postfix(loss=f"{values['loss']:.4f}")
                    log.write({"step": step, "epoch": epoch, "lr": scheduler.get_last_lr()[0],
                               "seconds": round(now - start, 1), **values})
                board.training(step, values, scheduler.get_last_lr()[0], frames_per_second)
            if validate is not None and ((validate_every and step % validate_every == 0) or last):
                best = validated(model, validate, step, best, run_dir, runtime, board, batch)
            if step % cfg.save_every == 0 or last:
                save_rng_state(rng_state_path(run_dir, runtime.rank))
                if runtime.is_main:
                    save_training_state(state_path, model, optimizer, scheduler, step,
                                        best.__dict__ if best else None)
            if last:
                break
        loader.sampler.skip = 0
        epoch += 1
    progress.close()
    board.close()
    if best is not None and runtime.is_main:
        model.load_state_dict(torch.load(run_dir / BEST_WEIGHTS, map_location=runtime.device, weights_only=True))
    return best


def validated(model: torch.nn.Module, validate: Validator, step: int, best: Selection | None, run_dir: Path,
              runtime: Runtime, board: Board, batch: dict) -> Selection | None:
    """Every rank scores its shard of the validation split (the sums are added over ranks, so
    all see one score and keep the same best); rank 0 keeps the best weights."""
    model.eval()
    score, results = validate(model)
    if best is None or score < best.score:
        best = Selection(step, score, results)
        if runtime.is_main:
            torch.save(model.state_dict(), run_dir / BEST_WEIGHTS)
    board.validation(step, score, results, model, batch)
    model.train()
    if runtime.is_main:
        tqdm.write(f"step {step}: validation score {score:.4f} (best {best.score:.4f} at step {best.step})")
    if runtime.distributed:
        dist.barrier()  # the others load the best weights rank 0 wrote only at the end
    return best
