"""The shipped checkpoints were trained with the configs in train/configs, as the README says."""
import dataclasses
import json
from pathlib import Path

import pytest

from core import inference
from core.models import registry
from train.config import STAGE_CONFIGS, config_record, filled, load_config

REPO = Path(__file__).resolve().parents[1]
CHECKPOINTS = REPO / "checkpoints"
CONFIGS = REPO / "train" / "configs"

# Where a run was written and which folders it started from: the same weights wherever they lie.
# Its name only labels the progress bar (a cycle run from an earlier cycle's config with --set
# keeps that config's name). Render workers change how fast a cache is rendered, not what it holds;
# MS-Synth reads no MS2 split lists (their default names changed with MS2's test_rainy_list.txt).
NOT_TRAINING = {"name", "out", "run_dir", "align_checkpoint", "init_checkpoint", "teacher_checkpoint"}


def as_trained_data(data: dict) -> dict:
    data = {key: value for key, value in data.items() if key != "render_workers"}
    if data["dataset"] == "msynth":
        data |= {split: {k: v for k, v in data[split].items() if k != "lists"} for split in ("train", "val", "test")}
    return data


def without_locations(config: dict) -> dict:
    config = {key: value for key, value in config.items() if key not in NOT_TRAINING}
    config["data"] = as_trained_data(config["data"])
    return config


def differences(expected, actual, path: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        return [line for key in sorted(set(expected) | set(actual))
                for line in differences(expected.get(key), actual.get(key), f"{path}.{key}")]
    return [] if expected == actual else [f"{path}: config {expected!r}, trained with {actual!r}"]


def shipped(pattern: str) -> list[Path]:
    folders = sorted(p for p in CHECKPOINTS.glob(pattern) if p.is_dir())
    assert folders, f"no checkpoints/{pattern}"
    return folders


@pytest.mark.parametrize("folder", shipped("msynth-*"), ids=lambda p: p.name)
def test_each_depth_checkpoint_was_trained_with_its_config(folder):
    description = json.loads((folder / "config.json").read_text())
    # Completed with today's defaults: a key added after the run defaults to what the run did.
    recorded = dataclasses.asdict(filled(STAGE_CONFIGS[description["training_config"]["stage"]](),
                                         description["training_config"], ""))
    config = config_record(load_config(CONFIGS / f"{folder.name}.yaml", stage=recorded["stage"]))
    assert differences(without_locations(config), without_locations(recorded)) == []


@pytest.mark.parametrize("folder", shipped("builtin-*"), ids=lambda p: p.name)
def test_each_builtin_backbone_was_trained_on_its_configs_data(folder):
    record = json.loads((folder / "training.json").read_text())
    recipe = registry.registered(folder.name).config
    config = config_record(load_config(REPO / recipe, stage="pretrain-vfm"))
    assert record["command"].startswith(f"python -m train pretrain-vfm --config {recipe}")
    assert differences(as_trained_data(config["data"]), as_trained_data(record["training_data"])) == []


def test_the_studios_defaults_are_shipped_checkpoints_of_their_kind():
    architectures = {name: json.loads((CHECKPOINTS / name / "config.json").read_text())["architecture"]
                     for name in (inference.DEFAULT_CHECKPOINT, inference.DEFAULT_TEACHER, inference.DEFAULT_STUDENT)}
    assert architectures == {inference.DEFAULT_CHECKPOINT: "align_fuse", inference.DEFAULT_TEACHER: "vfm_teacher",
                             inference.DEFAULT_STUDENT: "vfm_student"}


def test_the_eval_targets_read_the_studios_defaults_and_evaluate_them():
    def eval_config(name: str) -> dict:
        return config_record(load_config(CONFIGS / name))

    fuse, distill, real = (eval_config(n) for n in ("msynth-eval.yaml", "msynth-distill-eval.yaml", "real-eval.yaml"))
    assert fuse["targets"]["model"] == inference.DEFAULT_CHECKPOINT
    assert (distill["targets"]["teacher"], distill["targets"]["student"]) == (inference.DEFAULT_TEACHER,
                                                                              inference.DEFAULT_STUDENT)
    assert real["targets"]["default"] == inference.DEFAULT_CHECKPOINT
    assert {inference.DEFAULT_TEACHER, inference.DEFAULT_STUDENT} <= set(real["targets"]["below_flat_road"])
    def teachers_and_controls(targets: dict) -> list[str]:
        return [name for pair in targets["teacher_controls"] for name in pair]

    distill_names = [v for k, v in distill["targets"].items() if k not in ("kind", "teacher_controls")]
    for config, names in ((fuse, [fuse["targets"]["model"]]),
                          (distill, [*distill_names, *teachers_and_controls(distill["targets"])]),
                          (real, [real["targets"]["default"], *real["targets"]["below_flat_road"],
                                  *teachers_and_controls(real["targets"])])):
        assert set(names) <= set(config["checkpoints"])
