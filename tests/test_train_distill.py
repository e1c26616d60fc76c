"""The teacher / student training CLI end to end on tiny configurations: pretrain-vfm,
teacher, distill (full and plain), eval with the distillation targets."""
import csv
import json
from pathlib import Path

import pytest
import torch

from core.models import load_checkpoint
from core.models.vfm import load_backbone
from train.__main__ import main as train_main
from train.targets import mean_abs_rel

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "train" / "configs"


def tiny(tmp_path: Path, name: str, config: str, stage: str, steps: int = 2) -> list[str]:
    return [stage, "--config", str(CONFIGS / config), "--set", f"optim.steps={steps}", "--set", "optim.batch_size=2",
            "--set", "log_every=1", "--set", "num_workers=0",
            "--set", "data.train.n_sequences=4", "--set", "data.train.frames_per_sequence=1",
            "--set", "data.val.n_sequences=2", "--set", "data.val.frames_per_sequence=1",
            "--set", "data.size=[64,160]", "--set", "data.scale=0.25",
            "--set", f"data.cache_root={tmp_path / 'cache'}",
            "--set", f"out={tmp_path / name}", "--set", f"run_dir={tmp_path / 'runs' / name}"]


def log_columns(path: Path) -> list[str]:
    with path.open() as f:
        return next(csv.reader(f))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("distill")
    for kind in ("clip", "dino"):
        train_main(tiny(tmp, f"builtin-{kind}", f"builtin-{kind}.yaml", "pretrain-vfm"))
    train_main([*tiny(tmp, "align", "msynth-align.yaml", "align"), "--set", "model.input_size=[64,160]"])
    train_main([*tiny(tmp, "teacher", "msynth-teacher.yaml", "teacher"), "--set", f"align_checkpoint={tmp / 'align'}",
                "--set", f"model.clip=clip:{tmp / 'builtin-clip'}", "--set", f"model.dino=dino:{tmp / 'builtin-dino'}"])
    for name in ("student", "student-plain"):
        train_main([*tiny(tmp, name, f"msynth-{name}.yaml", "distill"),
                    "--set", f"teacher_checkpoint={tmp / 'teacher'}"])
    return tmp


def test_teacher_names_its_backbones_and_starts_from_the_align_network(trained):
    teacher, description = load_checkpoint(trained / "teacher")
    assert description["stage"] == "teacher"
    assert description["model"]["clip"] == f"clip:{trained / 'builtin-clip'}"
    assert not any(key.startswith(("clip.", "dino.")) for key in teacher.state_dict())
    # The frozen DINO inside the teacher is the built-in one, unchanged by training.
    dino = load_backbone(f"dino:{trained / 'builtin-dino'}")
    for name, value in dino.model.state_dict().items():
        assert torch.equal(value, teacher.dino.backbone.model.state_dict()[name]), name
    assert {"depth", "regression", "bins", "loss"} <= set(log_columns(trained / "runs" / "teacher" / "log.csv"))
    assert description["parameters"]["frozen_backbones"] > 0


def test_students_log_their_losses_and_are_small(trained):
    full = set(log_columns(trained / "runs" / "student" / "log.csv"))
    plain = set(log_columns(trained / "runs" / "student-plain" / "log.csv"))
    assert {"depth", "supervised", "feature", "bins", "graph"} <= full
    assert "graph" not in plain
    student, description = load_checkpoint(trained / "student")
    teacher, teacher_description = load_checkpoint(trained / "teacher")
    assert student.config.teacher_level_widths == tuple(teacher.depth_net.level_widths)
    assert description["parameters"]["inference"] < 0.35 * teacher_description["parameters"]["total"]


def test_distillation_eval_reports_texture_and_targets(trained, capsys, tmp_path):
    config = tmp_path / "eval.yaml"
    config.write_text((CONFIGS / "msynth-distill-eval.yaml").read_text())
    names = {key: trained / key for key in ("align", "teacher", "student", "student-plain")}
    train_main(["eval", "--config", str(config),
                "--set", f"checkpoints=[{','.join(str(p) for p in names.values())}]",
                "--set", f"targets.align={names['align']}", "--set", f"targets.teacher={names['teacher']}",
                "--set", f"targets.student={names['student']}",
                "--set", f"targets.plain_student={names['student-plain']}",
                "--set", f"targets.teacher_controls=[[{names['teacher']},{names['align']}]]",
                "--set", f"report={tmp_path / 'EVAL.md'}", "--set", "data.size=[64,160]", "--set", "data.scale=0.25",
                "--set", "data.test.n_sequences=5", "--set", "data.test.frames_per_sequence=1",
                "--set", "data.test.conditions=[day,texture,night,fog,rain]",
                "--set", f"data.cache_root={trained / 'cache'}"])
    report = (tmp_path / "EVAL.md").read_text()
    metric = report.split("### metric")[1]
    assert "| texture AbsRel |" in metric and f"| {names['student'].name} | spectral-wise Thermal |" in metric
    for target in ("teacher vs align network", "student vs teacher", "student / teacher with its backbones",
                   "day -> texture"):
        assert target in report
    results = json.loads((tmp_path / "EVAL.json").read_text())
    assert "texture" in results[names["student"].name]["metric"]["spectral"]["rgb"]
    teacher = results[names["teacher"].name]
    gain = 1 - mean_abs_rel(teacher, "all") / mean_abs_rel(results[names["align"].name], "all")
    assert (f"| AbsRel reduction, {names['teacher'].name} vs its equal-training no-VFM control "
            f"{names['align'].name} | {gain:.3f} |") in report
    assert f"| {names['teacher'].name} | {mean_abs_rel(teacher, 'day'):.3f} | {mean_abs_rel(teacher, 'texture'):.3f} | " in report
    assert report.strip() in capsys.readouterr().out


def test_distill_from_an_init_checkpoint_continues_that_student(trained, tmp_path):
    continue_student = [*tiny(tmp_path, "continued", "msynth-student.yaml", "distill", steps=1),
                        "--set", f"teacher_checkpoint={trained / 'teacher'}",
                        "--set", f"init_checkpoint={trained / 'student'}", "--set", f"data.cache_root={trained / 'cache'}"]
    train_main([*continue_student, "--set", "optim.lr=0.0"])
    start, _ = load_checkpoint(trained / "student")
    continued, description = load_checkpoint(tmp_path / "continued")
    assert f"init_checkpoint={trained / 'student'}" in description["command"]
    for (name, before), after in zip(start.named_parameters(), continued.parameters()):
        assert torch.equal(before, after), name  # lr 0: the weights are the init checkpoint's
    with pytest.raises(ValueError, match="init_checkpoint .* holds a model built as"):
        train_main([*continue_student, "--set", "model.bin_head_width=8"])
