"""Per-pixel surface attributes of a z-buffer: world point, normal, material, texture
coordinates, class, extra heat. Procedural rules refine a primitive's material by position:
lane markings, window grids, car lights, cabin pillars, lamp lenses.

All arrays are flat (H * W,), float32 unless stated; sky pixels carry don't-care values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.msynth.classes import ROAD, SKY, TERRAIN
from core.data.msynth.materials import Mat, Tile, sample_texture
from core.data.msynth.raycast import GBuffer
from core.data.msynth.scene import FIRST_PRIMITIVE_ID, Kind, Scene


@dataclass
class Surface:
    height: int
    width: int
    ids: np.ndarray        # int32 pixel ids (0 sky, 1 ground, 2 + primitive)
    sky: np.ndarray        # bool
    depth: np.ndarray      # z-depth, 0 at sky
    ray: np.ndarray        # (3, n) world ray direction (camera z component 1)
    point: np.ndarray      # (3, n) world point
    normal: np.ndarray     # (3, n)
    material: np.ndarray   # uint8 Mat
    s1: np.ndarray         # surface coordinates in metres (texture space)
    s2: np.ndarray
    classes: np.ndarray    # uint8 class ids
    heat: np.ndarray       # extra degrees C
    center: np.ndarray     # (N, 3) float64 primitive centres at this frame's time
    sunlit: np.ndarray | None = None   # 1 where the sun is visible, 0 in shadow (None: no test)


def _id_table(values: np.ndarray, sky, ground) -> np.ndarray:
    """A lookup table by pixel id: sky, ground, then one entry per primitive."""
    head = np.array([sky, ground], dtype=values.dtype).reshape((2,) + values.shape[1:])
    return np.concatenate([head, values])


def compute_surface(scene: Scene, gbuffer: GBuffer, time_s: float, lit_windows: float) -> Surface:
    """Attributes of every pixel of ``gbuffer``; ``lit_windows`` is the share of lit windows."""
    h, w = gbuffer.depth.shape
    ids = gbuffer.ids.ravel()
    sky = ids == 0
    depth = np.where(sky, np.float32(0.0), gbuffer.depth.ravel())
    rays = gbuffer.rays
    ray = np.stack([rays.direction(a).ravel() for a in range(3)])
    point = ray * depth + rays.origin.astype(np.float32)[:, None]

    n = ids.size
    normal = np.zeros((3, n), np.float32)
    normal[1] = -1.0                       # the road faces up (world -y)
    s1 = point[0].copy()
    s2 = point[2].copy()
    material = np.full(n, Mat.ASPHALT, np.uint8)
    classes = _id_table(scene.cls, SKY, ROAD).take(ids)
    heat = np.zeros(n, np.float32)
    center = scene.centers_at(time_s)
    surface = Surface(h, w, ids, sky, depth, ray, point, normal, material, s1, s2, classes, heat,
                      center)

    kinds = _id_table(scene.kind, Kind.SKY, Kind.GROUND).take(ids)
    _ground(surface, scene, np.flatnonzero(kinds == Kind.GROUND))
    center = center.astype(np.float32)
    _boxes(surface, scene, center, np.flatnonzero(kinds == Kind.BOX), lit_windows)
    _round(surface, scene, center, np.flatnonzero(kinds == Kind.CYLINDER), cylinder=True)
    _round(surface, scene, center, np.flatnonzero(kinds == Kind.SPHERE), cylinder=False)
    return surface


def _ground(s: Surface, scene: Scene, idx: np.ndarray) -> None:
    """Road with lane markings inside the road's half width, grass and soil patches outside."""
    layout = scene.layout
    x = s.point[0].take(idx)
    z = s.point[2].take(idx)
    ax = np.abs(x)
    mat = np.full(idx.size, Mat.ASPHALT, np.uint8)
    mat[np.abs(ax - 0.15) < 0.06] = Mat.PAINT_YELLOW      # double centre line
    dashes = np.mod(z, 12.0) < 4.8
    for lane in range(1, layout.lanes_per_direction):
        mat[(np.abs(ax - lane * layout.lane_width) < 0.075) & dashes] = Mat.PAINT_WHITE
    edge = layout.driving_half_width - (0.25 if layout.parking_width == 0.0 else 0.0)
    mat[np.abs(ax - edge) < 0.08] = Mat.PAINT_WHITE
    terrain = ax >= layout.road_half_width
    if terrain.any():
        t_idx = np.flatnonzero(terrain)
        patches = sample_texture(np.int32(Tile.MOTTLED), x[t_idx] * 0.25 + 17.0, z[t_idx] * 0.25)
        mat[t_idx] = np.where(patches > 0.5, Mat.DIRT, Mat.GRASS)
        s.classes[idx[t_idx]] = TERRAIN
    s.material[idx] = mat


def _boxes(s: Surface, scene: Scene, center: np.ndarray, idx: np.ndarray, lit_windows: float):
    """Axis-aligned boxes: the face is the axis where the local coordinate reaches +-1."""
    if idx.size == 0:
        return
    prim = s.ids.take(idx) - FIRST_PRIMITIVE_ID
    p = [s.point[k].take(idx) for k in range(3)]
    half = np.stack([np.ascontiguousarray(scene.half[:, k], np.float32).take(prim)
                     for k in range(3)])
    q = np.stack([(p[k] - np.ascontiguousarray(center[:, k]).take(prim)) / half[k]
                  for k in range(3)])                      # local coordinates in [-1, 1]
    aq = np.abs(q)
    x_face = (aq[0] >= aq[1]) & (aq[0] >= aq[2])
    z_face = (aq[2] > aq[0]) & (aq[2] > aq[1])
    y_face = ~(x_face | z_face)
    axis = y_face.astype(np.int8) + 2 * z_face.astype(np.int8)
    sign = np.sign(np.where(x_face, q[0], np.where(z_face, q[2], q[1])))
    for k, face in enumerate((x_face, y_face, z_face)):
        s.normal[k][idx] = face * sign
    # In-face coordinates: x-faces (z, height), y-faces (x, z), z-faces (x, height).
    s.s1[idx] = np.where(x_face, p[2], p[0])
    s.s2[idx] = np.where(y_face, p[2], -p[1])

    mat = scene.material.take(prim)
    rules = {Mat.FACADE: _windows, Mat.CAR_PAINT: _car_body, Mat.CAR_GLASS: _car_cabin,
             Mat.LAMP: _lamp_lens}
    for material, rule in rules.items():
        sel = np.flatnonzero(mat == material)
        if sel.size:
            mat[sel] = rule(scene, prim[sel], q[:, sel], half[:, sel], axis[sel], sign[sel],
                            lit_windows)
    s.material[idx] = mat
    heated = np.flatnonzero(scene.heat.take(prim) > 0)
    if heated.size:
        s.heat[idx[heated]] = _vehicle_heat(scene, prim[heated], q[:, heated], axis[heated],
                                            sign[heated], mat[heated])


def _windows(scene: Scene, prim, q, half, axis, sign, lit_windows):
    """Window grid on the vertical faces of buildings; shop windows on the ground floor."""
    mat = np.full(prim.size, Mat.FACADE, np.uint8)
    x_face = axis == 0
    along = (np.where(x_face, q[2], q[0]) + 1.0) * np.where(x_face, half[2], half[0])
    length = np.where(x_face, 2.0 * half[2], 2.0 * half[0])
    height = (1.0 - q[1]) * half[1]                                  # above the building's base
    spacing = np.ascontiguousarray(scene.pattern[:, 0]).take(prim)
    floor = np.ascontiguousarray(scene.pattern[:, 1]).take(prim)
    u = along / spacing
    v = height / floor
    fu, fv = u - np.floor(u), v - np.floor(v)
    ground_floor = v < 1.0
    window = np.where(ground_floor, (fv > 0.08) & (fv < 0.75) & (fu > 0.08) & (fu < 0.92),
                      (fv > 0.32) & (fv < 0.78) & (fu > 0.25) & (fu < 0.75))
    window &= (axis != 1) & (along > 0.6) & (along < length - 0.6)
    window &= height < 2.0 * half[1] - 0.8
    mat[window] = Mat.GLASS
    if lit_windows > 0.0:
        cell = _hash(np.floor(u).astype(np.uint32), np.floor(v).astype(np.uint32),
                     prim.astype(np.uint32) * np.uint32(4) + axis.astype(np.uint32))
        mat[window & (cell < lit_windows)] = Mat.LIT_WINDOW
    return mat


def _hash(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Deterministic per-cell random number in [0, 1)."""
    h = a * np.uint32(73856093) ^ b * np.uint32(19349663) ^ c * np.uint32(83492791)
    h ^= h >> np.uint32(13)
    h *= np.uint32(2654435761)
    return (h >> np.uint32(8)).astype(np.float32) / np.float32(2 ** 24)


def _car_body(scene: Scene, prim, q, half, axis, sign, lit_windows):
    """Head lights on the front face, tail lights on the rear face (front = facing along z)."""
    mat = np.full(prim.size, Mat.CAR_PAINT, np.uint8)
    facing = scene.facing[prim]
    across = np.abs(q[0])
    lamp = (axis == 2) & (across > 0.55) & (across < 0.9) & (q[1] > -0.75) & (q[1] < -0.2)
    mat[lamp & (sign == facing)] = Mat.HEADLIGHT
    mat[lamp & (sign == -facing)] = Mat.TAILLIGHT
    return mat


def _car_cabin(scene: Scene, prim, q, half, axis, sign, lit_windows):
    """Glass cabin with a painted roof, pillars and door line."""
    along = np.where(axis == 0, np.abs(q[2]), np.abs(q[0]))
    pillar = np.where(axis == 0, (along > 0.85) | (along < 0.05), along > 0.86)
    paint = (axis == 1) | pillar | (q[1] > 0.75)
    return np.where(paint, Mat.CAR_PAINT, Mat.CAR_GLASS).astype(np.uint8)


def _lamp_lens(scene: Scene, prim, q, half, axis, sign, lit_windows):
    """Only the bottom face of a lamp head (normal +y, downwards) emits light."""
    return np.where((axis == 1) & (sign > 0), Mat.LAMP, Mat.METAL).astype(np.uint8)


def _vehicle_heat(scene: Scene, prim, q, axis, sign, mat):
    """Engine heat rising towards the front, a hot exhaust, warm tyres (uniform)."""
    heat = scene.heat[prim]
    facing = scene.facing[prim]
    body = mat != Mat.TYRE
    front = np.clip(q[2] * facing, 0.0, 1.0)
    out = np.where(body, heat * (0.15 + 0.85 * front * front), heat)
    exhaust = body & (axis == 2) & (sign == -facing) & (q[1] > 0.4) & (q[0] > 0.45) & (q[0] < 0.8)
    out[exhaust] = heat[exhaust] * 1.5
    return out


def _round(s: Surface, scene: Scene, center: np.ndarray, idx: np.ndarray, cylinder: bool) -> None:
    """Vertical cylinders and spheres: radial normals, (arc length, height) coordinates."""
    if idx.size == 0:
        return
    prim = s.ids.take(idx) - FIRST_PRIMITIVE_ID
    radius = np.ascontiguousarray(scene.half[:, 0], np.float32).take(prim)
    normal = [(s.point[k].take(idx) - np.ascontiguousarray(center[:, k]).take(prim)) / radius
              for k in range(3)]
    if cylinder:
        normal[1][:] = 0.0
    for k in range(3):
        s.normal[k][idx] = normal[k]
    s.s1[idx] = np.arctan2(normal[0], normal[2]) * radius
    s.s2[idx] = -s.point[1].take(idx)
    s.material[idx] = scene.material.take(prim)
