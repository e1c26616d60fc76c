"""Teacher-to-student distillation losses: plain functions of tensors, scalars, exactly 0 when the
student reproduces the teacher; teacher tensors are always detached, so gradients reach only the
student:

- VFM-Depth's multi-alignment: ``depth_imitation_loss``, ``feature_imitation_loss`` and
  ``bin_distribution_loss`` (distance-category alignment);
- structure-centric distillation: ``affinity_graph`` and ``isomorphic_graph_loss`` (nodes =
  pooled feature regions, edges = cosine affinities; the two graphs are aligned).

The texture-robustness augmentations the student trains with live in ``core.data.augment``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def _resize_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _kl_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, dim: int) -> torch.Tensor:
    """KL(teacher || student) of the softmaxes over ``dim``, per entry of the other dims."""
    teacher_log_probs = F.log_softmax(teacher_logits.detach(), dim=dim)
    student_log_probs = F.log_softmax(student_logits, dim=dim)
    return (teacher_log_probs.exp() * (teacher_log_probs - student_log_probs)).sum(dim=dim)


def depth_imitation_loss(student_depth: torch.Tensor, teacher_depth: torch.Tensor,
                         valid: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """Mean |log(student) - log(teacher)| over valid pixels: every depth range weighs alike.

    student_depth, teacher_depth (B, 1, H, W) metres; valid (B, 1, H, W) bool or None (all).
    A mask without any valid pixel gives a zero that still belongs to the graph.
    """
    if student_depth.shape != teacher_depth.shape:
        raise ValueError(f"student depth {tuple(student_depth.shape)} and teacher depth "
                         f"{tuple(teacher_depth.shape)} differ in shape")
    error = (student_depth.clamp(min=eps).log() - teacher_depth.detach().clamp(min=eps).log()).abs()
    if valid is None:
        return error.mean()
    valid = valid.expand_as(error)
    # where() rather than multiplication, so NaN at invalid pixels cannot leak in.
    return torch.where(valid, error, torch.zeros_like(error)).sum() / valid.sum().clamp(min=1)


def feature_imitation_loss(student_projected: Sequence[torch.Tensor],
                           teacher_features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over levels of the MSE between student projections and teacher features.

    student_projected[l] (B, C_l, h, w) (already projected to the teacher's width C_l);
    teacher_features[l] (B, C_l, h', w'). A student map on another grid is resized
    (bilinear) to the teacher's.
    """
    if not student_projected or len(student_projected) != len(teacher_features):
        raise ValueError(f"need one student projection per teacher level, got {len(student_projected)} "
                         f"and {len(teacher_features)}")
    losses = [F.mse_loss(_resize_to(student, teacher.shape[-2:]), teacher.detach())
              for student, teacher in zip(student_projected, teacher_features)]
    return torch.stack(losses).mean()


def bin_distribution_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                          temperature: float = 1.0) -> torch.Tensor:
    """Distance-category alignment: KL(teacher || student) of per-pixel bin distributions.

    student_logits (B, K, h, w), teacher_logits (B, K, h', w') over the same K bins; the
    teacher's are resized (bilinear, on logits) to the student's grid when they differ.
    Both are softened by ``temperature``; the mean per-pixel KL is scaled by
    temperature^2 so gradient sizes do not depend on it (Hinton et al.). Non-negative.
    """
    if student_logits.shape[:2] != teacher_logits.shape[:2]:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} differ in batch or bins")
    teacher_logits = _resize_to(teacher_logits.detach(), student_logits.shape[-2:])
    kl = _kl_divergence(student_logits / temperature, teacher_logits / temperature, dim=1)
    return kl.mean() * temperature ** 2


def affinity_graph(features: torch.Tensor, regions: tuple[int, int] = (4, 8),
                   node_projection: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Region graph of a feature map: (B, N, N) cosine affinities, N = r_h * r_w.

    features (B, C, h, w) are average-pooled into ``regions`` (r_h, r_w) nodes (row-major),
    optionally mapped by ``node_projection`` ((B, N, C) -> (B, N, C'), e.g. a learnable
    nn.Linear on the student side), L2-normalised over channels. The diagonal is 1 but for
    all-zero nodes (0).
    """
    nodes = F.adaptive_avg_pool2d(features, regions).flatten(2).transpose(1, 2)
    if node_projection is not None:
        nodes = node_projection(nodes)
    nodes = F.normalize(nodes, dim=-1)
    return nodes @ nodes.transpose(1, 2)


def isomorphic_graph_loss(student_features: torch.Tensor, teacher_features: torch.Tensor,
                          regions: tuple[int, int] = (4, 8), temperature: float = 0.1,
                          node_projection: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Align the student's region graph with the teacher's (semantic structure).

    student_features (B, C_s, h, w), teacher_features (B, C_t, h', w'): widths and grids may
    differ, as both are pooled into the same ``regions``. Each node's affinities to all
    nodes, divided by ``temperature``, are softmaxed into a distribution over neighbours;
    the loss is the mean over nodes of KL(teacher row || student row), so the student
    learns which regions belong together rather than the teacher's absolute feature
    values. ``node_projection``: see ``affinity_graph`` (student side only).
    """
    student_graph = affinity_graph(student_features, regions, node_projection)
    teacher_graph = affinity_graph(teacher_features.detach(), regions)
    return _kl_divergence(student_graph / temperature, teacher_graph / temperature, dim=-1).mean()
