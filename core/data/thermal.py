"""Input normalisation per spectrum: the one place raw images become network inputs.

Models, datasets and the UIs' thermal display all call these functions, so a thermal image
looks the same to a network in training, in inference and to a user.
"""
from __future__ import annotations

import numpy as np

from core.data.imageio import check_raw_image

THERMAL_SCALE = 2.0 ** 14
THERMAL_PERCENTILES = (1.0, 99.0)


def normalize_thermal(raw: np.ndarray) -> np.ndarray:
    """Raw thermal counts (..., H, W) to float32 in [0, 1], as in the MS2 reference.

    raw / 2**14, clipped to each image's 1st-99th percentile, then min-max scaled.
    Percentiles are taken over the last two axes, so a stack (N, H, W) is normalised image
    by image. A flat image (no spread between the percentiles) becomes all zeros.
    """
    values = np.asarray(raw, dtype=np.float32) / THERMAL_SCALE
    low, high = np.percentile(values, THERMAL_PERCENTILES, axis=(-2, -1), keepdims=True)
    spread = high - low
    flat = spread <= np.finfo(np.float32).eps
    scaled = (np.clip(values, low, high) - low) / np.where(flat, 1.0, spread)
    return np.where(flat, 0.0, scaled).astype(np.float32)


def spectrum_to_float(image: np.ndarray, spectrum: str) -> np.ndarray:
    """A raw image of ``spectrum`` (see IMAGE_FORMATS) as float32 in [0, 1], same shape."""
    check_raw_image(image, spectrum)
    if spectrum == "thr":
        return normalize_thermal(image)
    return image.astype(np.float32) / 255.0
