"""Stage 1, align: one depth network for every spectrum (METHODS.md section 1).

loss = w_sup * supervised(each spectrum)
     + w_contrastive * (w_global * global InfoNCE + w_local * local geometry-guided InfoNCE)
     + w_consistency * cross-spectrum geometric consistency (anchor depth warped into the others)
"""
from __future__ import annotations

import torch

from core.losses import (geometric_consistency_loss, global_contrastive_loss, local_contrastive_loss,
                         silog_loss, smooth_l1_depth_loss)
from core.models.depthnet import split_shared_specific
from core.models.fusion import level_intrinsics
from train.batching import batch_spectra, model_inputs

SUPERVISED_LOSSES = {"silog": silog_loss, "smooth_l1": smooth_l1_depth_loss}


def make_align_losses(loss_cfg: dict, seed: int):
    supervised = SUPERVISED_LOSSES[loss_cfg["supervised"]]
    generator = torch.Generator().manual_seed(seed)

    def compute(module: torch.nn.Module, batch: dict, step: int) -> dict[str, torch.Tensor]:
        spectra = batch_spectra(batch)
        images, K, T = model_inputs(batch, spectra)
        out = module(images, K, T, fuse=False)
        depth, features = out["depth"], out["features"]
        terms = {f"sup_{s}": supervised(depth[s].float(), batch[f"depth/{s}"], batch[f"valid/{s}"])
                 for s in spectra if f"depth/{s}" in batch}
        loss = loss_cfg["w_supervised"] * sum(terms.values())

        anchor, query = loss_cfg["anchor"], loss_cfg["query"]
        if len(spectra) > 1 and query in spectra and anchor in spectra:
            halves = {s: [split_shared_specific(f.float()) for f in features[s]] for s in spectra}
            deepest = {s: halves[s][-1] for s in spectra}
            terms["global"] = global_contrastive_loss({s: h[0] for s, h in deepest.items()},
                                                      {s: h[1] for s, h in deepest.items()}, query=query)
            contrastive = loss_cfg["w_global"] * terms["global"]
            if loss_cfg["w_local"] > 0:
                level = loss_cfg["local_level"]
                at_level = {s: halves[s][level] for s in spectra}
                K_level = {s: level_intrinsics(K[s], images[s].shape[-2:], at_level[s][0].shape[-2:])
                           for s in spectra}
                local = local_contrastive_loss({s: h[0] for s, h in at_level.items()},
                                               {s: h[1] for s, h in at_level.items()},
                                               depth[anchor].float(), K_level, T, anchor=anchor, query=query,
                                               num_samples=loss_cfg["local_samples"], generator=generator)
                terms["local"] = local.loss
                terms["local_valid"] = torch.tensor(local.valid_fraction)
                contrastive = contrastive + loss_cfg["w_local"] * local.loss
            loss = loss + loss_cfg["w_contrastive"] * contrastive

        if loss_cfg["w_consistency"] > 0 and anchor in spectra and len(spectra) > 1:
            teacher = depth[anchor].detach().float()
            consistency = [geometric_consistency_loss(teacher, depth[s].float(), K[anchor], K[s],
                                                      torch.linalg.inv(T[s]) @ T[anchor])
                           for s in spectra if s != anchor]
            terms["consistency"] = sum(consistency) / len(consistency)
            loss = loss + loss_cfg["w_consistency"] * terms["consistency"]
        terms["loss"] = loss
        return terms

    return compute
