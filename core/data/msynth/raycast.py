"""Ray casting of the scene's analytic primitives into one pinhole camera.

The ray of pixel (u, v) is d = R_world_cam K^-1 [u, v, 1]: its camera z component is 1, so the
ray parameter t of a hit is the z-depth. World directions are separable sums,
d_i(v, u) = A_i(u) + B_i(v), so a rectangle of rays costs one broadcast add per component.

Speed comes from screen-space culling: each primitive's bounding box (clipped to the near
plane) is projected into the camera and only the rays in that pixel rectangle are tested,
front to back, skipping primitives already hidden by the z-buffer.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from core.data.msynth.scene import FIRST_PRIMITIVE_ID, Kind, Scene
from core.geometry.camera import Camera

NEAR = 0.05
MAX_DEPTH = 250.0   # farther surfaces count as sky (depth 0); within what MS2 uint16 depth holds

_CORNER_SIGNS = np.array(list(product((-1.0, 1.0), repeat=3)))               # (8, 3)
_EDGES = np.array([(a, b) for a in range(8) for b in range(a + 1, 8)
                   if np.count_nonzero(_CORNER_SIGNS[a] != _CORNER_SIGNS[b]) == 1])  # (12, 2)


@dataclass
class RayGrid:
    """World-space rays of every pixel of one camera at one pose."""

    camera: Camera
    T_world_cam: np.ndarray
    A: np.ndarray        # (3, W) float32: column part of the world direction
    B: np.ndarray        # (3, H) float32: row part (incl. the constant)
    origin: np.ndarray   # (3,) float64 camera centre in the world

    @classmethod
    def create(cls, camera: Camera, T_world_cam: np.ndarray) -> "RayGrid":
        K = camera.K
        if abs(K[0, 1]) > 1e-9:
            raise ValueError("MS-Synth cameras must have zero skew")
        x = (np.arange(camera.width) - K[0, 2]) / K[0, 0]
        y = (np.arange(camera.height) - K[1, 2]) / K[1, 1]
        R = T_world_cam[:3, :3]
        A = (R[:, 0:1] * x[None, :]).astype(np.float32)
        B = (R[:, 1:2] * y[None, :] + R[:, 2:3]).astype(np.float32)
        return cls(camera, T_world_cam, A, B, T_world_cam[:3, 3].copy())

    def direction(self, axis: int, rows: slice = slice(None), cols: slice = slice(None)):
        """World direction component ``axis`` over a pixel rectangle, (h, w) float32."""
        return self.B[axis, rows, None] + self.A[axis, None, cols]


@dataclass
class GBuffer:
    """Per-pixel z-depth (MAX_DEPTH where sky) and primitive id (0 sky, 1 ground, 2 + i)."""

    depth: np.ndarray   # (H, W) float32
    ids: np.ndarray     # (H, W) int32
    rays: RayGrid


def screen_rects(center: np.ndarray, half: np.ndarray, camera: Camera, T_world_cam: np.ndarray):
    """Pixel rectangles (v0, v1, u0, u1) covering each box, and the box's nearest z-depth.

    Boxes are clipped to the near plane first: their visible part projects inside the hull of
    the projected front corners and edge/near-plane crossings. Returns (rects (N, 4) int64,
    z_min (N,), visible (N,) bool).
    """
    T_cam_world = np.linalg.inv(T_world_cam)
    corners = center[:, None, :] + half[:, None, :] * _CORNER_SIGNS          # (N, 8, 3)
    corners = corners @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
    z = corners[..., 2]
    a, b = corners[:, _EDGES[:, 0]], corners[:, _EDGES[:, 1]]                 # (N, 12, 3)
    za, zb = a[..., 2], b[..., 2]
    crossing = (za >= NEAR) != (zb >= NEAR)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(crossing, (NEAR - za) / (zb - za), 0.0)
    points = np.concatenate([corners, a + s[..., None] * (b - a)], axis=1)  # (N, 20, 3)
    valid = np.concatenate([z >= NEAR, crossing], axis=1)
    pz = np.where(valid, points[..., 2], 1.0)
    K = camera.K
    u = K[0, 0] * points[..., 0] / pz + K[0, 2]
    v = K[1, 1] * points[..., 1] / pz + K[1, 2]
    u_min = np.where(valid, u, np.inf).min(axis=1)
    u_max = np.where(valid, u, -np.inf).max(axis=1)
    v_min = np.where(valid, v, np.inf).min(axis=1)
    v_max = np.where(valid, v, -np.inf).max(axis=1)
    z_min = np.where(valid, points[..., 2], np.inf).min(axis=1)
    with np.errstate(invalid="ignore"):
        # One pixel of margin absorbs float32 rounding of the rays.
        u0 = np.clip(np.floor(u_min), 0, camera.width)
        u1 = np.clip(np.floor(u_max) + 2, 0, camera.width)
        v0 = np.clip(np.floor(v_min), 0, camera.height)
        v1 = np.clip(np.floor(v_max) + 2, 0, camera.height)
    visible = valid.any(axis=1) & (u0 < u1) & (v0 < v1) & (z_min < MAX_DEPTH)
    rects = np.stack([v0, v1, u0, u1], axis=1)
    rects[~visible] = 0
    return rects.astype(np.int64), z_min, visible


def cast(scene: Scene, camera: Camera, T_world_cam: np.ndarray, time_s: float) -> GBuffer:
    """Render the z-buffer of ``scene`` at ``time_s`` seen by ``camera`` posed at T_world_cam."""
    rays = RayGrid.create(camera, T_world_cam)
    origin = rays.origin
    if origin[1] >= 0.0:
        raise ValueError("the camera must be above the road (world y < 0)")
    depth, ids = _ground(rays)
    center = scene.centers_at(time_s)
    rects, z_min, visible = screen_rects(center, scene.half, camera, T_world_cam)
    order = np.flatnonzero(visible)
    order = order[np.argsort(z_min[order], kind="stable")]
    intersect = {Kind.BOX: _box_depth, Kind.CYLINDER: _cylinder_depth, Kind.SPHERE: _sphere_depth}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i in order:
            v0, v1, u0, u1 = rects[i]
            z_buffer = depth[v0:v1, u0:u1]
            if z_min[i] >= z_buffer.max():
                continue  # hidden behind what is already drawn
            rows, cols = slice(v0, v1), slice(u0, u1)
            t, hit = intersect[scene.kind[i]](rays, rows, cols, center[i] - origin, scene.half[i])
            hit &= t > NEAR
            hit &= t < z_buffer
            np.copyto(z_buffer, t, where=hit)
            np.copyto(ids[v0:v1, u0:u1], FIRST_PRIMITIVE_ID + i, where=hit)
    return GBuffer(depth, ids, rays)


def _ground(rays: RayGrid):
    """Initial buffers: the road plane y = 0 where it is nearer than MAX_DEPTH, sky elsewhere."""
    down = rays.direction(1)
    with np.errstate(divide="ignore"):
        t = np.float32(-rays.origin[1]) / down
    ground = (down > 0) & (t < MAX_DEPTH)
    depth = np.where(ground, t, np.float32(MAX_DEPTH))
    ids = ground.astype(np.int32)  # Kind.GROUND id is 1, sky 0
    return depth, ids


def slab_interval(slab_params):
    """(t_near, t_far) of rays through an axis-aligned box from the ray parameters (t0, t1)
    at each axis's two slab planes (the slab test); the ray hits where t_near <= t_far."""
    t_near = t_far = None
    for t0, t1 in slab_params:
        lo = np.minimum(t0, t1)
        hi = np.maximum(t0, t1, out=t1)
        if t_near is None:
            t_near, t_far = lo, hi
        else:
            np.maximum(t_near, lo, out=t_near)
            np.minimum(t_far, hi, out=t_far)
    return t_near, t_far


def _box_depth(rays: RayGrid, rows, cols, center: np.ndarray, half: np.ndarray):
    """Slab test; ``center`` is relative to the ray origin. Returns (t_near, hit)."""
    def params():
        for axis in range(3):
            inv = np.reciprocal(rays.direction(axis, rows, cols))
            yield inv * np.float32(center[axis] - half[axis]), inv * np.float32(center[axis] + half[axis])
    t_near, t_far = slab_interval(params())
    return t_near, t_near <= t_far


def _cylinder_depth(rays: RayGrid, rows, cols, center: np.ndarray, half: np.ndarray):
    """Side wall of a vertical cylinder (no caps: they are never seen from the road)."""
    dx = rays.direction(0, rows, cols)
    dz = rays.direction(2, rows, cols)
    cx, cz = np.float32(center[0]), np.float32(center[2])
    b = dx * cx
    b += dz * cz                       # b = d . c (half of the usual -b)
    a = dx * dx
    a += dz * dz
    c = np.float32(center[0] ** 2 + center[2] ** 2 - half[0] ** 2)
    disc = b * b - a * c
    # Near root t = (b - sqrt(disc)) / a, written as c / (b + sqrt(disc)) to avoid cancellation.
    t = c / (b + np.sqrt(disc))
    y = rays.direction(1, rows, cols) * t
    dy = np.float32(center[1])
    hy = np.float32(half[1])
    hit = disc >= 0
    hit &= np.abs(y - dy) <= hy
    return t, hit


def _sphere_depth(rays: RayGrid, rows, cols, center: np.ndarray, half: np.ndarray):
    b = a = None
    for axis in range(3):
        d = rays.direction(axis, rows, cols)
        if b is None:
            b = d * np.float32(center[axis])
            a = d * d
        else:
            b += d * np.float32(center[axis])
            a += d * d
    c = np.float32(center @ center - half[0] ** 2)
    disc = b * b - a * c
    t = c / (b + np.sqrt(disc))
    return t, disc >= 0
