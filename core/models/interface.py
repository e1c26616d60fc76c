"""The contract every depth model keeps: ``DepthModel``.

Each architecture (align-and-fuse, VFM teacher, VFM student) says what it takes (``spectra``,
``input_size``), gives each spectrum's depth from its image alone (``depth_of``, and
``spectral_depth`` over several), says whether it fuses (``supports_fusion``, ``fused_depth``)
and runs inference through one call, ``infer``, the way Depth-Anything-V2's ``infer_image``
owns forward and resize back. Their ``forward`` methods stay what training needs.

Construction does no I/O: what a model needs from outside its checkpoint (the teacher's
frozen backbones) comes from ``load_dependencies`` and is passed to the constructor, which
``core.models.factory.build_model`` does.
"""
from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.data.frame import SPECTRA
from core.geometry.camera import mirrored_intrinsics, mirrored_transform

FUSED = "fused"                        # the output key of fused depth; spectral-wise depth is keyed by spectrum
MODES = ("spectral", "fused", "both")  # what ``infer`` computes


class FusionUnsupported(ValueError):
    """Fused depth asked of a model (or a model built) without a fusion module."""


def choose_anchor(spectra: Collection[str], preferred: str | None = None, default: str | None = None) -> str:
    """The one rule for the camera fused depth is made in: ``preferred`` when it is among
    ``spectra``, else ``default`` when it is, else the first present in rgb, nir, thr order."""
    if not spectra:
        raise ValueError("no images given")
    for candidate in (preferred, default):
        if candidate is not None and candidate in spectra:
            return candidate
    return next(s for s in SPECTRA if s in spectra)


@dataclass
class DepthInference:
    """What ``DepthModel.infer`` returns.

    depth: output ('rgb', 'nir', 'thr' spectral-wise, FUSED in ``anchor``'s camera) ->
        (B, 1, H, W) float32 metres, at the size asked for that output's camera.
    anchor: the fusion anchor, None when nothing was fused.
    timings_ms: milliseconds of each output's network pass.
    """

    depth: dict[str, torch.Tensor]
    anchor: str | None
    timings_ms: dict[str, float]


class DepthModel(nn.Module):
    """A metric depth model over any subset of the spectra its config names.

    Images are float (B, C, H, W) in [0, 1] per spectrum (C = 3 for rgb, 1 for nir and thr);
    depth is (B, 1, H, W) metres at the image's resolution.
    """

    config: object   # the architecture's config dataclass (a DepthNetConfig)

    @classmethod
    def load_dependencies(cls, config) -> dict[str, nn.Module]:
        """Constructor arguments that come from outside the checkpoint (files, the Hub); none by default."""
        return {}

    def frozen_backbones(self) -> dict[str, nn.Module]:
        """The foundation-model backbones it runs but never trains or saves, by kind; none by default."""
        return {}

    @property
    def spectra(self) -> tuple[str, ...]:
        return tuple(self.config.spectra)

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) the model is trained and benchmarked at; inputs are resized to it."""
        return tuple(self.config.input_size)

    @property
    def supports_fusion(self) -> bool:
        return False

    @property
    def default_anchor(self) -> str | None:
        return None

    def choose_anchor(self, spectra: Collection[str], preferred: str | None = None) -> str:
        return choose_anchor(spectra, preferred, self.default_anchor)

    def depth_of(self, image: torch.Tensor, spectrum: str) -> torch.Tensor:
        """(B, 1, H, W) metres from one spectrum's image alone (models whose forward takes one
        spectrum's image and returns a dict with ``depth``)."""
        return self(image, spectrum)["depth"]

    def spectral_depth(self, images: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each spectrum's depth (B, 1, H, W) from its image alone."""
        return {s: self.depth_of(image, s) for s, image in images.items()}

    def fused_depth(self, images: Mapping[str, torch.Tensor], K: Mapping[str, torch.Tensor] | None = None,
                    T_rig_cam: Mapping[str, torch.Tensor] | None = None,
                    anchor: str | None = None) -> torch.Tensor:
        """(B, 1, H_a, W_a) metres in the anchor's camera from every image given; K (B, 3, 3)
        at each image's resolution and T_rig_cam (B, 4, 4) where the fusion uses geometry."""
        raise FusionUnsupported(f"{type(self).__name__} has no fusion module")

    def infer(self, images: Mapping[str, torch.Tensor], K: Mapping[str, torch.Tensor] | None = None,
              T_rig_cam: Mapping[str, torch.Tensor] | None = None, *, mode: str = "spectral",
              anchor: str | None = None, flip_average: bool = False) -> DepthInference:
        """Depth of ``mode`` ('spectral': every spectrum alone, 'fused': all of them in the
        anchor chosen by ``choose_anchor`` from ``anchor``, 'both'), without autograd.

        flip_average: each output is the mean of the depth of the inputs and of the depth of
        their left-right mirror (cameras mirrored too), mirrored back: monodepth2's
        post-processing, for twice the time.

        Images come at the model's ``input_size``; outputs are float32 at that size (the
        analysis brings them to a camera's size with ``resize_depth``, when asked).
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: use one of {MODES}")
        unknown = set(images) - set(self.spectra)
        if unknown:
            raise ValueError(f"this model takes {', '.join(self.spectra)}, not {', '.join(sorted(unknown))}")
        views = [(images, K, T_rig_cam)]
        if flip_average:
            views.append(mirrored_inputs(images, K, T_rig_cam))
        depth, timings = {}, {}
        used_anchor = None
        with torch.inference_mode():
            if mode in ("spectral", "both"):
                for spectrum in images:
                    start = time.perf_counter()
                    depth[spectrum] = _mean_unmirrored([self.depth_of(view[spectrum], spectrum)
                                                        for view, _, _ in views])
                    timings[spectrum] = (time.perf_counter() - start) * 1000
            if mode in ("fused", "both"):
                used_anchor = self.choose_anchor(images, anchor)
                start = time.perf_counter()
                depth[FUSED] = _mean_unmirrored([self.fused_depth(view, view_K, view_T, anchor=used_anchor)
                                                 for view, view_K, view_T in views])
                timings[FUSED] = (time.perf_counter() - start) * 1000
            depth = {output: value.float() for output, value in depth.items()}
        return DepthInference(depth, used_anchor, timings)


def mirrored_inputs(images: Mapping[str, torch.Tensor], K: Mapping[str, torch.Tensor] | None,
                    T_rig_cam: Mapping[str, torch.Tensor] | None) -> tuple[dict, dict | None, dict | None]:
    """The inputs of ``infer`` mirrored left-right: images, their intrinsics and the rig
    (``core.data.dataset.flip_frame`` on a batch)."""
    mirrored_K = None if K is None else {s: mirrored_intrinsics(k, images[s].shape[-1]) for s, k in K.items()}
    mirrored_T = None if T_rig_cam is None else {s: mirrored_transform(t) for s, t in T_rig_cam.items()}
    return {s: image.flip(-1) for s, image in images.items()}, mirrored_K, mirrored_T


def _mean_unmirrored(depths: list[torch.Tensor]) -> torch.Tensor:
    """The first depth alone, or its mean with the second mirrored back."""
    if len(depths) == 1:
        return depths[0]
    direct, mirrored = depths
    return 0.5 * (direct + mirrored.flip(-1))


def resize_depth(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Depth (B, 1, h, w) brought to ``size`` (bilinear, pixel centres aligned), as float32."""
    return F.interpolate(depth.float(), size=tuple(size), mode="bilinear", align_corners=False)
