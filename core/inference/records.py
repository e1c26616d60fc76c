"""What training left in each checkpoint folder (config, metrics, log), for the reviewers'
views, and a latency probe for the benchmarks."""
from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.inference.predict import CHECKPOINTS_DIR, device, list_checkpoints, load_model
from core.models.checkpoint import CONFIG_FILE, METRICS_FILE
from core.models.depthnet import SPECTRUM_CHANNELS


@dataclass
class CheckpointRecord:
    """What training left in a checkpoint folder: its config.json, metrics.json (None if it
    was not evaluated) and the training log as columns (step, loss terms ...)."""

    name: str
    description: dict
    metrics: dict | None
    log: dict[str, list[float]]


def checkpoint_records(root: Path = CHECKPOINTS_DIR) -> list[CheckpointRecord]:
    records = []
    for name in list_checkpoints(root):
        folder = root / name
        metrics_file, log_file = folder / METRICS_FILE, folder / "log.csv"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
        log: dict[str, list[float]] = {}
        if log_file.is_file():
            with log_file.open() as f:
                for row in csv.DictReader(f):
                    for key, value in row.items():
                        log.setdefault(key, []).append(float(value) if value not in ("", None) else float("nan"))
        records.append(CheckpointRecord(name, json.loads((folder / CONFIG_FILE).read_text()), metrics, log))
    return records


def spectral_latency_ms(name_or_path: str, repeats: int = 3) -> float:
    """Median milliseconds of one spectral-wise pass of every spectrum the model takes, at its
    input size, on this machine (weights loaded once)."""
    model, _ = load_model(name_or_path)
    height, width = model.input_size
    images = {s: torch.rand(1, SPECTRUM_CHANNELS[s], height, width, device=device()) for s in model.spectra}
    times = []
    for _ in range(repeats + 1):   # the first pass warms up
        start = time.perf_counter()
        model.infer(images)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times[1:]))
