"""Training configs: YAML files in train/configs/ with ``--set key.sub=value`` overrides, checked
against one typed declaration per stage.

Every option is declared once below, with its default. A config names its stage
(``stage: align``); unknown keys and typos are refused with the nearest valid name, values of
the wrong type are refused, and the loaded config is the stage's dataclass with every default
filled in (``config_record`` gives it as the plain dict a checkpoint keeps, so the record says
exactly what ran).

An experiment states only what it changes: ``base: msynth-align.yaml`` (a path relative to the
file) loads that config first and deep-merges this file's keys over it (mappings merge key by
key; any other value, lists included, replaces the base's). Bases may have bases of their own.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.data.dataset import DEFAULT_CROP_SCALE
from core.data.frame import SPECTRA
from core.data.ms2 import MS2_TEST_LISTS
from core.models import registry
from core.models.factory import ARCHITECTURES, AlignFuseConfig
from core.models.student import StudentConfig
from core.models.teacher import TeacherConfig

DATASETS = ("msynth", "ms2")
PRECISIONS = ("bf16", "fp32")  # bf16: autocast on CUDA; fp32: none (the reference trains fp32)
TRAINING_STAGES = ("align", "fuse", "teacher", "distill", "pretrain-vfm")


class ConfigError(ValueError):
    """A config that names an unknown option or gives an option a value of the wrong type."""


# --- data ------------------------------------------------------------------------------

@dataclass
class SplitConfig:
    """One split. MS-Synth renders ``n_sequences`` x ``frames_per_sequence`` frames (of
    ``conditions``; None: all, balanced). MS2 reads the sequences named in ``lists`` (split
    files at the dataset root; a test list's condition is in its name, test_<condition>_list.txt;
    MS2's test_rainy_list.txt is 'rain'). ``sampling_step`` k keeps the frames the reference
    keeps (``MS2Source``: ``[0:-1:k]`` over each list's frames); None: the dataset's default
    (MS2 as the reference: validation 3, test 10; otherwise 1)."""

    n_sequences: int = 0
    frames_per_sequence: int = 4
    conditions: list[str] | None = None
    lists: list[str] = field(default_factory=list)
    sampling_step: int | None = None


@dataclass
class DataConfig:
    """``dataset``: msynth (rendered once into an MS2-layout cache under ``cache_root``) or
    ms2 (a real MS2 root at ``root``). ``size`` is the network input (height, width);
    ``scale`` the MS-Synth render scale; ``trust_pickled_calib`` lets MS2's pickled calib.npy
    be read (a pickle can run code: convert once with ``python -m core.data.ms2 convert-calib``
    instead). ``neighbours`` adds neighbouring frames for self-supervised losses.
    ``photometric`` is the training augmentation's strength: basic (brightness, contrast,
    saturation) or strong (also gamma, gains, blur, noise; for transfer to real images).
    ``randomised`` is the share of MS-Synth training sequences rendered in the
    domain-randomised appearance (random textures, colours and lights per object);
    ``render_workers`` the processes that render an MS-Synth cache; ``crop_scale`` the largest
    enlargement of the training scale-crop; ``zoom_scales_depth`` shrinks the world with it, so
    depth labels stay consistent with apparent size (FrameDataset)."""

    dataset: str = "msynth"
    root: str | None = None
    trust_pickled_calib: bool = False
    spectra: list[str] = field(default_factory=lambda: list(SPECTRA))
    size: list[int] = field(default_factory=lambda: [128, 320])
    scale: float = 0.5
    seed: int = 0
    cache_root: str | None = None
    neighbours: list[int] = field(default_factory=list)
    photometric: str = "basic"
    randomised: float = 0.0
    render_workers: int = 1
    crop_scale: float = DEFAULT_CROP_SCALE
    zoom_scales_depth: bool = False
    train: SplitConfig = field(default_factory=lambda: SplitConfig(320, 8, lists=["train_list.txt"]))
    val: SplitConfig = field(default_factory=lambda: SplitConfig(40, 4, lists=["val_list.txt"]))
    test: SplitConfig = field(default_factory=lambda: SplitConfig(
        48, 4, lists=list(MS2_TEST_LISTS)))


@dataclass
class OptimConfig:
    """AdamW with cosine warm restarts every ``restart_steps`` (None: one cycle over ``steps``).
    ``batch_size`` is per process; a step adds the gradients of ``accumulate`` batches. ``lr`` is
    meant for a global batch of ``lr_global_batch`` frames and scaled linearly to the run's
    (processes x batch_size x accumulate); None: used as given, whatever the global batch."""

    batch_size: int = 8
    accumulate: int = 1
    lr_global_batch: int | None = None
    steps: int = 1500
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    restart_steps: int | None = None
    clip_grad: float = 1.0


# --- losses per stage --------------------------------------------------------------------

@dataclass
class TextureSwapLoss:
    """The input texture swap of the stages that train a depth network on ground truth (align,
    teacher): each spectrum's input is texture-swapped with ``p_texture_swap`` (its texture scaled
    by a gain from ``texture_gain_range``) while its ground truth stays: depth must come from
    structure. 0 draws nothing, so runs from before these keys repeat exactly."""

    p_texture_swap: float = 0.0
    texture_gain_range: list[float] = field(default_factory=lambda: [1.0, 1.0])


@dataclass
class AlignLoss(TextureSwapLoss):
    supervised: str = "silog"
    w_supervised: float = 1.0
    w_photometric: float = 0.0
    w_smoothness: float = 1.0e-3
    w_contrastive: float = 0.01
    w_global: float = 0.5
    w_local: float = 0.5
    local_level: int = 2
    local_samples: int = 256
    anchor: str = "thr"
    query: str = "rgb"
    w_consistency: float = 0.5


@dataclass
class FuseLoss:
    supervised: str = "silog"
    drop_probability: float = 0.3


@dataclass
class TeacherLoss(TextureSwapLoss):
    supervised: str = "silog"
    w_regression: float = 0.5
    w_bins: float = 0.5


@dataclass
class DistillLoss:
    supervised: str = "silog"
    w_supervised: float = 0.5
    w_depth: float = 1.0
    w_feature: float = 0.1
    w_bins: float = 0.5
    w_graph: float = 1.0
    graph_regions: list[int] = field(default_factory=lambda: [4, 8])
    graph_temperature: float = 0.1
    p_texture_robust: float = 0.5
    # The texture swap's per-image texture gain: [1, 1] keeps the strength (and draws nothing, so
    # runs from before this key repeat exactly); [0, 3] also removes or amplifies texture.
    texture_gain_range: list[float] = field(default_factory=lambda: [1.0, 1.0])


@dataclass
class DinoHeadConfig:
    hidden_dim: int = 512
    bottleneck_dim: int = 128
    prototypes: int = 512


@dataclass
class DinoPretrainConfig:
    head: DinoHeadConfig = field(default_factory=DinoHeadConfig)
    global_scale: list[float] = field(default_factory=lambda: [0.35, 1.0])
    local_scale: list[float] = field(default_factory=lambda: [0.08, 0.35])
    local_crops: int = 4
    student_temperature: float = 0.1
    teacher_temperature: float = 0.04
    center_momentum: float = 0.9
    teacher_momentum: float = 0.99


@dataclass
class ClipLanguageConfig:
    """The built-in CLIP's dense language alignment beside its caption loss: ``w_class`` weighs
    each patch against the class prompts (its majority class), ``w_distance`` against the
    distance words (its median depth); ``min_share``: the share of a patch's pixels a class, or
    valid depth, must hold for the patch to take part. Zero weights: captions alone."""

    w_class: float = 0.0
    w_distance: float = 0.0
    min_share: float = 0.5


# --- stages ------------------------------------------------------------------------------

@dataclass
class TrainingConfig:
    """What every training stage shares. ``validate_every``: steps between evaluations on the
    validation split (0: only at the end); the checkpoint written is the best on validation.
    ``num_workers``: data-loading processes per training process.
    ``ddp_find_unused_parameters``: only stages whose step leaves parameters unused (one
    spectrum per step) need DDP's search for them. ``ddp_timeout_minutes``: how long a rank waits
    at a collective for the others before the run stops. ``precision``: bf16 (autocast on CUDA) or
    fp32 (as the reference trains); geometry and depth heads are float32 in both."""

    stage: str = ""
    name: str = ""
    out: str = ""
    run_dir: str = ""
    seed: int = 0
    log_every: int = 10
    save_every: int = 100
    validate_every: int = 500
    num_workers: int = 2
    eval_max_depth: float = 80.0
    calibration_batches: int = 40
    ddp_find_unused_parameters: bool = False
    precision: str = "bf16"
    ddp_timeout_minutes: float = 30.0
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)


@dataclass
class AlignStageConfig(TrainingConfig):
    """``init_checkpoint``: continue from trained weights of the same configuration."""

    init_checkpoint: str | None = None
    model: dict = field(default_factory=lambda: {"architecture": "align_fuse"})
    loss: AlignLoss = field(default_factory=AlignLoss)


@dataclass
class FuseStageConfig(TrainingConfig):
    align_checkpoint: str = ""
    model: dict = field(default_factory=dict)
    loss: FuseLoss = field(default_factory=FuseLoss)
    ddp_find_unused_parameters: bool = True  # a dropped spectrum leaves its path unused


@dataclass
class TeacherStageConfig(TrainingConfig):
    align_checkpoint: str = ""
    model: dict = field(default_factory=dict)
    loss: TeacherLoss = field(default_factory=TeacherLoss)
    ddp_find_unused_parameters: bool = True  # one spectrum per step


@dataclass
class DistillStageConfig(TrainingConfig):
    """``init_checkpoint``: continue a trained student of the same configuration and teacher, so a
    schedule longer than one session's time runs as a chain of continued runs."""

    teacher_checkpoint: str = ""
    init_checkpoint: str | None = None
    model: dict = field(default_factory=dict)
    loss: DistillLoss = field(default_factory=DistillLoss)
    ddp_find_unused_parameters: bool = True  # one spectrum per step


@dataclass
class PretrainStageConfig(TrainingConfig):
    """``init_checkpoint``: a built-in backbone folder to continue training from."""

    backbone: str = "clip"
    init_checkpoint: str | None = None
    language: ClipLanguageConfig = field(default_factory=ClipLanguageConfig)
    dino: DinoPretrainConfig = field(default_factory=DinoPretrainConfig)
    validate_every: int = 0
    ddp_find_unused_parameters: bool = True  # DINO: one spectrum's crops per step


@dataclass
class EvalConfig:
    """``split``: test for reported numbers, val for design choices. ``flip_average``: every
    prediction averaged with its mirror's (``DepthModel.infer``). ``checkpoints``: the models to
    evaluate; where none are given, the shipped models whose figures core/models/registry.py
    places in ``registry_report`` (EVAL.md or EVAL-distill.md). ``targets``: the issues' targets
    to check (see train/targets.py), or null."""

    stage: str = "eval"
    split: str = "test"
    flip_average: bool = False
    checkpoints: list[str] = field(default_factory=list)
    registry_report: str = ""
    report: str = ""
    eval_max_depth: float = 80.0
    data: DataConfig = field(default_factory=DataConfig)
    targets: dict | None = None


@dataclass
class RealEvalConfig:
    """Real frames with sparse metric depth (the layout of ../shared/samples/kitti);
    ``flip_average`` as in EvalConfig. By default every shipped depth model, and the targets
    read on the registry's default, its network, teacher and student, and the teacher's control."""

    stage: str = "eval-real"
    frames: str = "../shared/samples/kitti"
    flip_average: bool = False
    checkpoints: list[str] = field(default_factory=lambda: registry.evaluated_in("EVAL-real.md"))
    report: str = "checkpoints/EVAL-real.md"
    max_depth: float = 80.0
    flat_road_height: float = 1.65
    flat_road_cap: float = 15.0
    # issue 15's targets: the default checkpoint's mean AbsRel, networks below the flat road, and each
    # teacher against its equal-training no-VFM control
    targets: dict | None = field(default_factory=lambda: {
        "default": registry.the_model("default"),
        "below_flat_road": [*(model.name for model in registry.with_role("network")), registry.the_model("teacher"),
                            registry.the_model("student")],
        "teacher_controls": [[registry.the_model("teacher"), control]
                             for control in registry.controls_of(registry.the_model("teacher"))]})


@dataclass
class LanguageEvalConfig:
    """CLIP's dense language on MS-Synth frames, per spectrum and condition: class prompt maps
    against the class masks (AUROC), distance words against the depth, caption retrieval.
    ``backbones``: label -> backbone spec (core.models.vfm.load_backbone); ``min_share`` as
    in training (ambiguous patches are not scored)."""

    stage: str = "eval-language"
    split: str = "test"
    backbones: dict[str, str] = field(default_factory=dict)
    report: str = "checkpoints/EVAL-language.md"
    min_share: float = 0.5
    batch_size: int = 8
    data: DataConfig = field(default_factory=DataConfig)
    targets: dict | None = None


StageConfig = (AlignStageConfig | FuseStageConfig | TeacherStageConfig | DistillStageConfig | PretrainStageConfig
               | EvalConfig | RealEvalConfig | LanguageEvalConfig)
STAGE_CONFIGS = {"align": AlignStageConfig, "fuse": FuseStageConfig, "teacher": TeacherStageConfig,
                 "distill": DistillStageConfig, "pretrain-vfm": PretrainStageConfig, "eval": EvalConfig,
                 "eval-real": RealEvalConfig, "eval-language": LanguageEvalConfig}
REQUIRED = {"align": ("name", "out", "run_dir"), "fuse": ("name", "out", "run_dir", "align_checkpoint"),
            "teacher": ("name", "out", "run_dir", "align_checkpoint"),
            "distill": ("name", "out", "run_dir", "teacher_checkpoint"),
            "pretrain-vfm": ("name", "out", "run_dir"), "eval": ("report", "checkpoints"),
            "eval-real": (), "eval-language": ("report", "backbones")}


# --- loading -----------------------------------------------------------------------------

BASE_KEY = "base"


def load_config(path: str | Path, overrides: list[str] | None = None, stage: str | None = None) -> StageConfig:
    """The config at ``path`` (merged over its bases) with ``overrides`` applied, checked and
    completed with defaults.

    ``stage``: the command's stage; the file's own ``stage`` key must agree with it ('calibrate'
    accepts any training stage's config). Raises ConfigError naming the bad key.
    """
    raw = merged_yaml(Path(path))
    declared = raw.get("stage") or (stage if stage != "calibrate" else None)
    for override in overrides or []:
        if declared == "eval" and training_only(override.partition("=")[0]):
            # scripts/train_ms2.sh hands every command the same options: eval has no use for these
            print(f"eval: ignoring {override} (a training option)")
            continue
        apply_override(raw, override)
    declared = raw.get("stage") or declared
    if declared not in STAGE_CONFIGS:
        raise ConfigError(f"{path}: 'stage' must be one of {', '.join(STAGE_CONFIGS)}, got {declared!r}")
    allowed = TRAINING_STAGES if stage == "calibrate" else (stage,)
    if stage is not None and declared not in allowed:
        raise ConfigError(f"{path} is a {declared!r} config; run it with `python -m train {declared}`")
    config = filled(STAGE_CONFIGS[declared](), {**raw, "stage": declared})
    if declared == "eval" and not config.checkpoints and config.registry_report:
        config.checkpoints = registry.evaluated_in(config.registry_report)
    missing = [key for key in REQUIRED[declared] if not getattr(config, key)]
    if missing:
        raise ConfigError(f"{path}: {', '.join(missing)} must be set")
    values = config_record(config)
    check_values(values, path)
    if "model" in values:
        check_model_keys(declared, values["model"], path)
    return config


def declares(config_class, dotted_key: str) -> bool:
    """Whether ``config_class`` (a dataclass) has the option ``a.b.c``."""
    head, _, rest = dotted_key.partition(".")
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    if head not in fields:
        return False
    if not rest:
        return True
    field_type = typing.get_type_hints(config_class)[head]
    return dataclasses.is_dataclass(field_type) and declares(field_type, rest)


def training_only(dotted_key: str) -> bool:
    """An option every training stage has and evaluation has not (optim.*, num_workers, ...)."""
    return declares(TrainingConfig, dotted_key) and not declares(EvalConfig, dotted_key)


def config_record(config) -> dict:
    """A loaded config as plain values (nested dicts and lists), as a checkpoint records it."""
    return dataclasses.asdict(config)


def merged_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """The YAML mapping at ``path`` deep-merged over its ``base`` (and that one's), without the
    ``base`` key."""
    path = path.resolve()
    if path in chain:
        raise ConfigError(f"{path}: its bases lead back to it ({' -> '.join(p.name for p in (*chain, path))})")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping, got {raw!r}")
    base = raw.pop(BASE_KEY, None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ConfigError(f"{path}: 'base' must be a config file's path relative to this one, got {base!r}")
    base_path = path.parent / base
    if not base_path.is_file():
        raise ConfigError(f"{path}: base config {base} not found beside it")
    return deep_merge(merged_yaml(base_path, (*chain, path)), raw)


def deep_merge(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` applied: mappings merge key by key, other values replace."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_override(config: dict, override: str) -> None:
    """``a.b.c=value``; the value is parsed as YAML (numbers, booleans, lists)."""
    key, sep, raw = override.partition("=")
    if not sep:
        raise ConfigError(f"override {override!r} is not key=value")
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part!r} is not a section")
    node[leaf] = yaml.safe_load(raw)


def filled(default, values: dict, prefix: str = ""):
    """``default`` (a dataclass instance) with ``values`` set, recursively; refuses unknown keys."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'the config'} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(type(default))
    names = [f.name for f in dataclasses.fields(default)]
    changes = {}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(unknown_key_message(prefix + str(key), key, names, prefix))
        current = getattr(default, key)
        if dataclasses.is_dataclass(current):
            changes[key] = filled(current, value, f"{prefix}{key}.")
        else:
            changes[key] = checked_value(value, hints[key], prefix + key)
    return dataclasses.replace(default, **changes)


def unknown_key_message(full_key: str, key: str, names: list[str], prefix: str) -> str:
    nearest = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
    hint = f"; did you mean '{prefix}{nearest[0]}'?" if nearest else f"; valid keys here: {', '.join(names)}"
    return f"unknown config key '{full_key}'{hint}"


def checked_value(value, annotation, key: str):
    """``value`` if it fits ``annotation`` (ints are accepted as floats); ConfigError otherwise."""
    if _fits(value, annotation):
        return float(value) if annotation is float else value
    raise ConfigError(f"config key '{key}' must be {_type_name(annotation)}, got {value!r}")


def _fits(value, annotation) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    return isinstance(value, origin or annotation)


def _type_name(annotation) -> str:
    return str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")


def check_model_keys(stage: str, model: dict, path: str | Path) -> None:
    """The model section names fields of the stage's model config (align: the architecture's;
    fuse, teacher, distill: overrides of the config built from their parent checkpoint)."""
    if stage == "align":
        architecture = model.get("architecture")
        if architecture not in ARCHITECTURES:
            raise ConfigError(f"{path}: model.architecture must be one of {sorted(ARCHITECTURES)}, "
                              f"got {architecture!r}")
        config_class = ARCHITECTURES[architecture][0]
    else:
        config_class = {"fuse": AlignFuseConfig, "teacher": TeacherConfig, "distill": StudentConfig}[stage]
    names = [f.name for f in dataclasses.fields(config_class)]
    for key in model:
        if key not in names:
            raise ConfigError(unknown_key_message(f"model.{key}", key, names, "model."))


def check_values(values: dict, path: str | Path) -> None:
    """Checks that span keys or bound a value: the dataset and its spectra, the texture gain's
    range, the texture swap's probability."""
    gain_range = values.get("loss", {}).get("texture_gain_range")
    if gain_range is not None and not (len(gain_range) == 2 and 0 <= gain_range[0] <= gain_range[1]):
        raise ConfigError(f"{path}: loss.texture_gain_range must be [low, high] with 0 <= low <= high, "
                          f"got {gain_range}")
    for key in ("p_texture_swap", "p_texture_robust"):
        probability = values.get("loss", {}).get(key)
        if probability is not None and not 0 <= probability <= 1:
            raise ConfigError(f"{path}: loss.{key} is a probability, between 0 and 1; got {probability}")
    optim = values.get("optim", {})
    if optim.get("accumulate", 1) < 1 or (optim.get("lr_global_batch") or 1) < 1:
        raise ConfigError(f"{path}: optim.accumulate and optim.lr_global_batch must be at least 1")
    if values.get("precision", "bf16") not in PRECISIONS:
        raise ConfigError(f"{path}: precision must be one of {', '.join(PRECISIONS)}, got {values['precision']!r}")
    data = values.get("data")
    if data is None:
        return
    if data["dataset"] not in DATASETS:
        raise ConfigError(f"{path}: data.dataset must be one of {', '.join(DATASETS)}, got {data['dataset']!r}")
    if data["dataset"] == "ms2" and not data["root"]:
        raise ConfigError(f"{path}: data.dataset is ms2: set data.root to the MS2 folder "
                          "(e.g. --set data.root=/data/MS2)")
    unknown = set(data["spectra"]) - set(SPECTRA)
    if unknown or not data["spectra"]:
        raise ConfigError(f"{path}: data.spectra must be a non-empty subset of {list(SPECTRA)}")
