"""Sequences with exact answers from MS-Synth: the map of ground-truth depth along the exact poses,
the temporal-stability figure of ground truth and of ground truth with known per-frame noise, the
downloads read back (PNG depth to 1/256 m; the mp4 decoded by a second library), and every bad
input refused in words."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from core.data import ms2
from core.data.msynth import make_rig, render_frame
from core.data.msynth.classes import BUILDING, VEHICLE
from core.data.msynth.world import cached_scene, scaled_rig
from core.geometry import make_transform, rotation_xyz
from core.inference import AnalysisRequest, InputError
from core.inference.sequence_sources import (MAX_FRAMES, NO_POSES, rendered_sequence, select_frames,
                                             upload_sequence, video_sequence, zip_sequence)
from core.inference.sequences import (MAP_MAX_DEPTH_M, SequenceRun, drive_map, frame_points_in_world,
                                      relative_depth_change)

SEED, SCALE = 200000, 0.25


@pytest.fixture(scope="module")
def drive():
    """Frames 10, 11 and 14 of one MS-Synth drive (0.1 and 0.4 s apart), RGB, half size."""
    return [frame for _, frame in rendered_sequence(SEED, "day", 0.5, ("rgb",)).frames([10, 11, 14])]


def test_a_static_point_seen_in_two_frames_lands_in_one_voxel_of_the_ground_truth_map(drive):
    voxel = 0.2
    first, _, second = drive
    camera = first.cameras["rgb"]
    depth_a, depth_b = first.depth["rgb"], second.depth["rgb"]
    # Building pixels of the first frame, near enough for the map.
    rows, cols = np.nonzero((first.classes["rgb"] == BUILDING) & (depth_a > 5) & (depth_a < 30))
    T_cam_world_b = np.linalg.inv(second.pose @ camera.T_rig_cam)
    checked = 0
    drive_points = drive_map([depth_a, depth_b], [camera, camera], [first.pose, second.pose],
                             [np.ones(depth_a.shape + (3,), np.float32)] * 2, voxel).points
    for row, col in list(zip(rows, cols))[::97]:
        single = np.zeros_like(depth_a)
        single[row, col] = depth_a[row, col]
        point_a = frame_points_in_world(single, camera, first.pose)[0][0]
        # The same world point in the second camera, by the conventions' definition (T_world_cam = pose @ T_rig_cam).
        x, y, z = (T_cam_world_b @ np.append(point_a, 1.0))[:3]
        u, v = np.rint((camera.K @ [x / z, y / z, 1.0])[:2]).astype(int)
        if not (1 <= v < camera.height - 1 and 1 <= u < camera.width - 1) or second.classes["rgb"][v, u] != BUILDING \
                or abs(depth_b[v, u] - z) > 0.05 * z or np.ptp(depth_b[v - 1:v + 2, u - 1:u + 2]) > 0.01 * z:
            continue   # left the image, hidden in the second frame, or on a wall so oblique that a pixel spans metres
        single = np.zeros_like(depth_b)
        single[v, u] = depth_b[v, u]
        point_b = frame_points_in_world(single, camera, second.pose)[0][0]
        assert np.linalg.norm(point_a - point_b) < voxel
        assert np.linalg.norm(drive_points - point_a, axis=1).min() < voxel
        checked += 1
    assert checked >= 5


def test_the_map_keeps_depth_up_to_its_limit_and_draws_the_camera_path(drive):
    drive = drive[0], drive[2]
    camera = drive[0].cameras["rgb"]
    result = drive_map([f.depth["rgb"] for f in drive], [camera] * 2, [f.pose for f in drive],
                       [np.zeros(camera.size + (3,), np.float32)] * 2, 0.5)
    centres = [(f.pose @ camera.T_rig_cam)[:3, 3] for f in drive]
    np.testing.assert_allclose(result.trajectory, centres, atol=1e-5)
    distance = np.linalg.norm(result.points - result.trajectory[:1], axis=1)
    assert 0 < len(result.points) and distance.max() < MAP_MAX_DEPTH_M * 1.3 + np.linalg.norm(centres[1] - centres[0])
    assert len(result.figure.data) == 2


def test_stability_of_ground_truth_is_zero_up_to_rendering_precision(drive):
    first, second, _ = drive
    camera = first.cameras["rgb"]
    change = relative_depth_change(first.depth["rgb"], second.depth["rgb"], camera, camera, first.pose, second.pose,
                                   first.classes["rgb"] != VEHICLE, second.classes["rgb"] != VEHICLE)
    assert 0 <= change < 1e-3


def test_stability_of_ground_truth_with_per_frame_noise_is_the_noise_s_expected_change():
    """The rig turns about its RGB camera's centre in a frozen scene: the noise is the only change.
    Depth scaled by (1 + e_t) per frame changes by |e_t - e_(t-1)| / (1 + e_(t-1)) between frames."""
    camera = scaled_rig(make_rig(), SCALE)["rgb"]
    T_world_cam = cached_scene(SEED).ego.pose(1.0) @ camera.T_rig_cam
    poses = [T_world_cam @ make_transform(rotation_xyz(0, np.deg2rad(1.5 * k), 0), [0, 0, 0])
             @ np.linalg.inv(camera.T_rig_cam) for k in range(3)]
    frames = [f for _, f in rendered_sequence(SEED, "day", SCALE, ("rgb",), poses=poses).frames(range(3))]
    noise = [0.05, -0.05, 0.05]
    for k in (1, 2):
        before, after = frames[k - 1], frames[k]
        exact = relative_depth_change(before.depth["rgb"], after.depth["rgb"], camera, camera, before.pose, after.pose)
        noisy = relative_depth_change(before.depth["rgb"] * (1 + noise[k - 1]), after.depth["rgb"] * (1 + noise[k]),
                                      camera, camera, before.pose, after.pose)
        assert exact < 1e-3
        assert noisy == pytest.approx(abs(noise[k] - noise[k - 1]) / (1 + noise[k - 1]), abs=1e-3)


@pytest.fixture(scope="module")
def run(tiny_checkpoint, tmp_path_factory) -> SequenceRun:
    source = rendered_sequence(SEED, "night", SCALE)
    sequence_run = SequenceRun.create(tmp_path_factory.mktemp("run"), source,
                                      AnalysisRequest(tiny_checkpoint, "both", "rgb"))
    records = list(sequence_run.analyse(source, select_frames(source.count, 20, 26, 2)))
    assert [r.index for r in records] == [20, 22, 24]
    return sequence_run


def test_a_run_records_metrics_and_stability_per_frame_and_reopens_from_its_folder(run):
    reopened = SequenceRun.open(run.folder)
    assert [r.index for r in reopened.records] == [20, 22, 24]
    assert set(reopened.outputs) == {"rgb", "nir", "thr", "fused"}
    first, later = reopened.records[0], reopened.records[-1]
    assert first.stability == {} and set(later.stability) == set(reopened.outputs)
    assert set(first.metrics) == set(reopened.outputs) and 0 < first.metrics["rgb"]["abs_rel"]
    # The untrained model's near-constant depth cannot follow a metre of motion: every point counts as
    # occluded, which the figure reports as no measurement rather than as a number.
    assert all(np.isnan(v) for v in later.stability.values()) and reopened.stability() == {}
    inputs, panel = reopened.player(1, "fused")
    assert len(inputs) == 3 and panel.shape[1] == reopened.frame(1)[1]["fused"].shape[1]


def test_the_depth_zip_round_trips_to_a_256th_of_a_metre(run, tmp_path):
    path = run.depth_zip(tmp_path / "depth.zip")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert len(names) == 3 * 4 and "000022_fused_depth_m256.png" in names
        for position, record in enumerate(run.records):
            depth = run.frame(position)[1]["rgb"]
            decoded = np.asarray(Image.open(io.BytesIO(archive.read(f"{record.index:06d}_rgb_depth_m256.png"))))
            assert decoded.dtype == np.uint16
            metres = ms2.depth_from_uint16(decoded)
            held = depth < 65535 / 256
            assert np.abs(metres - depth)[held].max() <= 0.5 / 256 + 1e-6


def test_the_mp4_has_the_run_s_frames_and_size_and_decodes_in_a_second_library(run, tmp_path):
    path = run.video(tmp_path / "depth.mp4", "fused")
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = list(reader)
    image, panel = run._video_parts(0, "fused", False)
    width, height = image.shape[1] + panel.shape[1], max(image.shape[0], panel.shape[0])
    assert len(frames) == len(run.records)
    assert tuple(meta["size"]) == (width + width % 2, height + height % 2)
    assert meta["codec"].startswith("h264")


def test_the_map_of_a_run_and_its_ply(run, tmp_path):
    from core.inference.sequences import write_map_ply
    import open3d as o3d
    drive_map_ = run.map("rgb", every=2, voxel_m=0.3, color_by="time")
    path = write_map_ply(drive_map_, tmp_path / "map.ply")
    assert len(o3d.io.read_point_cloud(str(path)).points) == len(drive_map_.points) > 0
    assert len(drive_map_.trajectory) == 2


# --- bad inputs -------------------------------------------------------------------------------------

def _zip_of(files: dict[str, bytes], path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _ms2_zip_files(count: int, frame: "object", odometry: bool = True, spectra=("rgb", "thr")) -> dict[str, bytes]:
    files = {}
    for k in range(count):
        for spectrum in spectra:
            files[f"drive/sync_data/seq/{spectrum}/img_left/{k:06d}.png"] = _png(frame.images[spectrum])
            if odometry:
                pose = frame.pose @ frame.cameras[spectrum].T_rig_cam
                pose[2, 3] += k
                files[f"drive/odom/seq/{spectrum}/{k:06d}.txt"] = "\n".join(" ".join(map(str, r)) for r in pose).encode()
    return files


@pytest.fixture(scope="module")
def small_frame():
    return render_frame(SEED, 5, "day", ("rgb", "thr"), scale=0.2)


def test_a_zip_of_ms2_frames_without_odometry_runs_but_has_no_map(tmp_path, small_frame, tiny_checkpoint):
    source = zip_sequence(_zip_of(_ms2_zip_files(2, small_frame, odometry=False), tmp_path / "f.zip"), tmp_path / "x")
    assert source.count == 2 and not source.has_poses and source.note == NO_POSES
    sequence_run = SequenceRun.create(tmp_path / "run", source, AnalysisRequest(tiny_checkpoint, "spectral"))
    assert len(list(sequence_run.analyse(source, [0, 1]))) == 2
    with pytest.raises(InputError, match="no poses, so there is no 3-D map"):
        sequence_run.map("rgb")


def test_a_zip_with_odometry_gives_poses(tmp_path, small_frame):
    source = zip_sequence(_zip_of(_ms2_zip_files(2, small_frame), tmp_path / "f.zip"), tmp_path / "x")
    frames = [f for _, f in source.frames([0, 1])]
    assert source.has_poses
    np.testing.assert_allclose(frames[1].pose[2, 3] - frames[0].pose[2, 3], 1.0, atol=1e-9)


@pytest.mark.parametrize("case, message", [
    ("mismatched", "every spectrum must have the same frames; this zip has RGB 2, Thermal 1"),
    ("thermal_8bit", "thermal must be the 16-bit raw file"),
    ("bomb", "refused as a zip bomb"),
    ("not_a_zip", "not a zip archive"),
    ("escape", "outside its own folders"),
])
def test_bad_zips_are_refused_in_words(tmp_path, small_frame, case, message):
    files = _ms2_zip_files(2, small_frame, odometry=False)
    if case == "mismatched":
        del files["drive/sync_data/seq/thr/img_left/000001.png"]
    elif case == "thermal_8bit":
        for name in [n for n in files if "/thr/" in n]:
            files[name] = _png((small_frame.images["thr"] >> 8).astype(np.uint8))
    elif case == "bomb":
        files["drive/sync_data/seq/rgb/img_left/000002.png"] = bytes(20 * 2 ** 20)
    elif case == "escape":
        files["drive/sync_data/../../evil.png"] = b"x"
    path = tmp_path / "frames.zip"
    if case == "not_a_zip":
        path.write_text("just text")
    else:
        _zip_of(files, path)
    with pytest.raises(InputError, match=message):
        zip_sequence(path, tmp_path / "unpacked")


def _video(path: Path, seconds: float, fps: int = 2, size=(64, 32)) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        container.start_encoding()   # writes the header even when no frame follows
        for k in range(round(seconds * fps)):
            image = np.full((size[1], size[0], 3), (k * 7) % 255, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_a_video_is_read_frame_by_frame_without_poses(tmp_path):
    source = video_sequence(_video(tmp_path / "drive.mp4", 3, size=(128, 48)))
    assert source.count == 6 and source.fps == 2 and not source.has_poses
    frames = [f for _, f in source.frames([1, 4])]
    assert [f.images["rgb"].shape for f in frames] == [(48, 128, 3)] * 2 and frames[1].pose is None


def test_bad_videos_and_bounds_are_refused_in_words(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    with pytest.raises(InputError, match="not a video that can be decoded"):
        video_sequence(text)
    with pytest.raises(InputError, match="the video has no frames"):
        video_sequence(_video(tmp_path / "empty.mp4", 0))
    with pytest.raises(InputError, match="at most 60 s of video"):
        video_sequence(_video(tmp_path / "long.mp4", 61, fps=1))
    huge = tmp_path / "huge.mp4"
    with open(huge, "wb") as handle:
        handle.truncate(201 * 2 ** 20)
    with pytest.raises(InputError, match="uploads take at most 200 MB"):
        video_sequence(huge)
    with pytest.raises(InputError, match="upload a .zip of MS2-layout frames or a video"):
        upload_sequence(tmp_path / "frames.tar", tmp_path)
    with pytest.raises(InputError, match=f"a run takes at most {MAX_FRAMES}; raise the stride to 2"):
        select_frames(600)
    assert len(select_frames(600, stride=2)) == MAX_FRAMES


def test_an_ms2_test_sequence_reads_its_poses_from_odometry_and_says_when_some_are_missing(tmp_path):
    from tiny_ms2 import write_tiny_ms2_root

    from core.inference.sequence_sources import dataset_sequence
    lists = write_tiny_ms2_root(tmp_path, frames_per_sequence=2)
    name = lists["test_night_list.txt"][0]
    source = dataset_sequence(tmp_path, name)
    frames = [f for _, f in source.frames([0, 1])]
    assert source.count == 2 and source.has_poses and source.note == ""
    rendered = render_frame(int(name.rsplit("-", 1)[1]), int(ms2.list_frames(tmp_path, name)[1]), "night", ("rgb",),
                            scale=0.25)
    np.testing.assert_allclose(frames[1].pose, rendered.pose, atol=1e-9)
    for odometry in (tmp_path / "odom" / name).glob(f"*/{ms2.list_frames(tmp_path, name)[1]}.txt"):
        odometry.unlink()
    assert dataset_sequence(tmp_path, name).note == NO_POSES
    with pytest.raises(InputError, match="no test sequence named 'nothing'"):
        dataset_sequence(tmp_path, "nothing")


def test_zip_frames_wider_than_2048_px_are_resized(tmp_path, small_frame):
    from core.inference.uploads import UPLOAD_KEEP_WIDTH
    wide = np.asarray(Image.fromarray(small_frame.images["rgb"]).resize((2448, 768)))
    path = _zip_of({"sync_data/seq/rgb/img_left/000000.png": _png(wide)}, tmp_path / "wide.zip")
    (_, frame), = zip_sequence(path, tmp_path / "x").frames([0])
    assert frame.images["rgb"].shape[1] == frame.cameras["rgb"].width == UPLOAD_KEEP_WIDTH
