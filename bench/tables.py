"""The benchmarks' one table format (a value per row and its ratio to a baseline row), and the
file `python -m bench` records them in (bench/results.json), which the Streamlit Results page
reads instead of timing anything itself."""
from __future__ import annotations

import json
from pathlib import Path

# Beside the code that measures it: the figures describe this code on this machine, not a
# checkpoint, and checkpoints/ is what training writes and reads.
RESULTS_FILE = Path(__file__).with_name("results.json")
# Every table printed in this process, as numbers, for `python -m bench` to record.
printed_tables: list[dict] = []


def print_ratio_table(title: str, unit: str, ratio_label: str, rows: dict[str, float], baseline: float,
                      value_format: str = ".1f") -> None:
    printed_tables.append({"title": title, "unit": unit, "rows": dict(rows)})
    print(f"{title:<50}{unit:>11}{ratio_label:>14}")
    for name, value in rows.items():
        print(f"{name:<50}{value:>11{value_format}}{value / baseline:>14.3f}")


def read_results(path: Path = RESULTS_FILE) -> dict:
    """{benchmark name: {"output", "tables", "recorded", "seconds", "load_average"}}; empty
    before `make bench` has run."""
    return json.loads(path.read_text())["benchmarks"] if path.is_file() else {}
