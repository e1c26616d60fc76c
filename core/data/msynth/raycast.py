"""Ray casting of the scene's analytic primitives into one pinhole camera.

The ray of pixel (u, v) is d = R_world_cam K^-1 [u, v, 1]: its camera z component is 1, so the
ray parameter t of a hit is the z-depth. World directions are separable sums,
d_i(v, u) = A_i(u) + B_i(v), so a rectangle of rays costs one broadcast add per component.

Speed comes from screen-space culling: each primitive's bounding box (clipped to the near
plane) is projected into the camera and only the rays in that pixel rectangle are tested,
front to back, skipping primitives already hidden by the z-buffer. A rotated primitive is
tested in its own frame: rotating the rays keeps them separable (R d = R A(u) + R B(v)), so
that costs two small matrix products per primitive. The ground is one exact plane per stretch
of the road's height profile, each tested only in the rows its stretch covers.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from core.data.msynth.road import Road
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

    def window(self, rows: slice, cols: slice, R_world_local: np.ndarray | None = None) -> "RayWindow":
        """The rays of a pixel rectangle, in the frame of R_world_local (None: world axes)."""
        A, B = self.A[:, cols], self.B[:, rows]
        if R_world_local is not None:
            R = R_world_local.T.astype(np.float32)
            A, B = R @ A, R @ B
        return RayWindow(A, B)


@dataclass
class RayWindow:
    """Separable ray directions of one pixel rectangle in some frame."""

    A: np.ndarray   # (3, w)
    B: np.ndarray   # (3, h)

    def direction(self, axis: int) -> np.ndarray:
        return self.B[axis, :, None] + self.A[axis, None, :]


@dataclass
class GBuffer:
    """Per-pixel z-depth (MAX_DEPTH where sky) and primitive id (0 sky, 1 ground, 2 + i), with
    the primitives' placement at the rendered time."""

    depth: np.ndarray     # (H, W) float32
    ids: np.ndarray       # (H, W) int32
    rays: RayGrid
    center: np.ndarray    # (N, 3) float64 world centres
    rotation: np.ndarray  # (N, 3, 3) float64 R_world_local


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
    if origin[1] >= scene.road.height(origin[2]):
        raise ValueError("the camera must be above the road (world y above the ground)")
    depth, ids = _ground(rays, scene.road)
    center, rotation = scene.placed(time_s)
    rotated = np.abs(rotation - np.eye(3)).max(axis=(1, 2)) > 1e-12
    extent = np.einsum("nij,nj->ni", np.abs(rotation), scene.half)
    rects, z_min, visible = screen_rects(center, extent, camera, T_world_cam)
    order = np.flatnonzero(visible)
    order = order[np.argsort(z_min[order], kind="stable")]
    intersect = {Kind.BOX: _box_depth, Kind.CYLINDER: _cylinder_depth, Kind.SPHERE: _sphere_depth,
                 Kind.WHEEL: _wheel_depth}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i in order:
            v0, v1, u0, u1 = rects[i]
            z_buffer = depth[v0:v1, u0:u1]
            if z_min[i] >= z_buffer.max():
                continue  # hidden behind what is already drawn
            R = rotation[i] if rotated[i] else None
            window = rays.window(slice(v0, v1), slice(u0, u1), R)
            offset = center[i] - origin if R is None else R.T @ (center[i] - origin)
            t, hit = intersect[scene.kind[i]](window, offset, scene.half[i])
            hit &= t > NEAR
            hit &= t < z_buffer
            np.copyto(z_buffer, t, where=hit)
            np.copyto(ids[v0:v1, u0:u1], FIRST_PRIMITIVE_ID + i, where=hit)
    return GBuffer(depth, ids, rays, center, rotation)


def _ground(rays: RayGrid, road: Road):
    """Initial buffers: the ground where it is nearer than MAX_DEPTH, sky elsewhere.

    A flat road is the plane y = 0; a hilly one is tested stretch by stretch, each an exact
    plane y = y0 + grade (z - z0) kept only where the hit falls inside its stretch.
    """
    if road.is_flat:
        down = rays.direction(1)
        with np.errstate(divide="ignore"):
            t = np.float32(-rays.origin[1]) / down
        ground = (down > 0) & (t < MAX_DEPTH)
        depth = np.where(ground, t, np.float32(MAX_DEPTH))
        return depth, ground.astype(np.int32)  # Kind.GROUND id is 1, sky 0
    camera = rays.camera
    depth = np.full((camera.height, camera.width), MAX_DEPTH, np.float32)
    ids = np.zeros((camera.height, camera.width), np.int32)
    ox, oy, oz = rays.origin
    z0, z1, y0, grade = road.stretches()
    near = (z1 > oz - MAX_DEPTH) & (z0 < oz + MAX_DEPTH)
    z0, z1, y0, grade = z0[near], z1[near], y0[near], grade[near]
    y1 = y0 + grade * (z1 - z0)
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    centers = np.stack([np.full(len(z0), ox), (lo + hi) / 2.0, (z0 + z1) / 2.0], axis=1)
    halves = np.stack([np.full(len(z0), MAX_DEPTH), (hi - lo) / 2.0 + 1e-3, (z1 - z0) / 2.0], axis=1)
    rects, _, visible = screen_rects(centers, halves, camera, rays.T_world_cam)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in np.flatnonzero(visible):
            v0, v1, u0, u1 = rects[k]
            rows, cols = slice(v0, v1), slice(u0, u1)
            dz = rays.direction(2, rows, cols)
            g = np.float32(grade[k])
            t = np.float32(y0[k] + grade[k] * (oz - z0[k]) - oy) / (rays.direction(1, rows, cols) - g * dz)
            z = np.float32(oz) + t * dz
            z_buffer = depth[rows, cols]
            hit = (t > NEAR) & (z >= np.float32(z0[k])) & (z < np.float32(z1[k])) & (t < z_buffer)
            np.copyto(z_buffer, t, where=hit)
            np.copyto(ids[rows, cols], 1, where=hit)
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


def _box_depth(rays: RayWindow, center: np.ndarray, half: np.ndarray):
    """Slab test; ``center`` is relative to the ray origin. Returns (t_near, hit)."""
    def params():
        for axis in range(3):
            inv = np.reciprocal(rays.direction(axis))
            yield inv * np.float32(center[axis] - half[axis]), inv * np.float32(center[axis] + half[axis])
    t_near, t_far = slab_interval(params())
    return t_near, t_near <= t_far


def _cylinder_depth(rays: RayWindow, center: np.ndarray, half: np.ndarray):
    """Side wall of a cylinder along its local y (capped at |y| <= half y: the caps of upright
    poles are never seen from the road, those of wheels hide under the body)."""
    dx = rays.direction(0)
    dz = rays.direction(2)
    cx, cz = np.float32(center[0]), np.float32(center[2])
    b = dx * cx
    b += dz * cz                       # b = d . c (half of the usual -b)
    a = dx * dx
    a += dz * dz
    c = np.float32(center[0] ** 2 + center[2] ** 2 - half[0] ** 2)
    disc = b * b - a * c
    # Near root t = (b - sqrt(disc)) / a, written as c / (b + sqrt(disc)) to avoid cancellation.
    t = c / (b + np.sqrt(disc))
    y = rays.direction(1) * t
    dy = np.float32(center[1])
    hy = np.float32(half[1])
    hit = disc >= 0
    hit &= np.abs(y - dy) <= hy
    return t, hit


def _wheel_depth(rays: RayWindow, center: np.ndarray, half: np.ndarray):
    """A closed cylinder along its local y: the side wall and both flat caps."""
    t, hit = _cylinder_depth(rays, center, half)
    t = np.where(hit, t, np.float32(np.inf))
    dx, dy, dz = rays.direction(0), rays.direction(1), rays.direction(2)
    r2 = np.float32(half[0] ** 2)
    for cap_y in (center[1] - half[1], center[1] + half[1]):
        t_cap = np.float32(cap_y) / dy
        ex = t_cap * dx - np.float32(center[0])
        ez = t_cap * dz - np.float32(center[2])
        inside = ex * ex + ez * ez <= r2
        inside &= t_cap > 0
        np.copyto(t, t_cap, where=inside & (t_cap < t))
    return t, np.isfinite(t)


def _sphere_depth(rays: RayWindow, center: np.ndarray, half: np.ndarray):
    b = a = None
    for axis in range(3):
        d = rays.direction(axis)
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
