"""Ego-motion of the rig along the road: smooth speed changes, lateral sway and small bounce,
following the road's curves and hills, on a rig whose height, pitch and roll vary per sequence
within what a car mount sees.

Poses are exact functions of time, so every frame of a sequence has a known ``T_world_rig``.
World frame: y down, road along +z (road.py); the rig keeps OpenCV-like axes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.data.msynth.rig import RIG_HEIGHT
from core.data.msynth.road import Road
from core.geometry.camera import make_transform, rotation_xyz

FPS = 10.0
SEQUENCE_LENGTH = 100          # frames per sequence the scenes are built for
SPEED_RANGE = (6.0, 12.0)      # m/s, including the speed wobble


@dataclass(frozen=True)
class EgoPath:
    lane_x: float = 1.75        # lane centre (m, world x)
    speed: float = 9.0          # mean speed (m/s)
    speed_wobble: float = 0.0   # amplitude of the speed change (m/s)
    speed_period: float = 8.0   # s
    sway: float = 0.0           # lateral amplitude (m)
    sway_period: float = 7.0    # s
    bounce_deg: float = 0.0     # pitch amplitude of the suspension (deg)
    phase: float = 0.0          # rad, shifts all oscillations
    height: float = RIG_HEIGHT  # rig height above the road (m)
    pitch_deg: float = 0.0      # mounting pitch of the rig (positive: looking up)
    roll_deg: float = 0.0       # mounting roll of the rig
    road: Road = field(default_factory=Road)

    @classmethod
    def random(cls, rng: np.random.Generator, lane_x: float, road: Road | None = None) -> "EgoPath":
        wobble = rng.uniform(0.0, 0.6)
        speed = rng.uniform(SPEED_RANGE[0] + wobble, SPEED_RANGE[1] - wobble)
        return cls(lane_x=lane_x, speed=speed, speed_wobble=wobble,
                   speed_period=rng.uniform(6.0, 12.0), sway=rng.uniform(0.05, 0.3),
                   sway_period=rng.uniform(5.0, 12.0), bounce_deg=rng.uniform(0.05, 0.25),
                   phase=rng.uniform(0.0, 2.0 * np.pi), height=rng.uniform(1.45, 2.05),
                   pitch_deg=rng.normal(0.0, 1.2), roll_deg=rng.normal(0.0, 0.6),
                   road=road or Road())

    def _lane_coordinates(self, time_s: float) -> tuple[float, float]:
        """(l, z) road coordinates of the rig at ``time_s``; z = 0 at time 0."""
        w_speed = 2.0 * np.pi / self.speed_period
        w_sway = 2.0 * np.pi / self.sway_period
        # z integrates speed + wobble * sin(w t + phase), starting at 0.
        z = self.speed * time_s + self.speed_wobble / w_speed * (
            np.cos(self.phase) - np.cos(w_speed * time_s + self.phase))
        return self.lane_x + self.sway * np.sin(w_sway * time_s + self.phase), z

    def position(self, time_s: float) -> np.ndarray:
        """Rig origin in the world at ``time_s``: ``height`` above the ground under it."""
        l, z = self._lane_coordinates(time_s)
        origin, _ = self.road.frame(l, z)
        return origin - (0.0, self.height, 0.0)

    def pose(self, time_s: float) -> np.ndarray:
        """T_world_rig at ``time_s``: the road's heading and grade, the path's sway, the mount's
        pitch and roll, and a small suspension bounce."""
        w_speed = 2.0 * np.pi / self.speed_period
        w_sway = 2.0 * np.pi / self.sway_period
        l, z = self._lane_coordinates(time_s)
        _, R_road = self.road.frame(l, z, pitch=True)
        dz = self.speed + self.speed_wobble * np.sin(w_speed * time_s + self.phase)
        dx = self.sway * w_sway * np.cos(w_sway * time_s + self.phase)
        sway_yaw = np.arctan2(dx, dz)
        pitch = np.deg2rad(self.pitch_deg + self.bounce_deg * np.sin(2.0 * np.pi * 1.3 * time_s + self.phase))
        R = R_road @ rotation_xyz(0.0, sway_yaw, 0.0) @ rotation_xyz(pitch, 0.0, 0.0) \
            @ rotation_xyz(0.0, 0.0, np.deg2rad(self.roll_deg))
        return make_transform(R, self.position(time_s))


def frame_time(frame_index: int) -> float:
    return frame_index / FPS
