"""Procedural layout of a driving scene from a seed, along a road that curves, climbs and dips.

World frame: x right, y down, z forward; the ground is y = road.height(z) (see road.py). Every
primitive has a centre, a half size in its own frame and a rotation R_world_local: boxes are
``center +- half`` in that frame; cylinders run along their local y with half = (r, length/2, r)
(upright poles and trunks; wheels are closed cylinders turned across the car); spheres have
half = (r, r, r). Objects are laid out in road coordinates (l across, z along; road.py) and
built from parts placed in the object's frame: upright for buildings and street furniture,
tilted with the grade for vehicles. Moving vehicles keep their parts' offsets in a frame that
slides along the road, so every part follows the curve and the hills.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum

import numpy as np

from core.data.msynth.classes import (BUILDING, PERSON, POLE, SIDEWALK, VEGETATION, VEHICLE)
from core.data.msynth.materials import Mat
from core.data.msynth.road import Road
from core.data.msynth.trajectory import FPS, SEQUENCE_LENGTH, SPEED_RANGE, EgoPath

# Scenes span this much road around the ego's start (z = 0): enough behind for the cameras'
# fields of view and ahead for a full sequence plus the render range.
SCENE_BEHIND = 60.0
SCENE_AHEAD = SEQUENCE_LENGTH / FPS * SPEED_RANGE[1] + 320.0
ONCOMING_MAX_SPEED = 14.0
MAX_BUILDING_LENGTH_ON_CURVES = 22.0   # long straight blocks would cut into a curving sidewalk


class Kind(IntEnum):
    """Pixel kinds. Pixel ids: 0 sky, 1 ground, FIRST_PRIMITIVE_ID + i for primitive i."""

    SKY = 0
    GROUND = 1
    BOX = 2
    CYLINDER = 3
    SPHERE = 4
    WHEEL = 5


FIRST_PRIMITIVE_ID = 2
_EYE = np.eye(3)
# Turns a cylinder's axis (local y) across a vehicle (its local x).
_ACROSS = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class RoadLayout:
    """Cross-section of the road, symmetric about x = 0; ego traffic drives on the right (+x)."""

    lanes_per_direction: int = 1
    lane_width: float = 3.5
    parking_width: float = 0.0
    sidewalk_width: float = 3.0
    curb_height: float = 0.15

    @property
    def driving_half_width(self) -> float:
        return self.lanes_per_direction * self.lane_width

    @property
    def road_half_width(self) -> float:
        return self.driving_half_width + self.parking_width

    @property
    def sidewalk_outer(self) -> float:
        return self.road_half_width + self.sidewalk_width

    def lane_center(self, lane: int, side: int) -> float:
        """x of lane ``lane`` (0 = next to the centre line) on side +1 (ego direction) or -1."""
        return side * (lane + 0.5) * self.lane_width


@dataclass
class Scene:
    """Primitives (arrays over primitives, placed at time 0), movers, street lights, the road
    and the ego's path."""

    seed: int | None
    layout: RoadLayout
    ego: EgoPath
    road: Road
    kind: np.ndarray            # (N,) uint8 Kind
    cls: np.ndarray             # (N,) uint8 class id
    material: np.ndarray        # (N,) uint8 Mat
    center: np.ndarray          # (N, 3) float64
    half: np.ndarray            # (N, 3) float64, in the primitive's frame
    rotation: np.ndarray        # (N, 3, 3) float64 R_world_local
    tint: np.ndarray            # (N, 3) float32 albedo tint for tinted materials
    heat: np.ndarray            # (N,) float32 extra degrees C (running engines, warm tyres)
    facing: np.ndarray          # (N,) int8 vehicles: +1 / -1 front towards local +z / -z; 0 otherwise
    pattern: np.ndarray         # (N, 2) float32 buildings: window spacing, floor height (m)
    mover: np.ndarray           # (N,) int32 index into the movers, -1 for static primitives
    offset: np.ndarray          # (N, 3) float64 centre in the mover's frame
    local_rotation: np.ndarray  # (N, 3, 3) float64 rotation in the mover's frame
    mover_l: np.ndarray = field(default_factory=lambda: np.zeros(0))      # (M,) lateral position
    mover_z: np.ndarray = field(default_factory=lambda: np.zeros(0))      # (M,) z at time 0
    mover_speed: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (M,) dz/dt, m/s
    street_lights: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (L, 3)

    def __len__(self) -> int:
        return len(self.kind)

    def placed(self, time_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(centres (N, 3), rotations (N, 3, 3)) at ``time_s``: movers advanced along the road."""
        moving = np.flatnonzero(self.mover >= 0)
        if moving.size == 0 or time_s == 0.0:
            return self.center, self.rotation
        origin, R = self.road.frame(self.mover_l, self.mover_z + self.mover_speed * time_s, pitch=True)
        g = self.mover[moving]
        center = self.center.copy()
        rotation = self.rotation.copy()
        center[moving] = origin[g] + np.einsum("nij,nj->ni", R[g], self.offset[moving])
        rotation[moving] = R[g] @ self.local_rotation[moving]
        return center, rotation

    def centers_at(self, time_s: float) -> np.ndarray:
        return self.placed(time_s)[0]

    @classmethod
    def ground_only(cls, layout: RoadLayout | None = None, ego: EgoPath | None = None,
                    seed: int | None = None, road: Road | None = None) -> "Scene":
        """The ground alone (no primitives), e.g. for exact-depth tests."""
        layout = layout or RoadLayout()
        road = road or Road()
        ego = ego or EgoPath(lane_x=layout.lane_center(0, 1), road=road)
        return _PrimitiveList(road).to_scene(seed, layout, ego, np.zeros((0, 3)))

    def with_box(self, center, size, class_id: int = BUILDING, material: Mat = Mat.FACADE,
                 tint=(0.5, 0.5, 0.5), rotation=None) -> "Scene":
        """A copy of this scene with one more static box (axis-aligned unless ``rotation``)."""
        center = np.asarray(center, dtype=np.float64)
        half = np.asarray(size, dtype=np.float64) / 2.0
        R = _EYE if rotation is None else np.asarray(rotation, dtype=np.float64)
        return replace(
            self,
            kind=np.append(self.kind, np.uint8(Kind.BOX)),
            cls=np.append(self.cls, np.uint8(class_id)),
            material=np.append(self.material, np.uint8(material)),
            center=np.vstack([self.center, center]),
            half=np.vstack([self.half, half]),
            rotation=np.concatenate([self.rotation, R[None]]),
            tint=np.vstack([self.tint, np.asarray(tint, np.float32)]),
            heat=np.append(self.heat, np.float32(0.0)),
            facing=np.append(self.facing, np.int8(0)),
            pattern=np.vstack([self.pattern, np.array([2.5, 3.2], np.float32)]),
            mover=np.append(self.mover, np.int32(-1)),
            offset=np.vstack([self.offset, np.zeros(3)]),
            local_rotation=np.concatenate([self.local_rotation, _EYE[None]]))


@dataclass(frozen=True)
class Placement:
    """An object's frame: its ground point, R_world_object and the mover carrying it (-1: none)."""

    origin: np.ndarray
    R: np.ndarray
    mover: int = -1


class _PrimitiveList:
    """Accumulates primitives row by row while a scene is laid out."""

    def __init__(self, road: Road) -> None:
        self.road = road
        self.rows: list[tuple] = []
        self.movers: list[tuple[float, float, float]] = []

    def upright(self, l: float, z: float, yaw: float = 0.0) -> Placement:
        origin, R = self.road.frame(l, z, pitch=False, yaw=yaw)
        return Placement(origin, R)

    def riding(self, l: float, z: float, yaw: float = 0.0) -> Placement:
        origin, R = self.road.frame(l, z, pitch=True, yaw=yaw)
        return Placement(origin, R)

    def moving(self, l: float, z: float, speed: float) -> Placement:
        self.movers.append((l, z, speed))
        origin, R = self.road.frame(l, z, pitch=True)
        return Placement(origin, R, len(self.movers) - 1)

    def add(self, kind: Kind, at: Placement, offset, half, cls: int, material: Mat,
            tint=(1.0, 1.0, 1.0), heat=0.0, facing=0, pattern=(0.0, 0.0), local_R=_EYE) -> None:
        offset = np.asarray(offset, dtype=np.float64)
        self.rows.append((kind, cls, material, at.origin + at.R @ offset, half, at.R @ local_R,
                          tint, heat, facing, pattern, at.mover, offset, local_R))

    def box(self, at: Placement, offset, size, cls: int, material: Mat, **kw) -> None:
        self.add(Kind.BOX, at, offset, np.asarray(size, dtype=np.float64) / 2.0, cls, material, **kw)

    def cylinder(self, at: Placement, offset, radius: float, length: float, cls: int,
                 material: Mat, **kw) -> None:
        """An upright cylinder centred at ``offset`` (pole, trunk)."""
        self.add(Kind.CYLINDER, at, offset, (radius, length / 2.0, radius), cls, material, **kw)

    def wheel(self, at: Placement, offset, radius: float, width: float, cls: int, material: Mat,
              **kw) -> None:
        """A closed cylinder across the object (its local x): wheels and axles."""
        self.add(Kind.WHEEL, at, offset, (radius, width / 2.0, radius), cls, material,
                 local_R=_ACROSS, **kw)

    def sphere(self, at: Placement, offset, radius: float, cls: int, material: Mat, **kw) -> None:
        self.add(Kind.SPHERE, at, offset, (radius,) * 3, cls, material, **kw)

    def to_scene(self, seed, layout: RoadLayout, ego: EgoPath, street_lights) -> Scene:
        n = len(self.rows)
        columns = list(zip(*self.rows)) if self.rows else [()] * 13

        def col(i, dtype, shape=()):
            return np.array(columns[i], dtype=dtype).reshape((n,) + shape)

        movers = np.array(self.movers, dtype=np.float64).reshape(-1, 3)
        return Scene(seed=seed, layout=layout, ego=ego, road=self.road, kind=col(0, np.uint8),
                     cls=col(1, np.uint8), material=col(2, np.uint8), center=col(3, np.float64, (3,)),
                     half=col(4, np.float64, (3,)), rotation=col(5, np.float64, (3, 3)),
                     tint=col(6, np.float32, (3,)), heat=col(7, np.float32), facing=col(8, np.int8),
                     pattern=col(9, np.float32, (2,)), mover=col(10, np.int32),
                     offset=col(11, np.float64, (3,)), local_rotation=col(12, np.float64, (3, 3)),
                     mover_l=movers[:, 0].copy(), mover_z=movers[:, 1].copy(),
                     mover_speed=movers[:, 2].copy(),
                     street_lights=np.asarray(street_lights, dtype=np.float64).reshape(-1, 3))


FACADE_COLORS = np.array([
    (0.55, 0.50, 0.42), (0.42, 0.40, 0.38), (0.45, 0.22, 0.15), (0.62, 0.60, 0.56),
    (0.30, 0.32, 0.35), (0.50, 0.44, 0.30), (0.36, 0.38, 0.42), (0.58, 0.52, 0.47)])
CAR_COLORS = np.array([
    (0.80, 0.80, 0.80), (0.03, 0.03, 0.03), (0.45, 0.46, 0.48), (0.20, 0.20, 0.21),
    (0.55, 0.05, 0.04), (0.05, 0.12, 0.40), (0.02, 0.04, 0.12), (0.30, 0.32, 0.25),
    (0.70, 0.62, 0.45)])
CLOTH_COLORS = np.array([
    (0.05, 0.05, 0.06), (0.12, 0.15, 0.30), (0.40, 0.38, 0.35), (0.50, 0.10, 0.08),
    (0.15, 0.25, 0.15), (0.60, 0.58, 0.55), (0.35, 0.25, 0.15)])


BRICK_COLORS = np.array([
    (1.0, 1.0, 1.0), (1.15, 0.95, 0.85), (0.8, 0.75, 0.75), (0.9, 1.0, 1.05), (1.2, 1.1, 0.9)])
PLASTER_COLORS = np.array([
    (1.0, 1.0, 1.0), (1.2, 1.1, 0.85), (0.95, 1.0, 1.1), (1.25, 0.95, 0.8), (0.75, 0.78, 0.8)])
SIGN_COLORS = np.array([
    (0.7, 0.05, 0.04), (0.05, 0.15, 0.55), (0.8, 0.65, 0.05), (0.8, 0.8, 0.8), (0.05, 0.35, 0.1)])


def _pick(rng: np.random.Generator, palette: np.ndarray, jitter: float = 0.1) -> np.ndarray:
    return palette[rng.integers(len(palette))] * rng.uniform(1.0 - jitter, 1.0 + jitter)


def build_scene(seed: int) -> Scene:
    """A random street (road, layout, buildings, open ground, traffic, people, furniture)
    fixed by ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5CE7E]))
    layout = RoadLayout(
        lanes_per_direction=int(rng.choice([1, 2], p=[0.6, 0.4])),
        lane_width=rng.uniform(3.0, 3.8),
        parking_width=float(rng.choice([0.0, 2.4], p=[0.5, 0.5])),
        sidewalk_width=rng.uniform(2.0, 4.5),
        curb_height=rng.uniform(0.10, 0.18))
    z_range = (-SCENE_BEHIND, SCENE_AHEAD)
    road = Road.random(rng, z_range)
    ego_lane = int(rng.integers(layout.lanes_per_direction))
    ego = EgoPath.random(rng, layout.lane_center(ego_lane, +1), road)
    prims = _PrimitiveList(road)
    _add_sidewalks(prims, layout, z_range)
    yards = _add_roadside(prims, rng, layout, z_range)
    lights = _add_street_furniture(prims, rng, layout, z_range)
    _add_trees(prims, rng, layout, z_range, yards)
    _add_people(prims, rng, layout, z_range)
    _add_traffic(prims, rng, layout, ego, ego_lane, z_range)
    _add_cross_traffic(prims, rng, layout)
    return prims.to_scene(seed, layout, ego, lights)


def _add_sidewalks(prims: _PrimitiveList, layout: RoadLayout, z_range) -> None:
    """One raised slab per stretch of the height profile (so each lies flat on its stretch),
    interrupted by the cross streets."""
    road = prims.road
    x = layout.road_half_width + layout.sidewalk_width / 2.0
    depth = layout.curb_height + 0.4            # buried 0.4 m: no gap under a tilted slab
    z0s, z1s, _, _ = road.stretches()
    for z0, z1 in zip(z0s, z1s):
        if z1 < z_range[0] or z0 > z_range[1] or road.crossing_at(z0, z1):
            continue
        for side in (-1, 1):
            at = prims.riding(side * x, (z0 + z1) / 2.0)
            prims.box(at, (0.0, depth / 2.0 - layout.curb_height, 0.0),
                      (layout.sidewalk_width, depth, z1 - z0 + 0.05), SIDEWALK, Mat.CONCRETE)


def _upright_block(prims: _PrimitiveList, l: float, z: float, size, cls: int, material: Mat,
                   yaw: float = 0.0, **kw) -> None:
    """A box standing on the ground at road coordinates (l, z): its top ``size[1]`` above the
    highest ground under it, its bottom buried below the lowest (hills)."""
    at = prims.upright(l, z, yaw)
    reach = 0.5 * float(np.hypot(size[0], size[2]))
    top, bottom = prims.road.height_range(at.origin[2] - reach, at.origin[2] + reach)
    y_top = top - size[1]
    y_bottom = bottom + 0.3
    prims.box(at, (0.0, (y_top + y_bottom) / 2.0 - at.origin[1], 0.0),
              (size[0], y_bottom - y_top, size[2]), cls, material, **kw)


def _add_roadside(prims: _PrimitiveList, rng, layout: RoadLayout, z_range) -> list:
    """Blocks of buildings, front yards and open stretches (fields behind hedges, fences or
    walls; parking lots) along both sides. Returns (side, z0, z1, setback) of the open ground
    that trees may stand on."""
    road = prims.road
    urban = rng.uniform(0.0, 1.0)
    openness = rng.uniform(0.0, 0.5)
    max_length = MAX_BUILDING_LENGTH_ON_CURVES if road.curve_amplitude else 35.0
    yards = []
    for side in (-1, 1):
        z = z_range[0] + rng.uniform(-10.0, 0.0)
        while z < z_range[1]:
            crossing = road.crossing_at(z, z + 10.0, margin=layout.sidewalk_width)
            if crossing:
                z = crossing.z + crossing.width / 2.0 + layout.sidewalk_width + rng.uniform(0.5, 3.0)
                continue
            roll = rng.random()
            if roll < openness:
                z += _open_stretch(prims, rng, layout, side, z, yards)
                continue
            if roll < openness + 0.15:
                gap = rng.uniform(8.0, 25.0)
                setback = rng.uniform(4.0, 12.0)
                yards.append((side, z, z + gap, setback))
                if rng.random() < 0.6:
                    _boundary(prims, rng, layout, side, z, z + gap)
                z += gap
                continue
            length = rng.uniform(10.0, max_length)
            end = road.crossing_at(z, z + length, margin=layout.sidewalk_width)
            if end:
                length = max(4.0, end.z - end.width / 2.0 - layout.sidewalk_width - z - 0.5)
            depth = rng.uniform(10.0, 25.0)
            height = rng.uniform(5.0, 14.0) if rng.random() < 0.6 else rng.uniform(14.0, 32.0)
            setback = 0.0 if rng.random() < urban else rng.uniform(1.0, 8.0)
            material = Mat(rng.choice([Mat.FACADE, Mat.BRICK, Mat.PLASTER], p=[0.5, 0.25, 0.25]))
            palette = {Mat.FACADE: FACADE_COLORS, Mat.BRICK: BRICK_COLORS,
                       Mat.PLASTER: PLASTER_COLORS}[material]
            l = side * (layout.sidewalk_outer + setback + depth / 2.0)
            _upright_block(prims, l, z + length / 2.0, (depth, height, length), BUILDING, material,
                           tint=_pick(rng, palette), pattern=(rng.uniform(1.6, 3.0), rng.uniform(2.8, 3.6)))
            if setback > 0.0:
                yards.append((side, z, z + length, setback))
                if setback > 2.0 and rng.random() < 0.5:
                    _boundary(prims, rng, layout, side, z, z + length)
            z += length + rng.uniform(1.0, 5.0)
    return yards


def _boundary(prims: _PrimitiveList, rng, layout: RoadLayout, side: int, z0: float, z1: float) -> None:
    """A hedge, fence or low wall along the back of the sidewalk, in pieces of a few metres
    (each follows the road's curve and the ground under it)."""
    kind = rng.choice(["hedge", "fence", "wall"], p=[0.45, 0.3, 0.25])
    if kind == "hedge":
        height, thickness, material, tint = rng.uniform(0.8, 1.9), rng.uniform(0.6, 1.2), Mat.HEDGE, (1.0, 1.0, 1.0)
    elif kind == "fence":
        height, thickness = rng.uniform(0.9, 1.9), 0.06
        material = Mat(rng.choice([Mat.WOOD, Mat.METAL]))
        tint = rng.uniform(0.7, 1.3, 3)
    else:
        height, thickness = rng.uniform(0.7, 2.2), rng.uniform(0.2, 0.35)
        material = Mat(rng.choice([Mat.BRICK, Mat.CONCRETE, Mat.PLASTER]))
        tint = _pick(rng, BRICK_COLORS if material == Mat.BRICK else PLASTER_COLORS)
    l = side * (layout.sidewalk_outer + thickness / 2.0 + 0.05)
    piece = 6.0
    for z in np.arange(z0, z1 - 0.5, piece):
        length = min(piece, z1 - z)
        _upright_block(prims, l, z + length / 2.0, (thickness, height, length + 0.02),
                       VEGETATION if kind == "hedge" else BUILDING, material, tint=tint)
        if kind == "fence":
            _upright_block(prims, l, z + 0.05, (0.12, height + 0.1, 0.12), BUILDING, material, tint=tint)


def _open_stretch(prims: _PrimitiveList, rng, layout: RoadLayout, side: int, z: float, yards: list) -> float:
    """Open ground behind the sidewalk: a parking lot, or a field with a boundary and trees.
    Returns its length."""
    length = rng.uniform(20.0, 60.0)
    end = prims.road.crossing_at(z, z + length, margin=layout.sidewalk_width)
    if end:
        length = max(4.0, end.z - end.width / 2.0 - layout.sidewalk_width - z - 0.5)
    if rng.random() < 0.4:
        rows = int(rng.integers(1, 4))
        for row in range(rows):
            l = layout.sidewalk_outer + 3.0 + row * 6.5
            slot = rng.uniform(2.4, 2.8)
            for zc in np.arange(z + 1.5, z + length - 1.5, slot):
                if rng.random() < 0.7:
                    yaw = side * np.pi / 2.0 + rng.normal(0.0, 0.05)
                    _add_vehicle(prims, rng, prims.riding(side * l, zc, yaw), facing=1,
                                 running=rng.random() < 0.05, max_length=4.9)
    else:
        if rng.random() < 0.7:
            _boundary(prims, rng, layout, side, z, z + length)
        yards.append((side, z, z + length, rng.uniform(8.0, 30.0)))
    return length


def _add_street_furniture(prims: _PrimitiveList, rng, layout: RoadLayout, z_range) -> np.ndarray:
    """Street lights (pole, arm over the road, lamp head), sign poles and bus shelters."""
    road = prims.road
    lights = []
    curb = layout.curb_height
    for side in (-1, 1):
        l = side * (layout.road_half_width + 0.4)
        z = z_range[0] + rng.uniform(0.0, 20.0)
        spacing = rng.uniform(24.0, 36.0)
        while z < z_range[1]:
            if road.crossing_at(z - 1.0, z + 1.0, margin=1.0):
                z += spacing / 2.0
                continue
            at = prims.upright(l, z)
            height = rng.uniform(7.0, 9.0)
            prims.cylinder(at, (0.0, -curb - height / 2.0, 0.0), 0.1, height, POLE, Mat.METAL)
            arm = rng.uniform(1.2, 2.2)
            prims.box(at, (-side * arm / 2.0, -curb - height + 0.05, 0.0), (arm, 0.1, 0.1), POLE, Mat.METAL)
            lamp_offset = np.array([-side * arm, -curb - height + 0.1, 0.0])
            prims.box(at, lamp_offset, (0.6, 0.16, 0.3), POLE, Mat.LAMP)
            lights.append(at.origin + at.R @ (lamp_offset + (0.0, 0.2, 0.0)))
            if rng.random() < 0.5:
                zs = z + rng.uniform(0.3, 0.7) * spacing
                if not road.crossing_at(zs - 1.0, zs + 1.0):
                    sign = prims.upright(l, zs)
                    pole_h = rng.uniform(2.4, 3.6)
                    prims.cylinder(sign, (0.0, -curb - pole_h / 2.0, 0.0), 0.04, pole_h, POLE, Mat.METAL)
                    width = rng.uniform(0.5, 0.9)
                    plate = (width, width * rng.choice([0.8, 1.0, 1.3]), 0.04)
                    prims.box(sign, (0.0, -curb - pole_h - plate[1] / 2.0 + 0.1, 0.0), plate, POLE,
                              Mat.PLASTIC, tint=_pick(rng, SIGN_COLORS))
            z += spacing
        if rng.random() < 0.35:
            zb = rng.uniform(10.0, z_range[1] - 20.0)
            if not road.crossing_at(zb - 3.0, zb + 3.0, margin=2.0):
                _bus_shelter(prims, rng, layout, side, zb)
    return np.array(lights)


def _bus_shelter(prims: _PrimitiveList, rng, layout: RoadLayout, side: int, z: float) -> None:
    """Roof, glass back wall, two posts and a bench near the back of the sidewalk."""
    depth = min(1.5, layout.sidewalk_width - 0.6)
    at = prims.upright(side * (layout.sidewalk_outer - depth / 2.0 - 0.2), z)
    length, height, curb = rng.uniform(3.0, 4.5), rng.uniform(2.3, 2.6), layout.curb_height
    prims.box(at, (0.0, -curb - height - 0.05, 0.0), (depth + 0.2, 0.1, length), BUILDING, Mat.METAL)
    prims.box(at, (side * depth / 2.0, -curb - height / 2.0, 0.0), (0.03, height, length), BUILDING, Mat.GLASS)
    for end in (-1, 1):
        prims.cylinder(at, (-side * depth / 2.0, -curb - height / 2.0, end * length / 2.0), 0.04, height,
                       POLE, Mat.METAL)
    prims.box(at, (side * depth / 4.0, -curb - 0.45, 0.0), (0.4, 0.06, length * 0.7), BUILDING, Mat.WOOD,
              tint=rng.uniform(0.8, 1.2, 3))


def _tree(prims: _PrimitiveList, rng, at: Placement, crown: float, ground: float, clearance: float) -> None:
    """A trunk and an irregular crown of 3-6 overlapping spheres, lowest leaves ``clearance``
    above the ground (``ground``: the trunk's base relative to the frame's ground point)."""
    count = int(rng.integers(3, 7))
    radii = crown * rng.uniform(0.45, 0.8, count)
    spread = crown - radii
    angle = rng.uniform(0.0, 2.0 * np.pi, count)
    dx, dz = spread * np.cos(angle), spread * np.sin(angle)
    lift = rng.uniform(-0.4, 0.5, count) * crown
    crown_center = ground - clearance - crown
    dy = np.minimum(crown_center + lift, ground - clearance - radii)   # no leaf below clearance
    prims.cylinder(at, (0.0, (crown_center + ground) / 2.0, 0.0), rng.uniform(0.1, 0.3),
                   ground - crown_center, VEGETATION, Mat.BARK)
    tint = rng.uniform(0.75, 1.25, 3)
    for r, x, y, z in zip(radii, dx, dy, dz):
        prims.sphere(at, (x, y, z), r, VEGETATION, Mat.FOLIAGE, tint=tint * rng.uniform(0.9, 1.1, 3))


def _add_trees(prims: _PrimitiveList, rng, layout: RoadLayout, z_range, yards) -> None:
    """Trees on open ground and, on some streets, along the curb (crowns clear of buses)."""
    road = prims.road
    for side, z0, z1, setback in yards:
        if setback < 2.5:
            continue
        for z in np.arange(z0 + 2.0, z1 - 2.0, rng.uniform(4.0, 12.0)):
            crown = rng.uniform(1.2, min(3.5, setback / 2.0))
            l = layout.sidewalk_outer + rng.uniform(0.8 + crown, max(0.9 + crown, setback - crown))
            _tree(prims, rng, prims.upright(side * l, z + rng.uniform(-1.0, 1.0)), crown, 0.0,
                  rng.uniform(1.8, 3.5))
    for side in (-1, 1):
        if rng.random() < 0.5:
            continue
        l = side * (layout.road_half_width + 1.0)
        max_crown = min(2.2, layout.sidewalk_width)
        for z in np.arange(z_range[0], z_range[1], rng.uniform(8.0, 16.0)):
            if rng.random() < 0.75 and not road.crossing_at(z - 3.0, z + 3.0):
                _tree(prims, rng, prims.upright(l, z + rng.uniform(-1.5, 1.5)), rng.uniform(1.0, max_crown),
                      -layout.curb_height, rng.uniform(3.6, 4.5))


def _add_people(prims: _PrimitiveList, rng, layout: RoadLayout, z_range) -> None:
    """Pedestrians (children to tall adults) and cyclists with their bikes on the sidewalks,
    spaced along each side so they do not overlap."""
    road = prims.road
    density = rng.uniform(0.01, 0.08)  # per metre of sidewalk
    l_min = layout.road_half_width + 1.5  # clear of poles and curb-side trees
    l_max = max(l_min, layout.sidewalk_outer - 0.5)
    for side in (-1, 1):
        count = rng.poisson(density * (z_range[1] - z_range[0]))
        zs = np.sort(rng.uniform(z_range[0], z_range[1], count))
        last = -np.inf
        for z in zs:
            if z - last < 2.2 or road.crossing_at(z - 1.0, z + 1.0, margin=0.5):
                continue
            last = z
            at = prims.upright(side * rng.uniform(l_min, l_max), z, yaw=rng.uniform(-np.pi, np.pi))
            if rng.random() < 0.15:
                _cyclist(prims, rng, at, -layout.curb_height)
            else:
                _pedestrian(prims, rng, at, -layout.curb_height)


def _pedestrian(prims: _PrimitiveList, rng, at: Placement, y: float) -> None:
    """Legs, torso, arms and head, sized from a child's to a tall adult's."""
    height = rng.uniform(1.0, 1.45) if rng.random() < 0.12 else rng.uniform(1.5, 1.95)
    build = rng.uniform(0.85, 1.2) * height / 1.7
    radius = 0.11 * (height / 1.7) ** 0.5
    legs = 0.47 * height
    torso = height - legs - 2.0 * radius - 0.04
    cloth = Mat.CLOTH
    prims.box(at, (0.0, y - legs / 2.0, 0.0), (0.32 * build, legs, 0.22 * build), PERSON, cloth,
              tint=_pick(rng, CLOTH_COLORS, 0.2))
    shirt = _pick(rng, CLOTH_COLORS, 0.2)
    prims.box(at, (0.0, y - legs - torso / 2.0, 0.0), (0.40 * build, torso, 0.24 * build), PERSON, cloth,
              tint=shirt)
    arm = 0.08 * build
    for end in (-1, 1):
        prims.box(at, (end * (0.20 * build + arm / 2.0), y - legs - torso * 0.55, 0.0),
                  (arm, torso * 1.05, arm), PERSON, cloth, tint=shirt)
    prims.sphere(at, (0.0, y - legs - torso - 0.04 - radius, 0.0), radius, PERSON, Mat.SKIN)


def _cyclist(prims: _PrimitiveList, rng, at: Placement, y: float) -> None:
    """A bike (two wheels, frame, handlebar) and its rider, at rest on the sidewalk."""
    wheel_r = rng.uniform(0.3, 0.36)
    base = 0.5 * rng.uniform(0.95, 1.1)
    frame_tint = _pick(rng, CAR_COLORS, 0.1)
    for end in (-1, 1):
        prims.wheel(at, (0.0, y - wheel_r, end * base), wheel_r, 0.05, PERSON, Mat.TYRE)
    prims.box(at, (0.0, y - wheel_r - 0.15, 0.0), (0.05, 0.32, 2.0 * base * 0.85), PERSON, Mat.PLASTIC,
              tint=frame_tint)
    prims.box(at, (0.0, y - wheel_r - 0.55, base * 0.8), (0.55, 0.04, 0.04), PERSON, Mat.METAL)
    height = rng.uniform(1.45, 1.9)
    seat = y - wheel_r - 0.45
    prims.box(at, (0.0, (seat + y) / 2.0, -0.1), (0.3, y - seat, 0.2), PERSON, Mat.CLOTH,
              tint=_pick(rng, CLOTH_COLORS, 0.2))
    torso = 0.32 * height
    prims.box(at, (0.0, seat - torso / 2.0, 0.1), (0.4, torso, 0.24), PERSON, Mat.CLOTH,
              tint=_pick(rng, CLOTH_COLORS, 0.2))
    prims.sphere(at, (0.0, seat - torso - 0.15, 0.2), 0.12, PERSON, Mat.SKIN if rng.random() < 0.5 else Mat.PLASTIC,
                 tint=_pick(rng, SIGN_COLORS, 0.1))


# Vehicle types: probability, length, width, body height, cabin height, cabin share of the
# length, wheel radius (ranges are uniform).
VEHICLE_TYPES = {
    "sedan": (0.42, (4.3, 4.9), (1.72, 1.9), (0.55, 0.72), (0.42, 0.55), (0.45, 0.55), (0.30, 0.34)),
    "hatchback": (0.16, (3.6, 4.2), (1.62, 1.8), (0.58, 0.72), (0.5, 0.62), (0.55, 0.65), (0.28, 0.32)),
    "suv": (0.17, (4.3, 4.9), (1.8, 2.0), (0.75, 0.92), (0.55, 0.72), (0.55, 0.65), (0.34, 0.4)),
    "van": (0.12, (4.8, 5.6), (1.9, 2.05), (0.85, 1.0), (0.95, 1.25), (0.78, 0.85), (0.32, 0.36)),
    "truck": (0.07, (6.5, 9.0), (2.2, 2.5), (1.0, 1.2), (1.2, 1.6), (0.25, 0.3), (0.45, 0.52)),
    "bus": (0.06, (10.0, 12.0), (2.45, 2.55), (1.1, 1.3), (1.3, 1.6), (0.97, 0.98), (0.48, 0.52)),
}


def _add_vehicle(prims: _PrimitiveList, rng, at: Placement, facing: int, running: bool,
                 max_length: float = 12.0) -> float:
    """One vehicle built from parts in the frame ``at`` (front towards local z * facing): body,
    cabin (or a truck's cab and cargo box), wheels on two or three axles. Returns its length."""
    names = [n for n, spec in VEHICLE_TYPES.items() if spec[1][0] <= max_length]
    p = np.array([VEHICLE_TYPES[n][0] for n in names])
    kind = names[int(rng.choice(len(names), p=p / p.sum()))]
    length, width, body_h, cabin_h, cabin_share, wheel_r = (rng.uniform(*r) for r in VEHICLE_TYPES[kind][1:])
    length = min(length, max_length)
    clearance = wheel_r * rng.uniform(0.7, 0.9)
    color = _pick(rng, CAR_COLORS, 0.08)
    engine_heat = rng.uniform(12.0, 25.0) if running else rng.uniform(0.0, 3.0)
    tyre_heat = rng.uniform(6.0, 12.0) if running else 0.0
    common = dict(facing=facing)
    body_y = -clearance - body_h / 2.0
    if kind == "truck":
        cab = 2.2
        cab_z = facing * (length / 2.0 - cab / 2.0)
        prims.box(at, (0.0, body_y, cab_z), (width, body_h, cab), VEHICLE, Mat.CAR_PAINT, tint=color,
                  heat=engine_heat, **common)
        prims.box(at, (0.0, -clearance - body_h - cabin_h / 2.0, cab_z - facing * 0.2),
                  (width - 0.1, cabin_h, cab - 0.4), VEHICLE, Mat.CAR_GLASS, tint=color, **common)
        cargo_h = rng.uniform(2.2, 3.0)
        cargo = length - cab - 0.3
        prims.box(at, (0.0, -clearance - cargo_h / 2.0, -facing * (length / 2.0 - cargo / 2.0)),
                  (width, cargo_h, cargo), VEHICLE, Mat.PLASTIC, tint=rng.uniform(0.6, 1.0) * np.ones(3),
                  **common)
    else:
        prims.box(at, (0.0, body_y, 0.0), (width, body_h, length), VEHICLE, Mat.CAR_PAINT, tint=color,
                  heat=engine_heat, **common)
        cabin_len = length * cabin_share
        shift = 0.0 if cabin_share > 0.9 else -facing * rng.uniform(0.02, 0.1) * length
        prims.box(at, (0.0, -clearance - body_h - cabin_h / 2.0, shift), (width - 0.1, cabin_h, cabin_len),
                  VEHICLE, Mat.CAR_GLASS, tint=color, **common)
    axles = [length / 2.0 - max(0.75, 1.4 * wheel_r)]
    axles = [axles[0], -axles[0]] + ([-axles[0] + 2.3 * wheel_r] if length > 8.0 else [])
    for z in axles:
        prims.wheel(at, (0.0, -wheel_r, z), wheel_r, width - 0.06, VEHICLE, Mat.TYRE, heat=tyre_heat, **common)
    return length


def _add_traffic(prims: _PrimitiveList, rng, layout: RoadLayout, ego: EgoPath, ego_lane: int,
                 z_range) -> None:
    """Moving vehicles in every lane (one speed per lane, so they never collide) and parked
    ones along the parking lanes.

    The ego's lane only has vehicles ahead of it, at least as fast as the ego on average.
    """
    road = prims.road
    sequence_time = SEQUENCE_LENGTH / FPS
    for side in (-1, 1):
        for lane in range(layout.lanes_per_direction):
            l = layout.lane_center(lane, side)
            if side == 1 and lane == ego_lane:
                speed = ego.speed + ego.speed_wobble + rng.uniform(0.3, 1.5)
                z = rng.uniform(16.0, 40.0)
            elif side == 1:
                speed = rng.uniform(7.0, 13.0)
                z = z_range[0] - speed * sequence_time   # enough vehicles to overtake the ego
            else:
                speed = rng.uniform(8.0, ONCOMING_MAX_SPEED)
                z = z_range[0]
            z_end = z_range[1] + (ONCOMING_MAX_SPEED * sequence_time if side == -1 else 0.0)
            while z < z_end:
                at = prims.moving(l, z, side * speed)
                length = _add_vehicle(prims, rng, at, side, running=True)
                z += length + rng.uniform(8.0, 45.0)
    if layout.parking_width > 0.0:
        for side in (-1, 1):
            l = side * (layout.driving_half_width + layout.parking_width / 2.0)
            z = z_range[0]
            while z < z_range[1]:
                if rng.random() < 0.7 and not road.crossing_at(z - 3.0, z + 3.0, margin=2.0):
                    z += _add_vehicle(prims, rng, prims.riding(l, z), side, running=rng.random() < 0.1,
                                      max_length=5.6)
                z += rng.uniform(1.0, 8.0)


def _add_cross_traffic(prims: _PrimitiveList, rng, layout: RoadLayout) -> None:
    """Vehicles waiting on the cross streets, at right angles to the road."""
    for crossing in prims.road.crossings:
        for side in (-1, 1):
            if rng.random() < 0.5:
                continue
            l = side * (layout.sidewalk_outer + rng.uniform(3.0, 6.0))
            lane = crossing.z - side * crossing.width / 4.0
            _add_vehicle(prims, rng, prims.riding(l, lane, yaw=-side * np.pi / 2.0), 1,
                         running=True, max_length=5.6)
