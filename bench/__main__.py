"""`python -m bench [name ...]`: every benchmark, or the named ones, recorded in bench/results.json.

They run one after another, each printing its own table. What each printed, its tables as numbers, when
and under what load go to bench/results.json (a rerun of some benchmarks keeps the others'
records), which the Streamlit Results page shows."""
import argparse
import contextlib
import datetime
import io
import os
import sys
import time

from bench import (bench_align_fuse, bench_browser, bench_click_to_result, bench_msynth, bench_pointcloud,
                   bench_sequence, bench_teacher_student, tables)
from core import reports

BENCHMARKS = {module.__name__.rsplit(".", 1)[1]: module for module in
              (bench_msynth, bench_pointcloud, bench_align_fuse, bench_teacher_student, bench_click_to_result,
               bench_browser, bench_sequence)}


class Tee(io.StringIO):
    """Kept text that is also written through to the terminal as it comes."""

    def write(self, text: str) -> int:
        sys.__stdout__.write(text)
        sys.__stdout__.flush()
        return super().write(text)


def run(name: str) -> dict:
    tables.printed_tables.clear()
    load_average = os.getloadavg()
    sys.argv = [f"bench.{name}"]   # each benchmark parses its own (default) arguments
    output = Tee()
    start = time.perf_counter()
    with contextlib.redirect_stdout(output):
        BENCHMARKS[name].main()
    return {"output": output.getvalue().strip("\n"), "tables": list(tables.printed_tables),
            "seconds": round(time.perf_counter() - start, 1), "load_average": [round(x, 2) for x in load_average],
            "cpus": os.cpu_count(), "recorded": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="name",
                        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    names = parser.parse_args().names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)}; there are {', '.join(BENCHMARKS)}")
    results = reports.read_results()
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        results[name] = run(name)
        # Written after each benchmark: an interrupted run keeps what it measured.
        in_order = {benchmark: results[benchmark] for benchmark in BENCHMARKS if benchmark in results}
        reports.write_results(in_order)
    print(f"\nrecorded in {reports.RESULTS_FILE}")


main()
