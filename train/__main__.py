"""`python -m train <stage> --config train/configs/<name>.yaml [--set key=value ...] [--resume]`

Stages:
  align         train the shared depth network (supervised + contrastive + consistency)
  fuse          train the fusion module on a frozen align checkpoint
  pretrain-vfm  train a built-in offline backbone (CLIP contrastive or DINO self-distillation)
  teacher       train the VFM teacher (CLIP + DINO aggregation, language depth bins) from an align checkpoint
  distill       distil a lightweight student from a frozen teacher checkpoint
  calibrate     re-estimate the per-spectrum BatchNorm statistics of the config's checkpoint (cfg.out)
  eval          evaluate checkpoints on a test split (MS2 reference protocol) and print the tables
  eval-real     score checkpoints on real frames with sparse LiDAR depth, beside two floors
  eval-language CLIP's class prompt maps and distance words against MS-Synth's exact classes and depth
  gpu-check     a few hundred bf16 steps of every stage on MS-Synth: losses fall, warps agree,
                steps/s and peak memory per stage (no config; exits 3 without CUDA)
A config names its dataset (data.dataset: msynth | ms2, data.root) and its stage; every option is
declared in train/config.py and a typo is refused. Training validates every validate_every steps
and keeps the best checkpoint on the validation split; only eval reads a test split.
Multi-GPU / multi-node: launch the same command with `torchrun --nproc_per_node N -m train ...`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import shutil
import sys
from pathlib import Path

import torch

from core.data.msynth import RENDER_VERSION
from core.metrics import MIN_DEPTH
from core.models import build_model, load_checkpoint, save_checkpoint, update_checkpoint
from core.models.vfm.builtin import save_builtin
from core.settings import REPO_ROOT
from train.align import make_align_losses
from train.calibrate import calibrate_statistics
from train.checkpoint_rows import checkpoint_rows, label_targets
from train.config import (STAGE_CONFIGS, DataConfig, EvalConfig, PretrainStageConfig, TrainingConfig, config_record,
                          load_config)
from train.data import build_dataset, dataset_record, sampling_step
from train.engine import seed_everything, setup_runtime, teardown_runtime
from train.evaluate import evaluate_model, reference_table, results_table, validation_score
from train.evaluate_language import run_eval_language
from train.evaluate_real import run_eval_real
from train.distill import load_frozen_teacher, make_distill_losses, student_for_teacher
from train.fuse import fusion_model_from_align, make_fuse_losses
from train.gpu_check import main as gpu_check
from train.loop import build_train_loader, fit
from train.pretrain_vfm import build_pretrainer
from train.targets import target_report
from train.teacher import make_teacher_losses, teacher_from_align


def training_command(argv: list[str]) -> str:
    return shlex.join(["python", "-m", "train", *argv])


def build_stage(stage: str, cfg: TrainingConfig, seed: int, device: torch.device):
    """(model, loss function) of a training stage."""
    if stage == "align":
        model = build_model(cfg.model)
        if cfg.init_checkpoint:
            continue_from(model, REPO_ROOT / cfg.init_checkpoint)
        return model, make_align_losses(cfg.loss, seed, device)
    if stage == "fuse":
        model = fusion_model_from_align(str(REPO_ROOT / cfg.align_checkpoint), cfg.model)
        return model, make_fuse_losses(cfg.loss, seed, device)
    if stage == "teacher":
        model = teacher_from_align(str(REPO_ROOT / cfg.align_checkpoint), cfg.model)
        return model, make_teacher_losses(cfg.loss, seed, device)
    teacher = load_frozen_teacher(str(REPO_ROOT / cfg.teacher_checkpoint), device)
    student = student_for_teacher(teacher, cfg.model)
    if cfg.init_checkpoint:
        continue_from(student, REPO_ROOT / cfg.init_checkpoint)
    return student, make_distill_losses(cfg.loss, teacher, seed, device)


def continue_from(model: torch.nn.Module, checkpoint: Path) -> None:
    """``init_checkpoint``: load trained weights (e.g. to train on, or fine-tune on new data) into the
    model this config builds; a checkpoint of another configuration is refused."""
    trained, _ = load_checkpoint(checkpoint)
    if trained.config != model.config:
        raise ValueError(f"init_checkpoint {checkpoint} holds a model built as {trained.config}, "
                         f"not the {model.config} this config builds")
    model.load_state_dict(trained.state_dict())


def validator(cfg: TrainingConfig, runtime):
    """Scores a model on the validation split (lower is better), for choosing the checkpoint;
    every rank scores its share of the frames and all get the same score."""
    def validate(model: torch.nn.Module) -> tuple[float, dict]:
        results = evaluate_model(model, cfg.data, cfg.eval_max_depth, runtime.device, show_progress=False,
                                 split="val", shard=(runtime.rank, runtime.world_size), num_workers=cfg.num_workers)
        return validation_score(results), results
    return validate


def run_training(stage: str, cfg: TrainingConfig, resume: bool, command: str) -> None:
    runtime = setup_runtime(cfg.ddp_timeout_minutes)
    seed = cfg.seed + runtime.rank
    seed_everything(seed)
    run_dir = REPO_ROOT / cfg.run_dir
    model, losses = build_stage(stage, cfg, seed, runtime.device)
    model.to(runtime.device)
    selection = fit(cfg, runtime, model, losses, run_dir, resume, validate=validator(cfg, runtime))
    if runtime.is_main:
        model.eval()
        record = {"training_data": dataset_record(cfg.data, build_dataset(cfg.data, "train", augment=True,
                                                                              show_progress=False)),
                  "training_config": config_record(cfg), "stage": stage, "log": "log.csv",
                  "selection": {"split": "val", "step": selection.step, "score": selection.score,
                                "score_is": "metric AbsRel, mean over the main outputs"}}
        out = save_checkpoint(REPO_ROOT / cfg.out, model.cpu(), model.config, metrics=selection.results,
                              command=command, extra=record)
        shutil.copy(run_dir / "log.csv", out / "log.csv")  # the checkpoint carries its training log
        print(f"saved {out}: the best of {cfg.optim.steps} steps on the validation split "
              f"(step {selection.step}, score {selection.score:.4f})")
        print(results_table(selection.results, label=f"{cfg.name} (validation)"))
    teardown_runtime(runtime)


def run_pretrain_vfm(cfg: PretrainStageConfig, resume: bool, command: str) -> None:
    runtime = setup_runtime(cfg.ddp_timeout_minutes)
    seed_everything(cfg.seed + runtime.rank)
    run_dir = REPO_ROOT / cfg.run_dir
    model, compute_losses, after_step = build_pretrainer(cfg, runtime)
    model.to(runtime.device)
    fit(cfg, runtime, model, compute_losses, run_dir, resume, after_step)
    if runtime.is_main:
        out = save_builtin(cfg.backbone, model.trained_model().cpu(), REPO_ROOT / cfg.out,
                           {"command": command, "training_data": config_record(cfg.data), "stage": "pretrain-vfm",
                            "log": "log.csv"})
        shutil.copy(run_dir / "log.csv", out / "log.csv")
        print(f"saved {out}")
    teardown_runtime(runtime)


def run_calibrate(cfg: TrainingConfig, command: str) -> None:
    """Statistics of cfg.calibration_batches training batches per spectrum; weights unchanged.
    The checkpoint's metrics become the validation split's after calibration."""
    runtime = setup_runtime()
    seed_everything(cfg.seed)
    folder = REPO_ROOT / cfg.out
    model, _ = load_checkpoint(folder)
    model.to(runtime.device)
    loader = iter(build_train_loader(cfg, runtime))
    batches = [next(loader) for _ in range(cfg.calibration_batches)]
    layers = calibrate_statistics(model, batches, runtime.device)
    print(f"calibrated {layers} BatchNorm layers on {len(batches)} batches per spectrum")
    results = evaluate_model(model, cfg.data, cfg.eval_max_depth, runtime.device, split="val")
    update_checkpoint(folder, model.cpu(), metrics=results, calibration_command=command)
    print(f"saved {folder}")
    print(results_table(results, label=f"{cfg.name} (validation)"))
    teardown_runtime(runtime)


def split_description(data_cfg: DataConfig, split: str, max_depth: float, input_sizes: dict[str, tuple[int, int]],
                      flip_average: bool = False) -> str:
    """The heading of an evaluation report: what was read and under which protocol;
    ``input_sizes``: each checkpoint's network input (height, width)."""
    split_cfg = getattr(data_cfg, split)
    step = sampling_step(data_cfg, split)
    if data_cfg.dataset == "ms2":
        source = f"MS2 {split} split ({', '.join(split_cfg.lists)}"
        sampled = f", frames [0:-1:{step}] of each list as the reference samples them" if step > 1 else ""
    else:
        source = (f"MS-Synth {split} split ({split_cfg.n_sequences} sequences x "
                  f"{split_cfg.frames_per_sequence} frames, render version {RENDER_VERSION} at scale {data_cfg.scale:g}")
        sampled = f", one frame in {step}" if step > 1 else ""
    sizes = {f"{h} x {w}" for h, w in input_sizes.values()}
    inputs = f"network input {sizes.pop()}" if len(sizes) == 1 else "network input as trained: " + ", ".join(
        f"{name} {h} x {w}" for name, (h, w) in input_sizes.items())
    flip = "each prediction averaged with its mirror's; " if flip_average else ""
    return (f"## {source}{sampled}; {inputs}; {flip}"
            f"prediction upsampled to the native ground truth; valid {MIN_DEPTH:g} < gt < {max_depth:g} m; "
            f"'all' = mean of the condition means)")


def run_eval(cfg: EvalConfig) -> None:
    runtime = setup_runtime()
    split = cfg.split
    all_results, parameters, input_sizes = {}, {}, {}
    checkpoints = checkpoint_rows(cfg.checkpoints, REPO_ROOT)
    for name, folder in checkpoints.values():
        model, description = load_checkpoint(folder)
        parameters[name] = description["parameters"]
        # One test split for every checkpoint, each fed at the input size it was trained at.
        input_sizes[name] = tuple(model.input_size)
        data = dataclasses.replace(cfg.data, size=list(model.input_size))
        all_results[name] = evaluate_model(model, data, cfg.eval_max_depth, runtime.device, split=split,
                                           flip_average=cfg.flip_average)
    report = [split_description(cfg.data, split, cfg.eval_max_depth, input_sizes, cfg.flip_average)]
    # Median-scaled first: the reference's default (align=True), so the table published numbers compare with.
    report.append("\n### median-scaled (the reference's default: compare with published numbers)\n")
    report.append(reference_table(all_results, "median_scaled"))
    report.append("\n### metric\n")
    report.append(reference_table(all_results, "metric"))
    if cfg.targets:
        report.append("\n### Targets\n")
        report.append(target_report(all_results, label_targets(cfg.targets, checkpoints), parameters))
    text = "\n".join(report)
    print(text)
    out = REPO_ROOT / cfg.report
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    (out.with_suffix(".json")).write_text(json.dumps(all_results, indent=1))
    print(f"\nwrote {out}")
    teardown_runtime(runtime)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gpu-check"]:
        raise SystemExit(gpu_check())
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=[*STAGE_CONFIGS, "calibrate"])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set optim.steps=10")
    parser.add_argument("--resume", action="store_true", help="continue from the run's training_state.pt")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.set, stage=args.stage)
    if args.stage == "eval":
        run_eval(cfg)
    elif args.stage == "eval-real":
        run_eval_real(cfg, REPO_ROOT)
    elif args.stage == "eval-language":
        print(run_eval_language(cfg, REPO_ROOT))
    elif args.stage == "calibrate":
        run_calibrate(cfg, training_command(argv))
    elif args.stage == "pretrain-vfm":
        run_pretrain_vfm(cfg, args.resume, training_command(argv))
    else:
        run_training(args.stage, cfg, args.resume, training_command(argv))


if __name__ == "__main__":
    main()
