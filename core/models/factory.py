"""The one factory: ``build_model(config)``, and what is reported about a built model.

An architecture is a (config dataclass, model class) pair in ``ARCHITECTURES``; configs
round-trip through plain dicts (``to_dict`` / ``config_from_dict``), which is what a
checkpoint's config.json stores. Every model class is a ``DepthModel``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
import torch.nn as nn

from core.models.align_fuse import AlignFuseConfig, AlignFuseModel
from core.models.depthnet import DepthNetConfig
from core.models.interface import DepthModel
from core.models.spectral_batchnorm import SpectralConv2d, fold_batchnorm
from core.models.student import StudentConfig, VFMStudent
from core.models.teacher import TeacherConfig, VFMTeacher


ARCHITECTURES: dict[str, tuple[type[DepthNetConfig], type[DepthModel]]] = {
    "align_fuse": (AlignFuseConfig, AlignFuseModel),
    "vfm_teacher": (TeacherConfig, VFMTeacher),
    "vfm_student": (StudentConfig, VFMStudent),
}


def config_from_dict(values: Mapping) -> DepthNetConfig:
    """The config dataclass of ``values['architecture']``; unknown keys are an error."""
    architecture = values.get("architecture")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}")
    config_class = ARCHITECTURES[architecture][0]
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {architecture} config keys {sorted(unknown)}")
    return config_class(**values)


def build_model(config: DepthNetConfig | Mapping, dependencies: Mapping[str, nn.Module] | None = None) -> DepthModel:
    """The model for ``config`` (a config dataclass or its dict), with fresh weights.

    ``dependencies``: what the model needs from outside its checkpoint (the teacher's frozen
    backbones); by default loaded as the config names them (``DepthModel.load_dependencies``).
    """
    if isinstance(config, Mapping):
        config = config_from_dict(config)
    model_class = ARCHITECTURES[config.architecture][1]
    if dependencies is None:
        dependencies = model_class.load_dependencies(config)
    return model_class(config, **dependencies)


def prepare_for_inference(model: DepthModel) -> DepthModel:
    """The model as the studio runs it, in place: in eval mode, BatchNorm folded into the
    convolutions (``fold_batchnorm``) and 4-D weights in channels-last memory format.

    Both change speed, not results (equal to float rounding). Channels-last lets convolutions
    run in oneDNN's (and cuDNN's) preferred layout without converting the inputs.
    ``bench_teacher_student`` times the prepared models beside the trained ones as loaded.
    Parameter counts belong to the model before this (a spectral BatchNorm folds into one
    convolution per spectrum).
    """
    return fold_batchnorm(model.eval()).to(memory_format=torch.channels_last)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def parameter_report(model: nn.Module) -> dict[str, int]:
    """Parameter counts: the total and the parts that matter for each architecture.

    AlignFuseModel: ``one_spectral_network`` is what a single-spectrum network would need
    (the shared trunk plus one stem, the largest); ``three_separate_networks`` is one such
    network per spectrum, the spectral-wise alternative to sharing. VFMTeacher: the frozen
    backbones apart from what it trains. VFMStudent: ``inference`` leaves out the
    feature-imitation projections, which serve training only.
    """
    if any(isinstance(m, SpectralConv2d) for m in model.modules()):
        raise ValueError("this model was prepared for inference, which folds BatchNorm into one convolution per "
                         "spectrum: count the parameters of the trained model instead")
    total = count_parameters(model)
    if isinstance(model, VFMTeacher):
        backbones = count_parameters(model.clip) + count_parameters(model.dino)
        return {"total": total, "frozen_backbones": backbones, "trained": total - backbones}
    if isinstance(model, VFMStudent):
        projections = count_parameters(model.imitation)
        return {"total": total, "inference": total - projections, "imitation_projections": projections}
    if not isinstance(model, AlignFuseModel):
        return {"total": total}
    network = model.network
    stems = {s: count_parameters(stem) for s, stem in network.stems.items()}
    trunk = count_parameters(network) - sum(stems.values())
    fusion = count_parameters(model.fusion) if model.fusion is not None else 0
    return {"trunk": trunk, "stems": sum(stems.values()), "network": count_parameters(network),
            "fusion": fusion, "total": count_parameters(model),
            "one_spectral_network": trunk + max(stems.values()),
            "three_separate_networks": sum(trunk + stems[s] for s in stems)}
