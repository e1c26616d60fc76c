"""Surface materials: albedo in RGB, reflectance in NIR, temperature and emissivity in thermal,
light emission, and procedural textures sampled by surface coordinates in metres.

Textures are periodic tiles precomputed once and split into a low and a high frequency band,
stored together as complex numbers so that one bilinear gather fetches both: shading fades the
high band (then the low one) where a pixel covers many texels, instead of aliasing.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

import numpy as np

TILE_SIZE = 256
LOW_BAND_SIGMA = 3.0    # texels: the Gaussian that separates the low band from the high band


class Tile(IntEnum):
    GRAIN = 0     # fine rough noise: tyres, paint
    MOTTLED = 1   # cloudy low-frequency noise: walls, paint, soil
    SLABS = 2     # paving slabs: 4 x 4 per tile, joints and a tone per slab
    STREAKS = 3   # stretched along the second coordinate: brushed metal, cloth
    LEAVES = 4    # blobby mid-frequency noise: grass
    ASPHALT = 5   # aggregate grain, repair patches, dark cracks
    BRICK = 6     # 8 bricks x 24 courses in running bond, light mortar joints
    PLASTER = 7   # smooth render with stains and run-down dirt
    BARK = 8      # vertical furrows
    FOLIAGE = 9   # leaf clusters with dark gaps
    WOOD = 10     # 8 vertical boards with gaps and grain
    CLOUDS = 11   # smooth 1/f^2 noise of the cloud layer


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
    sun_heating: float = 4.0          # degrees C more where the sun shines perpendicularly
                                      # (dark, dry surfaces most; transpiring leaves least)


MATERIALS: dict[Mat, Material] = {
    Mat.ASPHALT: Material((0.085, 0.085, 0.09), 0.10, 10.0, 3.5, 0.96, Tile.ASPHALT, 12.0, 0.30,
                          0.8, sun_heating=7.0),
    Mat.PAINT_WHITE: Material((0.62, 0.62, 0.60), 0.55, 9.0, 3.0, 0.92, Tile.ASPHALT, 12.0, 0.20,
                              sun_heating=3.0),
    Mat.PAINT_YELLOW: Material((0.60, 0.42, 0.06), 0.50, 9.0, 3.0, 0.92, Tile.ASPHALT, 12.0, 0.20,
                               sun_heating=3.5),
    Mat.GRASS: Material((0.07, 0.13, 0.035), 0.50, -1.5, -3.0, 0.98, Tile.LEAVES, 10.0, 0.45, 1.0,
                        sun_heating=1.5),
    Mat.DIRT: Material((0.20, 0.15, 0.10), 0.30, 9.0, 1.0, 0.95, Tile.MOTTLED, 6.0, 0.35, 1.0,
                       sun_heating=5.0),
    Mat.CONCRETE: Material((0.32, 0.31, 0.29), 0.34, 7.0, 2.0, 0.94, Tile.SLABS, 64.0, 0.22, 1.0),
    Mat.FACADE: Material((1.0, 1.0, 1.0), 0.40, 2.0, 1.5, 0.93, Tile.PLASTER, 3.0, 0.25, 1.0,
                         tinted=True),
    Mat.GLASS: Material((0.035, 0.045, 0.055), 0.04, 1.0, 1.0, 0.84, Tile.MOTTLED, 2.0, 0.30, 0.2,
                        sun_heating=2.0),
    Mat.LIT_WINDOW: Material((0.05, 0.05, 0.05), 0.05, 3.0, 3.0, 0.84, Tile.MOTTLED, 2.0, 0.35, 0.2,
                             glow_rgb=(0.5, 0.36, 0.19), glow_nir=0.3),
    Mat.CAR_PAINT: Material((1.0, 1.0, 1.0), 0.35, 8.0, 1.0, 0.90, Tile.MOTTLED, 3.0, 0.06, 0.2,
                            tinted=True),
    Mat.CAR_GLASS: Material((0.025, 0.03, 0.035), 0.05, 3.0, 1.0, 0.85, Tile.MOTTLED, 2.0, 0.2,
                            0.2, sun_heating=2.0),
    Mat.TYRE: Material((0.025, 0.025, 0.025), 0.05, 8.0, 2.0, 0.95, Tile.GRAIN, 30.0, 0.2, 0.5),
    Mat.HEADLIGHT: Material((0.5, 0.5, 0.5), 0.4, 6.0, 6.0, 0.90, Tile.MOTTLED, 1.0, 0.0, 0.0,
                            glow_rgb=(9.0, 8.5, 7.5), glow_nir=6.0),
    Mat.TAILLIGHT: Material((0.35, 0.03, 0.03), 0.3, 4.0, 4.0, 0.90, Tile.MOTTLED, 1.0, 0.0, 0.0,
                            glow_rgb=(4.0, 0.25, 0.15), glow_nir=0.8),
    # Clothes and skin sit between the air and the body's 34-37 C: warmer than the air.
    Mat.CLOTH: Material((1.0, 1.0, 1.0), 0.45, 18.5, 17.5, 0.97, Tile.STREAKS, 20.0, 0.15, 0.8,
                        tinted=True, ambient_weight=0.5, sun_heating=2.0),
    Mat.SKIN: Material((0.42, 0.30, 0.23), 0.50, 27.5, 27.0, 0.98, Tile.MOTTLED, 10.0, 0.05, 0.4,
                       ambient_weight=0.2, sun_heating=1.0),
    Mat.METAL: Material((0.28, 0.29, 0.30), 0.30, 5.0, 0.0, 0.35, Tile.STREAKS, 10.0, 0.10, 0.3),
    Mat.LAMP: Material((0.6, 0.6, 0.55), 0.5, 5.0, 22.0, 0.9, Tile.MOTTLED, 1.0, 0.0, 0.0,
                       glow_rgb=(12.0, 10.0, 7.0), glow_nir=5.0),
    Mat.BARK: Material((0.10, 0.07, 0.045), 0.30, 3.0, 0.0, 0.95, Tile.BARK, 20.0, 0.40, 0.5,
                       sun_heating=3.0),
    Mat.FOLIAGE: Material((0.045, 0.11, 0.03), 0.45, -1.5, -2.5, 0.98, Tile.FOLIAGE, 8.0, 0.35,
                          1.2, sun_heating=1.0),
    Mat.BRICK: Material((0.30, 0.13, 0.08), 0.38, 6.0, 2.0, 0.93, Tile.BRICK, 142.0, 0.25, 1.0,
                        tinted=True),
    Mat.PLASTER: Material((0.55, 0.52, 0.47), 0.45, 5.0, 1.5, 0.93, Tile.PLASTER, 3.0, 0.2, 0.6,
                          tinted=True, sun_heating=3.0),
    Mat.WOOD: Material((0.25, 0.16, 0.09), 0.35, 6.0, 0.5, 0.92, Tile.WOOD, 200.0, 0.3, 0.6,
                       tinted=True),
    Mat.PLASTIC: Material((1.0, 1.0, 1.0), 0.40, 6.0, 0.5, 0.92, Tile.MOTTLED, 4.0, 0.05, 0.2,
                          tinted=True),
    Mat.HEDGE: Material((0.04, 0.10, 0.03), 0.48, -1.5, -2.5, 0.98, Tile.FOLIAGE, 12.0, 0.35, 1.2,
                        sun_heating=1.0),
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
    sun_heating: np.ndarray  # (M,) float32


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
        is_glowing=glow_rgb.sum(axis=1) > 0, sun_heating=column("sun_heating"))


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


def _texel_grid() -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) texel centre coordinates of a tile."""
    return np.mgrid[0:TILE_SIZE, 0:TILE_SIZE] + 0.5


def _joint(position: np.ndarray, width: float) -> np.ndarray:
    """1 on the joint lines at integer ``position`` (in cells), fading over ``width`` cells."""
    distance = np.abs(position - np.round(position))
    return np.clip(1.5 - distance / width, 0.0, 1.0)


def _slabs(rng: np.random.Generator) -> np.ndarray:
    rows, cols = _texel_grid()
    cells = 4
    per_slab = rng.normal(0.0, 0.5, (cells, cells))
    u, v = cols * cells / TILE_SIZE, rows * cells / TILE_SIZE
    tone = per_slab[v.astype(int), u.astype(int)] + 0.5 * _spectral_noise(rng, 1.6)
    joints = np.maximum(_joint(u, 0.012), _joint(v, 0.012))
    return tone * (1.0 - joints) - 2.2 * joints


def _asphalt(rng: np.random.Generator) -> np.ndarray:
    """Grain, a few rectangular repair patches (darker or lighter) and meandering cracks."""
    value = 0.55 * _spectral_noise(rng, 0.5) + 0.35 * _spectral_noise(rng, 1.8)
    rows, cols = _texel_grid()
    for _ in range(3):
        r0, c0 = rng.uniform(0, TILE_SIZE, 2)
        height, width = rng.uniform(10, 70, 2)
        inside = (((rows - r0) % TILE_SIZE) < height) & (((cols - c0) % TILE_SIZE) < width)
        value[inside] = 0.6 * value[inside] + rng.choice([-0.9, 0.7])
    # Cracks: random walks splatted bilinearly into a density image.
    density = np.zeros((TILE_SIZE, TILE_SIZE))
    steps = 260
    for _ in range(6):
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0.0, 0.25, steps))
        r = rng.uniform(0, TILE_SIZE) + np.cumsum(0.5 * np.sin(heading))
        c = rng.uniform(0, TILE_SIZE) + np.cumsum(0.5 * np.cos(heading))
        r0, c0 = np.floor(r), np.floor(c)
        wr, wc = r - r0, c - c0
        for dr, dc, weight in ((0, 0, (1 - wr) * (1 - wc)), (0, 1, (1 - wr) * wc),
                               (1, 0, wr * (1 - wc)), (1, 1, wr * wc)):
            np.add.at(density, (((r0 + dr) % TILE_SIZE).astype(int),
                                ((c0 + dc) % TILE_SIZE).astype(int)), weight)
    crack = np.clip(0.6 * density, 0.0, 1.0)
    return value * (1.0 - crack) - 1.8 * crack


def _bricks(rng: np.random.Generator) -> np.ndarray:
    """Running bond: bricks 3 courses high per brick length (0.225 x 0.075 m with mortar)."""
    rows, cols = _texel_grid()
    courses, per_course = 24, 8
    v = rows * courses / TILE_SIZE
    course = v.astype(int)
    u = cols * per_course / TILE_SIZE + 0.5 * (course % 2)
    brick = u.astype(int) % per_course
    tone = rng.normal(0.0, 0.55, (courses, per_course))[course, brick]
    surface = tone + 0.35 * _spectral_noise(rng, 0.8)
    mortar = np.maximum(_joint(u, 0.05), _joint(v, 0.1))
    return surface * (1.0 - mortar) + 1.8 * mortar


def _plaster(rng: np.random.Generator) -> np.ndarray:
    stains = _spectral_noise(rng, 2.2)
    rundown = _spectral_noise(rng, 1.4, stretch=10.0)
    return 0.7 * stains + 0.35 * rundown + 0.2 * _spectral_noise(rng, 0.4)


def _bark(rng: np.random.Generator) -> np.ndarray:
    ridges = _spectral_noise(rng, 1.3, stretch=12.0)
    return 1.2 - 1.6 * np.abs(ridges) + 0.3 * _spectral_noise(rng, 0.7)


def _foliage(rng: np.random.Generator) -> np.ndarray:
    """Clusters of leaves, lit unevenly, with dark gaps into the crown."""
    clusters = _spectral_noise(rng, 1.5)
    leaves = np.tanh(1.5 * clusters) + 0.45 * _spectral_noise(rng, 0.6)
    return np.where(clusters < -1.3, -1.6, leaves)


def _wood(rng: np.random.Generator) -> np.ndarray:
    rows, cols = _texel_grid()
    boards = 8
    u = cols * boards / TILE_SIZE
    tone = rng.normal(0.0, 0.5, boards)[u.astype(int) % boards]
    grain = _spectral_noise(rng, 1.0, stretch=14.0)
    gaps = _joint(u, 0.03)
    return (tone + 0.6 * grain) * (1.0 - gaps) - 2.0 * gaps


def _split_bands(tile: np.ndarray) -> np.ndarray:
    """Complex tile: the Gaussian low-passed tile (real part) + the remaining detail (imaginary)."""
    freqs = np.fft.fftfreq(TILE_SIZE)
    f2 = freqs[:, None] ** 2 + freqs[None, :] ** 2
    gaussian = np.exp(-2.0 * (np.pi * LOW_BAND_SIGMA) ** 2 * f2)
    low = np.real(np.fft.ifft2(np.fft.fft2(tile) * gaussian))
    return low + 1j * (tile - low)


@lru_cache(maxsize=1)
def texture_tiles() -> np.ndarray:
    """(len(Tile) * TILE_SIZE**2,) complex64: the tiles' low band + 1j * high band, flattened
    for one gather per sample. Rows of a tile follow the second surface coordinate, columns the
    first."""
    rng = np.random.default_rng(20240611)
    makers = {
        Tile.GRAIN: lambda: _spectral_noise(rng, 0.6),
        Tile.MOTTLED: lambda: _spectral_noise(rng, 1.8),
        Tile.SLABS: lambda: _slabs(rng),
        Tile.STREAKS: lambda: _spectral_noise(rng, 1.2, stretch=8.0),
        Tile.LEAVES: lambda: _spectral_noise(rng, 1.1),
        Tile.ASPHALT: lambda: _asphalt(rng),
        Tile.BRICK: lambda: _bricks(rng),
        Tile.PLASTER: lambda: _plaster(rng),
        Tile.BARK: lambda: _bark(rng),
        Tile.FOLIAGE: lambda: _foliage(rng),
        Tile.WOOD: lambda: _wood(rng),
        Tile.CLOUDS: lambda: _spectral_noise(rng, 2.2),
    }
    tiles = []
    for tile in Tile:
        values = makers[tile]()
        tiles.append(_split_bands(np.clip(values - values.mean(), -2.5, 2.5)))
    return np.stack(tiles).astype(np.complex64).ravel()


def sample_texture_bands(tile: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Bilinear, wrapping sample of the tiles ``tile`` at texel coordinates (s1, s2): complex64,
    low band in the real part, high band in the imaginary part."""
    flat = texture_tiles()
    mask = TILE_SIZE - 1
    x0 = np.floor(s1)
    y0 = np.floor(s2)
    wx = (s1 - x0).astype(np.float32)
    wy = (s2 - y0).astype(np.float32)
    ix = x0.astype(np.int32) & mask
    iy = y0.astype(np.int32) & mask
    row0 = tile * (TILE_SIZE * TILE_SIZE) + iy * TILE_SIZE
    row1 = tile * (TILE_SIZE * TILE_SIZE) + ((iy + 1) & mask) * TILE_SIZE
    ix1 = (ix + 1) & mask
    top = flat.take(row0 + ix)
    top += wx * (flat.take(row0 + ix1) - top)
    bottom = flat.take(row1 + ix)
    bottom += wx * (flat.take(row1 + ix1) - bottom)
    bottom -= top
    bottom *= wy
    top += bottom
    return top


def sample_texture(tile: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Bilinear, wrapping sample of the full tiles ``tile`` at texel coordinates (s1, s2)."""
    bands = sample_texture_bands(tile, s1, s2)
    return bands.real + bands.imag
