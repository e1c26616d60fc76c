"""Sequence throughput, side by side in one run: the default student on RGB and the default fused
model (RGB anchor) over the same gallery drive, the whole pipeline per frame (read the cached frame,
network, store, colour the player's panel) plus the H.264 video, then the 3-D map of every frame.

    OMP_NUM_THREADS=1 python -m bench.bench_sequence [--frames 100] [--threads 1] [--lifetime 30]

Then the served studio's memory (``python -m app`` in a child process, as a Space runs it): its RSS
when idle after a short warm-up run, at most during one run of ``frames`` frames of the default
student through ``/sequence_run`` (target <= +400 MB), and once that session's lifetime (shortened
to ``lifetime`` seconds) has passed (target within 50 MB of idle).

One torch thread by default: on this shared 2-core machine, two threads under other load ran the
same student pipeline 20 times slower (0.7 against 14 frames/s), waiting on each other.
The drive's frames are rendered into the cache first (on first use only) and not timed: a
visitor's second run of a drive reads them, as every run of an upload or dataset does.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from gradio_client import Client

from bench.servers import PeakRSS, rss_bytes, studio
from bench.tables import print_ratio_table
from core.inference import DEFAULT_CHECKPOINT, DEFAULT_STUDENT, AnalysisRequest, load_model
from core.inference.sequence_sources import gallery_sequence, gallery_sequence_names, select_frames
from core.inference.sequences import SequenceRun
from core.settings import SESSION_TTL_ENV

RUN_TARGET_MB = 400
RETURNED_TARGET_MB = 50

CONFIGURATIONS = {"default student, RGB": AnalysisRequest(DEFAULT_STUDENT, "spectral", spectra=("rgb",)),
                  "default fused, RGB anchor": AnalysisRequest(DEFAULT_CHECKPOINT, "fused", "rgb")}


def timed_run(folder: Path, request: AnalysisRequest, frames: int) -> tuple[SequenceRun, dict[str, float]]:
    source = gallery_sequence(gallery_sequence_names()[0])
    run = SequenceRun.create(folder, source, request)
    start = time.perf_counter()
    for position, _ in enumerate(run.analyse(source, select_frames(source.count, 0, frames))):
        run.player(position, run.outputs[0])
    depth_s = time.perf_counter() - start
    start = time.perf_counter()
    run.video(folder / "depth.mp4", run.outputs[0])
    video_s = time.perf_counter() - start
    start = time.perf_counter()
    run.map(run.outputs[-1], every=1).figure.to_json()
    return run, {"depth": depth_s, "video": video_s, "map": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lifetime", type=float, default=30.0, help="the served sessions' lifetime [s]")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    source = gallery_sequence(gallery_sequence_names()[0])
    for _ in source.frames(range(args.frames)):   # render into the cache (first use only), untimed
        pass
    for request in CONFIGURATIONS.values():
        load_model(request.model)
    throughput, map_s = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, request in CONFIGURATIONS.items():
            _, seconds = timed_run(Path(scratch) / name.replace(" ", "_").replace(",", ""), request, args.frames)
            throughput[f"{name}: frames/s, depth + player"] = args.frames / seconds["depth"]
            throughput[f"{name}: frames/s, with the mp4"] = args.frames / (seconds["depth"] + seconds["video"])
            map_s[f"{name}: map of {args.frames} frames [s]"] = seconds["map"]
    print(f"{source.name}, {args.frames} frames, {args.threads} torch threads")
    first = next(iter(throughput.values()))
    print_ratio_table("Sequence throughput", "frames/s", "x student", throughput, first, ".2f")
    print_ratio_table("3-D map after the last depth", "s", "x student", map_s, next(iter(map_s.values())), ".2f")
    idle, grown, back = served_memory(source.name, args.frames, args.lifetime)
    print(f"served studio, {args.frames}-frame run of the default student: idle {idle:.0f} MB; "
          f"{grown:+.0f} MB at most during the run (target <= +{RUN_TARGET_MB} MB: "
          f"{'met' if grown <= RUN_TARGET_MB else 'NOT met'}); {back:+.0f} MB once its {args.lifetime:.0f} s "
          f"lifetime passed (target within {RETURNED_TARGET_MB} MB: {'met' if back <= RETURNED_TARGET_MB else 'NOT met'})")


def served_memory(drive: str, frames: int, lifetime_s: float) -> tuple[float, float, float]:
    """The served studio's RSS in MB when idle (after a 2-frame warm-up run), its growth at most
    during one ``frames``-frame run, and what is left of it after the session's lifetime."""
    def run(url: str, count: int) -> None:
        Client(url, verbose=False, download_files=False).predict(
            "MS-Synth drive", drive, None, None, DEFAULT_STUDENT, "Spectral-wise", "RGB", "none", 0.5, 0, count, 1,
            "RGB alone", False, api_name="/sequence_run")

    with tempfile.TemporaryDirectory() as cache, \
            studio({"GRADIO_TEMP_DIR": cache, SESSION_TTL_ENV: str(lifetime_s)}) as (url, pid):
        run(url, 2)
        idle = rss_bytes(pid) / 2**20
        with PeakRSS(pid, interval=0.05) as peak:
            run(url, frames)
        time.sleep(lifetime_s + 5)   # Gradio deletes expired state every second; the run's folder goes with it
        return idle, peak.peak / 2**20 - idle, rss_bytes(pid) / 2**20 - idle


if __name__ == "__main__":
    main()
