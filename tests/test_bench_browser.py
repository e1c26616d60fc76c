"""The browser benchmark (bench/bench_browser.py) is run by hand or by `make bench`, never by
the tests; here only its command line and how it finds the real MS2 trios."""
import mmap
import time
from pathlib import Path

import numpy as np
import pytest

from bench import bench_browser
from bench.servers import PeakRSS
from core import inference


def test_defaults_are_the_default_model_and_a_median_of_five():
    args = bench_browser.parse_args([])
    assert (args.model, args.repeats, args.ms2) == (inference.DEFAULT_CHECKPOINT, 5, bench_browser.SHARED_MS2)


def test_a_quick_run_takes_fewer_repeats_and_refuses_none():
    assert bench_browser.parse_args(["--repeats", "2", "--model", "msynth-student-cycle4"]).repeats == 2
    with pytest.raises(SystemExit):
        bench_browser.parse_args(["--repeats", "0"])


def test_only_complete_trios_are_uploaded(tmp_path: Path):
    for name in ("000001_rgb.png", "000001_nir.png", "000001_thr.png", "000002_rgb.png", "000002_thr.png"):
        (tmp_path / name).write_bytes(b"")
    assert bench_browser.ms2_trios(tmp_path) == [{s: tmp_path / f"000001_{s}.png" for s in ("rgb", "nir", "thr")}]


def test_streamlit_pages_are_timed_on_request():
    assert not bench_browser.parse_args([]).streamlit
    assert bench_browser.parse_args(["--streamlit"]).streamlit
    assert set(bench_browser.STREAMLIT_PAGES) == {"Explore", "Compare", "Attention", "Point cloud", "Results"}


def test_the_largest_upload_is_rgb_6400_x_2000_8_bit_and_thermal_6000_x_2400_raw():
    images = bench_browser.upload_images(0)
    assert set(images) == {"rgb", "thr"}
    assert (images["rgb"].shape, images["rgb"].dtype) == ((2000, 6400, 3), np.uint8)
    assert (images["thr"].shape, images["thr"].dtype) == ((2400, 6000), np.uint16)
    assert 3000 <= images["thr"].min() and images["thr"].max() <= 6000
    other = bench_browser.upload_images(1, sizes={"rgb": (20, 64), "thr": (24, 60)})
    assert not np.array_equal(bench_browser.upload_images(0, sizes={"rgb": (20, 64)})["rgb"], other["rgb"])


def test_the_largest_upload_is_written_as_files_the_studio_reads(tmp_path: Path):
    from core.data.imageio import read_spectrum
    paths = bench_browser.write_upload(tmp_path, 0)
    assert read_spectrum(paths["thr"], "thr").shape == (2400, 6000)
    assert read_spectrum(paths["rgb"], "rgb").shape == (2000, 6400, 3)
    assert sum(path.stat().st_size for path in paths.values()) < 50 * 2**20   # the studio's upload limit


def test_the_peak_rss_sees_a_block_held_while_it_samples():
    # Fresh anonymous pages, written: resident whatever the allocator already holds (a numpy
    # block can land in heap pages an earlier test left resident, and add nothing).
    with PeakRSS(interval=0.005) as memory:
        block = mmap.mmap(-1, 40 * 2**20)
        np.frombuffer(block, dtype=np.uint8)[:] = 1
        time.sleep(0.1)                 # held over many samples
        block.close()
    assert memory.peak - memory.before >= 30 * 2**20
    assert memory.after < memory.peak
