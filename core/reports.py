"""What `python -m bench` recorded (bench/results.json), read by the Streamlit Results page and
extended by the benchmarks: the page shows recorded figures instead of timing anything itself."""
from __future__ import annotations

import json
from pathlib import Path

from core.settings import BENCH_RESULTS_FILE

RESULTS_FILE = BENCH_RESULTS_FILE


def read_results(path: Path = RESULTS_FILE) -> dict:
    """{benchmark name: {"output", "tables", "recorded", "seconds", "load_average"}}; empty
    before `make bench` has run."""
    return json.loads(path.read_text())["benchmarks"] if path.is_file() else {}


def write_results(results: dict, path: Path = RESULTS_FILE) -> None:
    path.write_text(json.dumps({"benchmarks": results}, indent=1) + "\n")
