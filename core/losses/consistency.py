"""Cross-camera geometric consistency of predicted depths.

Both depths are compared in the SAME frame, the source camera's (the SC-SfMLearner
construction, backward and differentiable, no z-buffer): each destination pixel is
lifted to 3-D with depth_dst and moved into the source frame, giving its source-frame z
("computed"); depth_src is sampled bilinearly where that point projects ("sampled").
Comparing depth_dst directly with sampled depth_src would mix two frames' z, wrong as
soon as the cameras differ by a rotation or a translation along the optical axis.
"""
from __future__ import annotations

import torch

from core.geometry import backproject, inverse, transform_points, warp_to_camera
from core.geometry.precision import full_precision

# Interpolation weight on source pixels with depth above which a sample counts as fully
# supported (1 up to rounding).
FULL_SUPPORT = 1 - 1e-4


@full_precision  # geometry: float32 even under bf16 autocast
def depth_inconsistency(depth_src: torch.Tensor, depth_dst: torch.Tensor, K_src: torch.Tensor,
                        K_dst: torch.Tensor, T_dst_src: torch.Tensor,
                        mode: str = "bilinear") -> tuple[torch.Tensor, torch.Tensor]:
    """Per destination pixel |computed - sampled| / (computed + sampled), in [0, 1].

    depth_src (B, 1, Hs, Ws) with K_src (B, 3, 3) or (3, 3) at that resolution; depth_dst
    (B, 1, Hd, Wd) with K_dst; T_dst_src (B, 4, 4) or (4, 4) maps source-frame points to
    the destination frame. Returns (inconsistency (B, 1, Hd, Wd), valid (B, 1, Hd, Wd)
    bool): valid where depth_dst is positive, the point is in front of and inside the
    source camera, and every source pixel it is interpolated from has depth (depth_src
    may be semi-dense, 0 = missing). Occlusions are not masked: they show up as
    inconsistency, as in SC-SfMLearner.
    """
    B = depth_dst.shape[0]
    K_src, K_dst = K_src.expand(B, 3, 3), K_dst.expand(B, 3, 3)
    T_src_dst = inverse(T_dst_src).expand(B, 4, 4)
    # Sample depth and its validity together: a sample is kept only when all its bilinear
    # taps hold depth, so missing source depth (0) and the zero padding past the image
    # border never leak in (a half-pixel border extrapolation alone costs ~1e-3 per pixel).
    has_depth = (depth_src > 0).to(depth_src.dtype)
    samples, valid = warp_to_camera(torch.cat([depth_src * has_depth, has_depth], 1), depth_dst,
                                    K_dst, K_src, T_src_dst, mode=mode)
    depth_sum, weight = samples.split(1, dim=1)
    valid = valid & (weight > FULL_SUPPORT) & (depth_dst > 0)
    sampled = depth_sum / weight.clamp(min=FULL_SUPPORT)
    computed = transform_points(T_src_dst, backproject(depth_dst, K_dst))[:, 2:3]
    # where() keeps the 0/0 of invalid pixels out of the values and the gradients.
    denominator = torch.where(valid, computed + sampled, torch.ones_like(computed))
    inconsistency = torch.where(valid, (computed - sampled).abs() / denominator,
                                torch.zeros_like(computed))
    return inconsistency, valid


def geometric_consistency_loss(depth_src: torch.Tensor, depth_dst: torch.Tensor,
                               K_src: torch.Tensor, K_dst: torch.Tensor, T_dst_src: torch.Tensor,
                               mode: str = "bilinear") -> torch.Tensor:
    """Mean of ``depth_inconsistency`` over co-visible pixels (scalar; a graph-connected
    zero when none). Gradients reach both depths; detach one to use it as a teacher
    (e.g. the best modality's depth warped into the others)."""
    inconsistency, valid = depth_inconsistency(depth_src, depth_dst, K_src, K_dst, T_dst_src, mode)
    return inconsistency.sum() / valid.sum().clamp(min=1)
