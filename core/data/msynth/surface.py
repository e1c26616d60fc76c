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
    rotation: np.ndarray   # (N, 3, 3) float64 primitive rotations at this frame's time
    sunlit: np.ndarray | None = None   # 1 where the sun is visible, 0 in shadow (None: no test)


def _id_table(values: np.ndarray, sky, ground) -> np.ndarray:
    """A lookup table by pixel id: sky, ground, then one entry per primitive."""
    head = np.array([sky, ground], dtype=values.dtype).reshape((2,) + values.shape[1:])
    return np.concatenate([head, values])


def compute_surface(scene: Scene, gbuffer: GBuffer, lit_windows: float) -> Surface:
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
    normal[1] = -1.0
    s1 = point[0].copy()
    s2 = point[2].copy()
    material = np.full(n, Mat.ASPHALT, np.uint8)
    classes = _id_table(scene.cls, SKY, ROAD).take(ids)
    heat = np.zeros(n, np.float32)
    surface = Surface(h, w, ids, sky, depth, ray, point, normal, material, s1, s2, classes, heat,
                      gbuffer.center, gbuffer.rotation)

    kinds = _id_table(scene.kind, Kind.SKY, Kind.GROUND).take(ids)
    _ground(surface, scene, np.flatnonzero(kinds == Kind.GROUND))
    _boxes(surface, scene, np.flatnonzero(kinds == Kind.BOX), lit_windows)
    _round(surface, scene, np.flatnonzero(kinds == Kind.CYLINDER), cap=False)
    _round(surface, scene, np.flatnonzero(kinds == Kind.WHEEL), cap=True)
    _spheres(surface, scene, np.flatnonzero(kinds == Kind.SPHERE))
    return surface


def _local(s: Surface, idx: np.ndarray, prim: np.ndarray) -> tuple[np.ndarray, list]:
    """(points in their primitive's frame (3, n), the nine entries of each pixel's R_world_local
    as flat arrays, row-major). Gathered entry by entry: cheaper than (n, 3, 3) matrices."""
    rotation = s.rotation.reshape(-1, 9).astype(np.float32)
    R = [np.ascontiguousarray(rotation[:, k]).take(prim) for k in range(9)]
    rel = [s.point[k].take(idx) - s.center[:, k].astype(np.float32).take(prim) for k in range(3)]
    local = np.stack([R[i] * rel[0] + R[3 + i] * rel[1] + R[6 + i] * rel[2] for i in range(3)])
    return local, R


def _to_world(R: list, local: np.ndarray) -> np.ndarray:
    return np.stack([R[3 * i] * local[0] + R[3 * i + 1] * local[1] + R[3 * i + 2] * local[2]
                     for i in range(3)])


def _ground(s: Surface, scene: Scene, idx: np.ndarray) -> None:
    """Road with lane markings inside the road's half width, grass and soil patches outside,
    asphalt and zebra crossings where a cross street meets the road. Normals follow the grade."""
    layout, road = scene.layout, scene.road
    x = s.point[0].take(idx)
    z = s.point[2].take(idx)
    grade = road.grade(z).astype(np.float32)
    norm = np.sqrt(1.0 + grade * grade)
    s.normal[1][idx] = -1.0 / norm               # the ground faces up (world -y)
    s.normal[2][idx] = grade / norm
    ax = np.abs(road.lateral(x, z)).astype(np.float32)
    mat = np.full(idx.size, Mat.ASPHALT, np.uint8)
    mat[np.abs(ax - 0.15) < 0.06] = Mat.PAINT_YELLOW      # double centre line
    dashes = np.mod(z, 12.0) < 4.8
    for lane in range(1, layout.lanes_per_direction):
        mat[(np.abs(ax - lane * layout.lane_width) < 0.075) & dashes] = Mat.PAINT_WHITE
    edge = layout.driving_half_width - (0.25 if layout.parking_width == 0.0 else 0.0)
    mat[np.abs(ax - edge) < 0.08] = Mat.PAINT_WHITE
    terrain = ax >= layout.road_half_width
    crossing_street = np.zeros(idx.size, bool)
    for crossing in road.crossings:
        inside = crossing.contains(z)
        mat[inside & ~terrain] = Mat.ASPHALT                 # no lane lines across the junction
        crossing_street |= inside
        # zebra stripes on the road just before and after the junction
        zebra = crossing.contains(z, margin=3.5) & ~inside & (ax < layout.road_half_width)
        zebra &= np.mod(ax, 1.0) < 0.5
        mat[zebra] = Mat.PAINT_WHITE
    terrain &= ~crossing_street
    if terrain.any():
        t_idx = np.flatnonzero(terrain)
        patches = sample_texture(np.int32(Tile.MOTTLED), x[t_idx] * 0.25 + 17.0, z[t_idx] * 0.25)
        mat[t_idx] = np.where(patches > 0.5, Mat.DIRT, Mat.GRASS)
        s.classes[idx[t_idx]] = TERRAIN
    s.material[idx] = mat


def _boxes(s: Surface, scene: Scene, idx: np.ndarray, lit_windows: float):
    """Boxes: the face is the local axis where the local coordinate reaches +-1."""
    if idx.size == 0:
        return
    prim = s.ids.take(idx) - FIRST_PRIMITIVE_ID
    p, R = _local(s, idx, prim)
    half = np.stack([np.ascontiguousarray(scene.half[:, k], np.float32).take(prim)
                     for k in range(3)])
    q = p / half                                          # local coordinates in [-1, 1]
    aq = np.abs(q)
    x_face = (aq[0] >= aq[1]) & (aq[0] >= aq[2])
    z_face = (aq[2] > aq[0]) & (aq[2] > aq[1])
    y_face = ~(x_face | z_face)
    axis = y_face.astype(np.int8) + 2 * z_face.astype(np.int8)
    sign = np.sign(np.where(x_face, q[0], np.where(z_face, q[2], q[1])))
    local_normal = np.stack([x_face * sign, y_face * sign, z_face * sign]).astype(np.float32)
    normal = _to_world(R, local_normal)
    for k in range(3):
        s.normal[k][idx] = normal[k]
    # In-face coordinates: x-faces (z, height), y-faces (x, z), z-faces (x, height), offset by
    # the primitive's centre so neighbouring boxes do not repeat one texture.
    c = [s.center[:, k].astype(np.float32).take(prim) for k in range(3)]
    s.s1[idx] = np.where(x_face, p[2] + c[2], p[0] + c[0] + c[2])
    s.s2[idx] = np.where(y_face, p[2] + c[2], -p[1] - c[1])

    mat = scene.material.take(prim)
    rules = {Mat.FACADE: _windows, Mat.BRICK: _windows, Mat.PLASTER: _windows,
             Mat.CAR_PAINT: _car_body, Mat.CAR_GLASS: _car_cabin, Mat.LAMP: _lamp_lens}
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
    """Window grid on the vertical faces of buildings; shop windows on the ground floor. Low
    boxes (walls) and boxes without a window pattern keep their material."""
    mat = scene.material.take(prim)
    x_face = axis == 0
    along = (np.where(x_face, q[2], q[0]) + 1.0) * np.where(x_face, half[2], half[0])
    length = np.where(x_face, 2.0 * half[2], 2.0 * half[0])
    height = (1.0 - q[1]) * half[1]                                  # above the building's base
    spacing = np.ascontiguousarray(scene.pattern[:, 0]).take(prim)
    floor = np.ascontiguousarray(scene.pattern[:, 1]).take(prim)
    has_pattern = (spacing > 0) & (half[1] > 2.0)
    spacing = np.where(has_pattern, spacing, np.float32(1.0))
    floor = np.where(has_pattern, floor, np.float32(1.0))
    u = along / spacing
    v = height / floor
    fu, fv = u - np.floor(u), v - np.floor(v)
    ground_floor = v < 1.0
    window = np.where(ground_floor, (fv > 0.08) & (fv < 0.75) & (fu > 0.08) & (fu < 0.92),
                      (fv > 0.32) & (fv < 0.78) & (fu > 0.25) & (fu < 0.75))
    window &= (axis != 1) & (along > 0.6) & (along < length - 0.6)
    window &= height < 2.0 * half[1] - 0.8
    window &= has_pattern
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


def _round(s: Surface, scene: Scene, idx: np.ndarray, cap: bool) -> None:
    """Cylinders along their local y: radial normals on the wall, axial on a wheel's caps;
    (arc length, height) coordinates. Heated ones (tyres) are uniformly warm."""
    if idx.size == 0:
        return
    prim = s.ids.take(idx) - FIRST_PRIMITIVE_ID
    p, R = _local(s, idx, prim)
    radius = np.ascontiguousarray(scene.half[:, 0], np.float32).take(prim)
    length = np.ascontiguousarray(scene.half[:, 1], np.float32).take(prim)
    local_normal = np.stack([p[0] / radius, np.zeros_like(p[0]), p[2] / radius])
    if cap:
        on_cap = np.abs(p[1]) >= length - 1e-3 * np.maximum(length, 1.0)
        local_normal[:, on_cap] = 0.0
        local_normal[1, on_cap] = np.sign(p[1][on_cap])
    normal = _to_world(R, local_normal)
    for k in range(3):
        s.normal[k][idx] = normal[k]
    s.s1[idx] = np.arctan2(p[0], p[2]) * radius
    s.s2[idx] = -p[1] - s.center[:, 1].astype(np.float32).take(prim)
    s.material[idx] = scene.material.take(prim)
    s.heat[idx] = scene.heat.take(prim)


def _spheres(s: Surface, scene: Scene, idx: np.ndarray) -> None:
    """Spheres: radial normals, (arc length, height) coordinates."""
    if idx.size == 0:
        return
    prim = s.ids.take(idx) - FIRST_PRIMITIVE_ID
    radius = np.ascontiguousarray(scene.half[:, 0], np.float32).take(prim)
    normal = [(s.point[k].take(idx) - s.center[:, k].astype(np.float32).take(prim)) / radius
              for k in range(3)]
    for k in range(3):
        s.normal[k][idx] = normal[k]
    s.s1[idx] = np.arctan2(normal[0], normal[2]) * radius
    s.s2[idx] = -s.point[1].take(idx)
    s.material[idx] = scene.material.take(prim)
