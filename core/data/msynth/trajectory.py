"""Ego-motion of the rig along the road: smooth speed changes, lateral sway and small bounce.

Poses are exact functions of time, so every frame of a sequence has a known ``T_world_rig``.
World frame: y down, road surface at y = 0, road along +z; the rig keeps OpenCV-like axes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.msynth.rig import RIG_HEIGHT
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

    @classmethod
    def random(cls, rng: np.random.Generator, lane_x: float) -> "EgoPath":
        wobble = rng.uniform(0.0, 0.6)
        speed = rng.uniform(SPEED_RANGE[0] + wobble, SPEED_RANGE[1] - wobble)
        return cls(lane_x=lane_x, speed=speed, speed_wobble=wobble,
                   speed_period=rng.uniform(6.0, 12.0), sway=rng.uniform(0.05, 0.3),
                   sway_period=rng.uniform(5.0, 12.0), bounce_deg=rng.uniform(0.05, 0.25),
                   phase=rng.uniform(0.0, 2.0 * np.pi))

    def position(self, time_s: float) -> np.ndarray:
        """Rig origin in the world at ``time_s``; z = 0 at time 0."""
        w_speed = 2.0 * np.pi / self.speed_period
        w_sway = 2.0 * np.pi / self.sway_period
        # z integrates speed + wobble * sin(w t + phase), starting at 0.
        z = self.speed * time_s + self.speed_wobble / w_speed * (
            np.cos(self.phase) - np.cos(w_speed * time_s + self.phase))
        x = self.lane_x + self.sway * np.sin(w_sway * time_s + self.phase)
        return np.array([x, -self.height, z])

    def pose(self, time_s: float) -> np.ndarray:
        """T_world_rig at ``time_s``: heading along the path's tangent, plus a small pitch."""
        w_speed = 2.0 * np.pi / self.speed_period
        w_sway = 2.0 * np.pi / self.sway_period
        dz = self.speed + self.speed_wobble * np.sin(w_speed * time_s + self.phase)
        dx = self.sway * w_sway * np.cos(w_sway * time_s + self.phase)
        yaw = np.arctan2(dx, dz)
        pitch = np.deg2rad(self.bounce_deg) * np.sin(2.0 * np.pi * 1.3 * time_s + self.phase)
        return make_transform(rotation_xyz(pitch, yaw, 0.0), self.position(time_s))


def frame_time(frame_index: int) -> float:
    return frame_index / FPS
