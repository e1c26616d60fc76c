"""MS-Synth: exact depth against closed forms, determinism, splits, sensors, conditions, motion."""
from __future__ import annotations

import numpy as np
import pytest

from core.data.frame import CONDITIONS, Frame
from core.data.msynth import (CLASS_NAMES, FPS, SEQUENCE_LENGTH, SPEED_RANGE, MSynthSource, Scene,
                              build_scene, celsius_to_raw, make_rig, raw_to_celsius, render_frame,
                              sequence_condition, split_of, split_seeds)
from core.data.msynth.classes import BUILDING, ROAD, SKY, TERRAIN, VEHICLE
from core.geometry.camera import Camera, make_transform, rotation_xyz


def _ground_depth_closed_form(camera: Camera, T_world_cam: np.ndarray) -> np.ndarray:
    """z-depth of the plane y = 0 per pixel, in float64, from the ray K^-1 [u, v, 1]."""
    v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    rays_cam = np.linalg.inv(camera.K) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    rays_world = T_world_cam[:3, :3] @ rays_cam
    height = -T_world_cam[1, 3]
    with np.errstate(divide="ignore"):
        t = np.where(rays_world[1] > 0, height / rays_world[1], np.inf)
    return (t * rays_cam[2]).reshape(camera.size)   # rays_cam z is 1: t is the z-depth


def test_ground_plane_depth_matches_closed_form_for_a_rotated_camera():
    camera = make_rig()["rgb"]
    pose = make_transform(rotation_xyz(0.03, -0.06, 0.015), (0.4, -1.65, 3.0))
    frame = render_frame(Scene.ground_only(), condition="day", spectra=("rgb",),
                         rig={"rgb": camera}, scale=0.25, pose=pose)
    camera = frame.cameras["rgb"]
    assert camera.size == (96, 306)
    expected = _ground_depth_closed_form(camera, pose @ camera.T_rig_cam)
    depth = frame.depth["rgb"]
    near = expected < 80.0
    assert near.sum() > 0.3 * near.size
    np.testing.assert_allclose(depth[near], expected[near], rtol=1e-4)
    assert np.all(depth[~np.isfinite(expected)] == 0)
    assert np.all(depth[np.isfinite(expected) & (expected > 400.0)] == 0)  # beyond the range: sky
    classes = frame.classes["rgb"]
    assert set(np.unique(classes[near])) <= {ROAD, TERRAIN}
    assert np.all(classes[depth == 0] == SKY)


def test_box_front_face_depth_is_exact():
    K = np.array([[500.0, 0.0, 160.0], [0.0, 500.0, 120.0], [0.0, 0.0, 1.0]])
    camera = Camera(K, 320, 240, np.eye(4))
    height, z0 = 1.5, 12.5
    pose = make_transform(np.eye(3), (0.0, -height, 0.0))
    scene = Scene.ground_only().with_box(center=(0.0, -height, z0 + 1.0), size=(4.0, 3.0, 2.0),
                                         class_id=VEHICLE)
    frame = render_frame(scene, condition="day", spectra=("nir",), rig={"nir": camera}, pose=pose)
    depth, classes = frame.depth["nir"], frame.classes["nir"]
    # The face x in [-2, 2], y in [-1.5, 1.5] (camera frame) at z = z0 projects to this box:
    u0, u1 = 160 - 500 * 2.0 / z0, 160 + 500 * 2.0 / z0
    v0, v1 = 120 - 500 * 1.5 / z0, 120 + 500 * 1.5 / z0
    inside = (slice(int(v0) + 2, int(v1) - 1), slice(int(u0) + 2, int(u1) - 1))
    np.testing.assert_allclose(depth[inside], z0, rtol=1e-5)
    assert np.all(classes[inside] == VEHICLE)
    assert np.all(depth[int(v0) - 2, :] != pytest.approx(z0))    # above the box: no hit at z0
    assert np.all(classes[inside[0], int(u1) + 2:] != VEHICLE)


def test_box_class_and_depth_pass_through_the_default_material():
    scene = Scene.ground_only().with_box(center=(0.0, -3.0, 30.0), size=(10.0, 6.0, 4.0))
    pose = make_transform(np.eye(3), (0.0, -1.7, 0.0))
    camera = Camera(np.array([[300.0, 0, 100], [0, 300.0, 60], [0, 0, 1]]), 200, 120, np.eye(4))
    frame = render_frame(scene, condition="night", spectra=("thr",), rig={"thr": camera}, pose=pose)
    assert frame.classes["thr"][60, 100] == BUILDING
    assert frame.depth["thr"][60, 100] == pytest.approx(28.0, rel=1e-6)


def test_same_seed_frame_condition_is_bit_identical_and_seeds_differ():
    a = render_frame(5, 7, "rain", scale=0.25)
    b = render_frame(build_scene(5), 7, "rain", scale=0.25)
    c = render_frame(6, 7, "rain", scale=0.25)
    for spectrum in ("rgb", "nir", "thr"):
        assert np.array_equal(a.images[spectrum], b.images[spectrum])
        assert np.array_equal(a.depth[spectrum], b.depth[spectrum])
        assert np.array_equal(a.classes[spectrum], b.classes[spectrum])
        assert not np.array_equal(a.images[spectrum], c.images[spectrum])
        assert not np.array_equal(a.depth[spectrum], c.depth[spectrum])
    assert np.array_equal(a.pose, b.pose)
    assert a.name == "msynth-5-rain-000007"


def test_splits_are_disjoint_and_conditions_balanced():
    splits = {name: set(split_seeds(name)) for name in ("train", "val", "test")}
    assert not splits["train"] & splits["val"]
    assert not splits["train"] & splits["test"]
    assert not splits["val"] & splits["test"]
    assert split_of(123) == "train" and split_of(100_001) == "val" and split_of(200_000) == "test"
    assert split_of(150_000) is None
    for name in splits:
        seeds = split_seeds(name)[:400]
        conditions = [sequence_condition(s) for s in seeds]
        assert all(conditions.count(c) == 100 for c in CONDITIONS)
        assert all(len(set(conditions[i:i + 4])) == 4 for i in range(0, 400, 4))
    assert sequence_condition(42) == sequence_condition(42)


def test_full_resolution_frame_formats_and_thermal_range():
    frame = render_frame(11, 20)
    assert isinstance(frame, Frame)
    assert frame.spectra == ("rgb", "nir", "thr")
    expected = {"rgb": ((384, 1224, 3), np.uint8), "nir": ((352, 1280), np.uint8),
                "thr": ((256, 640), np.uint16)}
    for spectrum, (shape, dtype) in expected.items():
        assert frame.images[spectrum].shape == shape
        assert frame.images[spectrum].dtype == dtype
        assert frame.depth[spectrum].shape == shape[:2]
        assert frame.depth[spectrum].dtype == np.float32
        assert frame.classes[spectrum].dtype == np.uint8
        assert frame.classes[spectrum].max() < len(CLASS_NAMES)
        assert np.all((frame.depth[spectrum] == 0) == (frame.classes[spectrum] == SKY))
        assert frame.depth[spectrum].max() < 300.0
    thermal = frame.images["thr"]
    scene_pixels = thermal[frame.depth["thr"] > 0]
    assert 2500 < np.median(scene_pixels) < 6000
    assert 1000 < np.percentile(thermal, 1) and np.percentile(thermal, 99) < 8000
    assert frame.condition == sequence_condition(11)
    assert frame.meta["seed"] == 11 and frame.meta["split"] == "train"
    assert frame.meta["frame_index"] == 20


def test_thermal_model_round_trip():
    celsius = np.array([-40.0, 0.0, 20.0, 33.0, 60.0])
    np.testing.assert_allclose(raw_to_celsius(celsius_to_raw(celsius)), celsius, atol=1e-9)
    assert 3000 < celsius_to_raw(25.0) < 3300 and 5000 < celsius_to_raw(60.0) < 5500


def test_rig_matches_ms2_layout():
    rig = make_rig()
    assert {k: (c.width, c.height) for k, c in rig.items()} == {
        "rgb": (1224, 384), "nir": (1280, 352), "thr": (640, 256)}
    for camera in rig.values():
        hfov = np.degrees(2 * np.arctan(camera.width / 2 / camera.K[0, 0]))
        assert 74.0 < hfov < 80.0
        offset = np.linalg.norm(camera.T_rig_cam[:3, 3])
        angle = np.degrees(np.arccos((np.trace(camera.T_rig_cam[:3, :3]) - 1) / 2))
        assert 0.05 < offset < 0.4 and 0.3 < angle < 1.2


def test_night_is_dark_in_rgb_and_thermal_barely_changes():
    day = render_frame(21, 30, "day", scale=0.5)
    night = render_frame(21, 30, "night", scale=0.5)
    assert night.images["rgb"].mean() < 0.5 * day.images["rgb"].mean()
    day_thr = day.images["thr"].astype(np.float64).mean()
    night_thr = night.images["thr"].astype(np.float64).mean()
    assert abs(night_thr - day_thr) / day_thr < 0.1
    assert np.array_equal(day.depth["rgb"], night.depth["rgb"])


def test_fog_reduces_far_contrast_more_in_rgb_than_in_thermal():
    day = render_frame(23, 10, "day", scale=0.5)
    fog = render_frame(23, 10, "fog", scale=0.5)

    def far_contrast(frame, spectrum):
        image = frame.images[spectrum].astype(np.float64)
        if image.ndim == 3:
            image = image.mean(axis=2)
        return image[frame.depth[spectrum] > 40.0].std()

    rgb_ratio = far_contrast(fog, "rgb") / far_contrast(day, "rgb")
    thr_ratio = far_contrast(fog, "thr") / far_contrast(day, "thr")
    assert rgb_ratio < 0.5 and rgb_ratio < thr_ratio


def test_sequence_poses_are_smooth_and_within_the_speed_range():
    scene = build_scene(8)
    poses = np.stack([scene.ego.pose(i / FPS) for i in range(SEQUENCE_LENGTH)])
    steps = np.diff(poses[:, :3, 3], axis=0)
    speeds = np.linalg.norm(steps, axis=1) * FPS
    assert SPEED_RANGE[0] - 1e-6 <= speeds.min() and speeds.max() <= SPEED_RANGE[1] + 1e-6
    assert np.abs(np.diff(speeds)).max() * FPS < 1.0           # acceleration, m/s^2
    for a, b in zip(poses[:-1], poses[1:]):
        R = a[:3, :3].T @ b[:3, :3]
        assert np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))) < 0.5
    assert np.all(np.abs(poses[:, 1, 3] + 1.72) < 1e-9)        # rig height above the road
    frame = render_frame(scene, 37, "day", spectra=("thr",), scale=0.25)
    np.testing.assert_array_equal(frame.pose, poses[37])


def test_traffic_in_the_ego_lane_stays_ahead():
    for seed in range(5):
        scene = build_scene(seed)
        in_lane = (scene.cls == VEHICLE) & (np.abs(scene.center[:, 0] - scene.ego.lane_x) < 1.0)
        for i in range(0, SEQUENCE_LENGTH, 10):
            ego_z = scene.ego.position(i / FPS)[2]
            rear = scene.centers_at(i / FPS)[in_lane, 2] - scene.half[in_lane, 2]
            assert np.all(rear - ego_z > 8.0)


def test_scene_layout_is_plausible():
    scene = build_scene(2)
    road = scene.layout.road_half_width
    buildings = scene.cls == BUILDING
    near_face = np.abs(scene.center[buildings, 0]) - scene.half[buildings, 0]
    assert np.all(near_face >= scene.layout.sidewalk_outer - 1e-9)    # set back from the road
    vehicles = scene.cls == VEHICLE
    assert np.all(np.abs(scene.center[vehicles, 0]) < road)            # cars on the road
    assert np.all(scene.center[:, 1] - scene.half[:, 1] < 0)           # nothing below the road


def test_source_lists_frames_by_sequence():
    source = MSynthSource("val", n_sequences=2, frames_per_sequence=3, conditions=["fog"],
                          scale=0.125, spectra=("rgb", "thr"))
    assert len(source) == 6
    frame = source[4]
    assert frame.condition == "fog" and frame.meta["split"] == "val"
    assert frame.spectra == ("rgb", "thr")
    assert frame.images["rgb"].shape == (48, 153, 3)
    assert frame.meta["frame_index"] == source.frame_indices[1]
    with pytest.raises(IndexError):
        source[6]


def test_texture_condition_keeps_geometry_and_light_and_changes_surfaces():
    seed = next(s for s in split_seeds("test") if sequence_condition(s) == "day")
    day = render_frame(seed, 5, "day", scale=0.25)
    texture = render_frame(seed, 5, "texture", scale=0.25)
    for spectrum in day.spectra:
        assert np.array_equal(day.depth[spectrum], texture.depth[spectrum])
        assert np.array_equal(day.classes[spectrum], texture.classes[spectrum])
    sky = day.classes["rgb"] == SKY
    rgb_day, rgb_texture = (f.images["rgb"].astype(np.int16) for f in (day, texture))
    # Same sun and sky: the sky differs by sensor grain only; the surfaces look different.
    assert np.abs(rgb_day[sky] - rgb_texture[sky]).mean() < 2.0
    assert np.abs(rgb_day[~sky] - rgb_texture[~sky]).mean() > 10.0


def test_texture_sequences_pair_with_day_sequences_in_the_test_split_only():
    source = MSynthSource("test", 4, 1, conditions=["day", "texture"], scale=0.25)
    seeds, conditions = zip(*source.sequences)
    assert conditions == ("day", "texture", "day", "texture")
    assert seeds[0] == seeds[1] and seeds[2] == seeds[3]
    assert source[1].condition == "texture"
    with pytest.raises(ValueError, match="held out for the test split"):
        MSynthSource("train", 2, 1, conditions=["texture"])
