"""Sun shadows: is the ray from each visible point towards the sun blocked by a primitive?

Boxes (buildings, vehicles, people) and spheres (tree crowns, heads) cast shadows; thin poles,
trunks, wheels and curbs do not (their shadows are a few pixels wide or hidden under the car).
Each caster only tests the pixels of its shadow volume's screen rectangle: the caster swept
away from the sun down to the lowest ground. Rotated boxes are tested in their own frame.
"""
from __future__ import annotations

import numpy as np

from core.data.msynth.classes import SIDEWALK
from core.data.msynth.raycast import RayGrid, screen_rects, slab_interval
from core.data.msynth.scene import Kind, Scene
from core.data.msynth.surface import Surface

SELF_SHADOW_EPS = 0.02  # m; a surface never shadows itself at its own face


def _shadow_volumes(center: np.ndarray, extent: np.ndarray, sun: np.ndarray, ground_y: float):
    """Centre and half size of the world boxes that hold each caster (world half size
    ``extent``) and its shadow down to the ground level ``ground_y``."""
    lo, hi = center - extent, center + extent
    reach = (lo[:, 1:2] - ground_y) / sun[1]     # ray length from the caster's top to the ground
    shifted_lo = lo - reach * sun
    shifted_hi = hi - reach * sun
    vol_lo = np.minimum(lo, shifted_lo)
    vol_hi = np.maximum(hi, shifted_hi)
    vol_hi[:, 1] = ground_y
    return (vol_lo + vol_hi) / 2.0, (vol_hi - vol_lo) / 2.0


def sun_visibility(s: Surface, scene: Scene, rays: RayGrid, sun_dir: np.ndarray) -> np.ndarray:
    """(H * W,) float32: 1 where the sun is visible from the surface point, 0 in shadow."""
    casts = ((scene.kind == Kind.BOX) & (scene.cls != SIDEWALK)) | (scene.kind == Kind.SPHERE)
    casters = np.flatnonzero(casts)
    h, w = s.height, s.width
    shadow = np.zeros((h, w), bool)
    if casters.size == 0 or sun_dir[1] >= 0.0:
        return np.ones(h * w, np.float32)
    sun = np.where(np.abs(sun_dir) < 1e-6, 1e-6, sun_dir)
    center, half, rotation = s.center[casters], scene.half[casters], s.rotation[casters]
    rotated = np.abs(rotation - np.eye(3)).max(axis=(1, 2)) > 1e-12
    extent = np.einsum("nij,nj->ni", np.abs(rotation), half)
    vol_center, vol_half = _shadow_volumes(center, extent, sun, scene.road.deepest())
    rects, _, visible = screen_rects(vol_center, vol_half, rays.camera, rays.T_world_cam)
    point = s.point.reshape(3, h, w)
    inv_sun = (1.0 / sun).astype(np.float32)
    scaled = point * inv_sun[:, None, None]        # slab entry/exit = (plane - p) / sun
    sun32 = sun.astype(np.float32)
    for i in np.flatnonzero(visible):
        v0, v1, u0, u1 = rects[i]
        window = (slice(v0, v1), slice(u0, u1))
        if scene.kind[casters[i]] == Kind.BOX and rotated[i]:
            blocked = _rotated_box_blocks(point[:, v0:v1, u0:u1], center[i], half[i], rotation[i], sun)
        elif scene.kind[casters[i]] == Kind.BOX:
            blocked = _box_blocks(scaled[:, v0:v1, u0:u1], center[i] - half[i],
                                  center[i] + half[i], inv_sun)
        else:
            blocked = _sphere_blocks(point[:, v0:v1, u0:u1], center[i], half[i, 0], sun32)
        shadow[window] |= blocked
    return (~shadow).ravel().astype(np.float32)


def _box_blocks(scaled: np.ndarray, lo: np.ndarray, hi: np.ndarray, inv_sun: np.ndarray):
    t_near, t_far = slab_interval((np.float32(lo[axis] * inv_sun[axis]) - scaled[axis],
                                   np.float32(hi[axis] * inv_sun[axis]) - scaled[axis]) for axis in range(3))
    blocked = t_near < t_far
    blocked &= t_far > SELF_SHADOW_EPS
    return blocked


def _rotated_box_blocks(point: np.ndarray, center: np.ndarray, half: np.ndarray, R: np.ndarray,
                        sun: np.ndarray):
    """The slab test of ``_box_blocks`` in the box's own frame."""
    R32 = R.astype(np.float32)
    local = np.einsum("ji,jhw->ihw", R32, point - center.astype(np.float32)[:, None, None])
    sun_local = R.T @ sun
    sun_local = np.where(np.abs(sun_local) < 1e-6, 1e-6, sun_local)
    inv_sun = (1.0 / sun_local).astype(np.float32)
    scaled = local * inv_sun[:, None, None]
    return _box_blocks(scaled, -half, half, inv_sun)


def _sphere_blocks(point: np.ndarray, center: np.ndarray, radius: float, sun: np.ndarray):
    m = point - center.astype(np.float32)[:, None, None]
    b = m[0] * sun[0] + m[1] * sun[1] + m[2] * sun[2]
    c = (m * m).sum(axis=0) - np.float32(radius * radius)
    blocked = b * b >= c
    blocked &= b < 0.0
    return blocked
