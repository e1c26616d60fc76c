"""core/models/registry.py is the one list of shipped models: checkpoints/, the studios' defaults and
choices, the evaluation configs and reports all agree with it."""
import json
from pathlib import Path

import pytest
import yaml

from core import inference
from core.models import registry
from train.config import load_config

REPO = Path(__file__).resolve().parents[1]
CHECKPOINTS = REPO / "checkpoints"
CONFIGS = REPO / "train" / "configs"
ARCHITECTURE_OF_ROLE = {"default": "align_fuse", "teacher": "vfm_teacher", "student": "vfm_student"}
MAX_DEPTH_MODELS = 10
MAX_CHECKPOINT_BYTES = 60 * 2**20


def test_checkpoints_holds_the_registered_models_and_nothing_else():
    folders = {p.name for p in CHECKPOINTS.iterdir() if p.is_dir()}
    assert folders == {model.name for model in registry.MODELS}
    assert len(registry.depth_models()) <= MAX_DEPTH_MODELS
    assert sum(p.stat().st_size for p in CHECKPOINTS.rglob("*") if p.is_file()) <= MAX_CHECKPOINT_BYTES


@pytest.mark.parametrize("model", registry.MODELS, ids=lambda m: m.name)
def test_each_model_was_trained_by_its_registered_config(model):
    assert (REPO / model.config).is_file()
    record = CHECKPOINTS / model.name / ("config.json" if model.is_depth_model else "training.json")
    description = json.loads(record.read_text())
    assert f"--config {model.config} " in description["command"] + " "
    if model.role in ARCHITECTURE_OF_ROLE:
        assert description["architecture"] == ARCHITECTURE_OF_ROLE[model.role]
    if model.role == "default":
        assert description["model"]["fusion"]
    assert model.label and model.description.endswith(".") and "\n" not in model.description


def test_roles_are_known_and_controls_name_shipped_models():
    assert {model.role for model in registry.MODELS} <= set(registry.ROLE_LABELS)
    names = {model.name for model in registry.MODELS}
    for model in registry.MODELS:
        assert (model.role == "control") == bool(model.control_of)
        assert not model.control_of or model.control_of in names
    with pytest.raises(KeyError):
        registry.registered("msynth-align")
    with pytest.raises(ValueError):
        registry.the_model("ablation")


def test_the_defaults_come_from_the_registry():
    assert inference.DEFAULT_CHECKPOINT == registry.the_model("default") == "msynth-fuse-texture-cycle2"
    assert inference.DEFAULT_TEACHER == registry.the_model("teacher")
    assert inference.DEFAULT_STUDENT == registry.the_model("student")


def test_model_choices_put_the_default_first_then_group_by_role(monkeypatch):
    monkeypatch.delenv(inference.EXTRA_MODELS_ENV, raising=False)
    choices = inference.model_choices()
    assert choices[0] == ("Default · fused align-and-fuse (RGB/NIR/thermal)", inference.DEFAULT_CHECKPOINT)
    roles = [registry.registered(name).role for _, name in choices]
    assert roles == sorted(roles, key=list(registry.ROLE_LABELS).index)
    assert "backbone" not in roles and len({label for label, _ in choices}) == len(choices)
    assert [name for _, name in choices] == inference.allowed_models()
    assert {name for _, name in choices} == {model.name for model in registry.depth_models()}


def test_operator_models_follow_the_shipped_ones_labelled_by_name(monkeypatch):
    monkeypatch.setenv(inference.EXTRA_MODELS_ENV, f"org/depth-model, {inference.DEFAULT_STUDENT}")
    choices = inference.model_choices()
    assert choices[-1] == ("org/depth-model", "org/depth-model")
    assert [name for _, name in choices].count(inference.DEFAULT_STUDENT) == 1
    assert inference.check_model_choice("org/depth-model") == "org/depth-model"


@pytest.mark.parametrize("config_name, report", [("msynth-eval.yaml", "EVAL.md"),
                                                 ("msynth-distill-eval.yaml", "EVAL-distill.md"),
                                                 ("real-eval.yaml", "EVAL-real.md")])
def test_evaluation_configs_and_reports_hold_the_registered_models(config_name, report):
    assert "checkpoints" not in yaml.safe_load((CONFIGS / config_name).read_text())
    config = load_config(CONFIGS / config_name)
    assert config.checkpoints == registry.evaluated_in(report)
    assert Path(config.report).name == report
    figures = json.loads((CHECKPOINTS / report).with_suffix(".json").read_text())
    rows = list(figures["results"]["metric"])[2:] if "results" in figures else list(figures)  # eval-real: floors first
    assert rows == registry.evaluated_in(report)
    text = (CHECKPOINTS / report).read_text()
    for name in rows:
        assert f"| {name} |" in text


def test_an_explicit_checkpoint_list_overrides_the_registry():
    config = load_config(CONFIGS / "msynth-eval.yaml", ["checkpoints=[msynth-fuse]"])
    assert config.checkpoints == ["msynth-fuse"]
