"""The rig's geometry ties the three MS-Synth cameras together exactly."""
import numpy as np
import pytest
import torch

from core.data.dataset import flip_frame, resize_frame
from core.data.msynth import render_frame
from core.geometry import relative_pose, reproject_depth, warp_to_camera


@pytest.fixture(scope="module", params=["day", "fog"])
def frame(request):
    return render_frame(200004, frame_index=12, condition=request.param)


def thermal_depth_seen_by(frame, dst: str, src: str = "thr") -> np.ndarray:
    cam_src, cam_dst = frame.cameras[src], frame.cameras[dst]
    depth = torch.from_numpy(frame.depth[src].astype(np.float64))[None, None]
    return reproject_depth(depth, torch.from_numpy(cam_src.K)[None],
                           torch.from_numpy(relative_pose(cam_dst, cam_src))[None],
                           torch.from_numpy(cam_dst.K)[None], cam_dst.size)[0, 0].numpy()


@pytest.mark.parametrize("dst", ["rgb", "nir"])
def test_thermal_depth_reprojected_into_another_camera_matches_its_ground_truth(frame, dst):
    splatted = thermal_depth_seen_by(frame, dst)
    truth = frame.depth[dst]
    covisible = (splatted > 0) & (truth > 0)
    assert covisible.sum() > 20000
    relative_error = np.abs(splatted[covisible] - truth[covisible]) / truth[covisible]
    assert (relative_error < 0.01).mean() >= 0.95


def test_rgb_classes_warped_into_thermal_with_thermal_depth_match_thermal_classes(frame):
    cam_thr, cam_rgb = frame.cameras["thr"], frame.cameras["rgb"]
    classes = torch.from_numpy(frame.classes["rgb"].astype(np.float64))[None, None]
    warped, valid = warp_to_camera(classes, torch.from_numpy(frame.depth["thr"].astype(np.float64))[None, None],
                                   torch.from_numpy(cam_thr.K)[None], torch.from_numpy(cam_rgb.K)[None],
                                   torch.from_numpy(relative_pose(cam_rgb, cam_thr))[None], mode="nearest")
    valid = valid[0, 0].numpy()
    assert valid.mean() > 0.5
    agree = warped[0, 0].numpy()[valid] == frame.classes["thr"][valid]
    assert agree.mean() >= 0.95


def test_geometry_survives_resize_and_flip(frame):
    # Augmentations must keep the rig consistent: the same check on a resized, mirrored frame.
    augmented = flip_frame(resize_frame(frame, (128, 320)))
    splatted = thermal_depth_seen_by(augmented, "rgb")
    truth = augmented.depth["rgb"]
    covisible = (splatted > 0) & (truth > 0)
    relative_error = np.abs(splatted[covisible] - truth[covisible]) / truth[covisible]
    assert covisible.sum() > 5000 and (relative_error < 0.02).mean() >= 0.9
