"""The benchmarks' one table format: a value per row and its ratio to a baseline row. `python -m
bench` records the tables printed in a run with ``core.reports``."""
from __future__ import annotations

# Every table printed in this process, as numbers, for `python -m bench` to record.
printed_tables: list[dict] = []


def print_ratio_table(title: str, unit: str, ratio_label: str, rows: dict[str, float], baseline: float,
                      value_format: str = ".1f") -> None:
    printed_tables.append({"title": title, "unit": unit, "rows": dict(rows)})
    print(f"{title:<50}{unit:>11}{ratio_label:>14}")
    for name, value in rows.items():
        print(f"{name:<50}{value:>11{value_format}}{value / baseline:>14.3f}")
