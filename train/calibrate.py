"""Re-estimate a checkpoint's per-spectrum BatchNorm statistics; no weight changes.

The statistics are cumulative averages over ``batches`` training batches of each spectrum,
drawn exactly as training draws them (same augmentation). Uses: checkpoints trained before
statistics were kept per spectrum (their one shared set becomes one set per spectrum), and
adapting a trained network to new images without labels (AdaBN: Li et al., 2016).
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn

from train.batching import batch_spectra


@torch.no_grad()
def calibrate_statistics(model: torch.nn.Module, batches: Iterable[dict], device: torch.device) -> int:
    """Replace every BatchNorm's statistics (per spectrum in the shared layers, the stems' own)
    by averages over ``batches`` (a list of training batches, reused for each spectrum); the
    rest of the model stays in eval mode. Returns the number of BatchNorm layers calibrated."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    batches = list(batches)
    model.eval()
    saved_momentum = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
        norm.train()
    spectra = batch_spectra(batches[0])
    for spectrum in spectra:
        for norm in norms:
            norm.num_batches_tracked.zero_()  # the average restarts for each spectrum's row
        for batch in batches:
            model.spectral_depth({spectrum: batch[f"image/{spectrum}"].to(device)})
    for norm, momentum in zip(norms, saved_momentum):
        norm.momentum = momentum
    model.eval()
    return len(norms)
