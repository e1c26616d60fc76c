"""The VFM-Depth student: a light DepthNet for every spectrum, distilled from ``VFMTeacher``.

The same structure as the teacher minus the foundation models: per-spectrum stems, a small
timm encoder and a narrow decoder (``DepthNet``), and the teacher's ``DepthBinsHead`` (``core.models.bins``) with a
plain 1 x 1 convolution as bin classifier (same number of bins, same log-uniform centres,
so the per-pixel bin distributions align with the teacher's). 1 x 1 projections map each
student level to the teacher's level width for feature imitation; they only serve training,
so they run in training mode only (7 % of an inference pass otherwise).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NotRequired

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.models.bins import BinsOutput, DepthBinsHead, check_levels
from core.models.depthnet import DepthNetConfig
from core.models.interface import DepthModel
from core.models.spectral_batchnorm import spectrum_statistics, use_spectral_statistics


class StudentOutput(BinsOutput):
    """``VFMStudent.forward``: the bins head's outputs plus regression_depth, features
    [(B, C_l, h_l, w_l)] and, in training mode, projected_features [(B, teacher C_l, h_l, w_l)]."""

    regression_depth: torch.Tensor
    features: list[torch.Tensor]
    projected_features: NotRequired[list[torch.Tensor]]


@dataclass(frozen=True)
class StudentConfig(DepthNetConfig):
    """The student. ``min_depth``, ``max_depth`` and ``num_bins`` must match the teacher's
    (bin distributions are compared bin by bin), ``teacher_level_widths`` its level widths
    (one per student level: the feature-imitation targets)."""

    architecture: str = "vfm_student"
    encoder: str = "lcnet_050"
    stem_width: int = 8
    level_widths: tuple[int, ...] | None = (16, 32, 48, 64, 64)
    decoder_widths: tuple[int, ...] = (8, 16, 32, 48)
    num_bins: int = 7
    bin_head_levels: tuple[int, ...] = (2, 3, 4)
    bin_head_width: int = 32
    sharp_bins: bool = True         # False: bin depth on the head's grid, upsampled (see DepthBinsHead)
    depth_on_decoder_grid: bool = False  # True: blend on the decoder's grid, upsample the final depth only
    teacher_level_widths: tuple[int, ...] = (32, 64, 96, 128, 128)

    def __post_init__(self) -> None:
        self.normalise("vfm_student", ("bin_head_levels", "teacher_level_widths"))
        if self.num_bins < 2:
            raise ValueError(f"num_bins must be at least 2, got {self.num_bins}")


class VFMStudent(DepthModel):
    """DepthNet + depth bins + feature-imitation projections."""

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        self.depth_net = config.build_depth_net()
        level_widths = self.depth_net.level_widths
        check_levels("bin_head_levels", config.bin_head_levels, len(level_widths))
        if len(config.teacher_level_widths) != len(level_widths):
            raise ValueError(f"teacher_level_widths needs one width per student level ({len(level_widths)}), "
                             f"got {list(config.teacher_level_widths)}")
        self.bins = use_spectral_statistics(
            DepthBinsHead([level_widths[level] for level in config.bin_head_levels], config.bin_head_width,
                          nn.Conv2d(config.bin_head_width, config.num_bins, 1), config.num_bins,
                          config.min_depth, config.max_depth, sharp=config.sharp_bins), self.depth_net.spectra)
        self.imitation = nn.ModuleList(nn.Conv2d(width, teacher_width, 1)
                                       for width, teacher_width in zip(level_widths, config.teacher_level_widths))

    def forward(self, image: torch.Tensor, spectrum: str) -> StudentOutput:
        """image: float (B, C, H, W) in [0, 1] of one spectrum.

        Returns depth (B, 1, H, W) and regression_depth, bin_depth, blend_weight (B, 1, H, W),
        or on the decoder's grid with ``depth_on_decoder_grid`` (metres but the weight);
        bin_logits, bin_probs (B, n_bins, h, w); features [(B, C_l, h_l, w_l)];
        projected_features [(B, teacher C_l, h_l, w_l)] in training mode.
        """
        features = self.depth_net.encode(image, spectrum)
        depth_grid = (features[-self.depth_net.decoder_levels].shape[-2:] if self.config.depth_on_decoder_grid
                      else image.shape[-2:])
        regression_depth = self.depth_net.decode(features, depth_grid, spectrum)
        with spectrum_statistics(spectrum):
            out = self.bins([features[level] for level in self.config.bin_head_levels], regression_depth)
        if self.config.depth_on_decoder_grid:
            out["depth"] = F.interpolate(out["depth"], size=image.shape[-2:], mode="bilinear", align_corners=False)
        out.update(regression_depth=regression_depth, features=features)
        if self.training:
            out["projected_features"] = [projection(level) for projection, level in zip(self.imitation, features)]
        return out
