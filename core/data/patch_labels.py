"""Per-patch labels of a ViT's grid from per-pixel truth: the patch's majority class and median depth.

The maps are first resized (nearest) to the image size the ViT reads, so a patch's label
comes from exactly the pixels that patch sees. A patch with no class holding more than
``min_share`` of its pixels (a tie is no majority), or fewer than ``min_share`` valid depths,
has no label there
(-1, or 0 m): such ambiguous patches take part in neither training nor measurement.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.data.captions import DEPTH_WORD_EDGES_M

NO_LABEL = -1


@dataclass
class PatchLabels:
    """classes (B, h, w) long, NO_LABEL where no majority; depth (B, h, w) metres, 0 where too
    few valid pixels; depth_words (B, h, w) long index into DEPTH_WORDS, NO_LABEL without depth."""

    classes: torch.Tensor
    depth: torch.Tensor
    depth_words: torch.Tensor


def _patches(values: torch.Tensor, image_size: tuple[int, int], patch_size: int) -> torch.Tensor:
    """(B, H, W) -> (B, h, w, patch_size ** 2): each patch's pixels at the ViT's input size."""
    resized = F.interpolate(values[:, None].float(), size=tuple(image_size), mode="nearest")[:, 0]
    batch, height, width = resized.shape
    h, w = height // patch_size, width // patch_size
    blocks = resized[:, :h * patch_size, :w * patch_size].reshape(batch, h, patch_size, w, patch_size)
    return blocks.permute(0, 1, 3, 2, 4).reshape(batch, h, w, patch_size * patch_size)


def depth_word_indices(depth_m: torch.Tensor) -> torch.Tensor:
    """Index into DEPTH_WORDS of each distance (as core.data.captions.depth_word), NO_LABEL where depth is 0."""
    edges = torch.tensor(DEPTH_WORD_EDGES_M, dtype=depth_m.dtype, device=depth_m.device)
    words = torch.bucketize(depth_m, edges, right=True)
    return torch.where(depth_m > 0, words, torch.full_like(words, NO_LABEL))


def patch_labels(classes: torch.Tensor, depth: torch.Tensor, image_size: tuple[int, int], patch_size: int,
                 num_classes: int, min_share: float = 0.5) -> PatchLabels:
    """Labels of every patch of the grid a ViT with ``patch_size`` lays over ``image_size``.

    classes (B, H, W) integer ids in [0, num_classes); depth (B, H, W) metres, 0 = invalid.
    """
    class_patches = _patches(classes, image_size, patch_size).long()
    pixels = class_patches.shape[-1]
    flat = class_patches.reshape(-1, pixels)
    counts = torch.zeros(flat.shape[0], num_classes, dtype=torch.int32, device=flat.device)
    counts.scatter_add_(1, flat, torch.ones_like(flat, dtype=torch.int32))
    top_count, top_class = counts.reshape(*class_patches.shape[:-1], num_classes).max(dim=-1)
    majority = torch.where(top_count > min_share * pixels, top_class, torch.full_like(top_class, NO_LABEL))
    depth_patches = _patches(depth, image_size, patch_size)
    valid = depth_patches > 0
    valid_count = valid.sum(dim=-1)
    # The lower middle of the valid depths (invalid ones sorted last), as torch.median takes it.
    ranked = torch.where(valid, depth_patches, torch.inf).sort(dim=-1).values
    median = ranked.gather(-1, ((valid_count - 1).clamp(min=0) // 2)[..., None])[..., 0]
    patch_depth = torch.where(valid_count >= min_share * pixels, median, torch.zeros_like(median))
    return PatchLabels(majority, patch_depth, depth_word_indices(patch_depth))
