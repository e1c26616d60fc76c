"""Stage teacher: the VFM teacher (docs/methods.md, method 2), initialised from an align checkpoint.

Each step trains on one spectrum drawn at random (every spectrum alike over a run), so one
forward pass feeds one backward pass, as DDP wants:

loss = silog(blended depth) + w_regression * silog(regression depth) + w_bins * silog(bin depth)

Supervising the two branches as well as their blend keeps each a depth estimate in its
own right, so the blend weight chooses between two good answers.

With probability ``p_texture_swap`` the drawn spectrum's input is texture-swapped, as in the
align stage, against unchanged ground truth.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from core.data.augment import texture_swapped
from core.models import build_model, load_checkpoint
from core.models.depthnet import DepthNetConfig
from core.models.teacher import TeacherConfig, VFMTeacher
from train.align import SUPERVISED_LOSSES, seed_for_step, step_rng
from train.batching import batch_spectra
from train.config import TeacherLoss


def depth_net_settings(config: DepthNetConfig) -> dict:
    """The depth-network fields of any model config, to build a network of the same shape."""
    return {field.name: getattr(config, field.name) for field in dataclasses.fields(DepthNetConfig)}


def teacher_from_align(align_checkpoint: str, model_overrides: dict) -> VFMTeacher:
    """A VFM teacher whose depth network starts as the align checkpoint's."""
    align_model, _ = load_checkpoint(align_checkpoint)
    config = TeacherConfig(**{**depth_net_settings(align_model.config), **model_overrides})
    teacher = build_model(config)
    teacher.depth_net.load_state_dict(align_model.network.state_dict())
    return teacher


def random_spectrum(batch: dict, rng: np.random.Generator) -> str:
    spectra = batch_spectra(batch)
    return spectra[rng.integers(len(spectra))]


def make_teacher_losses(loss_cfg: TeacherLoss, seed: int, device: torch.device):
    """compute(module, batch, step) -> loss terms; the spectrum and the texture swap come from
    (seed, step), the swap's draws on ``device``, the batch's."""
    supervised = SUPERVISED_LOSSES[loss_cfg.supervised]
    generator = torch.Generator(device=device)

    def compute(module: torch.nn.Module, batch: dict, step: int) -> dict[str, torch.Tensor]:
        rng = step_rng(seed, step)
        spectrum = random_spectrum(batch, rng)
        image = batch[f"image/{spectrum}"]
        if loss_cfg.p_texture_swap > 0:
            image = texture_swapped({spectrum: image}, loss_cfg.p_texture_swap, loss_cfg.texture_gain_range, rng,
                                    seed_for_step(generator, seed, step))[spectrum]
        out = module(image, spectrum)
        gt, valid = batch[f"depth/{spectrum}"], batch[f"valid/{spectrum}"]
        terms = {name: supervised(out[key].float(), gt, valid)
                 for name, key in (("depth", "depth"), ("regression", "regression_depth"), ("bins", "bin_depth"))}
        terms["loss"] = (terms["depth"] + loss_cfg.w_regression * terms["regression"]
                         + loss_cfg.w_bins * terms["bins"])
        return terms

    return compute
