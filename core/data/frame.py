"""The frame: one multi-spectral capture, the unit every reader, generator and model shares."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.geometry.camera import Camera

SPECTRA = ("rgb", "nir", "thr")
SPECTRUM_LABELS = {"rgb": "RGB", "nir": "NIR", "thr": "Thermal"}
CONDITIONS = ("day", "night", "fog", "rain")
# Test split only, each the twin of an own condition's scenes (test-only condition: that condition):
# texture: the day scenes, same geometry and light, surface textures swapped or removed;
# clear: the fog scenes by day without the fog, so fog's cost is read on the same scenes.
TWIN_OF = {"texture": "day", "clear": "fog"}
TEST_ONLY_CONDITIONS = tuple(TWIN_OF)
EVAL_CONDITIONS = CONDITIONS + TEST_ONLY_CONDITIONS

# Raw image dtypes and channel counts per spectrum, as the MS2 rig records them.
IMAGE_FORMATS = {
    "rgb": (np.uint8, 3),
    "nir": (np.uint8, 1),
    "thr": (np.uint16, 1),
}


@dataclass
class Frame:
    """Any subset of {rgb, nir, thr}: raw images, cameras, optional ground truth.

    images:  rgb (H, W, 3) uint8, nir (H, W) uint8, thr (H, W) uint16 raw counts
    cameras: one Camera per spectrum present in ``images``
    depth:   optional metric depth per spectrum, float32 metres, 0 = invalid
    classes: optional per-pixel class ids per spectrum, uint8 (see msynth.CLASS_NAMES)
    pose:    optional T_world_rig (4 x 4) of this capture
    """

    images: dict[str, np.ndarray]
    cameras: dict[str, Camera]
    depth: dict[str, np.ndarray] = field(default_factory=dict)
    classes: dict[str, np.ndarray] = field(default_factory=dict)
    pose: np.ndarray | None = None
    condition: str | None = None
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for spectrum, image in self.images.items():
            if spectrum not in IMAGE_FORMATS:
                raise ValueError(f"unknown spectrum {spectrum!r}; expected one of {SPECTRA}")
            if spectrum not in self.cameras:
                raise ValueError(f"spectrum {spectrum!r} has an image but no camera")
            cam = self.cameras[spectrum]
            if image.shape[:2] != cam.size:
                raise ValueError(f"{spectrum} image is {image.shape[1]}x{image.shape[0]} but its "
                                 f"camera is {cam.width}x{cam.height}")

    @property
    def spectra(self) -> tuple[str, ...]:
        """Spectra present, in the canonical order rgb, nir, thr."""
        return tuple(s for s in SPECTRA if s in self.images)
