"""Models in and depth out: the shipped checkpoints, loading once per process, and one
network pass over a batch (``infer_batch``), the only place the service and both evaluations
(`train eval`, `train eval-real`) call a depth network."""
from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Collection
from pathlib import Path

import torch

from core.data.dataset import collate_frames, frame_to_item, resize_frame
from core.data.frame import Frame
from core.inference.errors import InputError
from core.models import (MODES, CheckpointError, DepthInference, DepthModel, FusionUnsupported, load_checkpoint,
                         prepare_for_inference, registry)
from core.models.checkpoint import ConfigLimits
# What a studio's users may load: the shipped checkpoints, the names an operator lists in
# SPECTRADEPTH_MODELS (comma-separated folders or Hub ids) and, only where the operator sets
# SPECTRADEPTH_ALLOW_CUSTOM_MODELS=1 (or `python -m app --allow-custom-models`), any other.
from core.settings import (CHECKPOINTS_DIR, CUSTOM_MODELS_ENV, EXTRA_MODELS_ENV, custom_models_allowed,
                           extra_models)

# The studio's model, and its Teacher vs student pair: named once, in core/models/registry.py.
DEFAULT_CHECKPOINT = registry.the_model("default")
DEFAULT_TEACHER = registry.the_model("teacher")
DEFAULT_STUDENT = registry.the_model("student")
SERVICE_LIMITS = ConfigLimits()
MAX_MESSAGE_CHARS = 300


def list_checkpoints(root: Path = CHECKPOINTS_DIR) -> list[str]:
    """Names of the checkpoint folders shipped in ``checkpoints/``."""
    if not root.is_dir():
        return []
    # Depth models only: their config.json describes a "model"; built-in backbones' do not.
    return sorted(p.parent.name for p in root.glob("*/config.json") if "model" in json.loads(p.read_text()))


def model_choices() -> list[tuple[str, str]]:
    """(label, name) of every model a studio offers, for a picker: the shipped depth models (the
    default first, then by role, labelled 'Default · fused align-and-fuse (RGB/NIR/thermal)'),
    then the operator's, labelled by their own name."""
    shipped = [(model.choice_label, model.name) for model in registry.depth_models()]
    names = {name for _, name in shipped}
    return shipped + [(name, name) for name in extra_models() if name not in names]


def allowed_models() -> list[str]:
    """The names of the models a studio offers, in ``model_choices``' order."""
    return [name for _, name in model_choices()]


def _shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def check_model_choice(name: object) -> str:
    """The model a studio user asked for, if they may load it; else InputError in words. Never
    touches the file system for a refused name, so a probe learns nothing about the server."""
    if not isinstance(name, str) or not name.strip():
        raise InputError("choose a model")
    name = name.strip()
    if name in allowed_models() or custom_models_allowed():
        return name
    raise InputError(f"model {name[:80]!r} is not offered here: choose one from the list (a self-hosted studio "
                     f"can offer others: {EXTRA_MODELS_ENV}, or {CUSTOM_MODELS_ENV}=1)")


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.lru_cache(maxsize=4)
def load_model(name_or_path: str) -> tuple[DepthModel, dict]:
    """(model, config.json) from checkpoints/<name>, any folder, or a Hub repo id; loaded once,
    prepared for inference (BatchNorm folded, channels-last weights). The config is checked
    against SERVICE_LIMITS before anything is built; errors name the checkpoint as asked for,
    never the server folder it lives in, and stay short."""
    local = CHECKPOINTS_DIR / name_or_path
    try:
        model, description = load_checkpoint(local if local.is_dir() else name_or_path, map_location=device(),
                                              limits=SERVICE_LIMITS, label=name_or_path)
    except CheckpointError as err:
        raise InputError(_shorten(str(err))) from err
    return prepare_for_inference(model), description


def can_fuse(name_or_path: str) -> bool:
    """Whether a checkpoint has a fusion module (loading it once, as every later call will)."""
    return load_model(name_or_path)[0].supports_fusion


def model_summary(name_or_path: str) -> str:
    """One line on a checkpoint: architecture, parameters and, for a teacher, its backbones."""
    model, description = load_model(name_or_path)
    parameters = description.get("parameters", {})
    text = f"`{name_or_path}`: {model.config.architecture}, {parameters.get('total', 0) / 1e6:.2f} M parameters"
    sources = [backbone.source for backbone in model.frozen_backbones().values()]
    if sources:
        text += f" ({parameters.get('frozen_backbones', 0) / 1e6:.2f} M in frozen backbones: {'; '.join(sources)})"
    return text


def infer_batch(model: DepthModel, batch: dict, spectra: Collection[str], mode: str, anchor: str | None = None,
                flip_average: bool = False) -> DepthInference:
    """Depth of ``mode`` from the ``spectra`` of a collated batch (``collate_frames`` of items at the
    model's input size, on the model's device); ``DepthModel.infer`` says what the arguments mean."""
    images, K, T = ({s: batch[f"{key}/{s}"] for s in spectra} for key in ("image", "K", "T_rig_cam"))
    return model.infer(images, K, T, mode=mode, anchor=anchor, flip_average=flip_average)


def run_model(frame: Frame, model_name: str, mode: str, anchor: str | None = None,
              spectra: Collection[str] | None = None, flip_average: bool = False) -> tuple[DepthInference, dict]:
    """(depth at the model's input size per output, config.json) for ``frame``: 'spectral'
    (each spectrum alone), 'fused' (all spectra used, in the anchor the model chooses from
    ``anchor``) or 'both'. ``spectra`` limits the inputs (default: all the frame has that the
    model takes); ``flip_average`` averages each output with its mirror's (``DepthModel.infer``).
    Timings include 'preprocess' (resizing the raw images to the input size)."""
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}: use one of {', '.join(map(repr, MODES))}")
    model, description = load_model(model_name)
    used = [s for s in frame.spectra if s in model.spectra and (spectra is None or s in spectra)]
    if not used:
        raise InputError(f"{model_name} takes {', '.join(model.spectra)}; the frame has none of them")
    start = time.perf_counter()
    small = resize_frame(dataclasses.replace(frame, depth={}, classes={}), model.input_size)
    batch = {k: v.to(device()) if isinstance(v, torch.Tensor) else v
             for k, v in collate_frames([frame_to_item(small)]).items()}
    preprocess_ms = (time.perf_counter() - start) * 1000
    try:
        result = infer_batch(model, batch, used, mode, anchor, flip_average)
    except FusionUnsupported as err:
        raise InputError(f"{model_name} has no fusion module; pick a fusion checkpoint or spectral-wise mode") from err
    result.depth = {output: depth.cpu() for output, depth in result.depth.items()}
    result.timings_ms = {"preprocess": preprocess_ms, **result.timings_ms}
    return result, description
