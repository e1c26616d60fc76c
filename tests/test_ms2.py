"""MS2 layout: bit-exact round trips, pickled calibration only on opt-in, clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.data.frame import Frame
from core.data.imageio import read_image, write_png
from core.data.ms2 import (CalibrationError, MS2Source, convert_ms2_calib, depth_path, depth_to_uint16,
                           image_path, list_frames, list_sequences, read_calibration, read_frame,
                           write_frame)
from core.geometry.camera import Camera, make_transform, relative_pose, rotation_xyz

SIZES = {"rgb": (24, 40), "nir": (22, 42), "thr": (16, 20)}  # (height, width), small MS2-like shapes


def make_cameras() -> dict[str, Camera]:
    cameras = {}
    for i, (spectrum, (height, width)) in enumerate(SIZES.items()):
        K = [[30.0 + i / 3, 0.0, width / 2 + 0.1], [0.0, 31.0 - i / 7, height / 2 - 0.3], [0, 0, 1]]
        T = make_transform(rotation_xyz(0.01 * i, -0.02 * i, 0.003), [0.1 * i, -0.02, 0.0123 * i])
        cameras[spectrum] = Camera(K, width, height, T)
    cameras["thr"] = Camera(cameras["thr"].K, *SIZES["thr"][::-1], np.eye(4))
    return cameras


def make_frame(seed: int = 0, spectra=("rgb", "nir", "thr"), condition="night") -> Frame:
    rng = np.random.default_rng(seed)
    cameras = make_cameras()
    images, depth, classes = {}, {}, {}
    for spectrum in spectra:
        height, width = SIZES[spectrum]
        if spectrum == "rgb":
            images[spectrum] = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        elif spectrum == "nir":
            images[spectrum] = rng.integers(0, 256, (height, width), dtype=np.uint8)
        else:
            images[spectrum] = rng.integers(0, 65536, (height, width), dtype=np.uint16)
        values = rng.uniform(0.5, 80.0, (height, width)).astype(np.float32)
        values[rng.random((height, width)) < 0.4] = 0.0  # semi-dense, like projected LiDAR
        values[0, 0] = 300.0  # beyond 255.99 m: not representable, stored as invalid
        depth[spectrum] = values
        classes[spectrum] = rng.integers(0, 12, (height, width), dtype=np.uint8)
    pose = make_transform(rotation_xyz(0.1, 0.2 * seed, -0.3), [10.0 + seed, 2.0, -3.5])
    return Frame(images, {s: cameras[s] for s in spectra}, depth=depth, classes=classes, pose=pose,
                 condition=condition, name="synthetic", meta={"frame_index": seed})


SEQUENCE_META = {"generator": "test", "seed": 7}


def test_round_trip_preserves_bits(tmp_path):
    frame = make_frame()
    write_frame(tmp_path, "seq_a", "000011", frame, SEQUENCE_META)
    read = read_frame(tmp_path, "seq_a", "000011")
    assert read.spectra == frame.spectra and read.name == "seq_a/000011"
    assert read.condition == "night" and read.meta == {"generator": "test", "seed": 7}
    np.testing.assert_allclose(read.pose, frame.pose, rtol=0, atol=1e-12)
    for spectrum in frame.spectra:
        assert read.images[spectrum].dtype == frame.images[spectrum].dtype
        np.testing.assert_array_equal(read.images[spectrum], frame.images[spectrum])
        np.testing.assert_array_equal(read.classes[spectrum], frame.classes[spectrum])
        np.testing.assert_array_equal(read.cameras[spectrum].K, frame.cameras[spectrum].K)
        np.testing.assert_array_equal(read.cameras[spectrum].T_rig_cam, frame.cameras[spectrum].T_rig_cam)
        stored = read_image(depth_path(tmp_path, "seq_a", spectrum, "000011"))
        expected = np.rint(frame.depth[spectrum].astype(np.float64) * 256)
        expected[expected > 65535] = 0
        np.testing.assert_array_equal(stored, expected.astype(np.uint16))
        assert stored[0, 0] == 0  # 300 m cannot be stored: invalid, not a wrong depth
        np.testing.assert_array_equal(read.depth[spectrum], stored.astype(np.float32) / 256)
        assert read.depth[spectrum].dtype == np.float32


def test_depth_encoding_edges():
    encoded = depth_to_uint16(np.array([0.0, 1 / 1024, 1.0, 255.99, 256.0, np.nan, -3.0, np.inf]))
    np.testing.assert_array_equal(encoded, [0, 0, 256, 65533, 0, 0, 0, 0])


def test_subset_frames_and_list_functions(tmp_path):
    write_frame(tmp_path, "seq_b", "000002", make_frame(1, spectra=("thr",)))
    write_frame(tmp_path, "seq_b", "000001", make_frame(2, spectra=("rgb", "thr")))
    write_frame(tmp_path, "seq_a", "000005", make_frame(3))
    assert list_sequences(tmp_path) == ["seq_a", "seq_b"]
    assert list_frames(tmp_path, "seq_b") == ["000001", "000002"]
    assert read_frame(tmp_path, "seq_b", "000002").spectra == ("thr",)
    assert read_frame(tmp_path, "seq_b", "000001", spectra=["thr"]).spectra == ("thr",)


def test_ms2_source(tmp_path):
    write_frame(tmp_path, "seq_a", "000001", make_frame(1, condition=None))
    write_frame(tmp_path, "seq_a", "000002", make_frame(2, spectra=("rgb",), condition=None))
    write_frame(tmp_path, "seq_b", "000001", make_frame(3, condition="day"))
    split = tmp_path / "test_night_list.txt"
    split.write_text("seq_a\n\nseq_b\n")

    source = MS2Source(tmp_path, split, spectra=("nir", "thr"), condition="night")
    assert len(source) == 2  # seq_a/000002 has neither nir nor thr
    assert [source[i].name for i in range(2)] == ["seq_a/000001", "seq_b/000001"]
    assert source[0].spectra == ("nir", "thr")
    assert [source[i].condition for i in range(2)] == ["night", "day"]  # meta.json wins
    assert len(MS2Source(tmp_path)) == 3
    assert len(MS2Source(tmp_path, ["seq_b"], spectra=("rgb",))) == 1
    with pytest.raises(FileNotFoundError, match="split file seq_a not found"):
        MS2Source(tmp_path, "seq_a")


def write_ms2_calib_npy(folder) -> dict:
    """A calib.npy in MS2's pickled-dict format, with known numbers (not a real calibration)."""
    calib = {
        "K_rgbL": np.array([[600.0, 0, 612.5], [0, 601.0, 190.25], [0, 0, 1]]),
        "K_nirL": np.array([[650.0, 0, 640.5], [0, 651.0, 176.75], [0, 0, 1]]),
        "K_thrL": np.array([[400.0, 0, 320.5], [0, 401.0, 128.25], [0, 0, 1]]),
        "R_nir2thr": rotation_xyz(0.01, -0.02, 0.005),
        "T_nir2thr": np.array([[120.0], [-35.0], [8.0]]),  # millimetres
        "R_nir2rgb": rotation_xyz(-0.004, 0.015, 0.002),
        "T_nir2rgb": np.array([[-250.0], [12.0], [-4.0]]),
        "R_thrR": np.eye(3), "T_thrR": np.array([[-400.0], [0.0], [0.0]]),
    }
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "calib.npy", np.array(calib, dtype=object), allow_pickle=True)
    return calib


def test_pickled_calibration_needs_opt_in_and_converts_correctly(tmp_path):
    calib = write_ms2_calib_npy(tmp_path / "sync_data" / "seq_ms2")
    with pytest.raises(CalibrationError, match="pickle can run arbitrary code") as caught:
        read_calibration(tmp_path, "seq_ms2")
    assert "python -m core.data.ms2 convert-calib" in str(caught.value) and "trust_pickled_calib" in str(caught.value)

    trusted = read_calibration(tmp_path, "seq_ms2", trust_pickled_calib=True)
    json_path = tmp_path / "sync_data" / "seq_ms2" / "calib.json"
    cameras = convert_ms2_calib(tmp_path / "sync_data" / "seq_ms2" / "calib.npy", json_path)
    assert json.loads(json_path.read_text())["version"] == 1
    converted = read_calibration(tmp_path, "seq_ms2")  # calib.json now, no opt-in needed
    for spectrum in ("rgb", "nir", "thr"):
        np.testing.assert_array_equal(converted[spectrum].K, calib[f"K_{spectrum}L"])
        np.testing.assert_array_equal(converted[spectrum].T_rig_cam, cameras[spectrum].T_rig_cam)
        np.testing.assert_array_equal(trusted[spectrum].T_rig_cam, cameras[spectrum].T_rig_cam)
    assert (converted["rgb"].height, converted["rgb"].width) == (384, 1224)
    assert (converted["thr"].height, converted["thr"].width) == (256, 640)

    # A point known in the NIR camera, moved by MS2's own formulas X_b = R X_a + T (mm -> m).
    X_nir = np.array([1.5, -0.4, 12.0])
    X_thr = calib["R_nir2thr"] @ X_nir + calib["T_nir2thr"].ravel() / 1000
    X_rgb = calib["R_nir2rgb"] @ X_nir + calib["T_nir2rgb"].ravel() / 1000
    np.testing.assert_array_equal(converted["thr"].T_rig_cam, np.eye(4))
    np.testing.assert_allclose((converted["nir"].T_rig_cam @ [*X_nir, 1])[:3], X_thr, atol=1e-12)
    np.testing.assert_allclose((relative_pose(converted["thr"], converted["rgb"]) @ [*X_rgb, 1])[:3],
                               X_thr, atol=1e-12)
    np.testing.assert_allclose((relative_pose(converted["rgb"], converted["nir"]) @ [*X_nir, 1])[:3],
                               X_rgb, atol=1e-12)


def test_real_layout_sequence_reads_after_conversion(tmp_path):
    """A sequence shaped like real MS2 (images, depth, calib.npy): refused, then read."""
    seq_dir = tmp_path / "sync_data" / "seq_ms2"
    write_ms2_calib_npy(seq_dir)
    frame = make_frame()
    for spectrum, image in frame.images.items():
        path = image_path(tmp_path, "seq_ms2", spectrum, "000011")
        path.parent.mkdir(parents=True)
        write_png(path, image)
    sizes = {s: image.shape[:2] for s, image in frame.images.items()}
    with pytest.raises(CalibrationError, match="only has MS2's calib.npy"):
        read_frame(tmp_path, "seq_ms2", "000011")
    convert_ms2_calib(seq_dir / "calib.npy", seq_dir / "calib.json", image_sizes=sizes)
    read = read_frame(tmp_path, "seq_ms2", "000011")
    assert read.condition is None and read.pose is None and not read.depth
    np.testing.assert_array_equal(read.images["thr"], frame.images["thr"])


def test_missing_things_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an MS2-layout dataset"):
        list_sequences(tmp_path)
    write_frame(tmp_path, "seq_a", "000001", make_frame(spectra=("nir", "thr")))
    with pytest.raises(FileNotFoundError, match="Sequence 'seq_x' not found"):
        read_frame(tmp_path, "seq_x", "000001")
    with pytest.raises(FileNotFoundError, match="Sequence 'seq_x' not found"):
        list_frames(tmp_path, "seq_x")
    with pytest.raises(FileNotFoundError, match="Frame '000009' not found in sequence 'seq_a'"):
        read_frame(tmp_path, "seq_a", "000009")
    with pytest.raises(FileNotFoundError, match="has no rgb image"):
        read_frame(tmp_path, "seq_a", "000001", spectra=["rgb", "thr"])
    with pytest.raises(ValueError, match="invalid frame name"):
        read_frame(tmp_path, "seq_a", "../../etc")
    (tmp_path / "sync_data" / "seq_a" / "calib.json").unlink()
    with pytest.raises(CalibrationError, match="Sequence 'seq_a' has no calibration"):
        read_frame(tmp_path, "seq_a", "000001")


def test_sequence_consistency_is_enforced(tmp_path):
    write_frame(tmp_path, "seq_a", "000001", make_frame(1), SEQUENCE_META)
    moved = make_frame(2)
    rgb = moved.cameras["rgb"]
    moved.cameras["rgb"] = Camera(rgb.K * 1.01, rgb.width, rgb.height, rgb.T_rig_cam)
    with pytest.raises(CalibrationError, match="rgb camera differs"):
        write_frame(tmp_path, "seq_a", "000002", moved)
    with pytest.raises(ValueError, match="already holds 'night' frames"):
        write_frame(tmp_path, "seq_a", "000003", make_frame(3, condition="day"))
    with pytest.raises(ValueError, match="meta.json is per sequence"):
        write_frame(tmp_path, "seq_a", "000004", make_frame(4), {**SEQUENCE_META, "seed": 8})
    bad_depth = make_frame(5)
    bad_depth.depth["thr"] = bad_depth.depth["thr"][:-1]
    with pytest.raises(ValueError, match="thr depth is"):
        write_frame(tmp_path, "seq_a", "000005", bad_depth)
    assert list_frames(tmp_path, "seq_a") == ["000001"]  # refused frames wrote nothing
