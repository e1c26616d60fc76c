"""Sensor models: exposure, grain and gamma for RGB / NIR (8-bit), optical blur and noise for
thermal (16-bit raw counts), plus rain streaks on the lens."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from core.data.msynth.thermal_model import PLANCK_O

_LUT_SIZE = 4096
_LUT_MAX_ROOT = 2.0     # the LUT covers linear values up to 4
_SHOULDER = 0.75        # linear values above this roll off smoothly towards white


@lru_cache(maxsize=1)
def _gamma_lut() -> np.ndarray:
    """uint8 encoding of a linear value x, indexed by sqrt(x) (fine steps in the dark):
    a highlight shoulder, then a 1/2.2 gamma."""
    x = np.linspace(0.0, _LUT_MAX_ROOT, _LUT_SIZE) ** 2
    top = 1.0 - _SHOULDER
    y = np.where(x < _SHOULDER, x, _SHOULDER + top * (1.0 - np.exp(-(x - _SHOULDER) / top)))
    return np.round(255.0 * y ** (1.0 / 2.2)).astype(np.uint8)


def encode_8bit(linear: np.ndarray, exposure: float, grain: float, veil: float,
                rng: np.random.Generator) -> np.ndarray:
    """Linear radiance -> uint8. Grain is added in the sqrt domain, where photon noise has a
    constant deviation; ``veil`` blends towards the mean (contrast loss in rain)."""
    value = linear * np.float32(exposure)
    if veil > 0.0:
        value *= np.float32(1.0 - veil)
        value += np.float32(veil) * value.mean()
    root = np.sqrt(np.maximum(value, 0.0, out=value), out=value)
    root += rng.standard_normal(root.shape, dtype=np.float32) * np.float32(grain)
    root *= np.float32((_LUT_SIZE - 1) / _LUT_MAX_ROOT)
    index = np.clip(root, 0, _LUT_SIZE - 1, out=root).astype(np.int32)
    return _gamma_lut().take(index)


def add_rain_streaks(linear: np.ndarray, rng: np.random.Generator, per_megapixel: int,
                     brightness: float) -> None:
    """Thin slanted bright lines (falling drops during the exposure), in place on (H, W[, C])."""
    h, w = linear.shape[:2]
    count = int(per_megapixel * h * w / 1e6)
    if count == 0:
        return
    slant = rng.uniform(-0.35, 0.35)
    angle = slant + rng.normal(0.0, 0.04, count)
    length = rng.uniform(0.02, 0.08, count) * h
    start_u = rng.uniform(0, w, count)
    start_v = rng.uniform(-0.05 * h, h, count)
    gain = (brightness * rng.uniform(0.4, 1.0, count)).astype(np.float32)
    steps = np.arange(int(length.max()) + 1)
    u = np.round(start_u[:, None] + np.sin(angle)[:, None] * steps).astype(np.int64)
    v = np.round(start_v[:, None] + np.cos(angle)[:, None] * steps).astype(np.int64)
    keep = (steps[None, :] <= length[:, None]) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    streak_gain = np.broadcast_to(gain[:, None], keep.shape)[keep]
    flat = linear.reshape(h * w, -1)
    flat[v[keep] * w + u[keep]] += streak_gain[:, None]


def encode_thermal(signal: np.ndarray, noise_counts: float, column_offsets: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Signal (raw - O) of shape (H, W) -> uint16 raw counts: lens blur, noise, column pattern."""
    blurred = _binomial_blur(signal)
    blurred += rng.standard_normal(blurred.shape, dtype=np.float32) * np.float32(noise_counts)
    blurred += column_offsets[None, :]
    blurred += np.float32(PLANCK_O)
    return np.clip(np.rint(blurred), 0, 65535).astype(np.uint16)


def _binomial_blur(image: np.ndarray) -> np.ndarray:
    """3 x 3 binomial filter ([1, 2, 1] / 4 in each direction), edges replicated."""
    padded = np.pad(image, 1, mode="edge")
    rows = padded[:-2] + 2.0 * padded[1:-1] + padded[2:]
    return (rows[:, :-2] + 2.0 * rows[:, 1:-1] + rows[:, 2:]) * np.float32(1.0 / 16.0)
