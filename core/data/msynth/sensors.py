"""Sensor models: lens blur, vignetting, white balance, saturation, grain, tone curve and JPEG
compression for RGB / NIR (8-bit); optical blur, noise and the fixed pattern of an uncooled
microbolometer for thermal (16-bit raw counts); rain streaks on the lens."""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from core.data.msynth.thermal_model import PLANCK_O, celsius_to_signal

_LUT_SIZE = 4096
_LUT_MAX_ROOT = 2.0     # the LUT covers linear values up to 4
_SHOULDER = 0.75        # default: linear values above this roll off smoothly towards white
_GAMMA = 2.2
HOUSING_C = 35.0        # the thermal camera's housing, seen by the pixels the lens vignettes


@dataclass(frozen=True)
class CameraSettings:
    """Optics and image processing of one 8-bit camera, fixed for a sequence."""

    blur: float                 # share of a 3 x 3 binomial lens blur, 0 (sharp) to 1
    vignetting: float           # relative light lost at the image corners
    white_balance: tuple        # per-channel gains (one channel for NIR)
    saturation: float           # 1 keeps the colours; RGB only
    gamma: float
    shoulder: float             # linear level where highlights start to roll off
    jpeg_quality: int           # 0: uncompressed


@lru_cache(maxsize=16)
def _tone_lut(gamma: float = _GAMMA, shoulder: float = _SHOULDER) -> np.ndarray:
    """uint8 encoding of a linear value x, indexed by sqrt(x) (fine steps in the dark):
    a highlight shoulder, then a 1/gamma curve."""
    x = np.linspace(0.0, _LUT_MAX_ROOT, _LUT_SIZE) ** 2
    top = 1.0 - shoulder
    y = np.where(x < shoulder, x, shoulder + top * (1.0 - np.exp(-(x - shoulder) / top)))
    return np.round(255.0 * y ** (1.0 / gamma)).astype(np.uint8)


@lru_cache(maxsize=16)
def _vignette(height: int, width: int, strength: float) -> np.ndarray:
    """(H, W) float32 relative illumination: 1 at the centre, 1 - strength at the corners."""
    y = np.linspace(-1.0, 1.0, height, dtype=np.float32)
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)
    radius2 = (x[None, :] ** 2 + y[:, None] ** 2) / np.float32(2.0)
    falloff = np.float32(1.0) - np.float32(strength) * radius2
    falloff.flags.writeable = False
    return falloff


def encode_8bit(linear: np.ndarray, exposure: float, grain: float, veil: float,
                rng: np.random.Generator, camera: CameraSettings | None = None) -> np.ndarray:
    """Linear radiance (H, W[, C]) -> uint8. ``camera`` adds the optics and image processing of a
    real camera (lens blur and vignetting, white balance, saturation, its tone curve, JPEG
    compression); without it the plain sensor: exposure, grain, gamma.

    Grain is added in the sqrt domain, where photon noise has a constant deviation; ``veil``
    blends towards the mean (contrast loss in rain).
    """
    if camera is None:
        value = linear * np.float32(exposure)
    else:
        value = _camera_optics(linear, exposure, camera)
    if veil > 0.0:
        value *= np.float32(1.0 - veil)
        value += np.float32(veil) * value.mean()
    root = np.sqrt(np.maximum(value, 0.0, out=value), out=value)
    root += rng.standard_normal(root.shape, dtype=np.float32) * np.float32(grain)
    root *= np.float32((_LUT_SIZE - 1) / _LUT_MAX_ROOT)
    index = np.clip(root, 0, _LUT_SIZE - 1, out=root).astype(np.int32)
    if camera is None:
        return _tone_lut().take(index)
    image = _tone_lut(float(camera.gamma), float(camera.shoulder)).take(index)
    return jpeg_roundtrip(image, camera.jpeg_quality) if camera.jpeg_quality else image


def _camera_optics(linear: np.ndarray, exposure: float, camera: CameraSettings) -> np.ndarray:
    """Exposure, white balance and saturation (one colour matrix), lens blur and vignetting, on
    a new float32 array."""
    gains = np.asarray(camera.white_balance, np.float32) * np.float32(exposure)
    if linear.ndim == 3:
        # Saturation s scales the difference to the grey level: s * I + (1 - s) / 3.
        channels = linear.shape[2]
        mixing = (camera.saturation * np.eye(channels)
                  + (1.0 - camera.saturation) / channels).astype(np.float32)
        matrix = mixing @ np.diag(gains)
        value = (linear.reshape(-1, channels) @ matrix.T).reshape(linear.shape)
    else:
        value = linear * gains[0]
    if camera.blur > 0.0:
        blurred = _binomial_blur(value)
        blurred -= value
        blurred *= np.float32(camera.blur)
        value += blurred
    falloff = _vignette(value.shape[0], value.shape[1], float(camera.vignetting))
    value *= falloff if value.ndim == 2 else falloff[:, :, None]
    return value


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """uint8 (H, W[, 3]) image as it comes back from JPEG compression at ``quality``."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return np.asarray(Image.open(buffer))


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


@lru_cache(maxsize=8)
def thermal_fixed_pattern(seed: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed pattern of an uncooled microbolometer that its flat-field correction leaves,
    constant along sequence ``seed``: (gain, offset), each (height, width) float32, read-only.

    A pixel reads gain * signal + offset (raw counts above O). The offset holds per-column and
    per-row readout offsets and a per-pixel offset; the gain a per-pixel spread and the lens's
    vignetting, whose lost share of the scene is replaced by the warm housing's radiance.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xF9A, width, height]))
    columns = rng.normal(0.0, 2.0, width)
    rows = rng.normal(0.0, 1.0, height)
    offset = columns[None, :] + rows[:, None] + rng.normal(0.0, 2.0, (height, width))
    y = np.linspace(-1.0, 1.0, height)[:, None]
    x = np.linspace(-1.0, 1.0, width)[None, :]
    vignetting = rng.uniform(0.005, 0.02) * (x * x + y * y) / 2.0
    gain = (1.0 - vignetting) * (1.0 + rng.normal(0.0, 0.003, (height, width)))
    offset += vignetting * celsius_to_signal(HOUSING_C)
    pattern = gain.astype(np.float32), offset.astype(np.float32)
    for array in pattern:
        array.flags.writeable = False
    return pattern


def encode_thermal(signal: np.ndarray, noise_counts: float, offsets: np.ndarray,
                   rng: np.random.Generator, gain: np.ndarray | None = None) -> np.ndarray:
    """Signal (raw - O) of shape (H, W) -> uint16 raw counts: lens blur, the fixed pattern
    (``offsets`` broadcast to (H, W): a column pattern (W,) or a full one; ``gain`` (H, W) or
    None for 1), temporal noise."""
    blurred = _binomial_blur(signal)
    if gain is not None:
        blurred *= gain
    blurred += rng.standard_normal(blurred.shape, dtype=np.float32) * np.float32(noise_counts)
    blurred += offsets
    blurred += np.float32(PLANCK_O)
    return np.clip(np.rint(blurred), 0, 65535).astype(np.uint16)


def _binomial_blur(image: np.ndarray) -> np.ndarray:
    """3 x 3 binomial filter ([1, 2, 1] / 4 along rows and columns) of (H, W[, C]), edges
    replicated."""
    padded = np.pad(image, [(1, 1), (1, 1)] + [(0, 0)] * (image.ndim - 2), mode="edge")
    rows = padded[:-2] + padded[2:]
    rows += 2.0 * padded[1:-1]
    out = rows[:, :-2] + rows[:, 2:]
    out += 2.0 * rows[:, 1:-1]
    out *= np.float32(1.0 / 16.0)
    return out
