"""Model configs and the one factory: ``build_model(config)``.

An architecture is a (config dataclass, model class) pair in ``ARCHITECTURES``; configs
round-trip through plain dicts (``to_dict`` / ``config_from_dict``), which is what a
checkpoint's config.json stores.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn

from core.data.frame import SPECTRA
from core.models.depthnet import DepthNetConfig
from core.models.fusion import FUSION_BASES, FusionModule, FusionOutput, unfused
from core.models.spectral_batchnorm import SpectralConv2d, fold_batchnorm
from core.models.student import StudentConfig, VFMStudent
from core.models.teacher import TeacherConfig, VFMTeacher


@dataclass(frozen=True)
class AlignFuseConfig(DepthNetConfig):
    """One depth network shared by all spectra, plus the attachable fusion module.

    level_widths None: the encoder's own widths (rounded up to even). The default narrows
    lcnet_100's deep levels (256, 512) to 128: the fusion module's Linear 2C -> C per level
    grows with C^2, and these widths keep it within 15 % of the network's parameters.
    ``input_size`` is the (height, width) the model is trained and benchmarked at; the
    network itself accepts any size. ``default_anchor`` is the fusion anchor when the caller
    names none (thermal, as in the reference, because it degrades least at night and in bad
    weather); when it is absent, the first spectrum present in rgb, nir, thr order anchors.
    """

    architecture: str = "align_fuse"
    fusion: bool = True
    fusion_geometry: bool = True
    fusion_heads: int = 2
    fusion_qk_dim: int = 16
    fusion_max_tokens: int = 640
    default_anchor: str = "thr"
    fusion_reference: str | None = None   # None: the anchor weighs the others; "thr": thermal does (FusionModule)
    fusion_base: str = "anchor"           # the residual's base: the anchor's features or the weighted mean

    def __post_init__(self) -> None:
        self.normalise("align_fuse")
        if self.default_anchor not in SPECTRA:
            raise ValueError(f"default_anchor must be one of {SPECTRA}, got {self.default_anchor!r}")
        if self.fusion_reference not in (None, *SPECTRA):
            raise ValueError(f"fusion_reference must be None or one of {SPECTRA}, got {self.fusion_reference!r}")
        if self.fusion_base not in FUSION_BASES:
            raise ValueError(f"fusion_base must be one of {FUSION_BASES}, got {self.fusion_base!r}")


class AlignFuseModel(nn.Module):
    """Spectral-wise depth for every spectrum given, and fused depth in an anchor's frame."""

    def __init__(self, config: AlignFuseConfig) -> None:
        super().__init__()
        self.config = config
        self.network = config.build_depth_net()
        self.fusion = FusionModule(self.network.level_widths, config.spectra, config.fusion_geometry,
                                   config.fusion_heads, config.fusion_qk_dim,
                                   config.fusion_max_tokens, config.fusion_reference,
                                   config.fusion_base) if config.fusion else None
        self.network_frozen = False

    def freeze_network(self) -> None:
        """Stage 2: the depth network stops learning and its BatchNorm statistics stay fixed."""
        self.network.requires_grad_(False)
        self.network_frozen = True
        self.network.eval()

    def train(self, mode: bool = True) -> "AlignFuseModel":
        super().train(mode)
        if self.network_frozen:
            self.network.eval()
        return self

    def choose_anchor(self, spectra: Collection[str], anchor: str | None = None) -> str:
        if not spectra:
            raise ValueError("no images given")
        if anchor is not None:
            if anchor not in spectra:
                raise ValueError(f"anchor {anchor!r} is not among the spectra given {sorted(spectra)}")
            return anchor
        if self.config.default_anchor in spectra:
            return self.config.default_anchor
        return next(s for s in SPECTRA if s in spectra)

    def forward(self, images: Mapping[str, torch.Tensor], K: Mapping[str, torch.Tensor] | None = None,
                T_rig_cam: Mapping[str, torch.Tensor] | None = None, anchor: str | None = None,
                fuse: bool = True) -> dict:
        """images: per spectrum present (any subset of the config's), float (B, C, H, W) in [0, 1];
        K (B, 3, 3) at each image's resolution and T_rig_cam (B, 4, 4): needed only to fuse
        with geometry. Returns
          depth:     {spectrum: (B, 1, H, W) metres}, spectral-wise
          features:  {spectrum: [(B, C_l, h_l, w_l)]}, spectral-wise encoder levels
        and when ``fuse`` (fused == spectral-wise when one spectrum is given):
          anchor, fused_depth (B, 1, H_a, W_a) metres in the anchor camera,
          fused_features [(B, C_l, h_l, w_l)], fusion_weights {spectrum: [(B, 1, h_l, w_l)]}.
        """
        features = {s: self.network.encode(image, s) for s, image in images.items()}
        depth = {s: self.network.decode(features[s], image.shape[-2:], s) for s, image in images.items()}
        out = {"depth": depth, "features": features}
        if fuse:
            anchor = self.choose_anchor(images, anchor)
            fusion = self._fuse(images, features, anchor, depth[anchor], K, T_rig_cam)
            out.update(anchor=anchor, fused_features=fusion.features, fusion_weights=fusion.weights,
                       fused_depth=self._decode_fused(fusion, anchor, depth[anchor], images[anchor].shape[-2:]))
        return out

    def spectral_depth(self, images: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each spectrum's depth (B, 1, H, W) from its image alone (the models' common call)."""
        return {s: self.network(image, s)["depth"] for s, image in images.items()}

    def predict_fused(self, images: Mapping[str, torch.Tensor], K: Mapping[str, torch.Tensor] | None = None,
                      T_rig_cam: Mapping[str, torch.Tensor] | None = None,
                      anchor: str | None = None) -> torch.Tensor:
        """Fused depth alone, computing no more than it needs: every encoder, the anchor's
        decoder when geometry is on (its depth guides the warp), fusion, the decoder."""
        anchor = self.choose_anchor(images, anchor)
        features = {s: self.network.encode(image, s) for s, image in images.items()}
        anchor_size = images[anchor].shape[-2:]
        needs_depth = len(images) == 1 or self.fusion is None or self.fusion.use_geometry
        anchor_depth = self.network.decode(features[anchor], anchor_size, anchor) if needs_depth else None
        fusion = self._fuse(images, features, anchor, anchor_depth, K, T_rig_cam)
        return self._decode_fused(fusion, anchor, anchor_depth, anchor_size)

    def _fuse(self, images, features, anchor, anchor_depth, K, T_rig_cam) -> FusionOutput:
        if len(images) == 1:  # spectral-wise: nothing to fuse, with or without a fusion module
            return unfused(anchor, features[anchor])
        if self.fusion is None:
            raise ValueError("this model was built without the fusion module (config.fusion=False)")
        if self.fusion.use_geometry:
            missing = [s for s in images if K is None or T_rig_cam is None or s not in K or s not in T_rig_cam]
            if missing:
                raise ValueError(f"fusing with geometry needs K and T_rig_cam for {missing}")
        image_sizes = {s: image.shape[-2:] for s, image in images.items()}
        return self.fusion(features, anchor, anchor_depth, K, T_rig_cam, image_sizes)

    def _decode_fused(self, fusion: FusionOutput, anchor: str, anchor_depth: torch.Tensor | None,
                      size) -> torch.Tensor:
        if len(fusion.weights) == 1:  # skipped: the spectral-wise depth is the fused depth
            return anchor_depth
        return self.network.decode(fusion.features, size, anchor)


ARCHITECTURES: dict[str, tuple[type, type[nn.Module]]] = {
    "align_fuse": (AlignFuseConfig, AlignFuseModel),
    "vfm_teacher": (TeacherConfig, VFMTeacher),
    "vfm_student": (StudentConfig, VFMStudent),
}


def config_from_dict(values: Mapping) -> AlignFuseConfig:
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


def build_model(config: AlignFuseConfig | Mapping) -> AlignFuseModel:
    """The model for ``config`` (a config dataclass or its dict), with fresh weights."""
    if isinstance(config, Mapping):
        config = config_from_dict(config)
    return ARCHITECTURES[config.architecture][1](config)


def prepare_for_inference(model: nn.Module) -> nn.Module:
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
