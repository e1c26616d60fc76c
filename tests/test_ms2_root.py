"""A real MS2 root as shipped: MS2's own list names, `python -m core.data.ms2 check` naming each
defect in one line, calib.npy of a root we cannot write into converted into our cache, and the
reference loader's frame sampling."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.data import ms2
from core.data.imageio import write_png
from tiny_ms2 import TINY_LISTS, write_tiny_ms2_root
from train.config import DataConfig
from train.data import DataError, build_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shipped_root(tmp_path_factory) -> tuple[Path, dict]:
    """The tiny root in MS2's layout and names, without the real frames that lack depth."""
    root = tmp_path_factory.mktemp("ms2") / "MS2"
    return root, write_tiny_ms2_root(root)


def broken_copy(root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "MS2"
    shutil.copytree(root, copy)
    return copy


def run_check(root: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.data.ms2", "check", str(root), *options], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_the_tiny_root_uses_the_names_ms2_ships():
    assert set(TINY_LISTS) == {"train_list.txt", "val_list.txt", *ms2.MS2_TEST_LISTS}
    assert "test_rainy_list.txt" in ms2.MS2_TEST_LISTS
    assert ms2.split_condition("test_rainy_list.txt") == "rain"
    assert ms2.split_condition("test_rain_list.txt") == "rain"
    assert ms2.split_condition("train_list.txt") is None


def test_check_passes_on_the_tiny_root_and_counts_frames(shipped_root):
    root, _ = shipped_root
    result = run_check(root)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert "test_rainy_list.txt (rain): 1 sequences, 2 frames, 1 read by the reference protocol" in lines
    assert "train_list.txt: 2 sequences, 4 frames, 4 read by the reference protocol" in lines
    assert lines[-1] == f"{root}: ok"


def test_check_names_each_defect_in_one_line(shipped_root, tmp_path):
    root, lists = shipped_root
    broken = broken_copy(root, tmp_path)
    (broken / "test_rainy_list.txt").unlink()
    night = lists["test_night_list.txt"][0]
    shutil.rmtree(broken / "sync_data" / night / "thr")
    train = lists["train_list.txt"][0]
    depth = ms2.depth_path(broken, train, "rgb", "000000")
    write_png(depth, np.zeros((5, 7), np.uint16))
    result = run_check(broken)
    assert result.returncode == 1
    rgb_size = ms2.read_calibration(broken, train)["rgb"].size
    night_thr = broken / "sync_data" / night / "thr" / "img_left"
    assert result.stdout.splitlines()[:4] == [
        f"{depth}: depth is 5 x 7, expected the rgb camera's {rgb_size[0]} x {rgb_size[1]}",
        f"{night_thr} is missing or empty: expected the left thr images (<frame>.png)",
        f"{night} (test_night_list.txt): the spectra have different frame counts rgb 2, nir 2, thr 0",
        f"{broken / 'test_rainy_list.txt'} is missing: expected MS2's split list (one sequence name a line)",
    ]
    assert result.stdout.splitlines()[-1] == f"{broken}: 4 problem(s)"


def test_the_old_rain_list_name_is_still_read(shipped_root, tmp_path):
    root, lists = shipped_root
    renamed = broken_copy(root, tmp_path)
    (renamed / "test_rainy_list.txt").rename(renamed / "test_rain_list.txt")
    for list_name in ("test_rainy_list.txt", "test_rain_list.txt"):
        data = DataConfig(dataset="ms2", root=str(renamed), size=[32, 80])
        data.test.lists = ["test_day_list.txt", "test_night_list.txt", list_name]
        dataset = build_dataset(data, "test", augment=False, native_depth=True)
        assert {dataset.source[i].condition for i in range(len(dataset))} == {"day", "night", "rain"}


def test_a_missing_test_list_stops_training_instead_of_skipping_the_leak_check(shipped_root, tmp_path):
    root, _ = shipped_root
    broken = broken_copy(root, tmp_path)
    (broken / "test_rainy_list.txt").unlink()
    with pytest.raises(DataError, match="split file test_rainy_list.txt not found.*core.data.ms2 check"):
        build_dataset(DataConfig(dataset="ms2", root=str(broken), size=[32, 80]), "train", augment=False)


def pickle_calibrations(root: Path, sequences: list[str]) -> None:
    """Replace calib.json by an MS2-style calib.npy (rig = thermal camera, as MS2's)."""
    for seq in sequences:
        cameras = ms2.read_calibration(root, seq)
        calib = {f"K_{s}L": cameras[s].K for s in ("rgb", "nir", "thr")}
        calib |= {"R_nir2thr": np.eye(3), "T_nir2thr": np.array([100.0, 0.0, 0.0]),
                  "R_nir2rgb": np.eye(3), "T_nir2rgb": np.array([-50.0, 0.0, 0.0])}
        folder = ms2.sequence_dir(root, seq)
        (folder / "calib.json").unlink()
        np.save(folder / "calib.npy", calib, allow_pickle=True)


def test_calibration_of_a_root_we_cannot_write_goes_to_our_cache(shipped_root, tmp_path, monkeypatch):
    root, lists = shipped_root
    share = broken_copy(root, tmp_path)
    sequences = [seq for names in lists.values() for seq in names]
    pickle_calibrations(share, sequences)
    cache = tmp_path / "cache"
    monkeypatch.setenv("SPECTRADEPTH_MS2_CALIB_CACHE", str(cache))
    with pytest.raises(ms2.CalibrationError, match="convert-calib"):
        ms2.read_calibration(share, sequences[0])
    before = sorted(p.relative_to(share) for p in share.rglob("*"))
    result = subprocess.run([sys.executable, "-m", "core.data.ms2", "convert-calib", str(share), "--cache"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"converted {len(sequences)} sequence calibration(s)" in result.stdout
    assert sorted(p.relative_to(share) for p in share.rglob("*")) == before  # the root is untouched
    cameras = ms2.read_calibration(share, sequences[0])
    assert ms2.cached_calibration_path(share, sequences[0]).is_relative_to(cache)
    assert np.allclose(cameras["nir"].T_rig_cam[:3, 3], [0.1, 0.0, 0.0])
    assert cameras["thr"].size == ms2.png_size(ms2.image_path(share, sequences[0], "thr", "000000"))
    assert run_check(share).returncode == 0
    # a calib.npy changed after the conversion is not read through the stale copy
    np.save(ms2.sequence_dir(share, sequences[0]) / "calib.npy", {"K_rgbL": np.eye(3)}, allow_pickle=True)
    with pytest.raises(ms2.CalibrationError, match="converted from another"):
        ms2.read_calibration(share, sequences[0])


def test_reference_sampling_takes_every_kth_frame_of_the_concatenated_list(tmp_path):
    """The reference's sample_set[0:-1:k] over the list's sequences in order, not every k-th
    frame of each sequence from its first (two 4-frame sequences, k = 3: frames 0 and 3 of the
    first and 2 of the second; never the list's last frame)."""
    root = tmp_path / "MS2"
    frames = write_tiny_ms2_root(root, frames_per_sequence=4)
    sequences = frames["train_list.txt"]
    source = ms2.MS2Source(root, sequences, sampling_step=3)
    first, second = (ms2.list_frames(root, seq) for seq in sequences)
    assert [frame.name for frame in (source[i] for i in range(len(source)))] == [
        f"{sequences[0]}/{first[0]}", f"{sequences[0]}/{first[3]}", f"{sequences[1]}/{second[2]}"]
    assert len(ms2.MS2Source(root, sequences[:1], sampling_step=3)) == 1
    assert len(ms2.MS2Source(root, sequences, sampling_step=1)) == 8
