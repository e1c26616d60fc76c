"""MS-Synth: exact depth against closed forms, determinism, splits, sensors, conditions, motion."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.data.frame import CONDITIONS, Frame
from core.data.msynth import (CLASS_NAMES, FPS, SEQUENCE_LENGTH, SPEED_RANGE, MSynthSource, Scene,
                              build_scene, celsius_to_raw, make_rig, raw_to_celsius, render_frame,
                              sequence_condition, split_of, split_seeds)
from core.data.msynth.classes import BUILDING, ROAD, SKY, TERRAIN, VEHICLE
from core.data.msynth.conditions import condition_params
from core.data.msynth.road import KNOT_SPACING, MAX_GRADE, MIN_RADIUS, Road
from core.data.msynth.scene import Kind
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


def test_sequence_poses_are_smooth_and_follow_the_road():
    scene = build_scene(8)
    road, ego = scene.road, scene.ego
    poses = np.stack([ego.pose(i / FPS) for i in range(SEQUENCE_LENGTH)])
    steps = np.diff(poses[:, :3, 3], axis=0)
    speeds = np.linalg.norm(steps, axis=1) * FPS
    # world speed = speed along the road parameter z stretched by the curve and the sway
    assert 0.95 * SPEED_RANGE[0] <= speeds.min() and speeds.max() <= 1.06 * SPEED_RANGE[1]
    assert np.abs(np.diff(speeds)).max() * FPS < 1.5           # acceleration, m/s^2
    for a, b in zip(poses[:-1], poses[1:]):
        R = a[:3, :3].T @ b[:3, :3]
        assert np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))) < 0.8
    ground = road.height(poses[:, 2, 3])
    np.testing.assert_allclose(ground - poses[:, 1, 3], ego.height, atol=1e-9)  # rig above the ground
    assert 1.45 <= ego.height <= 2.05
    frame = render_frame(scene, 37, "day", spectra=("thr",), scale=0.25)
    np.testing.assert_array_equal(frame.pose, poses[37])


def test_rigs_vary_per_sequence_within_a_car_mount():
    egos = [build_scene(seed).ego for seed in range(24)]
    heights = np.array([e.height for e in egos])
    pitches = np.array([e.pitch_deg for e in egos])
    assert heights.std() > 0.1 and np.all((heights >= 1.45) & (heights <= 2.05))
    assert pitches.std() > 0.5 and np.all(np.abs(pitches) < 6.0)


def test_roads_curve_and_climb_within_bounds():
    roads = [build_scene(seed).road for seed in range(24)]
    z = np.linspace(-60.0, 440.0, 5001)
    curving = hilly = crossings = 0
    for road in roads:
        x = road.center_x(z)
        curvature = np.abs(np.gradient(np.gradient(x, z), z))
        assert curvature.max() <= 1.0 / MIN_RADIUS
        z0, z1, y0, grade = road.stretches()
        assert np.all(np.abs(grade) <= MAX_GRADE)
        assert np.allclose(z1 - z0, KNOT_SPACING)
        curving += np.ptp(x[(z > 0) & (z < 150)]) > 2.0
        hilly += np.ptp(road.height(z[(z > 0) & (z < 150)])) > 1.0
        crossings += len(road.crossings)
    assert curving >= 6 and hilly >= 6 and crossings >= 6


def test_traffic_in_the_ego_lane_stays_ahead():
    for seed in range(6):
        scene = build_scene(seed)
        lane = np.flatnonzero((np.abs(scene.mover_l - scene.ego.lane_x) < 1.0) & (scene.mover_speed > 0))
        # rear end of each mover: its parts' extent behind the frame origin
        rear = np.array([min(scene.offset[scene.mover == m, 2] - scene.half[scene.mover == m, 2] - 0.6)
                         for m in lane])
        for i in range(0, SEQUENCE_LENGTH, 10):
            ego_z = scene.ego._lane_coordinates(i / FPS)[1]
            z = scene.mover_z[lane] + scene.mover_speed[lane] * i / FPS
            assert np.all(z + rear - ego_z > 8.0)


def test_moving_vehicles_keep_their_wheels_on_the_ground():
    scene = next(s for s in map(build_scene, range(40)) if not s.road.is_flat and s.road.curve_amplitude)
    wheels = np.flatnonzero((scene.kind == Kind.WHEEL) & (scene.mover >= 0))
    for time_s in (0.0, 4.0, 9.9):
        center, rotation = scene.placed(time_s)
        lowest = center[wheels, 1] + np.einsum("nj,nj->n", np.abs(rotation[wheels, 1]), scene.half[wheels])
        ground = scene.road.height(center[wheels, 2])
        # a vehicle tilts with the grade under its centre: where the grade changes under a long
        # bus or truck, an end wheel sinks into or lifts off the ground by a few centimetres
        assert np.abs(lowest - ground).max() < 0.15
        assert np.median(np.abs(lowest - ground)) < 0.02


def test_scene_layout_is_plausible():
    scene = build_scene(2)
    road, layout = scene.road, scene.layout
    buildings = np.flatnonzero((scene.cls == BUILDING) & (scene.half[:, 1] > 3.0))
    extent = np.einsum("nij,nj->ni", np.abs(scene.rotation), scene.half)
    lateral = np.abs(road.lateral(scene.center[buildings, 0], scene.center[buildings, 2]))
    near_face = lateral - scene.half[buildings, 0]
    assert np.all(near_face >= layout.sidewalk_outer - 0.05)         # set back from the road
    assert np.all(np.abs(scene.mover_l) < layout.road_half_width)     # traffic on the road
    top = scene.center[:, 1] - extent[:, 1]
    assert np.all(top < road.height(scene.center[:, 2]))              # everything above the ground


def test_sloped_ground_depth_matches_closed_form():
    grade = -0.05                                   # climbing 5 % from z = 0
    knots = np.arange(-20.0, 400.0, KNOT_SPACING)
    road = Road(knot_z0=float(knots[0]), knot_heights=tuple(np.where(knots > 0, grade * knots, 0.0)))
    camera = Camera(np.array([[300.0, 0, 160], [0, 300.0, 60], [0, 0, 1]]), 320, 120, np.eye(4))
    pose = make_transform(rotation_xyz(0.02, 0.05, 0.0), (0.3, -1.6, 0.0))
    frame = render_frame(Scene.ground_only(road=road), condition="day", spectra=("rgb",),
                         rig={"rgb": camera}, pose=pose)
    v, u = np.mgrid[0:120, 0:320].astype(np.float64)
    d = pose[:3, :3] @ np.linalg.inv(camera.K) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    o = pose[:3, 3]
    flat_t = -o[1] / d[1]                                        # plane y = 0 (z < 0)
    slope_t = (grade * 0.0 - o[1] + grade * o[2]) / (d[1] - grade * d[2])   # y = grade z (z > 0)
    with np.errstate(invalid="ignore"):
        t = np.where((o[2] + slope_t * d[2] > 0) & (slope_t > 0), slope_t,
                     np.where((flat_t > 0) & (o[2] + flat_t * d[2] <= 0), flat_t, np.inf)).reshape(120, 320)
    depth = frame.depth["rgb"]
    near = t < 60.0
    assert near.mean() > 0.3
    np.testing.assert_allclose(depth[near], t[near], rtol=1e-4)
    assert np.all(depth[~np.isfinite(t)] == 0)


def test_rotated_box_and_wheel_depth_are_exact():
    camera = Camera(np.array([[400.0, 0, 160], [0, 400.0, 120], [0, 0, 1]]), 320, 240, np.eye(4))
    pose = make_transform(np.eye(3), (0.0, -1.5, 0.0))
    yaw = np.deg2rad(30.0)
    R = rotation_xyz(0.0, yaw, 0.0)
    center = np.array([0.0, -1.5, 20.0])
    scene = Scene.ground_only().with_box(center, (6.0, 2.0, 4.0), rotation=R)
    frame = render_frame(scene, condition="day", spectra=("rgb",), rig={"rgb": camera}, pose=pose)
    # The face facing the camera has normal -R z (local -z); its plane holds center - R (0, 0, 2).
    n = -R[:, 2]
    face = center - R @ np.array([0.0, 0.0, 2.0])
    v, u = 120, np.arange(150, 171)
    d = np.stack([(u - 160) / 400.0, np.zeros_like(u, float), np.ones_like(u, float)])
    t = (n @ (face - pose[:3, 3])) / (n @ d)
    np.testing.assert_allclose(frame.depth["rgb"][v, 150:171], t, rtol=1e-5)
    # A wheel seen along its axis is a disc: its cap at z = 10 - half width.
    from core.data.msynth.scene import _PrimitiveList, Placement
    prims = _PrimitiveList(Road())
    prims.wheel(Placement(np.array([0.0, -1.5, 10.0]), rotation_xyz(0.0, np.pi / 2, 0.0)),
                (0.0, 0.0, 0.0), 0.5, 0.4, VEHICLE, 11)
    wheel_scene = prims.to_scene(None, scene.layout, scene.ego, np.zeros((0, 3)))
    frame = render_frame(wheel_scene, condition="day", spectra=("rgb",), rig={"rgb": camera}, pose=pose)
    depth = frame.depth["rgb"]
    assert depth[120, 160] == pytest.approx(9.8, rel=1e-5)
    assert depth[120, 160 + 17] == pytest.approx(9.8, rel=1e-5)      # 0.42 m off axis: still the cap
    assert frame.classes["rgb"][120, 160 + 24] != VEHICLE             # 0.58 m: beyond the rim


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
    # Lens blur and JPEG blocks mix the sky's edge with the surfaces beside it: compare the sky
    # at least 4 px from anything else.
    r = 4
    padded = np.pad(sky, r, constant_values=False).astype(np.int32).cumsum(0).cumsum(1)
    padded = np.pad(padded, ((1, 0), (1, 0)))
    window = padded[2 * r + 1:, 2 * r + 1:] - padded[:-2 * r - 1, 2 * r + 1:] - padded[2 * r + 1:, :-2 * r - 1] \
        + padded[:-2 * r - 1, :-2 * r - 1]
    deep_sky = window == (2 * r + 1) ** 2
    assert deep_sky.sum() > 300
    rgb_day, rgb_texture = (f.images["rgb"].astype(np.int16) for f in (day, texture))
    # Same sun and sky: the sky differs by sensor grain only; the surfaces look different.
    assert np.abs(rgb_day[deep_sky] - rgb_texture[deep_sky]).mean() < 2.0
    assert np.abs(rgb_day[~sky] - rgb_texture[~sky]).mean() > 10.0


def test_texture_sequences_pair_with_day_sequences_in_the_test_split_only():
    source = MSynthSource("test", 4, 1, conditions=["day", "texture"], scale=0.25)
    seeds, conditions = zip(*source.sequences)
    assert conditions == ("day", "texture", "day", "texture")
    assert seeds[0] == seeds[1] and seeds[2] == seeds[3]
    assert source[1].condition == "texture"
    with pytest.raises(ValueError, match="held out for the test split"):
        MSynthSource("train", 2, 1, conditions=["texture"])


def test_clear_is_the_fog_scene_by_day_right_after_each_fog_sequence():
    seed = next(s for s in split_seeds("test") if sequence_condition(s) == "fog")
    day, clear = condition_params(seed, "day"), condition_params(seed, "clear")
    assert clear.name == "clear" and clear.fog is None
    for field in dataclasses.fields(day):
        if field.name != "name":
            assert repr(getattr(day, field.name)) == repr(getattr(clear, field.name)), field.name
    fog, clear_frame = render_frame(seed, 5, "fog", scale=0.25), render_frame(seed, 5, "clear", scale=0.25)
    for spectrum in fog.spectra:
        assert np.array_equal(fog.depth[spectrum], clear_frame.depth[spectrum])
    source = MSynthSource("test", 5, 1, conditions=["day", "night", "fog", "rain", "clear"], scale=0.25)
    conditions = [condition for _, condition in source.sequences]
    fog_index = conditions.index("fog")
    assert sorted(conditions) == ["clear", "day", "fog", "night", "rain"]
    assert conditions[fog_index + 1] == "clear" and source.seeds[fog_index] == source.seeds[fog_index + 1]
    with pytest.raises(ValueError, match="held out for the test split"):
        MSynthSource("val", 2, 1, conditions=["fog", "clear"])


def test_randomised_appearance_keeps_geometry_and_changes_looks():
    natural = render_frame(7, 12, "day", scale=0.25)
    randomised = render_frame(7, 12, "day", scale=0.25, randomised=True)
    assert randomised.meta["randomised"] and not natural.meta["randomised"]
    for spectrum in natural.spectra:
        assert np.array_equal(natural.depth[spectrum], randomised.depth[spectrum])
        assert np.array_equal(natural.classes[spectrum], randomised.classes[spectrum])
    difference = np.abs(natural.images["rgb"].astype(int) - randomised.images["rgb"].astype(int))
    assert difference[natural.classes["rgb"] != SKY].mean() > 15.0


def test_randomised_share_picks_fixed_training_sequences():
    from core.data.msynth.world import is_randomised
    seeds = range(400)
    low = {s for s in seeds if is_randomised(s, 0.2)}
    high = {s for s in seeds if is_randomised(s, 0.3)}
    assert low <= high and 0.22 < len(high) / 400 < 0.38
    assert not any(is_randomised(s, 0.0) for s in seeds)
    source = MSynthSource("train", 8, 1, scale=0.125, spectra=("rgb",), randomised=0.5)
    flags = [source[i].meta["randomised"] for i in range(len(source))]
    assert flags == [is_randomised(s, 0.5) for s in source.seeds] and any(flags) and not all(flags)
    with pytest.raises(ValueError, match="training sequences only"):
        MSynthSource("test", 2, 1, randomised=0.3)
