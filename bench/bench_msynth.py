"""MS-Synth rendering speed: full three-camera frames at MS2 resolution on one thread.

    python -m bench.bench_msynth [--seeds 5] [--frames 2]

Renders every (seed, condition, frame) combination after one warm-up frame, and prints frames
per second, seconds per frame against the 0.5 s target, and the time split per camera.
"""
from __future__ import annotations

from core import settings

# Set before numpy / torch load their thread pools.
settings.use_one_thread()

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from core.data.frame import CONDITIONS, SPECTRA  # noqa: E402
from core.data.msynth import render_frame, split_seeds  # noqa: E402

TARGET_S = 0.5


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="test-split scenes to average over")
    parser.add_argument("--frames", type=int, default=2, help="frames per (scene, condition)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = split_seeds("test")[:args.seeds]
    frame_indices = [int(i) for i in range(0, 90, max(1, 90 // args.frames))][:args.frames]
    render_frame(seeds[0], 0, "day")  # warm-up: texture tiles, lookup tables, scene cache

    totals, per_camera = [], {s: [] for s in SPECTRA}
    per_condition = {c: [] for c in CONDITIONS}
    for seed in seeds:
        for condition in CONDITIONS:
            for index in frame_indices:
                start = time.perf_counter()
                frame = render_frame(seed, index, condition)
                elapsed = time.perf_counter() - start
                totals.append(elapsed)
                per_condition[condition].append(elapsed)
                for spectrum, seconds in frame.meta["render_s"].items():
                    per_camera[spectrum].append(seconds)

    mean = statistics.fmean(totals)
    print(f"MS-Synth, full three-camera frames at MS2 resolution, 1 thread, "
          f"{len(totals)} frames ({len(seeds)} scenes x {len(CONDITIONS)} conditions x "
          f"{len(frame_indices)} frames)")
    print(f"  {1.0 / mean:6.2f} frames/s   {mean:.3f} s/frame mean, {max(totals):.3f} s worst   "
          f"target < {TARGET_S} s: {'met' if mean < TARGET_S else 'NOT met'}")
    for spectrum, times in per_camera.items():
        share = statistics.fmean(times)
        print(f"  {spectrum:>5}: {share:.3f} s/frame ({100 * share / mean:4.1f} %)")
    for condition, times in per_condition.items():
        print(f"  {condition:>5}: {statistics.fmean(times):.3f} s/frame")


if __name__ == "__main__":
    main()
