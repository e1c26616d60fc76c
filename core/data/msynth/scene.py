"""Procedural layout of a driving scene from a seed: analytic primitives along a straight road.

World frame: x right, y down, z forward along the road; the road surface is the plane y = 0
(heights above the road are negative y). Every primitive has an axis-aligned bounding box
``center +- half``: boxes are exactly that box, vertical cylinders have half = (r, h/2, r),
spheres half = (r, r, r). Vehicles move along z with their ``velocity``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum

import numpy as np

from core.data.msynth.classes import (BUILDING, PERSON, POLE, SIDEWALK, VEGETATION, VEHICLE)
from core.data.msynth.materials import Mat
from core.data.msynth.trajectory import FPS, SEQUENCE_LENGTH, SPEED_RANGE, EgoPath

# Scenes span this much road around the ego's start (z = 0): enough behind for the cameras'
# fields of view and ahead for a full sequence plus the render range.
SCENE_BEHIND = 60.0
SCENE_AHEAD = SEQUENCE_LENGTH / FPS * SPEED_RANGE[1] + 320.0
ONCOMING_MAX_SPEED = 14.0


class Kind(IntEnum):
    """Pixel kinds. Pixel ids: 0 sky, 1 ground, FIRST_PRIMITIVE_ID + i for primitive i."""

    SKY = 0
    GROUND = 1
    BOX = 2
    CYLINDER = 3
    SPHERE = 4


FIRST_PRIMITIVE_ID = 2


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
    """Primitives (arrays over primitives, at time 0), street lights and the ego's path."""

    seed: int | None
    layout: RoadLayout
    ego: EgoPath
    kind: np.ndarray        # (N,) uint8 Kind
    cls: np.ndarray         # (N,) uint8 class id
    material: np.ndarray    # (N,) uint8 Mat
    center: np.ndarray      # (N, 3) float64
    half: np.ndarray        # (N, 3) float64
    tint: np.ndarray        # (N, 3) float32 albedo tint for tinted materials
    heat: np.ndarray        # (N,) float32 extra degrees C (running engines, warm tyres)
    velocity: np.ndarray    # (N,) float64 m/s along z
    facing: np.ndarray      # (N,) int8 vehicles: +1 / -1 front towards +z / -z; 0 otherwise
    pattern: np.ndarray     # (N, 2) float32 buildings: window spacing, floor height (m)
    street_lights: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (M, 3)

    def __len__(self) -> int:
        return len(self.kind)

    def centers_at(self, time_s: float) -> np.ndarray:
        center = self.center.copy()
        center[:, 2] += self.velocity * time_s
        return center

    @classmethod
    def ground_only(cls, layout: RoadLayout | None = None, ego: EgoPath | None = None,
                    seed: int | None = None) -> "Scene":
        """The road plane alone (no primitives), e.g. for exact-depth tests."""
        layout = layout or RoadLayout()
        ego = ego or EgoPath(lane_x=layout.lane_center(0, 1))
        return _PrimitiveList().to_scene(seed, layout, ego, np.zeros((0, 3)))

    def with_box(self, center, size, class_id: int = BUILDING, material: Mat = Mat.FACADE,
                 tint=(0.5, 0.5, 0.5)) -> "Scene":
        """A copy of this scene with one more static, axis-aligned box."""
        center = np.asarray(center, dtype=np.float64)
        half = np.asarray(size, dtype=np.float64) / 2.0
        return replace(
            self,
            kind=np.append(self.kind, np.uint8(Kind.BOX)),
            cls=np.append(self.cls, np.uint8(class_id)),
            material=np.append(self.material, np.uint8(material)),
            center=np.vstack([self.center, center]),
            half=np.vstack([self.half, half]),
            tint=np.vstack([self.tint, np.asarray(tint, np.float32)]),
            heat=np.append(self.heat, np.float32(0.0)),
            velocity=np.append(self.velocity, 0.0),
            facing=np.append(self.facing, np.int8(0)),
            pattern=np.vstack([self.pattern, np.array([2.5, 3.2], np.float32)]))


class _PrimitiveList:
    """Accumulates primitives row by row while a scene is laid out."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def box(self, center, size, cls: int, material: Mat, tint=(1.0, 1.0, 1.0), heat=0.0,
            velocity=0.0, facing=0, pattern=(0.0, 0.0)) -> None:
        self.rows.append((Kind.BOX, cls, material, center, np.asarray(size) / 2.0, tint, heat,
                          velocity, facing, pattern))

    def cylinder(self, x: float, z: float, radius: float, y_top: float, y_bottom: float, cls: int,
                 material: Mat) -> None:
        center = (x, (y_top + y_bottom) / 2.0, z)
        half = (radius, (y_bottom - y_top) / 2.0, radius)
        self.rows.append((Kind.CYLINDER, cls, material, center, half, (1.0, 1.0, 1.0), 0.0, 0.0, 0,
                          (0.0, 0.0)))

    def sphere(self, center, radius: float, cls: int, material: Mat, tint=(1.0, 1.0, 1.0)) -> None:
        self.rows.append((Kind.SPHERE, cls, material, center, (radius,) * 3, tint, 0.0, 0.0, 0,
                          (0.0, 0.0)))

    def to_scene(self, seed, layout: RoadLayout, ego: EgoPath, street_lights) -> Scene:
        columns = list(zip(*self.rows)) if self.rows else [()] * 10

        def col(i, dtype, width=None):
            shape = (len(self.rows), width) if width else (len(self.rows),)
            return np.array(columns[i], dtype=dtype).reshape(shape)

        return Scene(seed=seed, layout=layout, ego=ego, kind=col(0, np.uint8), cls=col(1, np.uint8),
                     material=col(2, np.uint8), center=col(3, np.float64, 3),
                     half=col(4, np.float64, 3), tint=col(5, np.float32, 3),
                     heat=col(6, np.float32), velocity=col(7, np.float64), facing=col(8, np.int8),
                     pattern=col(9, np.float32, 2),
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


def _pick(rng: np.random.Generator, palette: np.ndarray, jitter: float = 0.1) -> np.ndarray:
    return palette[rng.integers(len(palette))] * rng.uniform(1.0 - jitter, 1.0 + jitter)


def build_scene(seed: int) -> Scene:
    """A random street (layout, buildings, traffic, people, furniture) fixed by ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5CE7E]))
    layout = RoadLayout(
        lanes_per_direction=int(rng.choice([1, 2], p=[0.6, 0.4])),
        lane_width=rng.uniform(3.2, 3.7),
        parking_width=float(rng.choice([0.0, 2.4], p=[0.5, 0.5])),
        sidewalk_width=rng.uniform(2.2, 4.0),
        curb_height=rng.uniform(0.12, 0.18))
    ego_lane = int(rng.integers(layout.lanes_per_direction))
    ego = EgoPath.random(rng, layout.lane_center(ego_lane, +1))
    prims = _PrimitiveList()
    z_range = (-SCENE_BEHIND, SCENE_AHEAD)
    _add_sidewalks(prims, layout, z_range)
    setbacks = _add_buildings(prims, rng, layout, z_range)
    lights = _add_street_furniture(prims, rng, layout, z_range)
    _add_trees(prims, rng, layout, z_range, setbacks)
    _add_pedestrians(prims, rng, layout, z_range)
    _add_traffic(prims, rng, layout, ego, ego_lane, z_range)
    return prims.to_scene(seed, layout, ego, lights)


def _add_sidewalks(prims: _PrimitiveList, layout: RoadLayout, z_range) -> None:
    # Short segments keep each box's screen rectangle small.
    length = 12.0
    x = layout.road_half_width + layout.sidewalk_width / 2.0
    for z in np.arange(z_range[0], z_range[1], length):
        for side in (-1, 1):
            prims.box((side * x, -layout.curb_height / 2.0, z + length / 2.0),
                      (layout.sidewalk_width, layout.curb_height, length), SIDEWALK, Mat.CONCRETE)


def _add_buildings(prims: _PrimitiveList, rng, layout: RoadLayout, z_range) -> list:
    """Blocks set back from the sidewalk; returns (side, z0, z1, setback) of each front yard."""
    urban = rng.uniform(0.0, 1.0)
    yards = []
    for side in (-1, 1):
        z = z_range[0] + rng.uniform(-10.0, 0.0)
        while z < z_range[1]:
            if rng.random() < 0.2:
                gap = rng.uniform(8.0, 25.0)
                yards.append((side, z, z + gap, rng.uniform(4.0, 12.0)))
                z += gap
                continue
            length = rng.uniform(10.0, 35.0)
            depth = rng.uniform(10.0, 25.0)
            height = rng.uniform(6.0, 14.0) if rng.random() < 0.6 else rng.uniform(14.0, 32.0)
            setback = 0.0 if rng.random() < urban else rng.uniform(1.0, 8.0)
            x_near = layout.sidewalk_outer + setback
            prims.box((side * (x_near + depth / 2.0), -height / 2.0, z + length / 2.0),
                      (depth, height, length), BUILDING, Mat.FACADE, tint=_pick(rng, FACADE_COLORS),
                      pattern=(rng.uniform(1.6, 3.0), rng.uniform(2.8, 3.6)))
            if setback > 0.0:
                yards.append((side, z, z + length, setback))
            z += length + rng.uniform(1.0, 5.0)
    return yards


def _add_street_furniture(prims: _PrimitiveList, rng, layout: RoadLayout, z_range) -> np.ndarray:
    """Street lights (pole, arm over the road, lamp head) and shorter sign poles."""
    lights = []
    curb = layout.curb_height
    for side in (-1, 1):
        x = side * (layout.road_half_width + 0.4)
        z = z_range[0] + rng.uniform(0.0, 20.0)
        spacing = rng.uniform(24.0, 36.0)
        while z < z_range[1]:
            height = rng.uniform(7.0, 9.0)
            prims.cylinder(x, z, 0.1, -height, -curb, POLE, Mat.METAL)
            arm = rng.uniform(1.2, 2.2)
            prims.box((x - side * arm / 2.0, -height + 0.05, z), (arm, 0.1, 0.1), POLE, Mat.METAL)
            lamp = np.array([x - side * arm, -height + 0.1, z])
            prims.box(lamp, (0.6, 0.16, 0.3), POLE, Mat.LAMP)
            lights.append(lamp + (0.0, 0.2, 0.0))
            if rng.random() < 0.5:
                zs = z + rng.uniform(0.3, 0.7) * spacing
                pole_h = rng.uniform(2.6, 3.6)
                prims.cylinder(x, zs, 0.05, -pole_h, -curb, POLE, Mat.METAL)
                prims.box((x, -pole_h - 0.3, zs), (0.7, 0.6, 0.04), POLE, Mat.METAL,
                          tint=_pick(rng, CAR_COLORS))
            z += spacing
    return np.array(lights)


def _add_trees(prims: _PrimitiveList, rng, layout: RoadLayout, z_range, yards) -> None:
    """Trees in front yards and, on some streets, along the curb.

    Crowns stay clear of the facades and at least ~2.3 m above the ground (cars, people).
    """
    def tree(x: float, z: float, crown: float, y_ground: float) -> None:
        crown_y = y_ground - rng.uniform(3.2, 4.2) - 0.5 * crown
        prims.cylinder(x, z, rng.uniform(0.12, 0.25), crown_y, y_ground, VEGETATION, Mat.BARK)
        prims.sphere((x, crown_y, z), crown, VEGETATION, Mat.FOLIAGE, tint=rng.uniform(0.8, 1.2, 3))

    for side, z0, z1, setback in yards:
        if setback < 2.5:
            continue
        for z in np.arange(z0 + 2.0, z1 - 2.0, rng.uniform(5.0, 12.0)):
            crown = rng.uniform(1.2, min(3.0, setback / 2.0))
            x = layout.sidewalk_outer + rng.uniform(0.3, setback - crown)
            tree(side * x, z + rng.uniform(-1.0, 1.0), crown, 0.0)
    for side in (-1, 1):
        if rng.random() < 0.5:
            continue
        x = side * (layout.road_half_width + 1.0)
        max_crown = min(1.8, layout.sidewalk_width - 1.0)
        for z in np.arange(z_range[0], z_range[1], rng.uniform(9.0, 16.0)):
            if rng.random() < 0.75:
                crown = rng.uniform(1.0, max_crown)
                tree(x, z + rng.uniform(-1.5, 1.5), crown, -layout.curb_height)


def _add_pedestrians(prims: _PrimitiveList, rng, layout: RoadLayout, z_range) -> None:
    """People (legs, torso, head) standing on the sidewalks, clear of the poles and trees."""
    density = rng.uniform(0.01, 0.07)  # per metre of sidewalk
    x_min = layout.road_half_width + 1.5  # clear of poles and curb-side trees
    x_max = max(x_min, layout.sidewalk_outer - 0.5)
    for side in (-1, 1):
        count = rng.poisson(density * (z_range[1] - z_range[0]))
        for z in rng.uniform(z_range[0], z_range[1], count):
            x = side * rng.uniform(x_min, x_max)
            height = rng.uniform(1.5, 1.8)
            radius = rng.uniform(0.10, 0.115)
            legs = 0.47 * height
            torso = height - legs - 2.0 * radius - 0.04
            y = -layout.curb_height
            prims.box((x, y - legs / 2.0, z), (0.32, legs, 0.22), PERSON, Mat.CLOTH,
                      tint=_pick(rng, CLOTH_COLORS, 0.2))
            y -= legs
            prims.box((x, y - torso / 2.0, z), (0.44, torso, 0.26), PERSON, Mat.CLOTH,
                      tint=_pick(rng, CLOTH_COLORS, 0.2))
            y -= torso + 0.04
            prims.sphere((x, y - radius, z), radius, PERSON, Mat.SKIN)


def _add_vehicle(prims: _PrimitiveList, rng, x: float, z: float, facing: int, speed: float,
                 running: bool) -> float:
    """One car (body, cabin, two axles) centred at (x, z); returns its length."""
    length = rng.uniform(3.9, 4.9)
    width = rng.uniform(1.7, 1.9)
    clearance = rng.uniform(0.25, 0.32)
    body_h = rng.uniform(0.6, 0.85)
    cabin_h = rng.uniform(0.45, 0.75)
    color = _pick(rng, CAR_COLORS, 0.08)
    engine_heat = rng.uniform(12.0, 25.0) if running else rng.uniform(0.0, 3.0)
    velocity = facing * speed
    body_y = -clearance - body_h / 2.0
    prims.box((x, body_y, z), (width, body_h, length), VEHICLE, Mat.CAR_PAINT, tint=color,
              heat=engine_heat, velocity=velocity, facing=facing)
    cabin_len = length * rng.uniform(0.45, 0.6)
    prims.box((x, -clearance - body_h - cabin_h / 2.0, z - facing * 0.08 * length),
              (width - 0.12, cabin_h, cabin_len), VEHICLE, Mat.CAR_GLASS, tint=color,
              velocity=velocity, facing=facing)
    tyre_heat = rng.uniform(6.0, 12.0) if running else 0.0
    for end in (-1, 1):
        prims.box((x, -(clearance + 0.15) / 2.0, z + end * (length / 2.0 - 0.8)),
                  (width - 0.04, clearance + 0.15, 0.62), VEHICLE, Mat.TYRE, heat=tyre_heat,
                  velocity=velocity, facing=facing)
    return length


def _add_traffic(prims: _PrimitiveList, rng, layout: RoadLayout, ego: EgoPath, ego_lane: int,
                 z_range) -> None:
    """Moving cars in every lane (one speed per lane, so they never collide) and parked cars.

    The ego's lane only has cars ahead of it, at least as fast as the ego on average.
    """
    sequence_time = SEQUENCE_LENGTH / FPS
    for side in (-1, 1):
        for lane in range(layout.lanes_per_direction):
            x = layout.lane_center(lane, side)
            if side == 1 and lane == ego_lane:
                speed = ego.speed + ego.speed_wobble + rng.uniform(0.3, 1.5)
                z = rng.uniform(14.0, 40.0)
            elif side == 1:
                speed = rng.uniform(7.0, 13.0)
                z = z_range[0] - speed * sequence_time   # enough cars to overtake the ego
            else:
                speed = rng.uniform(8.0, ONCOMING_MAX_SPEED)
                z = z_range[0]
            z_end = z_range[1] + (ONCOMING_MAX_SPEED * sequence_time if side == -1 else 0.0)
            while z < z_end:
                length = _add_vehicle(prims, rng, x, z, side, speed, running=True)
                z += length + rng.uniform(8.0, 45.0)
    if layout.parking_width > 0.0:
        for side in (-1, 1):
            x = side * (layout.driving_half_width + layout.parking_width / 2.0)
            z = z_range[0]
            while z < z_range[1]:
                if rng.random() < 0.7:
                    z += _add_vehicle(prims, rng, x, z, side, 0.0, running=rng.random() < 0.1)
                z += rng.uniform(1.0, 8.0)
