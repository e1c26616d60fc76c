"""Frames out for display: 8-bit images, per-spectrum summaries, the size cameras are drawn at,
and a fingerprint for caches."""
from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from core.data.dataset import resize_frame, select_spectra
from core.data.frame import SPECTRUM_LABELS, Frame
from core.data.msynth.thermal_model import raw_to_celsius
from core.data.thermal import normalize_thermal

# What panels and point clouds are drawn at: wider cameras are scaled down (downloads keep
# the native resolution). 1280 px covers the MS2 rig's widest camera (NIR) as it is.
DISPLAY_MAX_WIDTH = 1280


def display_image(frame: Frame, spectrum: str) -> np.ndarray:
    """An 8-bit image of one spectrum for display (thermal through the one normalisation)."""
    image = frame.images[spectrum]
    if spectrum == "thr":
        return (normalize_thermal(image) * 255).round().astype(np.uint8)
    return image


def describe(frame: Frame) -> list[list[str]]:
    """One row per spectrum: size, bit depth, value range (thermal also in degrees Celsius)."""
    rows = []
    for spectrum in frame.spectra:
        image = frame.images[spectrum]
        bits = image.dtype.itemsize * 8
        lo, hi = int(image.min()), int(image.max())
        value_range = f"{lo} - {hi}"
        if spectrum == "thr":
            value_range += f" raw ({raw_to_celsius(lo):.1f} to {raw_to_celsius(hi):.1f} °C)"
        gt = frame.depth.get(spectrum)
        gt_text = f"{gt[gt > 0].min():.1f} - {gt.max():.1f} m" if gt is not None and (gt > 0).any() else "none"
        rows.append([SPECTRUM_LABELS[spectrum], f"{image.shape[1]} x {image.shape[0]}",
                     f"{bits}-bit x {1 if image.ndim == 2 else image.shape[2]}", value_range, gt_text])
    return rows


def display_size(size: tuple[int, int], max_width: int = DISPLAY_MAX_WIDTH) -> tuple[int, int]:
    """(height, width) a camera of ``size`` is drawn at: as it is, or scaled to ``max_width``."""
    height, width = size
    if width <= max_width:
        return height, width
    return max(1, round(height * max_width / width)), max_width


def at_display_size(frame: Frame, max_width: int = DISPLAY_MAX_WIDTH) -> Frame:
    """The frame with every camera no wider than ``max_width`` (images resampled, depth by the
    nearest pixel, intrinsics scaled); cameras already that narrow are kept as they are."""
    if all(camera.width <= max_width for camera in frame.cameras.values()):
        return frame
    parts = [resize_frame(select_spectra(frame, [s]), display_size(frame.cameras[s].size, max_width))
             for s in frame.spectra]
    merged = {field: {s: v for part in parts for s, v in getattr(part, field).items()}
              for field in ("images", "cameras", "depth", "classes")}
    return dataclasses.replace(frame, **merged)


def frame_fingerprint(frame: Frame) -> str:
    """A digest of what a frame shows (images, cameras, ground truth): equal for equal frames,
    so caches can key on it where frames arrive as new objects (uploads, reruns)."""
    digest = hashlib.sha1()
    for spectrum in frame.spectra:
        camera = frame.cameras[spectrum]
        for array in (frame.images[spectrum], camera.K, camera.T_rig_cam, frame.depth.get(spectrum)):
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(json.dumps([frame.name, frame.condition, frame.meta], sort_keys=True, default=str).encode())
    return digest.hexdigest()
