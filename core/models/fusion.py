"""The attachable fusion module (stage 2 of align-and-fuse; the depth network stays frozen).

Per encoder level, for an anchor spectrum and whichever other spectra are present:

1. the other spectra's features are warped into the anchor camera with the anchor's
   predicted depth (``warp_features``; invalid pixels are zeroed), or, for the "no warping"
   ablation (``use_geometry=False``), simply resized to the anchor's level grid;
2. each spectrum gets a per-pixel weight: cosine similarity of its shared half with the
   reference spectrum's, clamped to >= 0, times validity; the reference's own weight is 1.
   The reference is the anchor by default; ``reference="thr"`` makes it thermal wherever
   thermal is present and valid, as in the paper (which fixes thermal's weight at 1): the
   spectrum that degrades least then judges the others, so a dark RGB anchor at night is
   weighted down instead of weighting thermal down for disagreeing with it;
3. fused shared = weighted mean of the shared halves; the weighted specific halves fill one
   fixed slot per spectrum of the model (zeros for an absent spectrum), so the mixed map
   has C/2 * (1 + n_spectra) channels: 2C for rgb, nir and thr;
4. one attention block (``PooledAttention``) + LayerNorm + Linear back to C, added through a
   per-channel gate initialised at 0 to a base: the anchor's own features (``base="anchor"``:
   an untrained module returns the spectral-wise result), or the weighted mean of every
   spectrum's full features (``base="weighted"``: an untrained module already averages the
   cameras the reference trusts, so a dark RGB anchor starts from NIR and thermal features).
   The residual-on-anchor design leaves that replacement to the small gated update, which
   learns it slowly (docs/experiments.md, "How the fusion module weighs the cameras").

With a single spectrum the module is skipped and the anchor's features pass unchanged.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from core.data.frame import SPECTRA
from core.geometry import relative_transform, scale_intrinsics, warp_to_camera
from core.geometry.precision import full_precision
from core.models.depthnet import split_shared_specific


def level_intrinsics(K: torch.Tensor, image_size: Sequence[int], level_size: Sequence[int]) -> torch.Tensor:
    """Intrinsics (B, 3, 3) given at ``image_size`` (H, W), rescaled to a (h, w) feature map.

    ``scale_intrinsics`` is affine in K: it equals S @ K with S = scale_intrinsics(I), so one
    S serves the whole batch on any device.
    """
    (H, W), (h, w) = image_size, level_size
    S = scale_intrinsics(np.eye(3), w / W, h / H)
    return torch.as_tensor(S, dtype=K.dtype, device=K.device) @ K


@full_precision
def warp_features(src_feature: torch.Tensor, src_image_size: Sequence[int], K_src: torch.Tensor,
                  dst_depth: torch.Tensor, dst_level_size: Sequence[int], K_dst: torch.Tensor,
                  T_src_dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A source level feature map warped onto the destination camera's level grid.

    dst_depth (B, 1, H, W) is the destination's dense depth at its image resolution, where K_dst
    applies; K_src applies at ``src_image_size``. The depth is resized to ``dst_level_size``
    and both intrinsics are rescaled to their feature maps. The depth only guides the warp
    (detached, as in the reference). Returns (warped (B, C, h, w) with invalid pixels zeroed,
    valid (B, 1, h, w) bool). Float32 with autocast off, as all geometry (``full_precision``).
    """
    depth = F.interpolate(dst_depth.detach(), size=tuple(dst_level_size), mode="bilinear",
                          align_corners=False, antialias=True)
    K_dst_level = level_intrinsics(K_dst, dst_depth.shape[-2:], dst_level_size)
    K_src_level = level_intrinsics(K_src, src_image_size, src_feature.shape[-2:])
    warped, valid = warp_to_camera(src_feature, depth, K_dst_level, K_src_level, T_src_dst)
    return warped * valid, valid


def channel_norm(x: torch.Tensor) -> torch.Tensor:
    """L2 norm over channels, (B, 1, h, w)."""
    return x.square().sum(dim=1, keepdim=True).sqrt()


def cosine_similarity(anchor: torch.Tensor, anchor_norm: torch.Tensor, other: torch.Tensor,
                      eps: float = 1e-8) -> torch.Tensor:
    """Per-pixel cosine similarity over channels, (B, 1, h, w); 0 where either vector is 0.

    Written out because F.cosine_similarity is several times slower over dim 1 of NCHW maps
    on CPU, and so the anchor's norm is computed once per level.
    """
    dot = (anchor * other).sum(dim=1, keepdim=True)
    return dot / (anchor_norm * channel_norm(other)).clamp(min=eps)


def camera_weights(shared: Mapping[str, torch.Tensor], valid: Mapping[str, torch.Tensor], anchor: str,
                   reference: str) -> dict[str, torch.Tensor]:
    """Per spectrum, its (B, 1, h, w) fusion weight in the anchor frame: the reference's is its
    validity; every other's the clamped cosine similarity of its shared features with the
    reference's, times its validity. Where the reference is not valid the anchor judges
    instead, and weighs 1 itself."""
    reference_valid = valid[reference]
    judge = torch.where(reference_valid, shared[reference], shared[anchor])
    judge_norm = channel_norm(judge)
    weights = {}
    for spectrum, features in shared.items():
        if spectrum == reference:
            weights[spectrum] = valid[spectrum].to(features.dtype)
            continue
        similarity = cosine_similarity(judge, judge_norm, features).clamp(min=0)
        if spectrum == anchor:
            weights[spectrum] = torch.where(reference_valid, similarity, torch.ones_like(similarity))
        else:
            weights[spectrum] = similarity * valid[spectrum]
    return weights


def token_grid(height: int, width: int, max_tokens: int) -> tuple[int, int]:
    """The largest grid with the map's aspect ratio and at most ``max_tokens`` cells."""
    if height * width <= max_tokens:
        return height, width
    rows = max(1, math.floor(height * math.sqrt(max_tokens / (height * width))))
    return rows, max(1, min(width, max_tokens // rows))


class PooledAttention(nn.Module):
    """Multi-head self-attention over a pooled token grid, added back residually.

    Why pooled: attention over every pixel of a shallow level (128 x 320 at a 256 x 640
    input) needs gigabytes on CPU. The map is average-pooled to at most ``max_tokens`` cells,
    so memory and time are O(max_tokens^2) at every level; at the deep levels of a 256 x 640
    input the grid is the full map, at shallow ones the attended context is coarse and is
    upsampled before being added. Queries and keys are projected to ``qk_dim`` per head;
    values are the normalised tokens themselves, so the block stays small and the
    LayerNorm + Linear after it do the channel mixing.
    """

    def __init__(self, dim: int, heads: int = 2, qk_dim: int = 16, max_tokens: int = 640) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} is not divisible by {heads} heads")
        self.heads, self.qk_dim, self.max_tokens = heads, qk_dim, max_tokens
        self.norm = nn.LayerNorm(dim)
        self.query = nn.Linear(dim, heads * qk_dim, bias=False)
        self.key = nn.Linear(dim, heads * qk_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, D, h, w = x.shape
        grid = token_grid(h, w, self.max_tokens)
        tokens = self.norm(F.adaptive_avg_pool2d(x, grid).flatten(2).transpose(1, 2))  # (B, T, D)
        T = tokens.shape[1]
        q = self.query(tokens).view(B, T, self.heads, self.qk_dim).transpose(1, 2)
        k = self.key(tokens).view(B, T, self.heads, self.qk_dim).transpose(1, 2)
        v = tokens.view(B, T, self.heads, D // self.heads).transpose(1, 2)
        # (B, heads, T, D / heads) -> (B, D, *grid), contiguous: upsampling is much faster so.
        context = F.scaled_dot_product_attention(q, k, v).transpose(2, 3).reshape(B, D, *grid)
        if grid != (h, w):
            context = F.interpolate(context, size=(h, w), mode="bilinear", align_corners=False)
        return x + context


FUSION_BASES = ("anchor", "weighted")


class LevelFusion(nn.Module):
    """Mixed map (B, C/2 * (1 + n), h, w) -> attention -> LayerNorm -> Linear -> gated residual."""

    def __init__(self, width: int, num_spectra: int, heads: int, qk_dim: int, max_tokens: int) -> None:
        super().__init__()
        mixed = width // 2 * (1 + num_spectra)
        self.attention = PooledAttention(mixed, heads, qk_dim, max_tokens)
        self.norm = nn.LayerNorm(mixed)
        self.project = nn.Linear(mixed, width)
        self.gate = nn.Parameter(torch.zeros(width))

    def forward(self, mixed: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        x = self.attention(mixed).permute(0, 2, 3, 1)  # channels last for LayerNorm and Linear
        update = self.project(self.norm(x)).permute(0, 3, 1, 2)
        return base + self.gate.view(1, -1, 1, 1) * update


@dataclass
class FusionOutput:
    """features: fused level features for the decoder; weights: per spectrum present, the
    per-level (B, 1, h, w) weight it got in the anchor frame (the reference's is its validity)."""

    features: list[torch.Tensor]
    weights: dict[str, list[torch.Tensor]]


def unfused(anchor: str, anchor_levels: Sequence[torch.Tensor]) -> FusionOutput:
    """The spectral-wise case, one spectrum alone: its features pass unchanged, weight 1."""
    return FusionOutput(list(anchor_levels), {anchor: [torch.ones_like(f[:, :1]) for f in anchor_levels]})


class FusionModule(nn.Module):
    """Fuses any subset of spectra into an anchor spectrum's encoder features, level by level."""

    def __init__(self, level_widths: Sequence[int], spectra: Sequence[str] = SPECTRA, use_geometry: bool = True,
                 heads: int = 2, qk_dim: int = 16, max_tokens: int = 640, reference: str | None = None,
                 base: str = "anchor") -> None:
        super().__init__()
        self.spectra = tuple(s for s in SPECTRA if s in spectra)
        self.use_geometry = use_geometry
        if base not in FUSION_BASES:
            raise ValueError(f"fusion base must be one of {FUSION_BASES}, got {base!r}")
        self.reference, self.base = reference, base
        self.levels = nn.ModuleList(LevelFusion(width, len(self.spectra), heads, qk_dim, max_tokens)
                                    for width in level_widths)

    def forward(self, features: Mapping[str, Sequence[torch.Tensor]], anchor: str,
                anchor_depth: torch.Tensor | None, K: Mapping[str, torch.Tensor],
                T_rig_cam: Mapping[str, torch.Tensor], image_sizes: Mapping[str, Sequence[int]]) -> FusionOutput:
        """features: per spectrum present, its encoder levels; anchor_depth (B, 1, H, W) in
        metres at the anchor's image size (unused without geometry); K and T_rig_cam per
        spectrum at its image size ``image_sizes[s]`` = (H, W)."""
        if anchor not in features:
            raise ValueError(f"anchor {anchor!r} is not among the spectra present {sorted(features)}")
        unknown = set(features) - set(self.spectra)
        if unknown:
            raise ValueError(f"this fusion module has slots for {self.spectra}, not {sorted(unknown)}")
        others = [s for s in self.spectra if s in features and s != anchor]
        if not others:
            return unfused(anchor, features[anchor])
        if self.use_geometry and anchor_depth is None:
            raise ValueError("fusion with geometry needs the anchor's depth")
        T_other_anchor = {s: relative_transform(T_rig_cam[s], T_rig_cam[anchor]) for s in others} \
            if self.use_geometry else {}

        reference = self.reference if self.reference in others else anchor
        fused, weights = [], {s: [] for s in (anchor, *others)}
        for level, (module, anchor_feature) in enumerate(zip(self.levels, features[anchor])):
            level_size = anchor_feature.shape[-2:]
            aligned = {anchor: (anchor_feature, torch.ones_like(anchor_feature[:, :1], dtype=torch.bool))}
            for spectrum in others:
                source = features[spectrum][level]
                if self.use_geometry:
                    aligned[spectrum] = warp_features(source, image_sizes[spectrum], K[spectrum], anchor_depth,
                                                      level_size, K[anchor], T_other_anchor[spectrum])
                else:
                    resized = F.interpolate(source, size=level_size, mode="bilinear", align_corners=False)
                    aligned[spectrum] = resized, torch.ones_like(resized[:, :1], dtype=torch.bool)
            shared, specific = {}, {}
            for spectrum, (feature, _) in aligned.items():
                shared[spectrum], specific[spectrum] = split_shared_specific(feature)
            level_weights = camera_weights(shared, {s: valid for s, (_, valid) in aligned.items()}, anchor, reference)
            shared_sum = sum(level_weights[s] * shared[s] for s in aligned)
            # >= 1 everywhere: the reference weighs 1 where valid, the anchor 1 where it is not.
            weight_sum = sum(level_weights.values())
            specific_slots = {s: level_weights[s] * specific[s] for s in aligned}
            for spectrum, weight in level_weights.items():
                weights[spectrum].append(weight)
            empty_slot = torch.zeros_like(specific[anchor])
            mixed = torch.cat([shared_sum / weight_sum] + [specific_slots.get(s, empty_slot) for s in self.spectra],
                              dim=1)
            if self.base == "weighted":  # the weighted halves already summed, put back together
                base = torch.cat([shared_sum, sum(specific_slots.values())], dim=1) / weight_sum
            else:
                base = anchor_feature
            fused.append(module(mixed, base))
        return FusionOutput(fused, weights)
