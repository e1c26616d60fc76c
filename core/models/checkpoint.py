"""Self-describing checkpoints: model.safetensors + config.json (+ metrics.json).

A checkpoint folder loads from a local path or a Hugging Face Hub repo id with the same
call. Nothing is ever unpickled: weights are safetensors, the config is JSON.
"""
from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_model

from core.models.factory import build_model, config_from_dict, parameter_report
from core.models.hub import hub_offline
from core.models.vfm.base import BackboneUnavailable

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HUB_FILES = [WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE, "README.md"]
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be found, read or matched to its config."""


@dataclass(frozen=True)
class ConfigLimits:
    """What a checkpoint's config may ask for before anything is built (a public studio must
    not build a huge network because a config says so)."""

    max_input_size: tuple[int, int] = (512, 1280)
    encoders: frozenset[str] = field(default_factory=lambda: frozenset(
        {"lcnet_050", "lcnet_075", "lcnet_100", "lcnet_150", "mobilenetv3_small_100", "mobilenetv3_large_100",
         "resnet18", "resnet34", "efficientnet_b0"}))


def check_config_limits(config, limits: ConfigLimits) -> None:
    """Refuse, in words, a config outside ``limits``."""
    height, width = config.input_size
    max_height, max_width = limits.max_input_size
    if not (0 < height <= max_height and 0 < width <= max_width):
        raise CheckpointError(f"its input size {height} x {width} is outside what is allowed here "
                              f"(at most {max_height} x {max_width})")
    if config.encoder not in limits.encoders:
        raise CheckpointError(f"its encoder {config.encoder!r} is not one allowed here "
                              f"({', '.join(sorted(limits.encoders))})")


def save_checkpoint(folder: str | Path, model: nn.Module, config, metrics: Mapping | None = None,
                    command: str | None = None, extra: Mapping | None = None) -> Path:
    """Write ``folder``/model.safetensors, config.json and, given metrics, metrics.json.

    config.json holds the architecture config (under "model"), spectra, input size, the
    training command (``command``, by default this process's command line) and every key
    of ``extra`` (e.g. "training_data", "vfm"). Returns the folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, str(folder / WEIGHTS_FILE), metadata={"architecture": config.architecture})
    description = {
        "format_version": FORMAT_VERSION,
        "architecture": config.architecture,
        "model": config.to_dict(),
        "spectra": list(config.spectra),
        "input_size": list(config.input_size),
        "parameters": parameter_report(model),
        "training_data": None,
        "command": command if command is not None else shlex.join([Path(sys.executable).name, *sys.argv]),
        **(extra or {}),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(description, indent=2) + "\n")
    if metrics is not None:
        (folder / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return folder


def update_checkpoint(folder: str | Path, model: nn.Module, metrics: Mapping | None = None,
                      **described) -> Path:
    """Rewrite a checkpoint folder's weights (e.g. re-estimated statistics of the same
    architecture), and its metrics when given; config.json keeps everything it says and gains
    the ``described`` keys (e.g. the command that made the change)."""
    folder = Path(folder)
    description = json.loads((folder / CONFIG_FILE).read_text())
    save_model(model, str(folder / WEIGHTS_FILE), metadata={"architecture": description["architecture"]})
    (folder / CONFIG_FILE).write_text(json.dumps({**description, **described}, indent=2) + "\n")
    if metrics is not None:
        (folder / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return folder


def load_checkpoint(name_or_path: str | Path, map_location: str | torch.device = "cpu",
                    limits: ConfigLimits | None = None, label: str | None = None) -> tuple[nn.Module, dict]:
    """(model in eval mode, config.json as a dict) from a checkpoint folder or a Hub repo id.

    A local folder (or a file inside it) is used as is; anything else is taken as a Hugging
    Face Hub repo id. With HF_HUB_OFFLINE set only the local Hub cache is consulted, so a
    missing checkpoint fails at once instead of waiting on the network. ``limits`` are checked
    on the config before the network is built. Errors name the checkpoint by ``label`` (default:
    ``name_or_path`` as given), never by the folder it resolved to.
    """
    label = label or str(name_or_path)
    folder = _resolve_folder(name_or_path, label)
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise CheckpointError(f"checkpoint {label!r} has no {path.name}")
    try:
        description = json.loads(config_path.read_text())
        config = config_from_dict(description["model"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"checkpoint {label!r}: {CONFIG_FILE} is not a valid checkpoint config "
                              f"({type(err).__name__}: {err})") from err
    if limits is not None:
        try:
            check_config_limits(config, limits)
        except CheckpointError as err:
            raise CheckpointError(f"checkpoint {label!r}: {err}") from None
    try:
        model = build_model(config)
    except BackboneUnavailable as err:
        raise CheckpointError(f"checkpoint {label!r} needs a backbone that cannot be loaded here: {err}") from err
    try:
        state = load_file(str(weights_path), device=str(torch.device(map_location)))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"checkpoint {label!r}: {WEIGHTS_FILE} is corrupt or truncated ({err})") from err
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {label!r}: {WEIGHTS_FILE} does not match the architecture in "
                              f"{CONFIG_FILE}") from err
    return model.to(map_location).eval(), description


def _resolve_folder(name_or_path: str | Path, label: str) -> Path:
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        return path.parent
    return _download_from_hub(str(name_or_path), label)


def _download_from_hub(repo_id: str, label: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    offline = hub_offline()
    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_FILES, local_files_only=offline))
    except HFValidationError as err:
        raise CheckpointError(f"no checkpoint folder at {label!r}, and it is not a valid Hugging Face "
                              f"Hub repo id either") from err
    except LocalEntryNotFoundError as err:
        where = "HF_HUB_OFFLINE is set and it is not in the local Hub cache" if offline else \
            "the Hub is not reachable and it is not in the local Hub cache"
        raise CheckpointError(f"no checkpoint folder at {label!r}, and as a Hub repo id: {where}") from err
    except Exception as err:  # repository not found, gated, HTTP errors: all mean "not available"
        raise CheckpointError(f"no checkpoint folder at {label!r}, and the Hub repo could not be fetched "
                              f"({type(err).__name__})") from err
