"""Back-projection and projection between pixels and camera space (batched torch)."""
from __future__ import annotations

import torch

from core.geometry.precision import full_precision


def pixel_grid(height: int, width: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """Homogeneous pixel coordinates (3, H, W): rows u (column), v (row), 1."""
    v, u = torch.meshgrid(torch.arange(height, device=device, dtype=dtype),
                          torch.arange(width, device=device, dtype=dtype), indexing="ij")
    return torch.stack([u, v, torch.ones_like(u)])


@full_precision
def backproject(depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Camera-space points (B, 3, H, W) of every pixel at its z-depth (B, 1, H, W)."""
    B, _, H, W = depth.shape
    rays = inverse(K.to(depth.dtype)) @ pixel_grid(H, W, device=depth.device,
                                                           dtype=depth.dtype).reshape(1, 3, -1)
    return rays.reshape(B, 3, H, W) * depth


@full_precision
def transform_points(T: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply rigid transforms T (B, 4, 4) to points (B, 3, ...)."""
    B = points.shape[0]
    flat = points.reshape(B, 3, -1)
    T = T.to(points.dtype)
    return (T[:, :3, :3] @ flat + T[:, :3, 3:]).reshape(points.shape)


@full_precision
def inverse(matrices: torch.Tensor) -> torch.Tensor:
    """Batched matrix inverse without torch.linalg.inv's error check, which makes the host wait
    for the device in every training step (intrinsics and poses are always invertible)."""
    return torch.linalg.inv_ex(matrices).inverse


@full_precision
def relative_transform(T_frame_dst: torch.Tensor, T_frame_src: torch.Tensor) -> torch.Tensor:
    """T_dst_src (B, 4, 4) from two poses in one common frame (rig or world): it maps points
    in the source's coordinates to the destination's."""
    return inverse(T_frame_dst) @ T_frame_src


@full_precision
def project(points: torch.Tensor, K: torch.Tensor, eps: float = 1e-6):
    """Pixel coordinates (B, 2, ...) and depth z (B, 1, ...) of camera-space points (B, 3, ...).

    Points at or behind the camera get z <= eps; their pixel coordinates are meaningless
    and callers must mask them with ``z > eps``.
    """
    B = points.shape[0]
    flat = points.reshape(B, 3, -1)
    z = flat[:, 2:3]
    pix = K.to(points.dtype) @ (flat / z.clamp(min=eps))
    return pix[:, :2].reshape(B, 2, *points.shape[2:]), z.reshape(B, 1, *points.shape[2:])
