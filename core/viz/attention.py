"""Attention (or any coarse patch-grid map) laid over the image it was computed from."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from core.viz.colormap import colorize


def attention_overlay(image: np.ndarray, attention: np.ndarray | torch.Tensor, alpha: float = 0.5,
                      cmap: str = "inferno") -> np.ndarray:
    """uint8 RGB (H, W, 3): ``image`` (uint8 (H, W, 3) or grey (H, W)) blended with the
    coloured ``attention`` map (h, w), upsampled bilinearly to the image size.

    The colours span the map's own minimum to maximum; ``alpha`` is the weight of the
    colours (0 = the image alone, 1 = the map alone).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"expected a uint8 image (H, W, 3) or (H, W), got {image.dtype} {image.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    attention = attention.detach().float().cpu() if isinstance(attention, torch.Tensor) else \
        torch.from_numpy(np.asarray(attention, dtype=np.float32))
    if attention.ndim != 2:
        raise ValueError(f"expected a 2-D attention map, got shape {tuple(attention.shape)}")
    height, width = image.shape[:2]
    upsampled = F.interpolate(attention[None, None], size=(height, width), mode="bilinear",
                              align_corners=False)[0, 0].numpy()
    low, high = float(upsampled.min()), float(upsampled.max())
    # A constant map has no range of its own: let colorize pick one around its value.
    colours = colorize(upsampled, *((low, high) if high > low else (None, None)), cmap=cmap)
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    blended = (1.0 - alpha) * rgb.astype(np.float32) + alpha * colours.astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
