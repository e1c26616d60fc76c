"""The common API of every vision foundation model (VFM) backbone, and where weights come from.

A backbone takes images as float (B, 3, H, W) in [0, 1], ``preprocess``es them (resize to
its input size, its own normalisation) and returns ``VFMFeatures``: patch tokens on a
(h, w) grid, a global embedding, the CLS token and requested intermediate layers.
``attention`` gives every layer's attention as (B, heads, T, T), T = prefix tokens (CLS,
registers) + h * w patches.
"""
from __future__ import annotations

import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.models.hub import hub_offline
from core.settings import proxy_configured

_REACHABILITY_TIMEOUT_S = 3.0


class BackboneUnavailable(RuntimeError):
    """A backbone whose weights are not on this machine and cannot be downloaded now."""


@dataclass
class VFMFeatures:
    """What a backbone sees in a batch of images.

    patch_tokens: (B, N, C), N = h * w, after the model's final LayerNorm.
    grid: (h, w) patches, row-major like ``patch_tokens``.
    global_embedding: (B, D), the model's image embedding (CLIP: in the joint image-text
        space; DINOv2: the normalised CLS token, D = C).
    cls_token: (B, C) after the final LayerNorm, or None for models without one.
    intermediate: one (B, N, C) per requested layer (block outputs, before the final norm).
    """

    patch_tokens: torch.Tensor
    grid: tuple[int, int]
    global_embedding: torch.Tensor
    cls_token: torch.Tensor | None
    intermediate: list[torch.Tensor] = field(default_factory=list)

    def patch_map(self) -> torch.Tensor:
        """Patch tokens as a (B, C, h, w) feature map."""
        batch, _, channels = self.patch_tokens.shape
        return self.patch_tokens.transpose(1, 2).reshape(batch, channels, *self.grid)


def as_three_channels(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) with C = 1 or 3 -> three channels: single-channel spectra (NIR, thermal)
    are repeated, as the VFMs take RGB-shaped input."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


class VFMBackbone(nn.Module, ABC):
    """A frozen-or-not image backbone behind one API, whichever model family it wraps.

    Attributes: ``name``, ``kind`` ('clip', 'dino', ...), ``source`` (where the weights came
    from, in words, for the UI), ``patch_size``, ``embed_dim`` (token width C),
    ``global_dim`` (D of the global embedding), ``image_size`` ((H, W) that ``preprocess``
    resizes to), ``num_prefix_tokens`` (CLS + registers ahead of the patch tokens),
    ``num_layers`` and ``num_heads``.
    """

    name: str
    kind: str
    source: str
    patch_size: int
    embed_dim: int
    global_dim: int
    image_size: tuple[int, int]
    num_prefix_tokens: int
    num_layers: int
    num_heads: int

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("pixel_mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images float (B, 3, H, W) in [0, 1] -> the model's input: resized to ``image_size``
        (bicubic, antialiased) and normalised with the model's own mean and std."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        images = images.to(device=self.pixel_mean.device, dtype=torch.float32)
        if tuple(images.shape[-2:]) != tuple(self.image_size):
            # Bicubic overshoots at edges; clamp back to the valid intensity range.
            images = F.interpolate(images, size=self.image_size, mode="bicubic", align_corners=False,
                                   antialias=True).clamp(0.0, 1.0)
        return self.normalize(images)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Images float (B, 3, H, W) in [0, 1] at any size -> the model's normalisation."""
        return (images - self.pixel_mean) / self.pixel_std

    def grid_for(self, pixel_values: torch.Tensor) -> tuple[int, int]:
        """The (h, w) patch grid of preprocessed pixel values."""
        height, width = pixel_values.shape[-2:]
        return height // self.patch_size, width // self.patch_size

    @abstractmethod
    def forward_features(self, pixel_values: torch.Tensor, layers: Sequence[int] = ()) -> VFMFeatures:
        """Features of preprocessed pixel values; ``layers`` are 0-based block indices."""

    @abstractmethod
    def attention(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        """Each block's attention probabilities, (B, heads, T, T), first block first."""

    def forward(self, pixel_values: torch.Tensor, layers: Sequence[int] = ()) -> VFMFeatures:
        return self.forward_features(pixel_values, layers)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, name={self.name!r}, source={self.source!r}"


def block_index(layer: int, num_layers: int) -> int:
    """A 0-based block index from ``layer`` (negative counts from the end, like Python)."""
    if not -num_layers <= layer < num_layers:
        raise IndexError(f"layer {layer} out of range for {num_layers} blocks")
    return layer % num_layers


def looks_like_path(name_or_path: str) -> bool:
    """True for strings meant as file system paths rather than model or repo ids."""
    return name_or_path.startswith((".", "~")) or Path(name_or_path).is_absolute()


def existing_path(name_or_path: str | os.PathLike | None) -> Path | None:
    """The path, expanded, if it exists on this machine; else None."""
    if name_or_path is None:
        return None
    path = Path(name_or_path).expanduser()
    return path if path.exists() else None


def download_blocker(url: str | None = None) -> str | None:
    """Why a download from ``url`` (default: the Hugging Face Hub) cannot happen now, or None.

    HF_HUB_OFFLINE forbids it; otherwise a short TCP connect tells an unreachable host
    within seconds, where the Hub client would retry for half a minute. Behind a proxy
    the host is not resolvable locally, so the probe is skipped and the download tries.
    """
    if hub_offline():
        return "HF_HUB_OFFLINE is set"
    if proxy_configured():
        return None
    if url is None:
        from huggingface_hub import constants
        url = constants.ENDPOINT
    parsed = urlparse(url)
    host, port = parsed.hostname, parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=_REACHABILITY_TIMEOUT_S).close()
    except OSError as err:
        return f"{host} is not reachable ({err})"
    return None
