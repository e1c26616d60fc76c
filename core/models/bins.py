"""Depth bins: per-pixel classification over log-uniform depth bins, blended with the
regression depth. The teacher (language-guided bins) and the student (a 1 x 1 convolution as
classifier) share this head, so their per-pixel bin distributions align bin by bin."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.geometry.precision import autocast_disabled
from core.models.depthnet import conv_bn_relu


class BinsOutput(TypedDict):
    """What ``DepthBinsHead`` returns: depth, bin_depth, blend_weight (B, 1, H, W) and
    bin_logits, bin_probs (B, n_bins, h, w) on the head's grid."""

    depth: torch.Tensor
    bin_depth: torch.Tensor
    blend_weight: torch.Tensor
    bin_logits: torch.Tensor
    bin_probs: torch.Tensor


def check_levels(name: str, levels: Sequence[int], num_levels: int) -> None:
    if not levels or list(levels) != sorted(set(levels)) or levels[0] < 0 or levels[-1] >= num_levels:
        raise ValueError(f"{name} must be increasing level indices in [0, {num_levels}), got {list(levels)}")


def log_uniform_bin_centres(min_depth: float, max_depth: float, num_bins: int) -> torch.Tensor:
    """Centres (num_bins,) of equal-width bins in log depth over [min_depth, max_depth]:
    the same resolution per depth decade as the regression head's log-uniform output."""
    fractions = (torch.arange(num_bins, dtype=torch.float64) + 0.5) / num_bins
    return (min_depth * (max_depth / min_depth) ** fractions).float()


class DepthBinsHead(nn.Module):
    """Depth-bin classification from several encoder levels, blended with the regression depth.

    The levels are projected to ``width``, resized to the first one's grid, summed and
    mixed by a 3 x 3 convolution; ``classifier`` maps that (B, width, h, w) to bin logits
    (B, n_bins, h, w). With ``sharp`` the logits are upsampled to the output size before the
    softmax, so the bin depth (sum of probability x log-uniform centre) keeps sharp
    boundaries; without, the bin depth is computed on the (h, w) grid and upsampled, which
    is the same as upsampling the probabilities and costs one channel at full resolution
    instead of n_bins (a third of a light student's time). A per-pixel weight
    w = sigmoid(1 x 1 conv), initialised at 1/2, blends in log depth:
    depth = regression^w * bins^(1 - w), within [min_depth, max_depth] like both.
    """

    def __init__(self, level_widths: Sequence[int], width: int, classifier: nn.Module, num_bins: int,
                 min_depth: float, max_depth: float, sharp: bool = True) -> None:
        super().__init__()
        self.projections = nn.ModuleList(nn.Conv2d(level_width, width, 1) for level_width in level_widths)
        self.mix = conv_bn_relu(width, width, 3)
        self.classifier = classifier
        self.blend = nn.Conv2d(width, 1, 1)
        nn.init.zeros_(self.blend.weight)
        nn.init.zeros_(self.blend.bias)
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self.sharp = sharp
        self.register_buffer("centres", log_uniform_bin_centres(min_depth, max_depth, num_bins), persistent=False)

    def forward(self, levels: Sequence[torch.Tensor], regression_depth: torch.Tensor) -> BinsOutput:
        """levels: the chosen encoder levels, shallowest first; regression_depth (B, 1, H, W).
        Returns depth, bin_depth, blend_weight (B, 1, H, W) and bin_logits, bin_probs
        (B, n_bins, h, w) at the first level's resolution."""
        grid = levels[0].shape[-2:]
        hidden = sum(F.interpolate(projection(level), size=grid, mode="bilinear", align_corners=False)
                     for projection, level in zip(self.projections, levels))
        hidden = self.mix(hidden)
        # The classifier, blend and depth in float32 under autocast too, as the regression head.
        with autocast_disabled(hidden.device):
            hidden = hidden.float()
            logits = self.classifier(hidden)
            out_size = regression_depth.shape[-2:]
            centres = self.centres.view(1, -1, 1, 1)
            if self.sharp:
                full_probs = F.interpolate(logits, size=out_size, mode="bilinear", align_corners=False).softmax(dim=1)
                bin_depth = (full_probs * centres).sum(dim=1, keepdim=True)
            else:
                bin_depth = F.interpolate((logits.softmax(dim=1) * centres).sum(dim=1, keepdim=True), size=out_size,
                                          mode="bilinear", align_corners=False)
            weight = torch.sigmoid(F.interpolate(self.blend(hidden), size=out_size, mode="bilinear",
                                                 align_corners=False))
            log_depth = weight * regression_depth.float().log() + (1 - weight) * bin_depth.log()
            depth = log_depth.exp().clamp(self.min_depth, self.max_depth)  # clamp: exp(log x) may round past x
        return {"depth": depth, "bin_depth": bin_depth, "blend_weight": weight,
                "bin_logits": logits, "bin_probs": logits.softmax(dim=1)}
