"""Real-image evaluation ("eval-real"): any depth checkpoint on real frames with LiDAR depth.

A frames folder holds ``<id>_rgb.png`` (8-bit RGB), ``<id>_depth.png`` (uint16, metres x 256,
0 = no LiDAR) and ``<id>_K.json`` (fx, fy, cx, cy, width, height), e.g. ../shared/samples/kitti.
Each checkpoint predicts RGB spectral-wise depth through ``core.inference.analyse``; it is scored
by ``core.metrics.compute_depth_metrics`` on the LiDAR pixels, median-scaled and metric, beside
two floors scored on the same pixels: a constant depth and a flat road.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from core.data.frame import Frame
from core.data.imageio import read_image, read_spectrum
from core.data.ms2 import depth_from_uint16
from core.geometry.camera import Camera
from core.inference import AnalysisRequest, analyse
from core.metrics import MIN_DEPTH, compute_depth_metrics
from train.checkpoint_rows import CheckpointRow, checkpoint_rows, label_targets, relative_label
from train.config import RealEvalConfig, filled
from train.targets import real_targets

SCALINGS = ("median_scaled", "metric")  # the report's order
SCALING_TITLES = {"median_scaled": "Median-scaled", "metric": "Metric"}
TABLE_METRICS = {"abs_rel": "AbsRel", "sq_rel": "SqRel", "rmse": "RMSE", "a1": "δ < 1.25"}
CONSTANT_FLOOR, FLAT_ROAD_FLOOR = "floor: constant", "floor: flat road"
MODEL_INPUT = "RGB, spectral-wise"


def real_eval_config(cfg: dict) -> RealEvalConfig:
    """The typed config; an unknown key is refused with the nearest valid name."""
    return filled(RealEvalConfig(), cfg)


# --- frames ------------------------------------------------------------------------------

def frame_ids(folder: Path) -> list[str]:
    """The ids of the ``<id>_rgb.png`` frames in ``folder``, each checked to have its depth and K files."""
    if not folder.is_dir():
        raise ValueError(f"frames folder {folder} does not exist")
    ids = sorted(path.name.removesuffix("_rgb.png") for path in folder.glob("*_rgb.png"))
    if not ids:
        raise ValueError(f"frames folder {folder} has no frames: expected <id>_rgb.png with <id>_depth.png "
                         f"and <id>_K.json beside it")
    for frame_id in ids:
        missing = [name for name in (f"{frame_id}_depth.png", f"{frame_id}_K.json") if not (folder / name).is_file()]
        if missing:
            raise ValueError(f"frame {frame_id} in {folder} lacks {' and '.join(missing)}")
    return ids


def read_camera(path: Path) -> Camera:
    """The pinhole camera of a ``<id>_K.json`` (fx, fy, cx, cy, width, height); the rig frame is the camera's."""
    values = json.loads(path.read_text())
    K = [[values["fx"], 0.0, values["cx"]], [0.0, values["fy"], values["cy"]], [0.0, 0.0, 1.0]]
    return Camera(np.array(K), values["width"], values["height"], np.eye(4))


def read_real_frame(folder: Path, frame_id: str) -> Frame:
    """One RGB frame with its camera and LiDAR depth (float32 metres, 0 = none) as ``depth['rgb']``."""
    encoded = read_image(folder / f"{frame_id}_depth.png")
    if encoded.dtype != np.uint16 or encoded.ndim != 2:
        raise ValueError(f"{frame_id}_depth.png must be 16-bit grey (metres x 256), got {encoded.dtype} "
                         f"{encoded.shape}")
    camera = read_camera(folder / f"{frame_id}_K.json")
    if encoded.shape != camera.size:
        raise ValueError(f"{frame_id}_depth.png is {encoded.shape[1]} x {encoded.shape[0]} but {frame_id}_K.json "
                         f"says {camera.width} x {camera.height}")
    image = read_spectrum(folder / f"{frame_id}_rgb.png", "rgb")
    return Frame({"rgb": image}, {"rgb": camera}, depth={"rgb": depth_from_uint16(encoded)}, name=frame_id)


def evaluated_pixels(gt: np.ndarray, max_depth: float, frame_id: str) -> np.ndarray:
    """The LiDAR pixels the metrics keep (the range ``compute_depth_metrics`` applies)."""
    mask = (gt > MIN_DEPTH) & (gt < max_depth)
    if not mask.any():
        raise ValueError(f"frame {frame_id} has no LiDAR depth between {MIN_DEPTH} and {max_depth} m")
    return mask


# --- floors ------------------------------------------------------------------------------

def constant_floor(size: tuple[int, int], depth: float) -> np.ndarray:
    """The same ``depth`` everywhere, (height, width) float32: what knowing nothing about the scene scores.

    Median-scaled, every constant scores the same (it becomes median(gt))."""
    return np.full(size, depth, dtype=np.float32)


def flat_road_floor(camera: Camera, height: float, cap: float) -> np.ndarray:
    """Depth of a flat road ``height`` metres below a camera whose optical axis is parallel to it, (H, W) float32.

    Row v (pixel centres at integer rows, the project's convention) below the principal point sees the road
    at Z = height * fy / (v - cy); depth is capped at ``cap``, and rows at or above the horizon get the cap."""
    fy, cy = camera.K[1, 1], camera.K[1, 2]
    below_horizon = np.arange(camera.height, dtype=np.float64) - cy
    rows = np.full(camera.height, cap, dtype=np.float64)
    road = below_horizon > 0
    rows[road] = np.minimum(height * fy / below_horizon[road], cap)
    return np.repeat(rows[:, None], camera.width, axis=1).astype(np.float32)


def floor_predictions(frame: Frame, config: RealEvalConfig) -> dict[str, np.ndarray]:
    """Both floors of one frame. The constant is the flat road's median over the evaluated pixels: a formula
    that reads where LiDAR exists but no depth value, so the metric table has a meaningful constant too."""
    camera, gt = frame.cameras["rgb"], frame.depth["rgb"]
    road = flat_road_floor(camera, config.flat_road_height, config.flat_road_cap)
    constant = float(np.median(road[evaluated_pixels(gt, config.max_depth, frame.name)]))
    return {CONSTANT_FLOOR: constant_floor(camera.size, constant), FLAT_ROAD_FLOOR: road}


# --- evaluation --------------------------------------------------------------------------

def frame_metrics(pred: np.ndarray, gt: np.ndarray, max_depth: float) -> dict[str, dict[str, float]]:
    """{scaling: metrics} of one prediction against one frame's LiDAR depth."""
    return {scaling: compute_depth_metrics(pred, gt, MIN_DEPTH, max_depth, median_scaling=scaling == "median_scaled")
            for scaling in SCALINGS}


def mean_over_frames(per_frame: dict[str, dict[str, float]]) -> dict[str, float]:
    """The mean of each metric over frames (each frame weighs the same, as in core.metrics)."""
    names = next(iter(per_frame.values())).keys()
    return {name: float(np.mean([metrics[name] for metrics in per_frame.values()])) for name in names}


def evaluate_frames(frames: list[Frame], rows: dict[str, CheckpointRow], config: RealEvalConfig) -> dict:
    """{scaling: {row: {"per_frame": {frame id: metrics}, "mean": metrics}}}, rows = the floors then each
    checkpoint of ``rows`` (``checkpoint_rows``), in its order."""
    per_frame: dict[str, dict[str, dict]] = {scaling: {} for scaling in SCALINGS}

    def add(row: str, frame: Frame, pred: np.ndarray) -> None:
        for scaling, metrics in frame_metrics(pred, frame.depth["rgb"], config.max_depth).items():
            per_frame[scaling].setdefault(row, {})[frame.name] = metrics

    for frame in frames:
        for row, pred in floor_predictions(frame, config).items():
            add(row, frame, pred)
    # Checkpoints outer, frames inner: each model is loaded once.
    for row, folder in rows.values():
        for frame in frames:
            request = AnalysisRequest(str(folder), "spectral", spectra=("rgb",), flip_average=config.flip_average)
            add(row, frame, analyse(frame, request).depth("rgb"))
    return {scaling: {row: {"per_frame": by_frame, "mean": mean_over_frames(by_frame)}
                      for row, by_frame in rows.items()} for scaling, rows in per_frame.items()}


# --- report ------------------------------------------------------------------------------

def row_input(row: str) -> str:
    return "none (formula)" if row in (CONSTANT_FLOOR, FLAT_ROAD_FLOOR) else MODEL_INPUT


def metric_cells(metrics: dict[str, float]) -> list[str]:
    return [f"{metrics[name]:.3f}" for name in TABLE_METRICS]


def mean_table(rows: dict) -> str:
    lines = ["| depth | input | " + " | ".join(TABLE_METRICS.values()) + " |", "|" + "---|" * (2 + len(TABLE_METRICS))]
    lines += ["| " + " | ".join([row, row_input(row), *metric_cells(result["mean"])]) + " |"
              for row, result in rows.items()]
    return "\n".join(lines)


def per_frame_table(rows: dict, ids: list[str]) -> str:
    lines = ["| frame | depth | input | " + " | ".join(TABLE_METRICS.values()) + " |",
             "|" + "---|" * (3 + len(TABLE_METRICS))]
    lines += ["| " + " | ".join([frame_id, row, row_input(row), *metric_cells(result["per_frame"][frame_id])]) + " |"
              for frame_id in ids for row, result in rows.items()]
    return "\n".join(lines)


def protocol_lines(frames_label: str, frames: list[Frame], config: RealEvalConfig) -> list[str]:
    sizes = sorted({f"{f.cameras['rgb'].width} x {f.cameras['rgb'].height}" for f in frames})
    lidar = [int(evaluated_pixels(f.depth["rgb"], config.max_depth, f.name).sum()) for f in frames]
    flip = (["- flip averaging: each model's depth is the mean of two passes, the image and its mirror "
             "(mirrored back), as `flip_average` in `DepthModel.infer`"] if config.flip_average else [])
    return [
        f"## Real frames with LiDAR depth: `{frames_label}` ({len(frames)} frames: "
        f"{', '.join(f.name for f in frames)}; {', '.join(sizes)})",
        "",
        "These real frames were never used in training: every checkpoint was trained on MS-Synth (synthetic) only.",
        "",
        "Protocol:",
        f"- pixels: the LiDAR pixels with {MIN_DEPTH} m < depth <= {config.max_depth} m "
        f"({', '.join(map(str, lidar))} per frame); no densification",
        "- models: RGB spectral-wise depth from `core.inference.analyse` (input resized to the model's input size, "
        "depth upsampled bilinearly to the frame's size), each frame with its own camera; the fuse stage trains "
        "only the fusion module on a frozen align network, so a fuse checkpoint's rows repeat its align checkpoint's",
        *flip,
        "- median-scaled: prediction x median(gt) / median(pred) over those pixels, per frame; metric: as predicted; "
        f"both then clamped to [{MIN_DEPTH}, {config.max_depth}] m (`core.metrics.compute_depth_metrics`)",
        "- δ < 1.25: share of pixels with max(pred / gt, gt / pred) < 1.25; the mean is over frames",
        f"- floor: flat road: camera {config.flat_road_height} m above a plane parallel to the optical axis, "
        f"Z = {config.flat_road_height} x fy / (v - cy) for pixel rows v below cy (pixel centres at integer rows), "
        f"capped at {config.flat_road_cap} m, the cap above the horizon",
        "- floor: constant: one depth everywhere; median-scaled, any constant scores the same; metric, the constant is "
        "the median of the flat-road depth over the evaluated pixels (a formula: no ground-truth value is read)",
    ]


def report_text(results: dict, frames_label: str, frames: list[Frame], config: RealEvalConfig,
                targets_cfg: dict | None) -> str:
    """The markdown report; ``targets_cfg`` names checkpoints by their row labels."""
    ids = [frame.name for frame in frames]
    lines = protocol_lines(frames_label, frames, config)
    for scaling in SCALINGS:
        lines += ["", f"### {SCALING_TITLES[scaling]}", "", f"Mean over {len(ids)} frames:", "",
                  mean_table(results[scaling]), "", "Per frame:", "", per_frame_table(results[scaling], ids)]
    targets = real_targets(results["median_scaled"], targets_cfg, FLAT_ROAD_FLOOR) if targets_cfg else ""
    if targets:
        lines += ["", "### Targets", "", targets]
    return "\n".join(lines) + "\n"


def run_eval_real(config: RealEvalConfig, repo_root: Path) -> str:
    """Evaluate every configured checkpoint and both floors on every frame of config.frames; write the markdown
    report to config.report and the numbers beside it as JSON; print and return the report."""
    folder = repo_root / config.frames
    frames = [read_real_frame(folder, frame_id) for frame_id in frame_ids(folder)]
    rows = checkpoint_rows(config.checkpoints, repo_root)
    results = evaluate_frames(frames, rows, config)
    label = relative_label(folder, repo_root)
    targets_cfg = label_targets(config.targets, rows) if config.targets else None
    text = report_text(results, label, frames, config, targets_cfg)
    out = repo_root / config.report
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    record = {"frames": label, "frame_ids": [frame.name for frame in frames],
              "config": {**asdict(config), "frames": label}, "min_depth": MIN_DEPTH, "results": results}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(text)
    print(f"wrote {config.report} and {Path(config.report).with_suffix('.json')}")
    return text
