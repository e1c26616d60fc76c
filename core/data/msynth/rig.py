"""The three-camera rig of MS-Synth, modelled on the MS2 rig (left cameras).

Rig frame: OpenCV-like axes (x right, y down, z forward), origin between the cameras. The rig
is mounted ``RIG_HEIGHT`` metres above the road. The cameras are offset by centimetres and
rotated by fractions of a degree, so their images are not pixel-aligned.
"""
from __future__ import annotations

import numpy as np

from core.geometry.camera import Camera, make_transform, rotation_xyz

RIG_HEIGHT = 1.72


def _camera(fx: float, fy: float, cx: float, cy: float, width: int, height: int,
            position_m, rotation_deg) -> Camera:
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    R = rotation_xyz(*np.deg2rad(rotation_deg))
    return Camera(K, width, height, make_transform(R, position_m))


def make_rig() -> dict[str, Camera]:
    """Cameras 'rgb' (1224 x 384), 'nir' (1280 x 352) and 'thr' (640 x 256) with T_rig_cam."""
    return {
        "rgb": _camera(760.0, 760.0, 612.7, 190.4, 1224, 384,
                       (-0.28, 0.00, 0.000), (0.40, -0.55, 0.30)),
        "nir": _camera(800.0, 800.0, 638.1, 177.2, 1280, 352,
                       (0.07, -0.03, 0.010), (-0.35, 0.45, -0.25)),
        "thr": _camera(410.0, 410.0, 321.3, 126.6, 640, 256,
                       (0.24, 0.045, 0.020), (0.80, 0.30, 0.50)),
    }
