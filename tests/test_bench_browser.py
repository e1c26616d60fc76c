"""The browser benchmark (bench/bench_browser.py) is run by hand or by `make bench`, never by
the tests; here only its command line and how it finds the real MS2 trios."""
from pathlib import Path

import pytest

from bench import bench_browser
from core import inference


def test_defaults_are_the_default_model_and_a_median_of_five():
    args = bench_browser.parse_args([])
    assert (args.model, args.repeats, args.ms2) == (inference.DEFAULT_CHECKPOINT, 5, bench_browser.SHARED_MS2)


def test_a_quick_run_takes_fewer_repeats_and_refuses_none():
    assert bench_browser.parse_args(["--repeats", "2", "--model", "msynth-student"]).repeats == 2
    with pytest.raises(SystemExit):
        bench_browser.parse_args(["--repeats", "0"])


def test_only_complete_trios_are_uploaded(tmp_path: Path):
    for name in ("000001_rgb.png", "000001_nir.png", "000001_thr.png", "000002_rgb.png", "000002_thr.png"):
        (tmp_path / name).write_bytes(b"")
    assert bench_browser.ms2_trios(tmp_path) == [{s: tmp_path / f"000001_{s}.png" for s in ("rgb", "nir", "thr")}]
