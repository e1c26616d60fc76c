"""The checkpoints an evaluation lists, resolved to folders and named for the report's rows.

Both evaluations (MS-Synth ``eval`` and real-frame ``eval-real``) take a checkpoint as a name
under ``checkpoints/`` or a folder path, and name its rows by the folder, or by the path from
the repo root where two folders share a name (runs/a/checkpoint, runs/b/checkpoint): a report
never holds a home path, and no row overwrites another.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple


class CheckpointRow(NamedTuple):
    label: str
    folder: Path


def relative_label(folder: Path, repo_root: Path) -> str:
    """``folder`` as a path relative to the repo root."""
    return os.path.relpath(folder.resolve(), repo_root.resolve())


def checkpoint_folder(entry: str, repo_root: Path) -> Path:
    """A checkpoint named under checkpoints/, or a folder path (relative to the repo root or absolute)."""
    for candidate in (repo_root / "checkpoints" / entry, repo_root / entry):
        if candidate.is_dir():
            return candidate.resolve()
    raise ValueError(f"checkpoint {entry!r} not found: neither checkpoints/{entry} nor a folder")


def checkpoint_rows(entries: list[str], repo_root: Path) -> dict[str, CheckpointRow]:
    """{entry: its row}, in the given order. Every entry is resolved first, so a misspelt one fails
    before any model runs; a checkpoint listed twice is refused."""
    folders = [checkpoint_folder(entry, repo_root) for entry in entries]
    if len(set(folders)) < len(folders):
        raise ValueError(f"a checkpoint is listed twice in {entries}")
    names = [folder.name for folder in folders]
    return {entry: CheckpointRow(folder.name if names.count(folder.name) == 1 else relative_label(folder, repo_root),
                                 folder)
            for entry, folder in zip(entries, folders)}


def label_targets(targets_cfg: dict, rows: dict[str, CheckpointRow]) -> dict:
    """The targets config with each checkpoint it names (a value, or an item of a list value)
    replaced by that checkpoint's row label; other values as they are."""
    def label(value):
        if isinstance(value, list):
            return [label(item) for item in value]
        return rows[value].label if isinstance(value, str) and value in rows else value

    return {key: label(value) for key, value in targets_cfg.items()}
