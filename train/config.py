"""Training configs: YAML files in train/configs/, with ``--set key.sub=value`` overrides."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml


def load_config(path: str | Path, overrides: list[str] | None = None) -> dict:
    config = yaml.safe_load(Path(path).read_text())
    for override in overrides or []:
        apply_override(config, override)
    return config


def apply_override(config: dict, override: str) -> None:
    """``a.b.c=value``; the value is parsed as YAML (numbers, booleans, lists)."""
    key, sep, raw = override.partition("=")
    if not sep:
        raise ValueError(f"override {override!r} is not key=value")
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = yaml.safe_load(raw)


def merged(base: dict, update: dict) -> dict:
    """A deep copy of ``base`` with ``update`` merged in recursively."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
