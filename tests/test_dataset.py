"""FrameDataset and frame transforms: geometry stays consistent through resize, crop, flip."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from core.data.dataset import (FrameDataset, _blur, collate_frames, crop_frame, flip_frame, frame_to_item,
                               resize_frame, select_spectra, strong_photometric)
from core.data.frame import Frame
from core.geometry.camera import Camera, make_transform, relative_pose, rotation_xyz
from core.models.interface import mirrored_inputs

PLANE_NORMAL = np.array([0.08, -0.05, 1.0])  # plane n . X = offset, in rig coordinates
PLANE_OFFSET = 6.0
FRONTO_PARALLEL = np.array([0.0, 0.0, 1.0])


def smooth_texture(X, Y):
    return 0.5 + 0.4 * np.sin(2 * np.pi * X / 2.0) * np.cos(2 * np.pi * Y / 1.5)


def checker_texture(X, Y):
    return ((np.floor(X) + np.floor(Y)) % 2).astype(np.float64)  # 1 m cells


def plane_hits(camera: Camera, u, v, normal=PLANE_NORMAL):
    """Depth and rig coordinates where the rays through pixels (u, v) meet the plane."""
    rays = np.linalg.inv(camera.K) @ np.stack([u, v, np.ones_like(u)]).reshape(3, -1)
    R, t = camera.T_rig_cam[:3, :3], camera.T_rig_cam[:3, 3]
    directions = R @ rays
    depth = (PLANE_OFFSET - normal @ t) / (normal @ directions)  # rays have z = 1: length = depth
    points = t[:, None] + depth * directions
    return depth.reshape(u.shape), points.reshape(3, *u.shape)


def render_plane_frame(texture=smooth_texture, normal=PLANE_NORMAL) -> Frame:
    """rgb, nir and thr cameras of different sizes, offsets and rotations, looking at a plane."""
    cameras = {
        "rgb": Camera([[150.0, 0, 99.5], [0, 150.0, 59.5], [0, 0, 1]], 200, 120,
                      make_transform(rotation_xyz(0.01, -0.02, 0.0), [-0.25, 0.02, 0.0])),
        "nir": Camera([[140.0, 0, 92.3], [0, 141.0, 48.1], [0, 0, 1]], 180, 100, np.eye(4)),
        "thr": Camera([[90.0, 0, 80.2], [0, 90.0, 31.7], [0, 0, 1]], 160, 64,
                      make_transform(rotation_xyz(-0.015, 0.03, 0.01), [0.2, -0.03, 0.05])),
    }
    images, depth = {}, {}
    for spectrum, camera in cameras.items():
        v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
        depth_values, points = plane_hits(camera, u, v, normal)
        intensity = texture(points[0], points[1])
        depth[spectrum] = depth_values.astype(np.float32)
        if spectrum == "thr":
            images[spectrum] = np.rint(3000 + 3000 * intensity).astype(np.uint16)
        else:
            grey = np.rint(255 * intensity).astype(np.uint8)
            images[spectrum] = np.stack([grey] * 3, axis=2) if spectrum == "rgb" else grey
    return Frame(images, cameras, depth=depth, condition="day", name="plane")


def image_intensity(frame: Frame, spectrum: str) -> np.ndarray:
    image = frame.images[spectrum].astype(np.float64)
    return (image - 3000) / 3000 if spectrum == "thr" else (image[..., 0] if image.ndim == 3 else image) / 255


class ListSource:
    def __init__(self, frames):
        self.frames = frames

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, index):
        return self.frames[index]


# --- resize and crop -------------------------------------------------------------------

@pytest.mark.parametrize("transform", [
    lambda f: resize_frame(f, (48, 100)),                            # shrink, different aspect
    lambda f: resize_frame(f, (150, 260)),                           # enlarge
    lambda f: crop_frame(resize_frame(f, (96, 240)), 10, 27, 64, 180),
])
def test_resize_and_crop_keep_geometry(transform):
    frame = render_plane_frame()
    out = transform(frame)
    for spectrum in frame.spectra:
        camera = out.cameras[spectrum]
        v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
        # Depth and K: back-projected pixels land on the plane (nearest-pixel depth moves a
        # point by at most half a source pixel).
        rays = np.linalg.inv(camera.K) @ np.stack([u, v, np.ones_like(u)]).reshape(3, -1)
        points = camera.T_rig_cam[:3, :3] @ (rays * out.depth[spectrum].reshape(-1)) \
            + camera.T_rig_cam[:3, 3:]
        residual = np.abs(PLANE_NORMAL @ points - PLANE_OFFSET) / np.linalg.norm(PLANE_NORMAL)
        assert residual.max() < 0.02
        # Image and K: each pixel shows the texture where its ray meets the plane.
        _, hits = plane_hits(camera, u, v)
        error = np.abs(image_intensity(out, spectrum) - smooth_texture(hits[0], hits[1]))
        # (K scaled without the half-pixel shift gives 0.014-0.025 when shrinking.)
        assert error.mean() < 0.006, spectrum


def test_resize_keeps_dtypes_and_depth_values():
    frame = render_plane_frame()
    out = resize_frame(frame, (37, 91))
    for spectrum in frame.spectra:
        assert out.images[spectrum].dtype == frame.images[spectrum].dtype
        assert out.images[spectrum].shape[:2] == (37, 91)
        # Nearest sampling: every output depth is one of the input depths, never a blend.
        assert np.isin(out.depth[spectrum], frame.depth[spectrum]).all()


def test_crop_outside_the_image_is_refused():
    with pytest.raises(ValueError, match="exceeds"):
        crop_frame(render_plane_frame(), 0, 0, 65, 100)  # thermal is only 64 rows


# --- flip ------------------------------------------------------------------------------

def project_pairs(frame: Frame, src: str, dst: str):
    """Pixels of ``src`` mapped into ``dst`` through depth, intrinsics and extrinsics."""
    cam_src, cam_dst = frame.cameras[src], frame.cameras[dst]
    v, u = np.mgrid[0:cam_src.height, 0:cam_src.width].astype(np.float64)
    rays = np.linalg.inv(cam_src.K) @ np.stack([u, v, np.ones_like(u)]).reshape(3, -1)
    points = rays * frame.depth[src].reshape(-1).astype(np.float64)
    T = relative_pose(cam_dst, cam_src)
    projected = cam_dst.K @ (T[:3, :3] @ points + T[:3, 3:])
    return (projected[:2] / projected[2]).reshape(2, cam_src.height, cam_src.width)


@pytest.mark.parametrize("src, dst", [("rgb", "thr"), ("thr", "nir"), ("nir", "rgb")])
def test_flipped_rig_maps_corresponding_pixels(src, dst):
    frame = render_plane_frame(checker_texture, FRONTO_PARALLEL)
    flipped = flip_frame(frame)
    width_dst = frame.cameras[dst].width
    original = project_pairs(frame, src, dst)
    mirrored = project_pairs(flipped, src, dst)
    # Pixel (u, v) -> (u2, v2) before the flip means (W-1-u, v) -> (W2-1-u2, v2) after it.
    np.testing.assert_allclose(mirrored[0], (width_dst - 1 - original[0])[:, ::-1], atol=1e-6)
    np.testing.assert_allclose(mirrored[1], original[1][:, ::-1], atol=1e-6)
    # And the flipped images agree: the checker seen in src is the checker found in dst
    # (up to pixels on cell edges), unlike with flipped images but unmirrored extrinsics.
    assert checker_agreement(flipped, src, dst) > 0.95
    unmirrored = dataclasses.replace(flipped, cameras={
        s: Camera(c.K, c.width, c.height, frame.cameras[s].T_rig_cam) for s, c in flipped.cameras.items()})
    assert checker_agreement(unmirrored, src, dst) < 0.8
    for camera in flipped.cameras.values():  # still a proper rigid transform
        assert np.isclose(np.linalg.det(camera.T_rig_cam[:3, :3]), 1.0)


def checker_agreement(frame: Frame, src: str, dst: str) -> float:
    """Fraction of src pixels whose checker colour matches the dst pixel they project to."""
    u2, v2 = np.rint(project_pairs(frame, src, dst)).astype(int)
    inside = (u2 >= 0) & (u2 < frame.cameras[dst].width) & (v2 >= 0) & (v2 < frame.cameras[dst].height)
    assert inside.mean() > 0.3
    seen = image_intensity(frame, src)[inside]
    return float((seen == image_intensity(frame, dst)[v2[inside], u2[inside]]).mean())


def test_flip_twice_is_identity():
    frame = render_plane_frame()
    frame.pose = make_transform(rotation_xyz(0.1, 0.2, 0.3), [1.0, 2.0, 3.0])
    twice = flip_frame(flip_frame(frame))
    for spectrum in frame.spectra:
        np.testing.assert_array_equal(twice.images[spectrum], frame.images[spectrum])
        np.testing.assert_allclose(twice.cameras[spectrum].K, frame.cameras[spectrum].K)
        np.testing.assert_allclose(twice.cameras[spectrum].T_rig_cam, frame.cameras[spectrum].T_rig_cam)
    np.testing.assert_allclose(twice.pose, frame.pose)


def test_mirrored_batch_inputs_are_the_flipped_frame_collated():
    """``DepthModel.infer``'s flip averaging mirrors a batch's tensors as ``flip_frame`` does a frame."""
    frame = render_plane_frame(checker_texture)
    batch, flipped = (collate_frames([frame_to_item(f)]) for f in (frame, flip_frame(frame)))
    spectra = list(frame.spectra)
    images, K, T = mirrored_inputs(*({s: batch[f"{key}/{s}"] for s in spectra} for key in ("image", "K", "T_rig_cam")))
    for spectrum in spectra:
        assert torch.equal(images[spectrum], flipped[f"image/{spectrum}"])
        assert torch.allclose(K[spectrum], flipped[f"K/{spectrum}"])
        assert torch.allclose(T[spectrum], flipped[f"T_rig_cam/{spectrum}"])
    assert not torch.allclose(T["rgb"], batch["T_rig_cam/rgb"])   # the RGB camera sits off the rig's origin


# --- the Dataset -----------------------------------------------------------------------

def test_items_have_the_documented_layout():
    item = FrameDataset(ListSource([render_plane_frame()]), size=(64, 160))[0]
    assert item["spectra"] == ("rgb", "nir", "thr") and item["condition"] == "day" and item["name"] == "plane"
    for spectrum, channels in (("rgb", 3), ("nir", 1), ("thr", 1)):
        image = item[f"image/{spectrum}"]
        assert image.dtype == torch.float32 and image.shape == (channels, 64, 160)
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert item[f"K/{spectrum}"].shape == (3, 3) and item[f"K/{spectrum}"].dtype == torch.float32
        assert item[f"T_rig_cam/{spectrum}"].shape == (4, 4)
        assert item[f"depth/{spectrum}"].shape == (1, 64, 160)
        assert item[f"valid/{spectrum}"].dtype == torch.bool and item[f"valid/{spectrum}"].all()
    assert item["image/thr"].min() == 0.0 and item["image/thr"].max() == 1.0  # normalize_thermal


def rig_points(item: dict, spectrum: str) -> np.ndarray:
    """(3, H*W) rig-frame points of an item's depth, through its K and T_rig_cam."""
    K, T = item[f"K/{spectrum}"].double().numpy(), item[f"T_rig_cam/{spectrum}"].double().numpy()
    height, width = item[f"depth/{spectrum}"].shape[-2:]
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    rays = np.linalg.inv(K) @ np.stack([u, v, np.ones_like(u)]).reshape(3, -1)
    return T[:3, :3] @ (rays * item[f"depth/{spectrum}"].double().numpy().reshape(-1)) + T[:3, 3:]


def test_augmented_items_keep_geometry_and_are_reproducible():
    dataset = FrameDataset(ListSource([render_plane_frame(normal=FRONTO_PARALLEL)] * 6),
                           size=(64, 160), augment=True, seed=3)
    flips = set()
    for index in range(len(dataset)):
        item = dataset[index]
        for spectrum in ("rgb", "nir", "thr"):
            points = rig_points(item, spectrum)
            # The fronto-parallel plane z = offset is its own mirror image.
            assert np.abs(points[2] - PLANE_OFFSET).max() < 0.01
        flips.add(bool(item["T_rig_cam/rgb"][0, 3] > 0))  # the rgb camera sits left unless mirrored
    assert flips == {True, False}
    again = FrameDataset(dataset.source, size=(64, 160), augment=True, seed=3)
    for key, value in dataset[2].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, again[2][key]), key
    again.set_epoch(1)
    assert not torch.equal(dataset[2]["image/rgb"], again[2]["image/rgb"])


def test_crop_scale_bounds_the_zoom_of_the_training_crop():
    source = ListSource([render_plane_frame()] * 24)
    plain_focal = FrameDataset(source, size=(64, 160))[0]["K/rgb"][0, 0].item()

    def zooms(crop_scale):
        dataset = FrameDataset(source, size=(64, 160), augment=True, seed=1, crop_scale=crop_scale)
        return np.array([dataset[i]["K/rgb"][0, 0].item() / plain_focal for i in range(len(dataset))])

    np.testing.assert_allclose(zooms(1.0), 1.0, rtol=1e-5)
    wide = zooms(1.6)
    assert wide.min() >= 1.0 - 1e-5 and wide.max() <= 1.6 + 0.02 and wide.max() > 1.3
    with pytest.raises(ValueError, match="crop_scale"):
        FrameDataset(source, size=(64, 160), augment=True, crop_scale=0.9)


def test_a_zoom_that_scales_depth_shrinks_the_world_by_the_zoom():
    frame = render_plane_frame(normal=FRONTO_PARALLEL)
    frame.pose = make_transform(rotation_xyz(0.1, 0.2, 0.3), [1.0, 2.0, 3.0])
    source = ListSource([frame] * 12)
    source.neighbour = lambda index, offset: frame
    plain_focal = FrameDataset(source, size=(64, 160))[0]["K/rgb"][0, 0].item()
    dataset = FrameDataset(source, size=(64, 160), augment=True, seed=1, crop_scale=1.6,
                           zoom_scales_depth=True, neighbours=(1,))
    zooms = []
    for index in range(len(dataset)):
        item = dataset[index]
        plane_depths = np.concatenate([rig_points(item, spectrum)[2] for spectrum in ("rgb", "nir", "thr")])
        # One world for every camera and the pose: the plane at offset / s, the pose moved / s.
        world_scale = PLANE_OFFSET / plane_depths.mean()
        assert np.abs(plane_depths - PLANE_OFFSET / world_scale).max() < 0.01
        np.testing.assert_allclose(np.abs(item["pose"][:3, 3].numpy()), np.array([1.0, 2.0, 3.0]) / world_scale,
                                   rtol=1e-3)
        # s is the zoom; K's focal differs from it only by the rounding of the enlarged size.
        zoom = item["K/rgb"][0, 0].item() / plain_focal
        assert abs(world_scale / zoom - 1.0) < 0.01
        zooms.append(zoom)
    assert max(zooms) > 1.3


def test_colour_jitter_leaves_thermal_alone():
    source = ListSource([render_plane_frame()])
    plain = FrameDataset(source, size=(64, 160))[0]
    for seed in range(8):
        jittered = FrameDataset(source, size=(64, 160), augment=True, seed=seed)[0]
        if torch.equal(jittered["K/rgb"], plain["K/rgb"]):  # no crop offset, no flip
            assert torch.equal(jittered["image/thr"], plain["image/thr"])
            assert not torch.equal(jittered["image/rgb"], plain["image/rgb"])


def test_strong_photometric_changes_appearance_not_geometry():
    source = ListSource([render_plane_frame()] * 4)
    basic = FrameDataset(source, size=(64, 160), augment=True, seed=5)
    strong = FrameDataset(source, size=(64, 160), augment=True, seed=5, photometric="strong")
    changed = {"rgb": 0, "thr": 0}
    for index in range(4):
        a, b = basic[index], strong[index]
        for key in a:
            if key.startswith(("K/", "T_rig_cam/", "depth/", "valid/")):
                assert torch.equal(a[key], b[key]), key          # same crop and flip
        for spectrum in changed:
            image = b[f"image/{spectrum}"]
            assert 0.0 <= image.min() and image.max() <= 1.0
            changed[spectrum] += not torch.equal(a[f"image/{spectrum}"], image)
        assert torch.equal(b["image/rgb"], strong[index]["image/rgb"])   # reproducible
    assert changed == {"rgb": 4, "thr": 4}
    with pytest.raises(ValueError, match="photometric must be one of"):
        FrameDataset(source, photometric="extreme")


def test_blur_keeps_constants_and_mass():
    constant = np.full((20, 30, 3), 0.4, np.float32)
    np.testing.assert_allclose(_blur(constant, 1.2), constant, atol=1e-6)
    impulse = np.zeros((21, 21), np.float32)
    impulse[10, 10] = 1.0
    blurred = _blur(impulse, 1.0)
    assert blurred.sum() == pytest.approx(1.0, abs=1e-5) and blurred[10, 10] < 0.2
    assert blurred[10, 11] == pytest.approx(blurred[11, 10]) == pytest.approx(blurred[10, 9])
    image = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    out = strong_photometric(image, np.random.default_rng(1), thermal=True)
    assert out.shape == image.shape and out.dtype == np.float32


def test_subset_spectra_and_collate():
    full = render_plane_frame()
    thermal_only = select_spectra(full, ["thr"])
    no_depth = select_spectra(full, ["rgb", "nir"])
    no_depth.depth = {}
    source = ListSource([full, thermal_only, no_depth])
    dataset = FrameDataset(source, size=(32, 80))
    assert dataset[1]["spectra"] == ("thr",) and "image/rgb" not in dataset[1]
    assert "depth/rgb" not in dataset[2]
    assert FrameDataset(source, spectra=("nir",), size=(32, 80))[0]["spectra"] == ("nir",)
    with pytest.raises(ValueError, match="has none of the spectra"):
        FrameDataset(source, spectra=("rgb",), size=(32, 80))[1]

    batch = next(iter(DataLoader(dataset, batch_size=3, collate_fn=collate_frames)))
    assert batch["image/rgb"].shape == (3, 3, 32, 80) and batch["image/thr"].shape == (3, 1, 32, 80)
    assert batch["present/rgb"].tolist() == [True, False, True]
    assert batch["present/thr"].tolist() == [True, True, False]
    assert batch["valid/rgb"].flatten(1).any(1).tolist() == [True, False, False]
    assert batch["spectra"][1] == ("thr",) and batch["name"] == ["plane"] * 3


def test_neighbour_frames_reproject_with_the_true_depth_and_poses(tmp_path):
    # Two consecutive MS-Synth frames through the MS2 layout and the Dataset (augmented, so
    # crop, flip and poses must all stay consistent): the source warped into the target
    # with the true depth matches far better than with a wrong depth.
    from core.data.ms2 import MS2Source, write_frame
    from core.data.msynth import msynth_sequence_meta, render_frame
    from core.losses import reprojection_loss

    for index in (10, 11):
        frame = render_frame(200001, frame_index=index, condition="day", spectra=("rgb",), scale=0.25)
        write_frame(tmp_path, "seq", f"{index:06d}", frame, msynth_sequence_meta(frame))
    source = MS2Source(tmp_path, spectra=("rgb",))
    assert source.neighbour(0, -1) is None and source.neighbour(0, 1).name.endswith("000011")
    dataset = FrameDataset(source, spectra=("rgb",), size=(96, 304), augment=True, seed=3, neighbours=(1,))
    for epoch in range(3):  # different crops and flips
        dataset.set_epoch(epoch)
        item = collate_frames([dataset[0]])
        T_world_target = item["pose"] @ item["T_rig_cam/rgb"]
        T_source_target = torch.linalg.inv(item["pose@1"] @ item["T_rig_cam/rgb"]) @ T_world_target
        depth = item["depth/rgb"].clamp(min=1e-3)

        def loss(d):  # sensor noise and moving traffic keep even the true depth above 0
            return reprojection_loss(item["image/rgb"], [item["image/rgb@1"]], d, item["K/rgb"],
                                     [T_source_target], automask=False)[0]

        assert loss(depth) < 0.75 * loss(depth * 1.5)
        assert loss(depth) < 0.75 * loss(depth * 0.6)


def test_msynth_cache_is_the_same_with_parallel_renderers(tmp_path):
    from train.data import msynth_cache
    one = msynth_cache("train", 2, 2, 0.125, root=tmp_path / "one", show_progress=False, randomised=0.5)
    two = msynth_cache("train", 2, 2, 0.125, root=tmp_path / "two", show_progress=False, randomised=0.5, workers=2)
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    assert len([f for f in files if f.suffix == ".png"]) >= 2 * 2 * 3
    for name in files:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert one.name.endswith("-r0.5")
