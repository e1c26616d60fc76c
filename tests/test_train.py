"""The training CLI end to end on tiny configurations: align, fuse, eval, resume, DDP."""
import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from core.models import AlignFuseConfig, build_model, load_checkpoint, save_checkpoint
from train.__main__ import main as train_main
from train.config import load_config
from train.evaluate import evaluate_model

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "train" / "configs"


def tiny(tmp_path: Path, name: str, steps: int = 3) -> list[str]:
    return ["--set", f"optim.steps={steps}", "--set", "optim.batch_size=2", "--set", "log_every=1",
            "--set", "save_every=1", "--set", "num_workers=0",
            "--set", "data.train.n_sequences=4", "--set", "data.train.frames_per_sequence=1",
            "--set", "data.val.n_sequences=2", "--set", "data.val.frames_per_sequence=1",
            "--set", "data.size=[64,160]", "--set", "data.scale=0.25", "--set", "validate_every=2",
            "--set", f"data.cache_root={tmp_path / 'cache'}",
            "--set", f"out={tmp_path / name}", "--set", f"run_dir={tmp_path / 'runs' / name}"]


# An align network built at the tiny input size, so evaluation (at each network's own size) stays tiny.
TINY_NETWORK = ["--set", "model.input_size=[64,160]"]


def log_steps(path: Path) -> list[int]:
    with path.open() as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("train")
    train_main(["align", "--config", str(CONFIGS / "msynth-align.yaml"), *tiny(tmp_path, "align"), *TINY_NETWORK])
    train_main(["fuse", "--config", str(CONFIGS / "msynth-fuse.yaml"), *tiny(tmp_path, "fuse", steps=2),
                "--set", f"align_checkpoint={tmp_path / 'align'}"])
    return tmp_path


def test_align_writes_a_self_describing_checkpoint_and_log(trained):
    description = json.loads((trained / "align" / "config.json").read_text())
    assert description["command"].startswith("python -m train align --config")
    assert description["training_data"]["size"] == [64, 160]
    assert description["training_data"]["train_frames"] == 4
    assert description["training_config"]["optim"]["steps"] == 3
    metrics = json.loads((trained / "align" / "metrics.json").read_text())
    assert set(metrics["metric"]["spectral"]) == {"rgb", "nir", "thr"}
    selection = description["selection"]
    assert selection["split"] == "val" and selection["step"] in (2, 3)
    # the checkpoint is the validation-best of steps 2 and 3, and its metrics are that validation's
    mean_abs_rel = sum(by_condition["all"]["abs_rel"] for by_condition in metrics["metric"]["spectral"].values()) / 3
    assert mean_abs_rel == pytest.approx(selection["score"], rel=1e-9)
    assert log_steps(trained / "runs" / "align" / "log.csv") == [1, 2, 3]
    assert (trained / "align" / "log.csv").read_text() == (trained / "runs" / "align" / "log.csv").read_text()
    with (trained / "runs" / "align" / "log.csv").open() as f:
        row = next(csv.DictReader(f))
    assert {"sup_rgb", "global", "local", "consistency", "loss"} <= set(row)


def test_fuse_trains_only_the_fusion_module(trained):
    align, _ = load_checkpoint(trained / "align")
    fused, description = load_checkpoint(trained / "fuse")
    assert fused.fusion is not None and description["stage"] == "fuse"
    for name, value in align.network.state_dict().items():
        assert torch.equal(value, fused.network.state_dict()[name]), name
    metrics = json.loads((trained / "fuse" / "metrics.json").read_text())
    assert set(metrics["metric"]["fused"]) == {"rgb", "nir", "thr"}


def test_calibrate_rewrites_only_batchnorm_statistics_and_records_its_command(trained, tmp_path):
    shutil.copytree(trained / "align", tmp_path / "align")
    train_main(["calibrate", "--config", str(CONFIGS / "msynth-align.yaml"), *tiny(tmp_path, "align"),
                "--set", "calibration_batches=2", "--set", f"data.cache_root={trained / 'cache'}"])
    before, old = load_checkpoint(trained / "align")
    after, new = load_checkpoint(tmp_path / "align")
    assert new["command"] == old["command"]
    assert new["calibration_command"].startswith("python -m train calibrate --config")
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    for name, value in before.state_dict().items():
        if not name.endswith(statistics):
            assert torch.equal(value, after.state_dict()[name]), name
    shared_norm = after.network.necks[0][1]
    rgb, nir, thr = shared_norm.running_mean
    assert not torch.allclose(rgb, thr) and not torch.allclose(nir, thr)


def test_align_from_an_init_checkpoint_starts_from_its_weights(trained, tmp_path):
    train_main(["align", "--config", str(CONFIGS / "msynth-align.yaml"), *tiny(tmp_path, "continued", steps=1),
                *TINY_NETWORK, "--set", f"init_checkpoint={trained / 'align'}", "--set", "optim.lr=0.0",
                "--set", f"data.cache_root={trained / 'cache'}"])
    start, _ = load_checkpoint(trained / "align")
    continued, _ = load_checkpoint(tmp_path / "continued")
    for (name, before), after in zip(start.named_parameters(), continued.parameters()):
        assert torch.equal(before, after), name  # lr 0: the weights are the init checkpoint's


def test_resume_continues_from_the_saved_step(trained):
    args = ["align", "--config", str(CONFIGS / "msynth-align.yaml"), *tiny(trained, "align"), *TINY_NETWORK]
    train_main([*args, "--set", "optim.steps=5", "--resume"])
    assert log_steps(trained / "runs" / "align" / "log.csv") == [1, 2, 3, 4, 5]


def test_eval_prints_tables_and_targets(trained, capsys, tmp_path):
    config = tmp_path / "eval.yaml"
    config.write_text((CONFIGS / "msynth-eval.yaml").read_text())
    (trained / "checkpoints").mkdir(exist_ok=True)
    train_main(["eval", "--config", str(config), "--set", f"checkpoints=[{trained / 'align'},{trained / 'fuse'}]",
                "--set", "targets.model=" + str(trained / "fuse"), "--set", f"targets.compare=[{trained / 'align'}]",
                "--set", f"report={tmp_path / 'EVAL.md'}", "--set", "data.size=[64,160]", "--set", "data.scale=0.25",
                # A block of 4 seeds holds each condition once: 4 sequences and the fog one's 'clear'.
                "--set", "data.test.n_sequences=5", "--set", "data.test.frames_per_sequence=1",
                "--set", f"data.cache_root={trained / 'cache'}"])
    report = (tmp_path / "EVAL.md").read_text()
    median_scaled, metric = report.split("### median-scaled")[1].split("### metric")
    assert "| night AbsRel |" in metric and "| clear AbsRel |" in metric and "| mean AbsRel |" in median_scaled
    # Rows are named by the checkpoint's folder, as eval-real names them: no home path in a report.
    assert "| fuse | fused in RGB |" in metric and str(trained) not in report
    assert "AbsRel thermal at night / RGB by day" in report
    assert "AbsRel rise RGB on the fog scenes, without fog -> in fog" in report
    # Where fog costs: RGB's AbsRel by ground-truth depth band, its last column the condition's AbsRel.
    assert "| depth | scenes | 0 - 10 m | 10 - 20 m | 20 - 40 m | 40 - 80 m | all |" in report
    fog = json.loads((tmp_path / "EVAL.json").read_text())["fuse"]["metric"]["spectral"]["rgb"]["fog"]
    fog_row = next(line for line in report.splitlines() if line.startswith("| RGB alone | fog |"))
    assert fog_row == "| RGB alone | fog | " + " | ".join(
        f"{fog[f'abs_rel_{band}']:.3f}" for band in ("0-10m", "10-20m", "20-40m", "40-80m")) + f" | {fog['abs_rel']:.3f} |"
    # The compared checkpoint gets the same targets after the model's: align has no fused rows.
    compared = report.split("The same targets, read on align:")[1]
    assert "AbsRel rise RGB on the fog scenes" in compared and "fused (RGB anchor) vs RGB alone" not in compared
    assert "| fused, RGB anchor |" not in compared and "| RGB alone | fog |" in compared
    assert report.strip() in capsys.readouterr().out


def test_eval_feeds_each_checkpoint_at_the_input_size_it_was_trained_at(trained, tmp_path):
    small = tmp_path / "small"
    network = build_model(AlignFuseConfig(input_size=(32, 96))).eval()
    save_checkpoint(small, network, network.config)
    overrides = [f"checkpoints=[{trained / 'align'},{small}]", "targets=null", f"report={tmp_path / 'EVAL.md'}",
                 "data.scale=0.25", "data.test.n_sequences=2", "data.test.frames_per_sequence=1",
                 f"data.cache_root={trained / 'cache'}"]
    train_main(["eval", "--config", str(CONFIGS / "msynth-eval.yaml"), *[a for o in overrides for a in ("--set", o)]])
    assert "network input as trained: align 64 x 160, small 32 x 96;" in (tmp_path / "EVAL.md").read_text()
    data = load_config(CONFIGS / "msynth-eval.yaml", overrides, stage="eval").data
    own_size = evaluate_model(load_checkpoint(small)[0], dataclasses.replace(data, size=[32, 96]), 80.0, torch.device("cpu"),
                              show_progress=False)
    reported = json.loads((tmp_path / "EVAL.json").read_text())["small"]
    assert reported["metric"]["spectral"]["rgb"]["all"] == pytest.approx(own_size["metric"]["spectral"]["rgb"]["all"])


def test_flip_averaged_eval_says_so_and_scores_the_two_pass_depth(trained, tmp_path):
    overrides = [f"checkpoints=[{trained / 'fuse'}]", "targets=null", "data.scale=0.25", "data.test.n_sequences=2",
                 "data.test.frames_per_sequence=1", f"data.cache_root={trained / 'cache'}"]
    reports = {}
    for flip in ("false", "true"):
        report = tmp_path / f"EVAL-{flip}.md"
        train_main(["eval", "--config", str(CONFIGS / "msynth-eval.yaml"),
                    *[a for o in [*overrides, f"flip_average={flip}", f"report={report}"] for a in ("--set", o)]])
        reports[flip] = (report.read_text(), json.loads(report.with_suffix(".json").read_text())["fuse"])
    assert "averaged with its mirror" in reports["true"][0] and "averaged with its mirror" not in reports["false"][0]
    data = load_config(CONFIGS / "msynth-eval.yaml", overrides, stage="eval").data
    model = load_checkpoint(trained / "fuse")[0]
    averaged = evaluate_model(model, dataclasses.replace(data, size=list(model.input_size)), 80.0, torch.device("cpu"),
                              show_progress=False, flip_average=True)
    for flip, (_, results) in reports.items():
        same = results["metric"]["fused"]["rgb"]["all"] == pytest.approx(averaged["metric"]["fused"]["rgb"]["all"])
        assert same is (flip == "true")


def test_self_supervised_align_runs_on_neighbour_frames(tmp_path):
    train_main(["align", "--config", str(CONFIGS / "msynth-align-selfsup.yaml"), *tiny(tmp_path, "selfsup", steps=2), *TINY_NETWORK,
                "--set", "data.train.frames_per_sequence=4", "--set", "validate_every=0"])
    with (tmp_path / "runs" / "selfsup" / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(float(row["photometric"]) > 0 for row in rows)


def test_eval_on_the_validation_split_reads_val_scenes(trained, tmp_path):
    train_main(["eval", "--config", str(CONFIGS / "msynth-eval.yaml"), "--set", "split=val",
                "--set", f"checkpoints=[{trained / 'fuse'}]", "--set", "targets.model=" + str(trained / "fuse"),
                "--set", f"report={tmp_path / 'EVAL-val.md'}", "--set", "data.size=[64,160]",
                "--set", "data.scale=0.25", "--set", "data.val.n_sequences=4", "--set", "data.val.frames_per_sequence=1",
                "--set", f"data.cache_root={trained / 'cache'}"])
    report = (tmp_path / "EVAL-val.md").read_text()
    assert report.startswith("## MS-Synth val split (4 sequences x 1 frames")
    # The val split holds no 'clear' scenes, so it has no fog row, while its other targets stand.
    assert "AbsRel thermal at night / RGB by day" in report and "AbsRel rise RGB" not in report
    assert "AbsRel by ground-truth depth" not in report
    # The shipped config's compared checkpoint was not evaluated here: no report for it.
    assert "The same targets, read on" not in report
    rendered = json.loads((trained / "cache" / "msynth-val-4x1-s0.25" / "cache.json").read_text())
    assert rendered["split"] == "val"
