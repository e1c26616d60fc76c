"""The align-and-fuse model: one depth network shared by every spectrum (stage 1) and the
attachable fusion module (stage 2) that combines them in an anchor camera."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NotRequired, TypedDict

import torch

from core.data.frame import SPECTRA
from core.models.depthnet import DepthNetConfig
from core.models.fusion import FUSION_BASES, FusionModule, FusionOutput, unfused
from core.models.interface import DepthModel, FusionUnsupported


@dataclass(frozen=True)
class AlignFuseConfig(DepthNetConfig):
    """One depth network shared by all spectra, plus the attachable fusion module.

    level_widths None: the encoder's own widths (rounded up to even). The default narrows
    lcnet_100's deep levels (256, 512) to 128: the fusion module's Linear 2C -> C per level
    grows with C^2, and these widths keep it within 15 % of the network's parameters.
    ``input_size`` is the (height, width) the model is trained and benchmarked at; the
    network itself accepts any size. ``default_anchor`` is the fusion anchor when the caller
    names none present (thermal, as in the reference, because it degrades least at night and
    in bad weather); when it is absent, the first spectrum present in rgb, nir, thr order anchors.
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


class AlignFuseOutput(TypedDict):
    """``AlignFuseModel.forward``: spectral-wise depth and features per spectrum, and when
    fusing, the anchor, fused depth and features and the fusion weights."""

    depth: dict[str, torch.Tensor]
    features: dict[str, list[torch.Tensor]]
    anchor: NotRequired[str]
    fused_depth: NotRequired[torch.Tensor]
    fused_features: NotRequired[list[torch.Tensor]]
    fusion_weights: NotRequired[dict[str, list[torch.Tensor]]]


class AlignFuseModel(DepthModel):
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

    @property
    def supports_fusion(self) -> bool:
        return self.fusion is not None

    @property
    def default_anchor(self) -> str:
        return self.config.default_anchor

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

    def forward(self, images: Mapping[str, torch.Tensor], K: Mapping[str, torch.Tensor] | None = None,
                T_rig_cam: Mapping[str, torch.Tensor] | None = None, anchor: str | None = None,
                fuse: bool = True) -> AlignFuseOutput:
        """images: per spectrum present (any subset of the config's), float (B, C, H, W) in [0, 1];
        K (B, 3, 3) at each image's resolution and T_rig_cam (B, 4, 4): needed only to fuse
        with geometry. Returns
          depth:     {spectrum: (B, 1, H, W) metres}, spectral-wise
          features:  {spectrum: [(B, C_l, h_l, w_l)]}, spectral-wise encoder levels
        and when ``fuse`` (fused == spectral-wise when one spectrum is given):
          anchor (``choose_anchor`` of ``anchor``), fused_depth (B, 1, H_a, W_a) metres in the
          anchor camera, fused_features [(B, C_l, h_l, w_l)], fusion_weights {spectrum: [(B, 1, h_l, w_l)]}.
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

    def depth_of(self, image: torch.Tensor, spectrum: str) -> torch.Tensor:
        return self.network(image, spectrum)["depth"]

    def fused_depth(self, images: Mapping[str, torch.Tensor], K: Mapping[str, torch.Tensor] | None = None,
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
            raise FusionUnsupported("this model was built without the fusion module (config.fusion=False)")
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
