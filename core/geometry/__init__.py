"""Cameras, projection and cross-camera warping."""
from core.geometry.camera import Camera, make_transform, relative_pose, rotation_xyz, scale_intrinsics
from core.geometry.projection import backproject, inverse, pixel_grid, project, relative_transform, transform_points
from core.geometry.warp import reproject_depth, warp_to_camera

__all__ = ["Camera", "make_transform", "relative_pose", "rotation_xyz", "scale_intrinsics",
           "backproject", "inverse", "pixel_grid", "project", "relative_transform", "transform_points",
           "reproject_depth", "warp_to_camera"]
