"""Self-supervised photometric losses (monodepth2 style) for sequences with known poses.

Images are (B, C, H, W) in [0, 1]; depth and disparity (B, 1, H, W); intrinsics K
(B, 3, 3) or (3, 3), the same camera for the target and its source frames; poses
T_source_target (B, 4, 4) or (4, 4) map target-frame points into a source frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.geometry import warp_to_camera

SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM index (B, C, H, W) in [-1, 1] over 3x3 windows (reflection-padded)."""
    x = F.pad(x, (1, 1, 1, 1), mode="reflect")
    y = F.pad(y, (1, 1, 1, 1), mode="reflect")
    mu_x = F.avg_pool2d(x, 3, 1)
    mu_y = F.avg_pool2d(y, 3, 1)
    sigma_x = F.avg_pool2d(x ** 2, 3, 1) - mu_x ** 2
    sigma_y = F.avg_pool2d(y ** 2, 3, 1) - mu_y ** 2
    sigma_xy = F.avg_pool2d(x * y, 3, 1) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
    denominator = (mu_x ** 2 + mu_y ** 2 + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)
    return numerator / denominator


def photometric_error(pred: torch.Tensor, target: torch.Tensor, alpha: float = 0.85) -> torch.Tensor:
    """alpha * (1 - SSIM) / 2 + (1 - alpha) * L1, averaged over channels: (B, 1, H, W)."""
    ssim_term = ((1 - ssim(pred, target)) / 2).clamp(0, 1).mean(1, keepdim=True)
    l1_term = (pred - target).abs().mean(1, keepdim=True)
    return alpha * ssim_term + (1 - alpha) * l1_term


def reprojection_loss(target: torch.Tensor, sources: list[torch.Tensor], depth: torch.Tensor,
                      K: torch.Tensor, T_source_target: list[torch.Tensor], automask: bool = True,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimum photometric reprojection error over source frames, with auto-masking.

    Each source (B, C, H, W) is warped into the target camera with the predicted target
    depth (B, 1, H, W); a pixel's error is the minimum over the sources whose warp is
    valid there. With ``automask``, a pixel counts only where that error is below the
    error of the unwarped sources (identity reprojection): this drops pixels that move
    with the camera or show no parallax. A 1e-5 Gaussian noise on the identity error breaks
    ties on texture-less regions (monodepth2); ``generator`` makes it reproducible.

    Returns (loss: scalar mean over counted pixels, zero if none; counted: (B, 1, H, W) bool).
    """
    B = depth.shape[0]
    K = K.expand(B, 3, 3)
    errors = []
    for source, T in zip(sources, T_source_target, strict=True):
        warped, valid = warp_to_camera(source, depth, K, K, T.expand(B, 4, 4))
        # An invalid warp must never be the per-pixel minimum.
        errors.append(torch.where(valid, photometric_error(warped, target),
                                  torch.full_like(depth, float("inf"))))
    reprojection = torch.cat(errors, 1).min(1, keepdim=True).values
    counted = torch.isfinite(reprojection)

    if automask:
        identity = torch.cat([photometric_error(source, target) for source in sources], 1)
        noise = torch.randn(identity.shape, generator=generator, dtype=identity.dtype,
                            device=generator.device if generator is not None else identity.device)
        identity = identity + 1e-5 * noise.to(identity.device)
        counted = counted & (reprojection < identity.min(1, keepdim=True).values)

    total = torch.where(counted, reprojection, torch.zeros_like(reprojection)).sum()
    return total / counted.sum().clamp(min=1), counted


def edge_aware_smoothness(disp: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """First-order disparity smoothness, down-weighted at image edges (scalar).

    Disparity (B, 1, H, W) is divided by its per-image mean first so the loss cannot be
    lowered by shrinking the disparity scale; image (B, C, H, W) at the same resolution.
    """
    disp = disp / (disp.mean((2, 3), keepdim=True) + 1e-7)
    grad_disp_x = (disp[..., :, :-1] - disp[..., :, 1:]).abs()
    grad_disp_y = (disp[..., :-1, :] - disp[..., 1:, :]).abs()
    grad_image_x = (image[..., :, :-1] - image[..., :, 1:]).abs().mean(1, keepdim=True)
    grad_image_y = (image[..., :-1, :] - image[..., 1:, :]).abs().mean(1, keepdim=True)
    return ((grad_disp_x * torch.exp(-grad_image_x)).mean()
            + (grad_disp_y * torch.exp(-grad_image_y)).mean())
