"""From a collated batch to the model's inputs."""
from __future__ import annotations

import torch

from core.data.frame import SPECTRA


def batch_spectra(batch: dict) -> list[str]:
    return [s for s in SPECTRA if f"image/{s}" in batch]


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def model_inputs(batch: dict, spectra: list[str] | None = None) -> tuple[dict, dict, dict]:
    """(images, K, T_rig_cam), each a dict by spectrum."""
    spectra = spectra or batch_spectra(batch)
    return ({s: batch[f"image/{s}"] for s in spectra}, {s: batch[f"K/{s}"] for s in spectra},
            {s: batch[f"T_rig_cam/{s}"] for s in spectra})
