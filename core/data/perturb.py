"""Robustness probes: degrade a frame's images as night, fog, rain, noise or texture loss would.

Each probe acts on every spectrum the way the physics treats it: night darkens the passive
RGB camera most, the actively lit NIR camera less and leaves thermal (emitted light) alone;
fog scatters visible light most, NIR less, thermal barely; rain streaks the lens and cools
surfaces towards one temperature. The sensor model is MS-Synth's (``msynth.sensors``), so a
probed sample degrades like the world's own night or fog. ``strength`` runs from 0 (the
input unchanged) to 1 (the worst case). Deterministic for a given seed.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from core.data.frame import Frame
from core.data.msynth.sensors import add_rain_streaks, encode_8bit
from core.data.augment import texture_swap

PROBES = ("none", "night", "fog", "rain", "noise", "texture")
GAMMA = 2.2
# Fog extinction per metre at strength 1 (visibility 3 / beta = 25 m for RGB), as in a dense MS-Synth fog bank.
FOG_BETA = {"rgb": 0.12, "nir": 0.55 * 0.12, "thr": 0.12 * 0.12}
FOG_AIRLIGHT = {"rgb": 0.7, "nir": 0.55}
FOG_DEFAULT_DEPTH_M = 20.0   # where a frame has no depth, fog is a uniform veil at this distance
NIGHT_EXPOSURE = {"rgb": 0.02, "nir": 0.3}   # exposure left at strength 1 (geometric in between)
NIGHT_GRAIN = {"rgb": 0.08, "nir": 0.02}     # grain (sqrt-intensity domain) added at strength 1


def _linear(image: np.ndarray) -> np.ndarray:
    return (image.astype(np.float32) / 255.0) ** GAMMA


def _towards_median(raw: np.ndarray, keep) -> np.ndarray:
    """Thermal counts pulled towards the scene's median (its ambient level), keeping ``keep``
    (a scalar or per pixel) of each pixel's difference: fog radiates, rain cools surfaces."""
    values = raw.astype(np.float32)
    median = np.median(values)
    return np.clip(np.rint(median + keep * (values - median)), 0, 65535).astype(np.uint16)


def _transmittance(frame: Frame, spectrum: str, beta: float) -> np.ndarray:
    depth = frame.depth.get(spectrum)
    if depth is None:
        return np.full(frame.images[spectrum].shape[:2], np.exp(-beta * FOG_DEFAULT_DEPTH_M), np.float32)
    # No depth (sky, beyond range) is far away: all fog.
    return np.where(depth > 0, np.exp(-beta * depth), 0.0).astype(np.float32)


def _probe_image(frame: Frame, spectrum: str, probe: str, strength: float, rng: np.random.Generator) -> np.ndarray:
    image = frame.images[spectrum]
    thermal = spectrum == "thr"
    if probe == "night":
        if thermal:
            return image
        return encode_8bit(_linear(image), NIGHT_EXPOSURE[spectrum] ** strength, NIGHT_GRAIN[spectrum] * strength,
                           0.0, rng)
    if probe == "fog":
        t = _transmittance(frame, spectrum, FOG_BETA[spectrum] * strength)
        if thermal:
            return _towards_median(image, t)
        t = t[..., None] if image.ndim == 3 else t
        return encode_8bit(FOG_AIRLIGHT[spectrum] + t * (_linear(image) - FOG_AIRLIGHT[spectrum]), 1.0, 0.0, 0.0,
                           rng)
    if probe == "rain":
        if thermal:
            return _towards_median(image, 1.0 - 0.5 * strength)
        linear = _linear(image)
        add_rain_streaks(linear, rng, int(1400 * strength), 0.5)
        return encode_8bit(linear, 1.0, 0.0, 0.2 * strength, rng)
    if probe == "noise":
        if thermal:
            noisy = image.astype(np.float32) + rng.normal(0.0, 30.0 * strength, image.shape)
            return np.clip(np.rint(noisy), 0, 65535).astype(np.uint16)
        noisy = image.astype(np.float32) + rng.normal(0.0, 25.0 * strength, image.shape)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    if probe == "texture":
        scale = 65535.0 if thermal else 255.0
        values = torch.from_numpy(image.astype(np.float32) / scale)
        chw = values.permute(2, 0, 1) if values.ndim == 3 else values[None]
        generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
        swapped = texture_swap(chw[None], generator, swap_fraction=strength)[0]
        out = (swapped.permute(1, 2, 0) if values.ndim == 3 else swapped[0]).numpy() * scale
        return np.clip(np.rint(out), 0, scale).astype(image.dtype)
    raise ValueError(f"unknown probe {probe!r}; expected one of {PROBES}")


def perturb_frame(frame: Frame, probe: str, strength: float, seed: int = 0) -> Frame:
    """A copy of ``frame`` with its images degraded by ``probe`` at ``strength`` in [0, 1];
    depth, cameras and pose unchanged (the probe changes what is seen, not the scene)."""
    if probe not in PROBES:
        raise ValueError(f"unknown probe {probe!r}; expected one of {PROBES}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    if probe == "none" or strength == 0.0:
        return frame
    rng = np.random.default_rng(seed)
    images = {s: _probe_image(frame, s, probe, float(strength), rng) for s in frame.spectra}
    meta = {**frame.meta, "probe": f"{probe} at strength {strength:g}"}
    return dataclasses.replace(frame, images=images, meta=meta)
