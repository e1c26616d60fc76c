"""Attention analysis on backbone outputs: pure tensor functions (plus CLIP text prompts).

Attention tensors are (B, heads, T, T) probabilities, T = num_prefix_tokens + h * w with
the CLS token first, as ``VFMBackbone.attention`` returns them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F

from core.models.vfm.clip import ClipBackbone

HEAD_FUSIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "mean": lambda attention: attention.mean(dim=1),
    "max": lambda attention: attention.amax(dim=1),
    "min": lambda attention: attention.amin(dim=1),
}


class ClsAttention(NamedTuple):
    """Where the CLS token looks: per head (B, heads, h, w) and their mean (B, h, w);
    each map sums to 1 over the patches."""

    per_head: torch.Tensor
    mean: torch.Tensor


def _patch_distribution(rows: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Rows over patch tokens (..., h * w) renormalised to sum 1, as (..., h, w)."""
    height, width = grid
    if rows.shape[-1] != height * width:
        raise ValueError(f"{rows.shape[-1]} patch tokens do not fill a {height} x {width} grid")
    rows = rows / rows.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(rows.dtype).tiny)
    return rows.reshape(*rows.shape[:-1], height, width)


def cls_attention(attn_last: torch.Tensor, grid: tuple[int, int], num_prefix_tokens: int = 1) -> ClsAttention:
    """The CLS row of one layer's attention (B, heads, T, T) over the patch tokens only
    (CLS and register tokens dropped), renormalised per head."""
    if attn_last.ndim != 4 or attn_last.shape[-1] != attn_last.shape[-2]:
        raise ValueError(f"expected attention of shape (B, heads, T, T), got {tuple(attn_last.shape)}")
    per_head = _patch_distribution(attn_last[:, :, 0, num_prefix_tokens:].float(), grid)
    return ClsAttention(per_head, per_head.mean(dim=1))


def attention_rollout(attentions: Sequence[torch.Tensor], discard_ratio: float = 0.0,
                      head_fusion: str = "mean") -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) through all layers, (B, T, T).

    Each layer's heads are fused (``head_fusion``: 'mean', 'max' or 'min'), the weakest
    ``discard_ratio`` of its entries zeroed (a de-noising trick for visualisation), the
    identity added for the residual connection and rows renormalised; the layers'
    matrices are then multiplied from the first to the last. Rows sum to 1.
    """
    if not attentions:
        raise ValueError("attention rollout needs at least one layer")
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {sorted(HEAD_FUSIONS)}, got {head_fusion!r}")
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"discard_ratio must be in [0, 1), got {discard_ratio}")
    rollout = None
    for attention in attentions:
        fused = HEAD_FUSIONS[head_fusion](attention.float())
        tokens = fused.shape[-1]
        if discard_ratio > 0.0:
            flat = fused.flatten(1)
            weakest = flat.topk(int(flat.shape[1] * discard_ratio), dim=1, largest=False).indices
            fused = flat.scatter(1, weakest, 0.0).view_as(fused)
        mixed = fused + torch.eye(tokens, device=fused.device, dtype=fused.dtype)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        rollout = mixed if rollout is None else mixed @ rollout
    return rollout


def rollout_cls_map(rollout: torch.Tensor, grid: tuple[int, int], num_prefix_tokens: int = 1) -> torch.Tensor:
    """The CLS token's row of a rollout (B, T, T) over the patches, (B, h, w), summing to 1."""
    return _patch_distribution(rollout[:, 0, num_prefix_tokens:], grid)


def prompt_similarity(backbone: ClipBackbone, pixel_values: torch.Tensor, prompts: Sequence[str],
                      maskclip: bool = True) -> torch.Tensor:
    """Cosine similarity of every patch to every prompt, (B, len(prompts), h, w).

    Patches are embedded in CLIP's joint space by ``ClipBackbone.dense_embeddings``
    (MaskCLIP-style by default), prompts by the text tower.
    """
    if not prompts:
        raise ValueError("prompt_similarity needs at least one prompt")
    patches = F.normalize(backbone.dense_embeddings(pixel_values, maskclip=maskclip), dim=-1)
    texts = F.normalize(backbone.encode_text(prompts), dim=-1)
    similarity = torch.einsum("bnd,pd->bpn", patches, texts)
    return similarity.reshape(*similarity.shape[:2], *backbone.grid_for(pixel_values))
