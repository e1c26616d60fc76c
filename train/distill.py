"""Stage distill: a lightweight student from a frozen VFM teacher (docs/methods.md, methods 2 and 3).

Each step takes one spectrum at random. The teacher sees the clean image; the student sees
it too, or, with probability ``p_texture_robust``, the same image after a texture swap (its
texture scaled by a gain from ``texture_gain_range``: missing below 1, interfering above) or
an illumination change, and must still give the teacher's answer on the clean image:

loss = w_depth * depth imitation + w_supervised * silog(GT)
     + w_feature * feature imitation (projected student levels vs teacher levels)
     + w_bins * distance-category KL (per-pixel bin distributions)
     + w_graph * isomorphic-graph KL (region affinities of the student's deepest level
                 vs the teacher's DINO patch tokens: semantic structure, not texture)
"""
from __future__ import annotations

import torch

from core.data.augment import illumination_change, texture_swap
from core.losses import bin_distribution_loss, depth_imitation_loss, feature_imitation_loss, isomorphic_graph_loss
from core.models import build_model, load_checkpoint
from core.models.student import StudentConfig, VFMStudent
from core.models.teacher import VFMTeacher
from train.align import SUPERVISED_LOSSES, seed_for_step, step_rng
from train.config import DistillLoss
from train.teacher import random_spectrum


def student_for_teacher(teacher: VFMTeacher, model_overrides: dict) -> VFMStudent:
    """A fresh student whose depth range, bins, spectra and input size match the teacher's."""
    t = teacher.config
    config = StudentConfig(**{"spectra": t.spectra, "input_size": t.input_size, "min_depth": t.min_depth,
                              "max_depth": t.max_depth, "num_bins": t.num_bins,
                              "teacher_level_widths": tuple(teacher.depth_net.level_widths), **model_overrides})
    return build_model(config)


def load_frozen_teacher(teacher_checkpoint: str, device: torch.device) -> VFMTeacher:
    teacher, _ = load_checkpoint(teacher_checkpoint)
    return teacher.requires_grad_(False).eval().to(device)


def make_distill_losses(loss_cfg: DistillLoss, teacher: VFMTeacher, seed: int, device: torch.device):
    """compute(module, batch, step) -> loss terms; the spectrum and augmentation come from
    (seed, step), the augmentation's draws from a generator on ``device``, the batch's."""
    supervised = SUPERVISED_LOSSES[loss_cfg.supervised]
    generator = torch.Generator(device=device)
    regions = tuple(loss_cfg.graph_regions)

    def texture_swap_with_gain(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return texture_swap(image, generator, gain_range=tuple(loss_cfg.texture_gain_range))

    def compute(module: torch.nn.Module, batch: dict, step: int) -> dict[str, torch.Tensor]:
        rng = step_rng(seed, step)
        spectrum = random_spectrum(batch, rng)
        image = batch[f"image/{spectrum}"]
        with torch.no_grad():
            target = teacher(image, spectrum)
        if loss_cfg.p_texture_robust > 0 and rng.random() < loss_cfg.p_texture_robust:
            augment = texture_swap_with_gain if rng.random() < 0.5 else illumination_change
            image = augment(image, seed_for_step(generator, seed, step))
        out = module(image, spectrum)
        terms = {
            "depth": depth_imitation_loss(out["depth"].float(), target["depth"].float()),
            "supervised": supervised(out["depth"].float(), batch[f"depth/{spectrum}"], batch[f"valid/{spectrum}"]),
            "feature": feature_imitation_loss([f.float() for f in out["projected_features"]],
                                              [f.float() for f in target["features"]]),
            "bins": bin_distribution_loss(out["bin_logits"].float(), target["bin_logits"].float()),
        }
        loss = (loss_cfg.w_depth * terms["depth"] + loss_cfg.w_supervised * terms["supervised"]
                + loss_cfg.w_feature * terms["feature"] + loss_cfg.w_bins * terms["bins"])
        if loss_cfg.w_graph > 0:
            terms["graph"] = isomorphic_graph_loss(out["features"][-1].float(), target["semantic_features"].float(),
                                                   regions=regions, temperature=loss_cfg.graph_temperature)
            loss = loss + loss_cfg.w_graph * terms["graph"]
        terms["loss"] = loss
        return terms

    return compute
