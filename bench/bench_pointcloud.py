"""Point-cloud pipeline timings: depth map -> points -> downsampled points -> plotly figure.

    python -m bench.bench_pointcloud

Single thread, median of several repeats, on a 640 x 256 depth map: the thermal camera of
an MS-Synth frame when the generator is available, an analytic scene otherwise.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from core.viz.pointcloud import FIGURE_MAX_POINTS, depth_to_points, downsample_points, pointcloud_figure

WIDTH, HEIGHT = 640, 256


def analytic_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth (a ground plane meeting a far wall, two boxes), intrinsics and a grey image."""
    K = np.array([[400.0, 0, (WIDTH - 1) / 2], [0, 400.0, (HEIGHT - 1) / 2], [0, 0, 1]])
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    camera_height, wall = 1.5, 60.0
    rows_below_horizon = np.maximum(v - K[1, 2], 1e-6)
    depth = np.minimum(camera_height * K[1, 1] / rows_below_horizon, wall)
    depth[90:200, 120:260] = np.minimum(depth[90:200, 120:260], 12.0)
    depth[110:170, 400:520] = np.minimum(depth[110:170, 400:520], 25.0)
    depth[:6] = 0  # a strip of invalid pixels, as real sensors have
    grey = (255 * (0.3 + 0.7 * u / WIDTH)).astype(np.uint8)
    return depth.astype(np.float32), K, grey


def msynth_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Thermal depth, intrinsics and normalised thermal image of one MS-Synth frame, if available."""
    try:
        from core.data.msynth import render_frame
        from core.data.thermal import normalize_thermal
    except ImportError:
        return None
    frame = render_frame(0, frame_index=0, condition="day", spectra=("thr",))
    return frame.depth["thr"], frame.cameras["thr"].K, normalize_thermal(frame.images["thr"])


def median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--max-points", type=int, default=FIGURE_MAX_POINTS)
    args = parser.parse_args()
    torch.set_num_threads(1)

    scene = msynth_scene()
    source = "MS-Synth thermal camera" if scene is not None else "analytic plane + boxes"
    depth, K, image = scene if scene is not None else analytic_scene()

    stages = ("depth_to_points", "downsample_points", "pointcloud_figure", "figure.to_json")
    times = {stage: [] for stage in stages}
    for repeat in range(args.repeats + 1):  # the first run warms caches and is dropped
        start = time.perf_counter()
        points, colors = depth_to_points(depth, K, colors=image)
        t_points = time.perf_counter()
        down, down_colors = downsample_points(points, colors, max_points=args.max_points)
        t_down = time.perf_counter()
        fig = pointcloud_figure(down, down_colors, max_points=args.max_points)
        t_fig = time.perf_counter()
        payload = fig.to_json()
        t_json = time.perf_counter()
        if repeat:
            for stage, elapsed in zip(stages, (t_points - start, t_down - t_points,
                                               t_fig - t_down, t_json - t_fig)):
                times[stage].append(elapsed)

    totals = [sum(parts) for parts in zip(*times.values())]
    counts = {"depth_to_points": len(points), "downsample_points": len(down),
              "pointcloud_figure": len(fig.data[0].x), "figure.to_json": f"{len(payload) / 1e6:.1f} MB"}
    print(f"depth {depth.shape[1]} x {depth.shape[0]} ({source}), {int((depth > 0).sum())} valid "
          f"pixels, max_points {args.max_points}, 1 thread, median of {args.repeats}")
    print(f"{'stage':<20}{'ms':>10}  output")
    for stage in stages:
        print(f"{stage:<20}{median_ms(times[stage]):>10.1f}  {counts[stage]}")
    print(f"{'total':<20}{median_ms(totals):>10.1f}")


if __name__ == "__main__":
    main()
