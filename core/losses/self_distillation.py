"""DINO self-distillation (Caron et al., 2021) as plain functions of tensors.

A student sees every crop of an image, an EMA teacher only the global crops; the student
learns to predict the teacher's sharpened, centred distribution over prototypes for every
crop but the same one. Centring (subtracting a running mean of the teacher's logits) and
sharpening (a low teacher temperature) together keep the outputs from collapsing.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def dino_loss(student_logits: Sequence[torch.Tensor], teacher_logits: Sequence[torch.Tensor],
              center: torch.Tensor, student_temperature: float = 0.1,
              teacher_temperature: float = 0.04) -> torch.Tensor:
    """Mean cross-entropy H(teacher_i, student_j) over pairs of crops i != j.

    student_logits: one (B, K) per crop, global crops first (the teacher's crops, same order);
    teacher_logits: one (B, K) per global crop; center (1, K). The teacher side has no gradient.
    """
    if not teacher_logits or len(student_logits) < 2:
        raise ValueError("need at least one teacher crop and two student crops")
    targets = [F.softmax((t.detach() - center) / teacher_temperature, dim=-1) for t in teacher_logits]
    total, pairs = student_logits[0].new_zeros(()), 0
    for i, target in enumerate(targets):
        for j, logits in enumerate(student_logits):
            if i == j:
                continue
            total = total + (-target * F.log_softmax(logits / student_temperature, dim=-1)).sum(dim=-1).mean()
            pairs += 1
    return total / pairs


@torch.no_grad()
def updated_center(center: torch.Tensor, teacher_logits: Sequence[torch.Tensor], momentum: float = 0.9) -> torch.Tensor:
    """The running mean of the teacher's logits after one batch (a local mean; average it
    over processes before calling when training distributed)."""
    batch_mean = torch.cat(list(teacher_logits)).float().mean(dim=0, keepdim=True)
    return center * momentum + batch_mean * (1.0 - momentum)


@torch.no_grad()
def ema_update(teacher: torch.nn.Module, student: torch.nn.Module, momentum: float) -> None:
    """teacher <- momentum * teacher + (1 - momentum) * student, parameter by parameter."""
    for teacher_param, student_param in zip(teacher.parameters(), student.parameters(), strict=True):
        teacher_param.mul_(momentum).add_(student_param.detach(), alpha=1.0 - momentum)
