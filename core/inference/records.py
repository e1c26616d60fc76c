"""What training and evaluation left in checkpoints/ (each folder's config and log; the
EVAL*.json reports), for the reviewers' views."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from core.inference.predict import CHECKPOINTS_DIR, list_checkpoints
from core.models.checkpoint import CONFIG_FILE


@dataclass
class CheckpointRecord:
    """What training left in a checkpoint folder: its config.json and the training log as
    columns (step, loss terms ...)."""

    name: str
    description: dict
    log: dict[str, list[float]]


def checkpoint_records(root: Path = CHECKPOINTS_DIR) -> list[CheckpointRecord]:
    records = []
    for name in list_checkpoints(root):
        folder = root / name
        log_file = folder / "log.csv"
        log: dict[str, list[float]] = {}
        if log_file.is_file():
            with log_file.open() as f:
                for row in csv.DictReader(f):
                    for key, value in row.items():
                        log.setdefault(key, []).append(float(value) if value not in ("", None) else float("nan"))
        records.append(CheckpointRecord(name, json.loads((folder / CONFIG_FILE).read_text()), log))
    return records


def evaluation_reports(root: Path = CHECKPOINTS_DIR) -> dict[str, dict]:
    """Each EVAL*.json that `python -m train eval` / `eval-real` wrote, by file stem ("EVAL",
    "EVAL-distill", "EVAL-real")."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(root.glob("EVAL*.json"))}
