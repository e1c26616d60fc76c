"""Stage 1, align: one depth network for every spectrum (docs/methods.md, method 1).

loss = w_sup * supervised(each spectrum)
     + w_photometric * (min-reprojection photometric loss + w_smoothness * edge-aware smoothness)
     + w_contrastive * (w_global * global InfoNCE + w_local * local geometry-guided InfoNCE)
     + w_consistency * cross-spectrum geometric consistency (anchor depth warped into the others)

With probability ``p_texture_swap`` a spectrum's input is texture-swapped (``core.data.augment``,
its texture scaled by a gain from ``texture_gain_range``) against unchanged ground truth.
"""
from __future__ import annotations

import numpy as np
import torch

from core.data.augment import texture_swapped
from core.geometry import relative_transform
from core.losses import (edge_aware_smoothness, geometric_consistency_loss, global_contrastive_loss,
                         local_contrastive_loss, reprojection_loss, silog_loss, smooth_l1_depth_loss)
from core.models.depthnet import split_shared_specific
from core.models.fusion import level_intrinsics
from train.batching import batch_spectra, model_inputs
from train.config import AlignLoss

SUPERVISED_LOSSES = {"silog": silog_loss, "smooth_l1": smooth_l1_depth_loss}


# Every random draw of a training step comes from (seed, step) alone, never from a generator
# carried across steps: a resumed run draws what an uninterrupted one would, with no state saved.

def step_rng(seed: int, step: int) -> np.random.Generator:
    """The NumPy generator of one training step."""
    return np.random.default_rng([seed, step])


def seed_for_step(generator: torch.Generator, seed: int, step: int) -> torch.Generator:
    """``generator`` (on any device) re-seeded for one training step."""
    return generator.manual_seed(seed * 1_000_003 + step)


def make_align_losses(loss_cfg: AlignLoss, seed: int, device: torch.device):
    """compute(module, batch, step) -> loss terms; random draws (photometric tie-breaking noise,
    local contrastive pixels) on ``device``, the batch's, from (seed, step)."""
    supervised = SUPERVISED_LOSSES[loss_cfg.supervised]
    generator = torch.Generator(device=device)

    def compute(module: torch.nn.Module, batch: dict, step: int) -> dict[str, torch.Tensor]:
        seed_for_step(generator, seed, step)
        spectra = batch_spectra(batch)
        images, K, T = model_inputs(batch, spectra)
        if loss_cfg.p_texture_swap > 0:
            images = texture_swapped(images, loss_cfg.p_texture_swap, loss_cfg.texture_gain_range,
                                     step_rng(seed, step), generator)
        out = module(images, K, T, fuse=False)
        depth, features = out["depth"], out["features"]
        # One term per spectrum on every rank (a zero where this batch has no depth for it), so
        # the ranks' terms line up in the all-reduce that logs them.
        terms = {f"sup_{s}": supervised(depth[s].float(), batch[f"depth/{s}"], batch[f"valid/{s}"])
                 if f"depth/{s}" in batch else depth[s].float().sum() * 0 for s in spectra}
        loss = loss_cfg.w_supervised * sum(terms.values())
        if loss_cfg.w_photometric > 0:
            terms["photometric"] = photometric_terms(batch, spectra, depth, K, T, loss_cfg.w_smoothness, generator)
            loss = loss + loss_cfg.w_photometric * terms["photometric"]

        anchor, query = loss_cfg.anchor, loss_cfg.query
        if len(spectra) > 1 and query in spectra and anchor in spectra:
            halves = {s: [split_shared_specific(f.float()) for f in features[s]] for s in spectra}
            deepest = {s: halves[s][-1] for s in spectra}
            terms["global"] = global_contrastive_loss({s: h[0] for s, h in deepest.items()},
                                                      {s: h[1] for s, h in deepest.items()}, query=query)
            contrastive = loss_cfg.w_global * terms["global"]
            if loss_cfg.w_local > 0:
                level = loss_cfg.local_level
                at_level = {s: halves[s][level] for s in spectra}
                K_level = {s: level_intrinsics(K[s], images[s].shape[-2:], at_level[s][0].shape[-2:])
                           for s in spectra}
                local = local_contrastive_loss({s: h[0] for s, h in at_level.items()},
                                               {s: h[1] for s, h in at_level.items()},
                                               depth[anchor].float(), K_level, T, anchor=anchor, query=query,
                                               num_samples=loss_cfg.local_samples, generator=generator)
                terms["local"] = local.loss
                terms["local_valid"] = local.valid_fraction
                contrastive = contrastive + loss_cfg.w_local * local.loss
            loss = loss + loss_cfg.w_contrastive * contrastive

        if loss_cfg.w_consistency > 0 and anchor in spectra and len(spectra) > 1:
            teacher = depth[anchor].detach().float()
            consistency = [geometric_consistency_loss(teacher, depth[s].float(), K[anchor], K[s],
                                                      relative_transform(T[s], T[anchor]))
                           for s in spectra if s != anchor]
            terms["consistency"] = sum(consistency) / len(consistency)
            loss = loss + loss_cfg.w_consistency * terms["consistency"]
        terms["loss"] = loss
        return terms

    return compute


def photometric_terms(batch: dict, spectra: list[str], depth: dict, K: dict, T_rig_cam: dict, w_smoothness: float,
                      generator: torch.Generator) -> torch.Tensor:
    """Self-supervision from neighbouring frames with known poses, averaged over spectra."""
    offsets = sorted({int(k.rpartition("@")[2]) for k in batch if k.startswith("pose@")})
    if not offsets:
        raise ValueError("w_photometric > 0 needs neighbour frames: set data.neighbours, e.g. [-1, 1]")
    total = 0.0
    for s in spectra:
        T_world_target = batch["pose"] @ T_rig_cam[s]
        T_source_target = [relative_transform(batch[f"pose@{o}"] @ T_rig_cam[s], T_world_target) for o in offsets]
        sources = [batch[f"image/{s}@{o}"] for o in offsets]
        photometric, _ = reprojection_loss(batch[f"image/{s}"], sources, depth[s].float(), K[s], T_source_target,
                                           generator=generator)
        smoothness = edge_aware_smoothness(1.0 / depth[s].float(), batch[f"image/{s}"])
        total = total + photometric + w_smoothness * smoothness
    return total / len(spectra)
