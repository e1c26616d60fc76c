"""The road a scene is built along: a centre line that curves, a height profile that climbs and
dips, and the cross streets of its intersections.

World frame: x right, y down, z forward. The road is parametrised by world z. Its centre line is
x = c(z), a sum of long sinusoids (radius of curvature >= MIN_RADIUS). The ground height is
y = h(z) over the whole width, piecewise linear between knots KNOT_SPACING apart: every stretch
between two knots is an exact plane, so ray casting stays closed-form (one plane per stretch)
and rendered depth stays exact. Grades stay within MAX_GRADE.

Road coordinates (l, z): l is the signed distance from the centre line, measured horizontally
and perpendicular to the heading; z the road parameter. ``frame`` turns them into a world
position on the ground and a rotation whose z axis runs along the road.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KNOT_SPACING = 10.0
MIN_RADIUS = 120.0     # m, tightest curve
MAX_GRADE = 0.07       # rise over run of the steepest stretch


@dataclass(frozen=True)
class Crossing:
    """A cross street at right angles to the road, centred at ``z`` and ``width`` wide."""

    z: float
    width: float

    def contains(self, z, margin: float = 0.0):
        return np.abs(np.asarray(z) - self.z) < self.width / 2.0 + margin


@dataclass(frozen=True)
class Road:
    curve_amplitude: tuple[float, ...] = ()     # m, per sinusoid of the centre line
    curve_wavenumber: tuple[float, ...] = ()    # rad / m
    curve_phase: tuple[float, ...] = ()
    knot_z0: float = 0.0                        # z of the first height knot
    knot_heights: tuple[float, ...] = ()        # ground y at each knot (y down)
    crossings: tuple[Crossing, ...] = field(default_factory=tuple)

    @classmethod
    def random(cls, rng: np.random.Generator, z_range: tuple[float, float]) -> "Road":
        """Straight or curving, flat or hilly; zero, one or two cross streets ahead."""
        amplitude, wavenumber, phase = [], [], []
        if rng.random() < 0.65:
            for _ in range(int(rng.integers(1, 3))):
                k = 2.0 * np.pi / rng.uniform(180.0, 600.0)
                # curvature of a sinusoid peaks at a * k^2; two of them share the budget
                amplitude.append(rng.uniform(0.2, 1.0) / (2.0 * MIN_RADIUS * k * k))
                wavenumber.append(k)
                phase.append(rng.uniform(0.0, 2.0 * np.pi))
        knots = np.arange(z_range[0] - KNOT_SPACING, z_range[1] + 2 * KNOT_SPACING, KNOT_SPACING)
        heights = np.zeros(len(knots))
        if rng.random() < 0.6:
            for _ in range(2):
                k = 2.0 * np.pi / rng.uniform(120.0, 500.0)
                grade = rng.uniform(0.01, MAX_GRADE / 2.0)
                heights += grade / k * np.sin(k * knots + rng.uniform(0.0, 2.0 * np.pi))
        heights -= np.interp(0.0, knots, heights)     # the ego starts at height 0
        crossings = []
        z = rng.uniform(25.0, 120.0)
        while z < z_range[1] - 40.0 and rng.random() < 0.55:
            crossings.append(Crossing(float(z), float(rng.uniform(7.0, 12.0))))
            z += rng.uniform(90.0, 220.0)
        return cls(tuple(amplitude), tuple(wavenumber), tuple(phase), float(knots[0]),
                   tuple(heights.tolist()), tuple(crossings))

    @property
    def is_flat(self) -> bool:
        return not any(self.knot_heights)

    def center_x(self, z):
        z = np.asarray(z, dtype=np.float64)
        x = np.zeros_like(z)
        for a, k, p in zip(self.curve_amplitude, self.curve_wavenumber, self.curve_phase):
            x += a * (np.sin(k * z + p) - np.sin(p))
        return x

    def slope_x(self, z):
        """dc/dz: the tangent of the heading."""
        z = np.asarray(z, dtype=np.float64)
        s = np.zeros_like(z)
        for a, k, p in zip(self.curve_amplitude, self.curve_wavenumber, self.curve_phase):
            s += a * k * np.cos(k * z + p)
        return s

    def _knots(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.knot_heights:
            return np.array([0.0, 1.0]), np.zeros(2)
        heights = np.asarray(self.knot_heights)
        return self.knot_z0 + KNOT_SPACING * np.arange(len(heights)), heights

    def height(self, z):
        """Ground y at z (flat beyond the knots)."""
        knots, heights = self._knots()
        return np.interp(z, knots, heights)

    def grade(self, z):
        """dh/dz of the stretch that holds z (negative: climbing, as y points down)."""
        knots, heights = self._knots()
        slopes = np.append(np.append(0.0, np.diff(heights) / np.diff(knots)), 0.0)
        return slopes[np.searchsorted(knots, z, side="right")]

    def stretches(self):
        """(z0, z1, y0, grade) arrays of the planar stretches between knots."""
        knots, heights = self._knots()
        return knots[:-1], knots[1:], heights[:-1], np.diff(heights) / np.diff(knots)

    def deepest(self) -> float:
        """The largest ground y anywhere (the lowest point of the road)."""
        return float(max(self.knot_heights, default=0.0))

    def height_range(self, z0: float, z1: float) -> tuple[float, float]:
        """(lowest y, highest y) of the ground over world z in [z0, z1]: the profile is piecewise
        linear, so its extremes lie at the ends or at knots between them."""
        knots, _ = self._knots()
        z = np.concatenate([[z0, z1], knots[(knots > z0) & (knots < z1)]])
        y = self.height(z)
        return float(y.min()), float(y.max())

    def crossing_at(self, z0: float, z1: float, margin: float = 0.0) -> "Crossing | None":
        """The cross street that overlaps [z0, z1] widened by ``margin``, if any."""
        for crossing in self.crossings:
            if z1 > crossing.z - crossing.width / 2.0 - margin and z0 < crossing.z + crossing.width / 2.0 + margin:
                return crossing
        return None

    def heading(self, z):
        return np.arctan(self.slope_x(z))

    def to_world_xz(self, l, z):
        """World (x, z) of road coordinates (l, z)."""
        psi = self.heading(z)
        return self.center_x(z) + l * np.cos(psi), np.asarray(z) - l * np.sin(psi)

    def lateral(self, x, z):
        """Road coordinate l of world points (x, z), to first order in the heading."""
        return (np.asarray(x) - self.center_x(z)) * np.cos(self.heading(z))

    def frame(self, l, z, pitch: bool = False, yaw=0.0):
        """Ground points and rotations of road coordinates (l, z), vectorised over them.

        Returns (origin (..., 3), R (..., 3, 3)): origin on the ground; R's columns are the local
        x (right), y (down) and z (forward) axes, turned by the heading plus ``yaw`` and, with
        ``pitch``, tilted with the grade (vehicles) instead of standing upright (buildings).
        """
        l, z, yaw = np.broadcast_arrays(np.asarray(l, np.float64), np.asarray(z, np.float64),
                                        np.asarray(yaw, np.float64))
        x, wz = self.to_world_xz(l, z)
        origin = np.stack([x, self.height(wz), wz], axis=-1)
        psi = self.heading(z) + yaw
        theta = np.arctan(-self.grade(wz)) if pitch else np.zeros_like(psi)
        # R = Ry(psi) @ Rx(theta): a positive theta lifts the forward axis (towards -y).
        cp, sp, ct, st = np.cos(psi), np.sin(psi), np.cos(theta), np.sin(theta)
        R = np.stack([np.stack([cp, sp * st, sp * ct], -1),
                      np.stack([np.zeros_like(cp), ct, -st], -1),
                      np.stack([-sp, cp * st, cp * ct], -1)], axis=-2)
        return origin, R
