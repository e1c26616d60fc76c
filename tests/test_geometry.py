"""Geometry against closed forms: identity warps, plane homographies, depth reprojection."""
import numpy as np
import torch
import torch.nn.functional as F

from core.geometry import (Camera, backproject, make_transform, project, relative_pose,
                           reproject_depth, rotation_xyz, scale_intrinsics, warp_to_camera)

K = torch.tensor([[[100.0, 0, 31.5], [0, 100.0, 23.5], [0, 0, 1]]], dtype=torch.float64)


def test_backproject_then_project_is_identity():
    depth = torch.rand(1, 1, 48, 64, dtype=torch.float64) * 50 + 1
    uv, z = project(backproject(depth, K), K)
    v, u = torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="ij")
    assert torch.allclose(uv[0, 0], u.double(), atol=1e-9)
    assert torch.allclose(uv[0, 1], v.double(), atol=1e-9)
    assert torch.allclose(z, depth)


def test_warp_with_identity_extrinsics_is_identity():
    image = torch.rand(2, 5, 48, 64, dtype=torch.float64)
    depth = torch.rand(2, 1, 48, 64, dtype=torch.float64) * 30 + 1
    Ks = K.expand(2, 3, 3)
    warped, valid = warp_to_camera(image, depth, Ks, Ks, torch.eye(4, dtype=torch.float64).expand(2, 4, 4))
    assert valid.all()
    assert torch.allclose(warped, image, atol=1e-9)


def test_warp_of_fronto_parallel_plane_is_a_pixel_shift():
    # A plane at Z seen by a camera moved by b along x: the image shifts by f * b / Z pixels.
    Z, b, f = 10.0, 0.4, 100.0
    shift = f * b / Z  # 4 pixels exactly
    src = torch.rand(1, 1, 48, 64, dtype=torch.float64)
    depth = torch.full((1, 1, 48, 64), Z, dtype=torch.float64)
    T_src_dst = torch.from_numpy(make_transform(np.eye(3), [-b, 0, 0]))[None]
    warped, valid = warp_to_camera(src, depth, K, K, T_src_dst)
    expected = src[..., :, :-4]
    assert torch.allclose(warped[..., :, 4:], expected, atol=1e-9)
    assert not valid[..., :, :int(shift)].any() and valid[..., :, int(shift):].all()


def test_warp_into_a_lower_resolution_camera_uses_rescaled_intrinsics():
    # A constant-depth plane rendered at two resolutions: warping the fine image into the
    # coarse camera with the rescaled K equals average-pooling it.
    fine = torch.rand(1, 3, 48, 64, dtype=torch.float64)
    K_coarse = torch.from_numpy(scale_intrinsics(K[0].numpy(), 0.5, 0.5))[None]
    depth = torch.full((1, 1, 24, 32), 7.0, dtype=torch.float64)
    warped, valid = warp_to_camera(fine, depth, K_coarse, K, torch.eye(4, dtype=torch.float64)[None])
    assert valid.all()
    assert torch.allclose(warped, F.avg_pool2d(fine, 2), atol=1e-9)


def test_reproject_depth_of_a_rotated_plane_matches_the_closed_form():
    # Destination camera rotated and shifted; the plane n.X = d in the source frame has,
    # at each destination pixel ray r, depth z = (d - n.t') / (n.R' r) in closed form.
    H, W = 48, 64
    n, d = np.array([0.0, -0.2, 1.0]), 12.0
    Kn = K[0].numpy()
    rays = np.linalg.inv(Kn) @ np.stack([*np.meshgrid(np.arange(W), np.arange(H)), np.ones((H, W))]).reshape(3, -1)
    depth_src = torch.from_numpy((d / (n @ rays)).reshape(1, 1, H, W))
    T_dst_src = make_transform(rotation_xyz(0.01, -0.02, 0.005), [0.3, -0.05, 0.1])
    depth_dst = reproject_depth(depth_src, K, torch.from_numpy(T_dst_src)[None], K, (H, W))[0, 0].numpy()
    T_src_dst = np.linalg.inv(T_dst_src)
    R, t = T_src_dst[:3, :3], T_src_dst[:3, 3]
    expected = ((d - n @ t) / (n @ (R @ rays))).reshape(H, W)
    hit = depth_dst > 0
    assert hit.mean() > 0.8
    # Splatting rounds to the nearest pixel: depth differs by at most the plane's change over half a pixel.
    assert np.allclose(depth_dst[hit], expected[hit], rtol=2e-3)


def test_reproject_depth_keeps_the_nearest_surface():
    depth = torch.full((1, 1, 8, 8), 20.0, dtype=torch.float64)
    depth[..., 2:6, 2:6] = 5.0
    T = torch.from_numpy(make_transform(np.eye(3), [1.0, 0, 0]))[None]
    Ks = torch.tensor([[[8.0, 0, 3.5], [0, 8.0, 3.5], [0, 0, 1]]], dtype=torch.float64)
    out = reproject_depth(depth, Ks, T, Ks, (8, 8))
    # The near square moves by f*b/Z = 1.6 px, the background by 0.4 px; the near one wins.
    assert (out[..., 2:6, 4] == 5.0).all()


def test_camera_resize_matches_interpolate_convention():
    cam = Camera(K[0].numpy(), 64, 48, np.eye(4))
    small = cam.resized(24, 32)
    assert np.allclose(small.K, scale_intrinsics(cam.K, 0.5, 0.5))
    # The image centre stays the image centre.
    assert np.isclose(small.K[0, 2], 15.5) and np.isclose(small.K[1, 2], 11.5)


def test_relative_pose_composes_rig_transforms():
    a = Camera(np.eye(3), 1, 1, make_transform(rotation_xyz(0.1, 0, 0), [1, 2, 3]))
    b = Camera(np.eye(3), 1, 1, make_transform(rotation_xyz(0, 0.2, 0), [-1, 0, 0]))
    T_ab = relative_pose(a, b)
    p_b = np.array([0.3, -0.4, 5.0, 1.0])
    assert np.allclose(a.T_rig_cam @ T_ab @ p_b, b.T_rig_cam @ p_b)
