"""Per-spectrum shading of a surface: linear RGB radiance, NIR radiance, thermal signal.

RGB / NIR: textured albedo x irradiance (sky ambient, sun Lambert; at night street lamps with
1/d^2 falloff, the ego's low beams, the rig's NIR illuminator) + emission, sky reflections on
glass and wet roads, a sky with clouds and the sun, then fog. Thermal: temperature per material
(ambient, sun heating, engines) -> radiance in raw counts mixed by emissivity with the reflected
sky, a cold sky under warmer clouds, then fog.

Every object varies its material's colour, reflectance and temperature a little and shifts its
texture, from a hash of its pixel id and the sequence's salt; the domain-randomised mode
replaces the materials' looks by random ones per (object, material).
"""
from __future__ import annotations

from enum import IntEnum
from functools import lru_cache

import numpy as np

from core.data.msynth.classes import ROAD
from core.data.msynth.conditions import Conditions
from core.data.msynth.materials import (TILE_SIZE, Mat, Tile, material_tables, sample_texture,
                                        sample_texture_bands)
from core.data.msynth.raycast import RayGrid, screen_rects
from core.data.msynth.scene import Scene
from core.data.msynth.surface import Surface
from core.data.msynth.thermal_model import celsius_to_signal

LAMP_REACH = 25.0       # m; street lamps fade smoothly to zero at this distance
CLOUD_HEIGHT = 1500.0   # m above the cameras
CLOUD_TEXELS_PER_M = TILE_SIZE / 6000.0
SUN_RADIUS = 0.009      # rad: about twice the real sun, so that it covers a few pixels
GLASS_R0 = 0.06         # reflectance of (double) glazing at normal incidence
REFLECTIVE = np.zeros(len(Mat), bool)
REFLECTIVE[[Mat.GLASS, Mat.CAR_GLASS, Mat.LIT_WINDOW]] = True
KEYS_PER_ID = 32        # randomised looks are keyed by pixel id * KEYS_PER_ID + material
SURFACE_TILES = np.array([t for t in Tile if t != Tile.CLOUDS], np.int32)


class Draw(IntEnum):
    """The independent random numbers per object (natural) or (object, material) (randomised)."""

    SHIFT_S1 = 0          # texture offsets
    SHIFT_S2 = 1
    BRIGHTNESS = 2        # natural: relative albedo and NIR reflectance
    HUE_R = 3
    HUE_G = 4
    HUE_B = 5
    CELSIUS = 6           # temperature offset
    TILE = 7              # randomised: texture pattern, frequency and contrast
    FREQUENCY = 8
    CONTRAST = 9
    ALBEDO_R = 10
    ALBEDO_G = 11
    ALBEDO_B = 12
    NIR = 13
    THERMAL_CONTRAST = 14


def _looks(s: Surface, cond: Conditions) -> np.ndarray:
    """The material each pixel looks like (its own unless the condition swaps appearances)."""
    return s.material if cond.appearance is None else cond.appearance.take(s.material)


def _tinted(looks: np.ndarray) -> np.ndarray:
    """Pixels whose material takes the primitive's tint."""
    return np.flatnonzero(material_tables().tinted.take(looks))


def _tint_by_id(scene: Scene) -> np.ndarray:
    """(2 + N, 3) tints by pixel id (sky and ground untinted)."""
    return np.concatenate([np.ones((2, 3), np.float32), scene.tint])


@lru_cache(maxsize=64)
def _unit_table(n_keys: int, salt: int, draw: int) -> np.ndarray:
    """(n_keys,) float32 uniform in [0, 1): a hash of (key, salt, draw), read-only."""
    h = np.arange(n_keys, dtype=np.uint32) * np.uint32(0x9E3779B1)
    h ^= np.uint32((salt * 0x85EBCA77 + (int(draw) + 1) * 0xC2B2AE3D) & 0xFFFFFFFF)
    for shift, factor in ((16, 0x7FEB352D), (15, 0x846CA68B)):
        h ^= h >> np.uint32(shift)
        h *= np.uint32(factor)
    h ^= h >> np.uint32(16)
    table = (h >> np.uint32(8)).astype(np.float32) / np.float32(2 ** 24)
    table.flags.writeable = False
    return table


def _keys(s: Surface, cond: Conditions) -> tuple[np.ndarray, int]:
    """Per-pixel key of the per-object random numbers, and the size of the tables of them: a
    power of two above the largest key, so that cameras and frames share the cached tables."""
    if cond.randomised:
        keys = s.ids * KEYS_PER_ID + s.material
    else:
        keys = s.ids
    largest = int(keys.max()) if keys.size else 0
    return keys, 1 << largest.bit_length()


def _per_key(keys: np.ndarray, n_keys: int, cond: Conditions, draw: int) -> np.ndarray:
    return _unit_table(n_keys, cond.object_salt, draw).take(keys)


def _pixel_angle(s: Surface) -> float:
    """Angle between neighbouring pixels' rays at the image centre, radians (about 1 / focal)."""
    if s.width < 2:
        return 0.0
    ray = s.ray.reshape(3, s.height, s.width)[:, s.height // 2, s.width // 2 - 1: s.width // 2 + 1]
    return float(np.linalg.norm(ray[:, 1] - ray[:, 0]) / np.linalg.norm(ray[:, 0]))


@lru_cache(maxsize=16)
def _texture_shifts(n_keys: int, salt: int) -> np.ndarray:
    """(n_keys,) complex64: each object's texture offset in texels (real: s1, imaginary: s2)."""
    shifts = TILE_SIZE * (_unit_table(n_keys, salt, Draw.SHIFT_S1)
                          + 1j * _unit_table(n_keys, salt, Draw.SHIFT_S2))
    shifts = shifts.astype(np.complex64)
    shifts.flags.writeable = False
    return shifts


def _texture(s: Surface, cond: Conditions, keys, n_keys, looks: np.ndarray) -> np.ndarray:
    """(n,) texture value of every pixel: its tile at its frequency, shifted per object, with
    the detail a pixel cannot resolve faded out (first the high band, far away the low one)."""
    if cond.randomised:
        choice = np.float32(len(SURFACE_TILES)) * _per_key(keys, n_keys, cond, Draw.TILE)
        tile = SURFACE_TILES.take(choice.astype(np.int32))
        freq = np.float32(1.5) * np.float32(100.0) ** _per_key(keys, n_keys, cond, Draw.FREQUENCY)
    else:
        t = material_tables()
        tile, freq = t.tile.take(looks), t.tex_freq.take(looks)
    shift = _texture_shifts(n_keys, cond.object_salt).take(keys)
    u = s.s1 * freq
    u += shift.real
    v = s.s2 * freq
    v += shift.imag
    bands = sample_texture_bands(tile, u, v)
    # Texels per pixel: distance / focal, stretched by the obliquity of the surface (the
    # geometric mean of the footprint's two axes).
    obliquity = s.normal[0] * s.ray[0]
    obliquity += s.normal[1] * s.ray[1]
    obliquity += s.normal[2] * s.ray[2]
    np.abs(obliquity, out=obliquity)
    np.sqrt(np.maximum(obliquity, np.float32(0.01), out=obliquity), out=obliquity)
    footprint2 = freq * s.depth
    footprint2 *= np.float32(_pixel_angle(s))
    footprint2 /= obliquity
    footprint2 *= footprint2
    fade = footprint2 * np.float32(1.0 / 4.0)
    fade += np.float32(1.0)
    value = bands.imag / fade
    footprint2 *= np.float32(1.0 / 256.0)
    footprint2 += np.float32(1.0)
    value += bands.real / footprint2
    return value


def _modulation(texture: np.ndarray, amplitude) -> np.ndarray:
    """Relative albedo 1 + amplitude * texture, kept positive where strong textures dip."""
    texture *= amplitude
    texture += np.float32(1.0)
    return np.maximum(texture, np.float32(0.05), out=texture)


def _albedo(s: Surface, scene: Scene, cond: Conditions) -> np.ndarray:
    """(n, 3) linear RGB albedo with texture and per-object variation."""
    keys, n_keys = _keys(s, cond)
    looks = _looks(s, cond)
    texture = _texture(s, cond, keys, n_keys, looks)
    if cond.randomised:
        albedo = np.stack([_per_key(keys, n_keys, cond, draw)
                           for draw in (Draw.ALBEDO_R, Draw.ALBEDO_G, Draw.ALBEDO_B)], axis=1)
        albedo **= np.float32(1.5)     # more dark than bright surfaces, as in streets
        albedo *= np.float32(0.8)
        albedo += np.float32(0.02)
        albedo *= _modulation(texture, _random_contrast(keys, n_keys, cond))[:, None]
        return albedo
    t = material_tables()
    albedo = t.rgb.take(looks, axis=0)
    albedo *= _modulation(texture, np.float32(cond.texture_gain) * t.tex_rgb.take(looks))[:, None]
    # Each object a little brighter or darker, warmer or cooler than its material.
    gain = np.stack([_unit_table(n_keys, cond.object_salt, draw)
                     for draw in (Draw.HUE_R, Draw.HUE_G, Draw.HUE_B)], axis=1)
    gain *= np.float32(0.12)
    gain += np.float32(0.94)
    gain *= _object_brightness(n_keys, cond)[:, None]
    albedo *= gain.take(keys, axis=0)
    tinted = _tinted(looks)
    albedo[tinted] *= _tint_by_id(scene).take(s.ids.take(tinted), axis=0)
    return albedo


def _object_brightness(n_keys: int, cond: Conditions) -> np.ndarray:
    """(n_keys,) each object's albedo and NIR reflectance relative to its material's."""
    draw = _unit_table(n_keys, cond.object_salt, Draw.BRIGHTNESS)
    return np.float32(0.8) + np.float32(0.4) * draw


def _random_contrast(keys: np.ndarray, n_keys: int, cond: Conditions) -> np.ndarray:
    return np.float32(0.1) + np.float32(0.5) * _per_key(keys, n_keys, cond, Draw.CONTRAST)


def _nir_reflectance(s: Surface, scene: Scene, cond: Conditions) -> np.ndarray:
    """(n,) NIR reflectance with texture and per-object variation."""
    keys, n_keys = _keys(s, cond)
    looks = _looks(s, cond)
    texture = _texture(s, cond, keys, n_keys, looks)
    if cond.randomised:
        reflectance = np.float32(0.03) + np.float32(0.7) * _per_key(keys, n_keys, cond, Draw.NIR)
        reflectance *= _modulation(texture, _random_contrast(keys, n_keys, cond))
        return reflectance
    t = material_tables()
    reflectance = t.nir.take(looks)
    reflectance *= _modulation(texture, np.float32(cond.texture_gain) * t.tex_rgb.take(looks))
    reflectance *= _object_brightness(n_keys, cond).take(keys)
    # Paints and fabrics reflect NIR roughly in proportion to their visible brightness.
    tint_brightness = 0.35 + 0.65 * np.clip(_tint_by_id(scene).mean(axis=1) / 0.5, 0.0, 1.5)
    tinted = _tinted(looks)
    reflectance[tinted] *= tint_brightness.take(s.ids.take(tinted))
    return reflectance


def _surface_celsius(s: Surface, cond: Conditions) -> np.ndarray:
    """(n,) degrees C that texture and per-object variation (or the random looks) add."""
    keys, n_keys = _keys(s, cond)
    looks = _looks(s, cond)
    texture = _texture(s, cond, keys, n_keys, looks)
    if cond.randomised:
        texture *= np.float32(0.3) + np.float32(1.5) * _per_key(keys, n_keys, cond,
                                                                  Draw.THERMAL_CONTRAST)
        offset = _per_key(keys, n_keys, cond, Draw.CELSIUS) - np.float32(0.5)
        texture += np.float32(6.0) * offset
        return texture
    texture *= np.float32(cond.texture_gain) * material_tables().tex_thr.take(looks)
    texture += np.float32(1.4) * (_per_key(keys, n_keys, cond, Draw.CELSIUS) - np.float32(0.5))
    return texture


def _camera_origin(s: Surface) -> np.ndarray:
    """The camera centre in the world, from the nearest surface point and its ray."""
    if s.sky.all():
        return np.zeros(3)
    i = int(np.argmin(np.where(s.sky, np.inf, s.depth)))
    return s.point[:, i].astype(np.float64) - s.ray[:, i].astype(np.float64) * s.depth[i]


def _unit_rays(ray: np.ndarray) -> np.ndarray:
    return ray / np.sqrt((ray * ray).sum(axis=0))


def _fog(radiance: np.ndarray, s: Surface, cond: Conditions, spectrum: str, fog_value,
         origin: np.ndarray) -> np.ndarray:
    """Blend towards the fog's radiance with the transmittance along each pixel's ray through
    the heterogeneous fog; the sky is all fog."""
    if cond.fog is None:
        return radiance
    transmittance = cond.fog.transmittance(origin, s.point, spectrum)
    transmittance[s.sky] = 0.0
    fog_value = np.asarray(fog_value, np.float32)
    if radiance.ndim == 2:
        transmittance = transmittance[:, None]
    return fog_value + transmittance * (radiance - fog_value)


def _cloud_density(direction: np.ndarray, origin: np.ndarray, cond: Conditions) -> np.ndarray:
    """(m,) cloud density in [0, 1] seen along unit world directions (3, m): a textured layer
    CLOUD_HEIGHT above the cameras that averages out towards the horizon."""
    cover = np.float32(cond.cloud_cover)
    if cover <= 0.0:
        return np.zeros(direction.shape[1], np.float32)
    up = -direction[1]
    reach = np.float32(CLOUD_HEIGHT * CLOUD_TEXELS_PER_M) / np.maximum(up, np.float32(0.03))
    u = direction[0] * reach + np.float32(origin[0] * CLOUD_TEXELS_PER_M)
    v = direction[2] * reach + np.float32(origin[2] * CLOUD_TEXELS_PER_M)
    noise = sample_texture(np.int32(Tile.CLOUDS), u, v)
    density = np.clip((noise - (np.float32(2.6) - np.float32(4.2) * cover)) / np.float32(0.9),
                      0.0, 1.0)
    fade = np.clip((up - np.float32(0.02)) / np.float32(0.2), 0.0, 1.0)
    return cover + fade * (density - cover)


def _sun_glow(direction: np.ndarray, density: np.ndarray, cond: Conditions) -> np.ndarray:
    """(m,) radiance relative to the sun's of its halo and disc, dimmed by clouds."""
    cosine = direction.T @ cond.sun_dir.astype(np.float32)
    angle = np.sqrt(np.maximum(np.float32(2.0) - np.float32(2.0) * cosine, np.float32(0.0)))
    halo = np.float32(0.5) * np.exp(angle / np.float32(-0.05))
    halo += np.float32(0.1) * np.exp(angle / np.float32(-0.4))
    halo *= np.float32(1.0) - np.float32(0.7) * density
    halo += np.where(angle < SUN_RADIUS, np.float32(25.0), np.float32(0.0)) * (1.0 - density)
    return halo


def _clear_sky_rgb(up: np.ndarray, cond: Conditions) -> np.ndarray:
    """(m, 3) radiance of the clear sky at the sines of elevation ``up``."""
    horizon = cond.sky_horizon_rgb.astype(np.float32)
    elevation = np.sqrt(np.clip(up, 0.0, 1.0))[:, None]
    return horizon + elevation * (cond.sky_zenith_rgb.astype(np.float32) - horizon)


def _clear_sky_nir(up: np.ndarray, cond: Conditions) -> np.ndarray:
    """(m,) NIR radiance of the clear sky (dark in NIR; clouds are bright)."""
    return np.float32(cond.sky_nir) * (1.0 - np.float32(0.3) * np.sqrt(np.clip(up, 0.0, 1.0)))


def _sky_rgb(direction: np.ndarray, origin: np.ndarray, cond: Conditions) -> np.ndarray:
    """(m, 3) radiance of the sky along unit world directions (3, m)."""
    radiance = _clear_sky_rgb(-direction[1], cond)
    density = _cloud_density(direction, origin, cond)
    cloud = cond.cloud_rgb.astype(np.float32) * (1.0 - np.float32(0.45) * density)[:, None]
    radiance += density[:, None] * (cloud - radiance)
    if cond.sun_rgb.any():
        radiance += _sun_glow(direction, density, cond)[:, None] * cond.sun_rgb.astype(np.float32)
    return radiance


def _sky_nir(direction: np.ndarray, origin: np.ndarray, cond: Conditions) -> np.ndarray:
    """(m,) NIR radiance of the sky along unit world directions (3, m)."""
    radiance = _clear_sky_nir(-direction[1], cond)
    density = _cloud_density(direction, origin, cond)
    cloud = np.float32(cond.cloud_nir) * (1.0 - np.float32(0.45) * density)
    radiance += density * (cloud - radiance)
    if cond.sun_nir > 0.0:
        radiance += np.float32(cond.sun_nir) * _sun_glow(direction, density, cond)
    return radiance


def _sky_signal(direction: np.ndarray, origin: np.ndarray, cond: Conditions) -> np.ndarray:
    """(m,) thermal signal of the sky: the clear sky coldest at the zenith and near the air's
    temperature at the horizon; clouds radiate at their (warmer) base temperature."""
    elevation = np.sqrt(np.clip(-direction[1], 0.0, 1.0))
    clear = celsius_to_signal(cond.ambient_c + elevation * np.float32(cond.sky_c - cond.ambient_c))
    density = _cloud_density(direction, origin, cond)
    return clear + density * (np.float32(celsius_to_signal(cond.cloud_c)) - clear)


def _glass_reflection(s: Surface, idx: np.ndarray, clear_sky, cloud, cond: Conditions,
                      ground) -> np.ndarray:
    """Radiance that glass at pixels ``idx`` mirrors along the reflected ray, weighted by
    Schlick's Fresnel term: the sky (``clear_sky(sine of elevation)`` under the mean cloud
    cover of radiance ``cloud``) above the horizon, ``ground`` below."""
    ray = s.ray[:, idx]
    normal = s.normal[:, idx]
    inv_length = 1.0 / np.sqrt((ray * ray).sum(axis=0))
    cosine = np.clip(-(ray * normal).sum(axis=0) * inv_length, 0.0, 1.0)
    up = -(ray[1] * inv_length + 2.0 * cosine * normal[1])
    grazing = 1.0 - cosine
    grazing2 = grazing * grazing
    fresnel = GLASS_R0 + (1.0 - GLASS_R0) * grazing2 * grazing2 * grazing
    above = np.clip(0.5 + 10.0 * up, 0.0, 1.0)   # fades over +-3 degrees
    cover = np.float32(cond.cloud_cover)
    env = clear_sky(up, cond)
    env += cover * (np.asarray(cloud, np.float32) * (1.0 - np.float32(0.45) * cover) - env)
    ground = np.asarray(ground, np.float32)
    if env.ndim == 2:
        fresnel, above = fresnel[:, None], above[:, None]
    env -= ground
    env *= above
    env += ground
    env *= fresnel
    return env


def _sky_and_sun(s: Surface, cond: Conditions) -> tuple[np.ndarray, np.ndarray]:
    """(share of the sky dome seen by the surface, cosine towards the sun clipped at 0)."""
    dome = np.float32(0.7) - np.float32(0.3) * s.normal[1]
    L = cond.sun_dir.astype(np.float32)
    sun = s.normal[0] * L[0]
    sun += s.normal[1] * L[1]
    sun += s.normal[2] * L[2]
    np.maximum(sun, 0.0, out=sun)
    if s.sunlit is not None:
        sun *= s.sunlit
    return dome, sun


def _lamp_irradiance(s: Surface, scene: Scene, rays: RayGrid) -> np.ndarray:
    """Unit-intensity irradiance of the street lamps within reach: a downward lobe
    (cos^1.5 from the vertical), 1/d^2 falloff and a smooth cutoff at LAMP_REACH."""
    h, w = s.height, s.width
    total = np.zeros((h, w), np.float32)
    lights = scene.street_lights
    if len(lights) == 0:
        return total.ravel()
    # The lobe only lights what lies below the lamp: the band from the lamp down to the lowest
    # ground of a hilly road.
    ground = scene.road.deepest()
    centers = lights.copy()
    centers[:, 1] = (lights[:, 1] + ground) / 2.0
    halves = np.stack([np.full(len(lights), LAMP_REACH), (ground - lights[:, 1]) / 2.0,
                       np.full(len(lights), LAMP_REACH)], axis=1)
    rects, _, visible = screen_rects(centers, halves, rays.camera, rays.T_world_cam)
    point = s.point.reshape(3, h, w)
    normal = s.normal.reshape(3, h, w)
    for i in np.flatnonzero(visible):
        v0, v1, u0, u1 = rects[i]
        to_lamp = lights[i].astype(np.float32)[:, None, None] - point[:, v0:v1, u0:u1]
        d2 = (to_lamp * to_lamp).sum(axis=0)
        inv_d = 1.0 / np.sqrt(d2)
        cosine = (to_lamp * normal[:, v0:v1, u0:u1]).sum(axis=0) * inv_d
        lobe = np.maximum(-to_lamp[1] * inv_d, 0.0)
        fade = np.maximum(1.0 - d2 / np.float32(LAMP_REACH ** 2), 0.0)
        lobe *= np.sqrt(lobe)
        total[v0:v1, u0:u1] += np.maximum(cosine, 0.0) * lobe * fade * fade / (d2 + 0.5)
    return total.ravel()


def _beam_irradiance(s: Surface, rays: RayGrid, width_rad: float, cutoff: float) -> np.ndarray:
    """Unit-intensity irradiance of a lamp at the camera shining forward and down.

    E = beam(pixel) * cos(incidence) / distance^2 with distance = depth * |ray| and
    cos = -n.ray / |ray|; the beam fades out above ``cutoff`` (tangent of the elevation).
    """
    K = rays.camera.K
    x = ((np.arange(s.width) - K[0, 2]) / K[0, 0]).astype(np.float32)
    y = ((np.arange(s.height) - K[1, 2]) / K[1, 1]).astype(np.float32)
    beam = (np.exp(-(x / np.float32(width_rad)) ** 2)[None, :]
            * np.clip((y + np.float32(cutoff)) / np.float32(0.05), 0.0, 1.0)[:, None])
    norm2 = x[None, :] ** 2 + y[:, None] ** 2 + 1.0
    gain = (beam / (norm2 * np.sqrt(norm2))).ravel()
    cosine = np.maximum(-(s.normal * s.ray).sum(axis=0), 0.0)
    return gain * cosine / np.maximum(s.depth, 1.0) ** 2


def _wet_reflection(radiance: np.ndarray, s: Surface, cond: Conditions, sky_value) -> None:
    """Add the sky mirrored by a wet road: Schlick's Fresnel term, patchy like puddles."""
    road = np.flatnonzero(s.classes == ROAD)
    ray = s.ray[:, road]
    cosine = ray[1] / np.sqrt((ray * ray).sum(axis=0))
    fresnel = 0.02 + 0.98 * (1.0 - cosine) ** 5
    puddles = np.clip(0.3 + 0.6 * sample_texture(np.int32(Tile.MOTTLED), s.s1[road] * 0.7,
                                                   s.s2[road] * 0.7), 0.05, 1.0)
    reflection = np.float32(0.6 * cond.wetness) * fresnel * puddles
    sky_value = np.asarray(sky_value, np.float32)
    if radiance.ndim == 2:
        radiance[road] += reflection[:, None] * sky_value
    else:
        radiance[road] += reflection * sky_value


def shade_rgb(s: Surface, scene: Scene, cond: Conditions, rays: RayGrid) -> np.ndarray:
    """Linear RGB radiance, (H * W, 3) float32."""
    t = material_tables()
    mat = s.material
    albedo = _albedo(s, scene, cond)
    if cond.wetness > 0.0:
        albedo[s.classes == ROAD] *= np.float32(1.0 - 0.5 * cond.wetness)
    dome, sun = _sky_and_sun(s, cond)
    irradiance = dome[:, None] * cond.ambient_rgb.astype(np.float32)
    irradiance += sun[:, None] * cond.sun_rgb.astype(np.float32)
    if cond.street_light_rgb.any():
        lamps = _lamp_irradiance(s, scene, rays)
        irradiance += lamps[:, None] * cond.street_light_rgb.astype(np.float32)
    if cond.headlight_rgb.any():
        beam = _beam_irradiance(s, rays, width_rad=0.35, cutoff=0.02)
        irradiance += beam[:, None] * cond.headlight_rgb.astype(np.float32)
    radiance = albedo * irradiance
    glowing = np.flatnonzero(t.is_glowing.take(mat))
    radiance[glowing] += np.float32(cond.glow) * t.glow_rgb.take(mat.take(glowing), axis=0)
    origin = rays.origin
    glass = np.flatnonzero(REFLECTIVE.take(mat))
    if glass.size:
        ground = 0.09 * (cond.ambient_rgb - cond.sun_dir[1] * cond.sun_rgb)
        radiance[glass] += _glass_reflection(s, glass, _clear_sky_rgb, cond.cloud_rgb, cond, ground)
    if cond.wetness > 0.0:
        _wet_reflection(radiance, s, cond, cond.sky_horizon_rgb)
    radiance[s.sky] = _sky_rgb(_unit_rays(s.ray[:, s.sky]), origin, cond)
    return _fog(radiance, s, cond, "rgb", cond.fog_rgb, origin)


def shade_nir(s: Surface, scene: Scene, cond: Conditions, rays: RayGrid) -> np.ndarray:
    """Linear NIR radiance, (H * W,) float32; vegetation bright, asphalt and glass dark."""
    t = material_tables()
    mat = s.material
    reflectance = _nir_reflectance(s, scene, cond)
    if cond.wetness > 0.0:
        reflectance[s.classes == ROAD] *= np.float32(1.0 - 0.5 * cond.wetness)
    dome, sun = _sky_and_sun(s, cond)
    irradiance = np.float32(cond.ambient_nir) * dome + np.float32(cond.sun_nir) * sun
    if cond.street_light_nir > 0.0:
        irradiance += np.float32(cond.street_light_nir) * _lamp_irradiance(s, scene, rays)
    if cond.nir_illuminator > 0.0:
        irradiance += np.float32(cond.nir_illuminator) * _beam_irradiance(s, rays, 0.8, 0.15)
    radiance = reflectance * irradiance
    glowing = np.flatnonzero(t.is_glowing.take(mat))
    radiance[glowing] += np.float32(cond.glow) * t.glow_nir.take(mat.take(glowing))
    origin = rays.origin
    glass = np.flatnonzero(REFLECTIVE.take(mat))
    if glass.size:
        ground = 0.1 * (cond.ambient_nir - cond.sun_dir[1] * cond.sun_nir)
        radiance[glass] += _glass_reflection(s, glass, _clear_sky_nir, cond.cloud_nir, cond, ground)
    if cond.wetness > 0.0:
        _wet_reflection(radiance, s, cond, cond.sky_nir)
    radiance[s.sky] = _sky_nir(_unit_rays(s.ray[:, s.sky]), origin, cond)
    return _fog(radiance, s, cond, "nir", cond.fog_nir, origin)


def shade_thermal(s: Surface, cond: Conditions) -> np.ndarray:
    """Thermal signal in raw counts above the camera offset, (H * W,) float32."""
    t = material_tables()
    mat = s.material
    ambient = np.float32(cond.ambient_c)
    solar = np.float32(cond.solar)
    night = t.temp_night.take(mat)
    heating = solar * (t.temp_day.take(mat) - night)
    if s.sunlit is not None:
        heating *= 0.5 + 0.5 * s.sunlit        # shaded ground stays cooler
    celsius = t.ambient_weight.take(mat) * ambient + night + heating
    _, sun = _sky_and_sun(s, cond)
    celsius += solar * t.sun_heating.take(mat) * sun
    celsius += _surface_celsius(s, cond)
    celsius += s.heat
    if cond.thermal_contrast != 1.0:
        celsius = ambient + np.float32(cond.thermal_contrast) * (celsius - ambient)
    # Surfaces reflect (1 - emissivity) of their surroundings: mostly sky when facing up.
    emissivity = t.emissivity.take(mat)
    sky_share = 0.3 + 0.6 * np.maximum(-s.normal[1], 0.0)
    ambient_signal = celsius_to_signal(cond.ambient_c)
    env = ambient_signal + sky_share * np.float32(celsius_to_signal(cond.sky_c) - ambient_signal)
    signal = emissivity * celsius_to_signal(celsius) + (1.0 - emissivity) * env
    origin = _camera_origin(s)
    signal[s.sky] = _sky_signal(_unit_rays(s.ray[:, s.sky]), origin, cond)
    return _fog(signal.astype(np.float32), s, cond, "thr", celsius_to_signal(cond.fog_c), origin)
