"""Supervised depth losses on (possibly semi-dense) ground truth.

All take pred, gt (B, 1, H, W) in metres and valid (B, 1, H, W) bool, and return a scalar:
the loss of each image over its valid pixels, averaged over the images that have any.
Images without valid pixels contribute nothing; a batch without any valid pixel gives a
zero that still belongs to the graph (backward works, gradients are zero).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _per_image_mean(values: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of values (B, 1, H, W) over valid pixels per image: (means (B,), has_valid (B,) bool)."""
    valid = valid.to(values.dtype).flatten(1)
    count = valid.sum(1)
    # where() rather than multiplication so NaN/inf at invalid pixels cannot leak in.
    total = torch.where(valid > 0, values.flatten(1), torch.zeros_like(values.flatten(1))).sum(1)
    return total / count.clamp(min=1), count > 0


def _mean_over_images(per_image: torch.Tensor, has_valid: torch.Tensor) -> torch.Tensor:
    return (per_image * has_valid).sum() / has_valid.sum().clamp(min=1)


def silog_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor,
               variance_focus: float = 0.85, scale: float = 10.0, eps: float = 1e-6) -> torch.Tensor:
    """Scale-invariant log loss (Eigen et al.; BTS / MS2 form).

    scale * sqrt(mean(d^2) - variance_focus * mean(d)^2) with d = log(pred) - log(gt) per
    image. variance_focus = 1 is fully scale invariant, 0 is the RMSE of log depth.
    """
    valid = valid & (gt > 0)
    log_diff = torch.log(pred.clamp(min=eps)) - torch.log(gt.clamp(min=eps))
    mean_sq, has_valid = _per_image_mean(log_diff ** 2, valid)
    mean, _ = _per_image_mean(log_diff, valid)
    # The clamp keeps sqrt's gradient finite at a perfect prediction and absorbs rounding below 0.
    per_image = scale * torch.sqrt((mean_sq - variance_focus * mean ** 2).clamp(min=1e-12))
    return _mean_over_images(per_image, has_valid)


def smooth_l1_depth_loss(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor,
                         beta: float = 1.0) -> torch.Tensor:
    """Smooth-L1 (Huber with transition ``beta`` metres) between metric depths."""
    per_pixel = F.smooth_l1_loss(pred, gt, reduction="none", beta=beta)
    per_image, has_valid = _per_image_mean(per_pixel, valid)
    return _mean_over_images(per_image, has_valid)
