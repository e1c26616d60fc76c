"""Pinhole cameras and rigid transforms.

Conventions used everywhere in the project:
- camera coordinates follow OpenCV: x right, y down, z forward; depth is z in metres;
- pixel (u, v) = (column, row), pixel centres at integer coordinates;
- ``T_a_b`` is a 4x4 matrix that maps points in frame ``b`` to frame ``a``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)
# x -> -x in camera and rig coordinates: F T F with F = diag(-1, 1, 1, 1) multiplies entry (i, j)
# of T by s_i s_j, which keeps a rigid transform rigid (det +1).
MIRROR_SIGNS = np.outer([-1.0, 1.0, 1.0, 1.0], [-1.0, 1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Camera:
    """Intrinsics, image size and the pose of one camera in the rig frame."""

    K: np.ndarray
    width: int
    height: int
    T_rig_cam: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "K", np.asarray(self.K, dtype=np.float64).reshape(3, 3))
        object.__setattr__(self, "T_rig_cam", np.asarray(self.T_rig_cam, dtype=np.float64).reshape(4, 4))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @property
    def size(self) -> tuple[int, int]:
        """(height, width), the order of numpy image shapes."""
        return self.height, self.width

    def resized(self, height: int, width: int) -> "Camera":
        """The same camera seen through an image resized to (height, width)."""
        K = scale_intrinsics(self.K, width / self.width, height / self.height)
        return Camera(K, width, height, self.T_rig_cam)

    def cropped(self, top: int, left: int, height: int, width: int) -> "Camera":
        """The same camera seen through the crop [top:top+height, left:left+width]."""
        K = self.K.copy()
        K[0, 2] -= left
        K[1, 2] -= top
        return Camera(K, width, height, self.T_rig_cam)

    def to_dict(self) -> dict:
        return {"K": self.K.tolist(), "width": self.width, "height": self.height,
                "T_rig_cam": self.T_rig_cam.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Camera":
        return cls(np.array(d["K"]), d["width"], d["height"], np.array(d["T_rig_cam"]))


def scale_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Intrinsics after resizing the image by (sx, sy).

    Pixel centres sit at integer coordinates, so a pixel edge at -0.5 stays at -0.5:
    u' = (u + 0.5) * sx - 0.5. This matches ``interpolate(..., align_corners=False)``.
    """
    K = np.array(K, dtype=np.float64, copy=True)
    K[0, 0] *= sx
    K[1, 1] *= sy
    K[0, 1] *= sx
    K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return K


def mirrored_intrinsics(K: Array, width: int) -> Array:
    """Intrinsics (..., 3, 3) of the image mirrored left-right (pixel u -> width - 1 - u):
    cx -> width - 1 - cx and the skew changes sign. numpy or torch, a new array."""
    K = K.copy() if isinstance(K, np.ndarray) else K.clone()
    K[..., 0, 1] = -K[..., 0, 1]
    K[..., 0, 2] = width - 1 - K[..., 0, 2]
    return K


def mirrored_transform(T: Array) -> Array:
    """A transform (..., 4, 4) between mirrored frames (x -> -x on both sides): F T F."""
    signs = MIRROR_SIGNS if isinstance(T, np.ndarray) else torch.as_tensor(MIRROR_SIGNS, dtype=T.dtype,
                                                                            device=T.device)
    return T * signs


def relative_pose(cam_dst: Camera, cam_src: Camera) -> np.ndarray:
    """T_dst_src: maps points in the source camera's frame to the destination camera's."""
    return np.linalg.inv(cam_dst.T_rig_cam) @ cam_src.T_rig_cam


def rotation_xyz(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation matrix R = Rz @ Ry @ Rx from angles in radians."""
    cx, sx = np.cos(rx), np.sin(rx)
    cy, sy = np.cos(ry), np.sin(ry)
    cz, sz = np.cos(rz), np.sin(rz)
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def make_transform(R: np.ndarray, t) -> np.ndarray:
    """4x4 rigid transform from a rotation matrix and a translation vector."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.asarray(t, dtype=np.float64)
    return T
