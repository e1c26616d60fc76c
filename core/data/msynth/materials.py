"""Surface materials: albedo in RGB, reflectance in NIR, temperature and emissivity in thermal,
light emission, and procedural textures sampled by surface coordinates in metres."""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

import numpy as np

TILE_SIZE = 128


class Tile(IntEnum):
    GRAIN = 0     # fine rough noise: asphalt, tyres
    MOTTLED = 1   # cloudy low-frequency noise: walls, paint, soil
    SLABS = 2     # mottled with joint lines at the tile border: paving
    STREAKS = 3   # stretched along the second coordinate: bark
    LEAVES = 4    # blobby mid-frequency noise: grass, foliage


class Mat(IntEnum):
    ASPHALT = 0
    PAINT_WHITE = 1
    PAINT_YELLOW = 2
    GRASS = 3
    DIRT = 4
    CONCRETE = 5
    FACADE = 6
    GLASS = 7
    LIT_WINDOW = 8
    CAR_PAINT = 9
    CAR_GLASS = 10
    TYRE = 11
    HEADLIGHT = 12
    TAILLIGHT = 13
    CLOTH = 14
    SKIN = 15
    METAL = 16
    LAMP = 17
    BARK = 18
    FOLIAGE = 19
    BRICK = 20        # walls and brick facades
    PLASTER = 21      # rendered walls, shelter backs
    WOOD = 22         # fences, benches
    PLASTIC = 23      # sign faces, bike frames, helmets
    HEDGE = 24        # clipped hedges: dense foliage on a box


@dataclass(frozen=True)
class Material:
    rgb: tuple[float, float, float]   # linear albedo (multiplied by the primitive's tint if tinted)
    nir: float                        # NIR reflectance
    temp_day: float                   # degrees C above ambient in full sun
    temp_night: float                 # degrees C above ambient without sun
    emissivity: float = 0.95          # thermal; the rest reflects the sky
    tile: Tile = Tile.MOTTLED
    tex_freq: float = 8.0             # texels per metre
    tex_rgb: float = 0.15             # relative albedo modulation by the texture
    tex_thr: float = 0.3              # degrees C of texture in thermal
    tinted: bool = False
    ambient_weight: float = 1.0       # 0: temperature is absolute (bodies), not relative to ambient
    glow_rgb: tuple[float, float, float] = (0.0, 0.0, 0.0)  # emitted radiance when lit
    glow_nir: float = 0.0


MATERIALS: dict[Mat, Material] = {
    Mat.ASPHALT: Material((0.085, 0.085, 0.09), 0.10, 8.0, 3.5, 0.96, Tile.GRAIN, 24.0, 0.30, 1.5),
    Mat.PAINT_WHITE: Material((0.62, 0.62, 0.60), 0.55, 9.0, 3.0, 0.92, Tile.GRAIN, 24.0, 0.15),
    Mat.PAINT_YELLOW: Material((0.60, 0.42, 0.06), 0.50, 9.0, 3.0, 0.92, Tile.GRAIN, 24.0, 0.15),
    Mat.GRASS: Material((0.07, 0.13, 0.035), 0.50, -1.0, -3.0, 0.98, Tile.LEAVES, 10.0, 0.45, 1.0),
    Mat.DIRT: Material((0.20, 0.15, 0.10), 0.30, 9.0, 1.0, 0.95, Tile.MOTTLED, 6.0, 0.35, 1.0),
    Mat.CONCRETE: Material((0.32, 0.31, 0.29), 0.34, 7.0, 2.0, 0.94, Tile.SLABS, 85.0, 0.22, 1.0),
    Mat.FACADE: Material((1.0, 1.0, 1.0), 0.40, 2.0, 1.5, 0.93, Tile.MOTTLED, 5.0, 0.18, 1.0,
                         tinted=True),
    Mat.GLASS: Material((0.035, 0.045, 0.055), 0.04, 1.0, 1.0, 0.84, Tile.MOTTLED, 2.0, 0.30, 0.2),
    Mat.LIT_WINDOW: Material((0.05, 0.05, 0.05), 0.05, 3.0, 3.0, 0.84, Tile.MOTTLED, 2.0, 0.35, 0.2,
                             glow_rgb=(0.5, 0.36, 0.19), glow_nir=0.3),
    Mat.CAR_PAINT: Material((1.0, 1.0, 1.0), 0.35, 8.0, 1.0, 0.90, Tile.MOTTLED, 3.0, 0.05, 0.2,
                            tinted=True),
    Mat.CAR_GLASS: Material((0.025, 0.03, 0.035), 0.05, 3.0, 1.0, 0.85, Tile.MOTTLED, 2.0, 0.2,
                            0.2),
    Mat.TYRE: Material((0.025, 0.025, 0.025), 0.05, 8.0, 2.0, 0.95, Tile.GRAIN, 30.0, 0.2, 0.5),
    Mat.HEADLIGHT: Material((0.5, 0.5, 0.5), 0.4, 6.0, 6.0, 0.90, Tile.MOTTLED, 1.0, 0.0, 0.0,
                            glow_rgb=(9.0, 8.5, 7.5), glow_nir=6.0),
    Mat.TAILLIGHT: Material((0.35, 0.03, 0.03), 0.3, 4.0, 4.0, 0.90, Tile.MOTTLED, 1.0, 0.0, 0.0,
                            glow_rgb=(4.0, 0.25, 0.15), glow_nir=0.8),
    Mat.CLOTH: Material((1.0, 1.0, 1.0), 0.45, 30.0, 29.5, 0.97, Tile.STREAKS, 20.0, 0.15, 0.8,
                        tinted=True, ambient_weight=0.0),
    Mat.SKIN: Material((0.42, 0.30, 0.23), 0.50, 33.5, 33.0, 0.98, Tile.MOTTLED, 10.0, 0.05, 0.4,
                       ambient_weight=0.0),
    Mat.METAL: Material((0.28, 0.29, 0.30), 0.30, 5.0, 0.0, 0.35, Tile.STREAKS, 10.0, 0.10, 0.3),
    Mat.LAMP: Material((0.6, 0.6, 0.55), 0.5, 5.0, 22.0, 0.9, Tile.MOTTLED, 1.0, 0.0, 0.0,
                       glow_rgb=(12.0, 10.0, 7.0), glow_nir=5.0),
    Mat.BARK: Material((0.10, 0.07, 0.045), 0.30, 3.0, 0.0, 0.95, Tile.STREAKS, 12.0, 0.35, 0.5),
    Mat.FOLIAGE: Material((0.045, 0.11, 0.03), 0.45, -1.0, -2.5, 0.98, Tile.LEAVES, 6.0, 0.3, 1.2),
    Mat.BRICK: Material((0.30, 0.13, 0.08), 0.38, 6.0, 2.0, 0.93, Tile.SLABS, 4.0, 0.25, 1.0,
                        tinted=True),
    Mat.PLASTER: Material((0.55, 0.52, 0.47), 0.45, 5.0, 1.5, 0.93, Tile.MOTTLED, 3.0, 0.12, 0.6,
                          tinted=True),
    Mat.WOOD: Material((0.25, 0.16, 0.09), 0.35, 6.0, 0.5, 0.92, Tile.STREAKS, 6.0, 0.3, 0.6,
                       tinted=True),
    Mat.PLASTIC: Material((1.0, 1.0, 1.0), 0.40, 6.0, 0.5, 0.92, Tile.MOTTLED, 4.0, 0.05, 0.2,
                          tinted=True),
    Mat.HEDGE: Material((0.04, 0.10, 0.03), 0.48, -1.0, -2.5, 0.98, Tile.LEAVES, 9.0, 0.4, 1.2),
}


@dataclass(frozen=True)
class MaterialTables:
    """The material properties as arrays indexed by ``Mat``."""

    rgb: np.ndarray          # (M, 3) float32
    nir: np.ndarray          # (M,) float32
    temp_day: np.ndarray     # (M,) float32
    temp_night: np.ndarray   # (M,) float32
    ambient_weight: np.ndarray
    emissivity: np.ndarray
    tile: np.ndarray         # (M,) int32
    tex_freq: np.ndarray     # (M,) float32
    tex_rgb: np.ndarray
    tex_thr: np.ndarray
    tinted: np.ndarray       # (M,) float32, 1 where the primitive tint applies
    glow_rgb: np.ndarray     # (M, 3) float32
    glow_nir: np.ndarray
    is_glowing: np.ndarray   # (M,) bool


@lru_cache(maxsize=1)
def material_tables() -> MaterialTables:
    rows = [MATERIALS[m] for m in Mat]

    def column(name, dtype=np.float32):
        return np.array([getattr(r, name) for r in rows], dtype=dtype)

    glow_rgb = column("glow_rgb")
    return MaterialTables(
        rgb=column("rgb"), nir=column("nir"), temp_day=column("temp_day"),
        temp_night=column("temp_night"), ambient_weight=column("ambient_weight"),
        emissivity=column("emissivity"), tile=column("tile", np.int32),
        tex_freq=column("tex_freq"), tex_rgb=column("tex_rgb"), tex_thr=column("tex_thr"),
        tinted=column("tinted"), glow_rgb=glow_rgb, glow_nir=column("glow_nir"),
        is_glowing=glow_rgb.sum(axis=1) > 0)


def _spectral_noise(rng: np.random.Generator, exponent: float, stretch: float = 1.0) -> np.ndarray:
    """Periodic noise tile with a 1/f^exponent spectrum, zero mean, unit deviation."""
    freqs = np.fft.fftfreq(TILE_SIZE)
    fy, fx = np.meshgrid(freqs * stretch, freqs, indexing="ij")
    radius = np.hypot(fx, fy)
    radius[0, 0] = 1.0
    spectrum = np.fft.fft2(rng.standard_normal((TILE_SIZE, TILE_SIZE))) / radius ** exponent
    spectrum[0, 0] = 0.0
    tile = np.real(np.fft.ifft2(spectrum))
    return np.clip(tile / tile.std(), -2.5, 2.5)


@lru_cache(maxsize=1)
def texture_tiles() -> np.ndarray:
    """(len(Tile) * TILE_SIZE**2,) float32: the tiles, flattened for one gather per sample.

    Rows of a tile follow the second surface coordinate, columns the first.
    """
    rng = np.random.default_rng(20240611)
    slabs = 0.6 * _spectral_noise(rng, 2.0)
    slabs[0, :] = slabs[:, 0] = -2.5
    tiles = {
        Tile.GRAIN: _spectral_noise(rng, 0.6),
        Tile.MOTTLED: _spectral_noise(rng, 1.8),
        Tile.SLABS: slabs,
        Tile.STREAKS: _spectral_noise(rng, 1.2, stretch=8.0),
        Tile.LEAVES: _spectral_noise(rng, 1.1),
    }
    return np.stack([tiles[t] for t in Tile]).astype(np.float32).ravel()


def sample_texture(tile: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Bilinear, wrapping sample of the tiles ``tile`` at texel coordinates (s1, s2)."""
    flat = texture_tiles()
    mask = TILE_SIZE - 1
    x0 = np.floor(s1)
    y0 = np.floor(s2)
    wx = s1 - x0
    wy = s2 - y0
    ix = x0.astype(np.int32) & mask
    iy = y0.astype(np.int32) & mask
    row0 = tile * (TILE_SIZE * TILE_SIZE) + iy * TILE_SIZE
    row1 = tile * (TILE_SIZE * TILE_SIZE) + ((iy + 1) & mask) * TILE_SIZE
    ix1 = (ix + 1) & mask
    top = flat.take(row0 + ix)
    top += wx * (flat.take(row0 + ix1) - top)
    bottom = flat.take(row1 + ix)
    bottom += wx * (flat.take(row1 + ix1) - bottom)
    return top + wy * (bottom - top)
