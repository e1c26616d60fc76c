"""The real-image figure of docs/experiments.md is written by a script in the repo from the frames in ../shared."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from core.data.samples import SHARED_SAMPLES
from scripts.real_figure import main, ms2_frames

pytestmark = pytest.mark.skipif(not (SHARED_SAMPLES / "ms2").is_dir() or not (SHARED_SAMPLES / "kitti").is_dir(),
                                reason="the real MS2 and KITTI samples live in ../shared, absent on this machine")


def test_real_figure_shows_every_real_frame(tmp_path: Path):
    out = tmp_path / "real.png"
    main(["--out", str(out)])
    with Image.open(out) as image:
        width, height = image.size
    # two MS2 trios (inputs row + depth row each) and two KITTI frames: six rows of panels
    assert width >= 1200 and height >= 6 * 150


def test_ms2_trios_are_read_with_all_three_spectra_and_the_assumed_rig():
    frames = ms2_frames(SHARED_SAMPLES / "ms2")
    assert [frame_id for frame_id, _ in frames] == ["000011", "002079"]
    for _, frame in frames:
        assert frame.spectra == ("rgb", "nir", "thr")
        assert frame.images["thr"].dtype.name == "uint16"                # raw counts kept
        assert "MS2" in frame.meta["calibration"]

