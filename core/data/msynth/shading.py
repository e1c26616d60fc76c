"""Per-spectrum shading of a surface: linear RGB radiance, NIR radiance, thermal signal.

RGB / NIR: albedo x irradiance (sky ambient, sun Lambert; at night street lamps with 1/d^2
falloff, the ego's low beams, the rig's NIR illuminator) + emission, wet-road sky reflections,
then fog. Thermal: temperature per material (ambient, sun heating, engines) -> radiance in raw
counts mixed by emissivity with the reflected sky, then fog.
"""
from __future__ import annotations

import numpy as np

from core.data.msynth.classes import ROAD
from core.data.msynth.conditions import Conditions
from core.data.msynth.materials import Tile, material_tables, sample_texture
from core.data.msynth.raycast import RayGrid, screen_rects
from core.data.msynth.scene import Scene
from core.data.msynth.surface import Surface
from core.data.msynth.thermal_model import celsius_to_signal

LAMP_REACH = 25.0   # m; street lamps fade smoothly to zero at this distance


def _looks(s: Surface, cond: Conditions) -> np.ndarray:
    """The material each pixel looks like (its own unless the condition swaps appearances)."""
    return s.material if cond.appearance is None else cond.appearance.take(s.material)


def _texture(s: Surface, looks: np.ndarray) -> np.ndarray:
    tables = material_tables()
    freq = tables.tex_freq.take(looks)
    return sample_texture(tables.tile.take(looks), s.s1 * freq, s.s2 * freq)


def _tinted(looks: np.ndarray) -> np.ndarray:
    """Pixels whose material takes the primitive's tint."""
    return np.flatnonzero(material_tables().tinted.take(looks))


def _tint_by_id(scene: Scene) -> np.ndarray:
    """(2 + N, 3) tints by pixel id (sky and ground untinted)."""
    return np.concatenate([np.ones((2, 3), np.float32), scene.tint])


def _sky_elevation(s: Surface) -> np.ndarray:
    """Sine of the elevation of the sky pixels' rays."""
    ray = s.ray[:, s.sky]
    return np.clip(-ray[1] / np.sqrt((ray * ray).sum(axis=0)), 0.0, 1.0)


def _fog(radiance: np.ndarray, s: Surface, beta: float, fog_value) -> np.ndarray:
    """Blend towards the fog's radiance with transmittance exp(-beta * depth); sky = fog."""
    if beta <= 0.0:
        return radiance
    transmittance = np.exp(np.float32(-beta) * s.depth)
    transmittance[s.sky] = 0.0
    fog_value = np.asarray(fog_value, np.float32)
    if radiance.ndim == 2:
        transmittance = transmittance[:, None]
    return fog_value + transmittance * (radiance - fog_value)


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
    # The lobe only lights what lies below the lamp: the band from the lamp down to the road.
    centers = lights * np.array([1.0, 0.5, 1.0])
    halves = np.stack([np.full(len(lights), LAMP_REACH), -lights[:, 1] / 2.0,
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
    looks = _looks(s, cond)
    albedo = t.rgb.take(looks, axis=0)
    albedo *= (1.0 + np.float32(cond.texture_gain) * t.tex_rgb.take(looks) * _texture(s, looks))[:, None]
    tinted = _tinted(looks)
    albedo[tinted] *= _tint_by_id(scene).take(s.ids.take(tinted), axis=0)
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
    if cond.wetness > 0.0:
        _wet_reflection(radiance, s, cond, cond.sky_horizon_rgb)
    elevation = np.sqrt(_sky_elevation(s))[:, None]
    horizon, zenith = cond.sky_horizon_rgb, cond.sky_zenith_rgb
    radiance[s.sky] = horizon + elevation * (zenith - horizon)
    return _fog(radiance, s, cond.fog_beta["rgb"], cond.fog_rgb)


def shade_nir(s: Surface, scene: Scene, cond: Conditions, rays: RayGrid) -> np.ndarray:
    """Linear NIR radiance, (H * W,) float32; vegetation bright, asphalt and glass dark."""
    t = material_tables()
    mat = s.material
    looks = _looks(s, cond)
    reflectance = t.nir.take(looks) * (1.0 + np.float32(cond.texture_gain) * t.tex_rgb.take(looks)
                                       * _texture(s, looks))
    # Paints and fabrics reflect NIR roughly in proportion to their visible brightness.
    brightness = 0.35 + 0.65 * np.clip(_tint_by_id(scene).mean(axis=1) / 0.5, 0.0, 1.5)
    tinted = _tinted(looks)
    reflectance[tinted] *= brightness.take(s.ids.take(tinted))
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
    if cond.wetness > 0.0:
        _wet_reflection(radiance, s, cond, cond.sky_nir)
    radiance[s.sky] = cond.sky_nir * (1.0 - 0.3 * np.sqrt(_sky_elevation(s)))
    return _fog(radiance, s, cond.fog_beta["nir"], cond.fog_nir)


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
    celsius += solar * np.float32(4.0) * sun
    looks = _looks(s, cond)
    celsius += np.float32(cond.texture_gain) * t.tex_thr.take(looks) * _texture(s, looks)
    celsius += s.heat
    if cond.thermal_contrast != 1.0:
        celsius = ambient + np.float32(cond.thermal_contrast) * (celsius - ambient)
    # Surfaces reflect (1 - emissivity) of their surroundings: mostly sky when facing up.
    emissivity = t.emissivity.take(mat)
    sky_share = 0.3 + 0.6 * np.maximum(-s.normal[1], 0.0)
    ambient_signal = celsius_to_signal(cond.ambient_c)
    env = ambient_signal + sky_share * np.float32(celsius_to_signal(cond.sky_c) - ambient_signal)
    signal = emissivity * celsius_to_signal(celsius) + (1.0 - emissivity) * env
    # The clear sky is coldest at the zenith and near air temperature at the horizon.
    sky_celsius = cond.ambient_c + np.sqrt(_sky_elevation(s)) * (cond.sky_c - cond.ambient_c)
    signal[s.sky] = celsius_to_signal(sky_celsius)
    return _fog(signal.astype(np.float32), s, cond.fog_beta["thr"], celsius_to_signal(cond.fog_c))
