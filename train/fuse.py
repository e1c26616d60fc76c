"""Stage 2, fuse: train the attachable fusion module on top of the frozen align network.

Each step fuses in a random anchor camera; with probability ``drop_probability`` one
non-anchor spectrum is left out, so the module learns to work with any subset.
"""
from __future__ import annotations

import dataclasses

import torch

from core.models import build_model, load_checkpoint
from train.align import SUPERVISED_LOSSES, step_rng
from train.batching import batch_spectra, model_inputs
from train.config import FuseLoss


def fusion_model_from_align(align_checkpoint: str, model_overrides: dict):
    """The align checkpoint's network with a fresh fusion module attached, network frozen."""
    align_model, _ = load_checkpoint(align_checkpoint)
    config = dataclasses.replace(align_model.config, fusion=True, **model_overrides)
    model = build_model(config)
    model.network.load_state_dict(align_model.network.state_dict())
    model.freeze_network()
    return model


def make_fuse_losses(loss_cfg: FuseLoss, seed: int, device: torch.device):
    """compute(module, batch, step) -> loss terms; the anchor and dropped spectrum come from
    (seed, step). ``device`` keeps the stages' signatures alike: this stage draws on the host only."""
    supervised = SUPERVISED_LOSSES[loss_cfg.supervised]

    def compute(module: torch.nn.Module, batch: dict, step: int) -> dict[str, torch.Tensor]:
        rng = step_rng(seed, step)
        spectra = batch_spectra(batch)
        anchor = spectra[rng.integers(len(spectra))]
        others = [s for s in spectra if s != anchor]
        if others and rng.random() < loss_cfg.drop_probability:
            others.remove(others[rng.integers(len(others))])
        images, K, T = model_inputs(batch, [anchor, *others])
        out = module(images, K, T, anchor=anchor, fuse=True)
        loss = supervised(out["fused_depth"].float(), batch[f"depth/{anchor}"], batch[f"valid/{anchor}"])
        return {"loss": loss}

    return compute
