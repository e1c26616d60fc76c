"""Appearance augmentations that move no pixel, so depth targets stay valid: ``texture_swap``
(texture moves, goes missing or interferes; structure stays) and ``illumination_change``
(other lighting). The training stages use them against unchanged ground truth, and the
robustness probes (``core.data.perturb``) show a model the same texture swap.

Both are deterministic given a ``torch.Generator`` and run on the images' device. The generator
may live on any device; one on the images' device keeps every draw there too (no copies between
host and accelerator).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def _uniform(shape: Sequence[int], low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(*shape, generator=generator, device=generator.device)


def texture_swap(images: torch.Tensor, generator: torch.Generator, patch_size: int = 16,
                 swap_fraction: float = 0.5, blur_size: int = 9,
                 gain_range: tuple[float, float] = (1.0, 1.0)) -> torch.Tensor:
    """Images whose local texture no longer tells depth: structure stays, texture moves.

    images (B, C, H, W) float in [0, 1]. Each image is split into a low-frequency layer
    (``blur_size`` box blur) and its texture (the residual). On a grid of
    ``patch_size`` patches, a random ``swap_fraction`` of the patches take the texture of
    another random patch of the same image; 3-channel images also get a random channel
    permutation (colour swap). Shape and range are kept; border strips narrower than a
    patch keep their texture. ``gain_range``: each image's texture is then scaled by a gain
    drawn uniformly from it, so texture also goes missing (gain 0) or interferes (gain > 1);
    the default (1, 1) draws nothing and keeps the texture's strength.
    """
    if images.ndim != 4 or blur_size % 2 == 0:
        raise ValueError(f"expected images (B, C, H, W) and an odd blur_size, got {tuple(images.shape)}, {blur_size}")
    batch, channels, height, width = images.shape
    low = F.avg_pool2d(images, blur_size, stride=1, padding=blur_size // 2, count_include_pad=False)
    texture = images - low
    rows, cols = height // patch_size, width // patch_size
    if rows and cols:
        covered = texture[..., :rows * patch_size, :cols * patch_size]
        patches = covered.reshape(batch, channels, rows, patch_size, cols, patch_size).permute(0, 2, 4, 1, 3, 5)
        patches = patches.reshape(batch, rows * cols, channels, patch_size, patch_size)
        count = rows * cols
        donors = torch.rand(batch, count, generator=generator, device=generator.device).argsort(dim=1)
        swapped = torch.rand(batch, count, generator=generator, device=generator.device) < swap_fraction
        source = torch.where(swapped, donors, torch.arange(count, device=generator.device)).to(images.device)
        patches = patches[torch.arange(batch, device=images.device)[:, None], source]
        covered = patches.reshape(batch, rows, cols, channels, patch_size, patch_size).permute(0, 3, 1, 4, 2, 5)
        texture = texture.clone()
        texture[..., :rows * patch_size, :cols * patch_size] = covered.reshape(batch, channels, rows * patch_size,
                                                                               cols * patch_size)
    if tuple(gain_range) != (1.0, 1.0):
        texture = texture * _uniform((batch, 1, 1, 1), *gain_range, generator).to(texture.device, texture.dtype)
    out = low + texture
    if channels == 3:
        order = torch.rand(batch, 3, generator=generator, device=generator.device).argsort(dim=1).to(images.device)
        out = out.gather(1, order[:, :, None, None].expand_as(out))
    return out.clamp(0.0, 1.0)


def illumination_change(images: torch.Tensor, generator: torch.Generator,
                        gamma_range: tuple[float, float] = (0.6, 1.6), gain_range: tuple[float, float] = (0.5, 1.5),
                        field_strength: float = 0.6, field_grid: tuple[int, int] = (3, 5)) -> torch.Tensor:
    """Images under other lighting (Retinex view: image = reflectance x illumination).

    images (B, C, H, W) float in [0, 1]. Per image: a gamma (log-uniform in
    ``gamma_range``), a gain (uniform in ``gain_range``) and a smooth illumination field
    exp(field_strength x noise) bicubically upsampled from a ``field_grid`` of Gaussian
    noise and normalised to mean 1, the same for every channel. Shape and range kept.
    """
    if images.ndim != 4:
        raise ValueError(f"expected images (B, C, H, W), got {tuple(images.shape)}")
    batch = images.shape[0]
    gamma = _uniform((batch, 1, 1, 1), math.log(gamma_range[0]), math.log(gamma_range[1]), generator).exp()
    gain = _uniform((batch, 1, 1, 1), *gain_range, generator)
    # Only the coarse noise may cross devices; the full-resolution field is made where the images are.
    noise = torch.randn(batch, 1, *field_grid, generator=generator, device=generator.device).to(images.device)
    field = F.interpolate((field_strength * noise).exp(), size=images.shape[-2:], mode="bicubic",
                          align_corners=False).clamp(min=1e-3)  # bicubic overshoot must not flip the sign
    field = field / field.mean(dim=(-2, -1), keepdim=True)
    like = {"device": images.device, "dtype": images.dtype}
    relit = gain.to(**like) * images.clamp(0.0, 1.0) ** gamma.to(**like) * field.to(**like)
    return relit.clamp(0.0, 1.0)


def texture_swapped(images: dict[str, torch.Tensor], probability: float, gain_range: Sequence[float],
                    rng: np.random.Generator, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Each spectrum's images, texture-swapped (texture scaled by a gain from ``gain_range``) with
    ``probability``: one draw of ``rng`` per spectrum, in the dict's order."""
    gain_range = tuple(gain_range)
    return {s: texture_swap(image, generator, gain_range=gain_range) if rng.random() < probability else image
            for s, image in images.items()}
