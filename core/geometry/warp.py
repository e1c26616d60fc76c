"""Moving images, feature maps and depth between cameras with known geometry."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.geometry.precision import full_precision
from core.geometry.projection import backproject, project, transform_points


@full_precision
def warp_to_camera(src: torch.Tensor, depth_dst: torch.Tensor, K_dst: torch.Tensor,
                   K_src: torch.Tensor, T_src_dst: torch.Tensor, mode: str = "bilinear",
                   eps: float = 1e-3):
    """Backward-warp a source image or feature map into the destination camera.

    Each destination pixel is lifted to 3-D with its depth (B, 1, Hd, Wd), moved into the
    source camera by T_src_dst (B, 4, 4), projected with K_src and sampled from ``src``
    (B, C, Hs, Ws). K_src must match src's resolution and K_dst depth_dst's (rescale with
    ``scale_intrinsics`` for feature maps). Returns (warped (B, C, Hd, Wd), valid (B, 1,
    Hd, Wd) bool): valid where the destination depth is positive, the point lies in front
    of the source camera and projects inside the source image. Occlusions are not detected.
    Runs in float32 with autocast off (``full_precision``), so ``warped`` is float32.
    """
    Hs, Ws = src.shape[-2:]
    points_src = transform_points(T_src_dst, backproject(depth_dst, K_dst))
    uv, z = project(points_src, K_src)
    # grid_sample's align_corners=False puts pixel centres at (2i + 1) / size - 1.
    gx = (2 * uv[:, 0] + 1) / Ws - 1
    gy = (2 * uv[:, 1] + 1) / Hs - 1
    grid = torch.stack([gx, gy], dim=-1)
    warped = F.grid_sample(src, grid.to(src.dtype), mode=mode, padding_mode="zeros",
                           align_corners=False)
    inside = (uv[:, 0] > -0.5) & (uv[:, 0] < Ws - 0.5) & (uv[:, 1] > -0.5) & (uv[:, 1] < Hs - 0.5)
    valid = (depth_dst[:, 0] > 0) & (z[:, 0] > eps) & inside
    return warped, valid.unsqueeze(1)


@full_precision
def reproject_depth(depth_src: torch.Tensor, K_src: torch.Tensor, T_dst_src: torch.Tensor,
                    K_dst: torch.Tensor, dst_size: tuple[int, int], eps: float = 1e-3) -> torch.Tensor:
    """Forward-splat a depth map (B, 1, H, W) into another camera with a z-buffer.

    Every valid source pixel lands on its nearest destination pixel carrying its depth in
    the destination frame; where several land, the nearest surface wins. Returns
    (B, 1, Hd, Wd) depth, 0 where nothing landed (the result is sparse where the
    destination has a finer resolution than the source).
    """
    B = depth_src.shape[0]
    Hd, Wd = dst_size
    points_dst = transform_points(T_dst_src, backproject(depth_src, K_src))
    uv, z = project(points_dst, K_dst)
    u = torch.round(uv[:, 0]).long().reshape(B, -1)
    v = torch.round(uv[:, 1]).long().reshape(B, -1)
    z = z.reshape(B, -1)
    ok = (depth_src.reshape(B, -1) > 0) & (z > eps) & (u >= 0) & (u < Wd) & (v >= 0) & (v < Hd)
    flat_index = (torch.arange(B, device=depth_src.device).unsqueeze(1) * (Hd * Wd) + v * Wd + u)[ok]
    zbuffer = torch.full((B * Hd * Wd,), float("inf"), dtype=depth_src.dtype, device=depth_src.device)
    zbuffer.scatter_reduce_(0, flat_index, z[ok].to(depth_src.dtype), reduce="amin")
    zbuffer[torch.isinf(zbuffer)] = 0
    return zbuffer.reshape(B, 1, Hd, Wd)
