"""Backbones by spec string: '<kind>:<target>', one loader per kind.

    clip:ViT-B-32/openai                 open_clip architecture / pretrained tag
    clip:ViT-B-16//abs/path/weights.pt   open_clip architecture / weights file
    clip:/path/to/folder                 open_clip_config.json + weights (or weights of ViT-B-32)
    clip:hf-hub:org/repo                 an open_clip repo on the Hugging Face Hub
    dino:facebook/dinov2-small           a transformers DINOv2 repo id
    dino:/path/to/folder                 a DINOv2 ``save_pretrained`` folder
    builtin:clip, builtin:dino           the built-in offline backbones in checkpoints/

New kinds of backbone register a loader in ``BACKBONE_LOADERS``: a function
(target, device) -> VFMBackbone.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from core.models.vfm.base import BackboneUnavailable, VFMBackbone, existing_path, looks_like_path
from core.models.vfm.builtin import BUILTIN_FOLDERS, load_builtin
from core.models.vfm.clip import HF_HUB_PREFIX, load_clip
from core.models.vfm.dino import load_dino

BackboneLoader = Callable[[str, "str | torch.device"], VFMBackbone]


def _clip_from_spec(target: str, device: str | torch.device) -> VFMBackbone:
    path = existing_path(target)
    if path is not None and path.is_file():
        raise ValueError(f"a CLIP weights file needs its architecture: 'clip:ViT-B-32/{target}'")
    if path is not None or looks_like_path(target):
        return load_clip(local_dir=target, device=device)
    if target.startswith(HF_HUB_PREFIX):
        return load_clip(target, device=device)
    model_name, _, pretrained = target.partition("/")
    if not pretrained:
        raise ValueError(f"CLIP spec {target!r} names no weights: use 'clip:{target}/<tag>' (e.g. "
                         f"'clip:ViT-B-32/openai'), 'clip:/path/to/folder' or 'clip:hf-hub:org/repo'")
    return load_clip(model_name, pretrained, device=device)


def _dino_from_spec(target: str, device: str | torch.device) -> VFMBackbone:
    return load_dino(target, device=device)


BACKBONE_LOADERS: dict[str, BackboneLoader] = {
    "clip": _clip_from_spec,
    "dino": _dino_from_spec,
    "builtin": load_builtin,
}


def load_backbone(spec: str, device: str | torch.device = "cpu") -> VFMBackbone:
    """A backbone from a spec such as 'clip:ViT-B-32/openai' or 'dino:/path/to/folder'.

    Raises ValueError for a malformed spec and BackboneUnavailable when the weights are
    neither on this machine nor downloadable now.
    """
    kind, separator, target = spec.partition(":")
    if not separator or not target or kind not in BACKBONE_LOADERS:
        raise ValueError(f"backbone spec {spec!r} must be '<kind>:<target>' with kind one of "
                         f"{', '.join(sorted(BACKBONE_LOADERS))} (e.g. 'clip:ViT-B-32/openai', "
                         f"'dino:facebook/dinov2-small')")
    return BACKBONE_LOADERS[kind](target, device)


def load_backbone_or_builtin(spec: str, device: str | torch.device = "cpu") -> tuple[VFMBackbone, str]:
    """(backbone, status line for users): the backbone ``spec`` names when it can be loaded,
    else the built-in one of the same kind, with the reason said plainly."""
    kind = spec.partition(":")[0]
    try:
        backbone = load_backbone(spec, device)
        return backbone, f"{backbone.kind.upper()}: {backbone.source}"
    except BackboneUnavailable as err:
        if kind not in BUILTIN_FOLDERS:
            raise
        backbone = load_builtin(kind, device)
        return backbone, f"{kind.upper()}: {spec} could not be loaded ({err}); serving the {backbone.source} instead"
