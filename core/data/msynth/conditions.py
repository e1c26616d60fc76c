"""Lighting, weather and sensor settings of one sequence under one condition.

Everything is drawn from (seed, condition), so a sequence looks the same in every frame and a
scene can be rendered under any condition for side-by-side comparisons.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.frame import CONDITIONS, EVAL_CONDITIONS
from core.data.msynth.materials import Mat


@dataclass(frozen=True)
class Conditions:
    name: str
    # light sources (linear radiometric units; RGB triples, NIR scalars)
    sun_dir: np.ndarray          # unit vector towards the sun, world frame
    sun_rgb: np.ndarray
    sun_nir: float
    ambient_rgb: np.ndarray      # sky light on an upward-facing surface
    ambient_nir: float
    sky_horizon_rgb: np.ndarray
    sky_zenith_rgb: np.ndarray
    sky_nir: float
    street_light_rgb: np.ndarray  # intensity of each street lamp (night)
    street_light_nir: float
    headlight_rgb: np.ndarray    # the ego car's low beams (night)
    nir_illuminator: float       # the rig's active NIR light (night)
    glow: float                  # scale of emissive surfaces (lamps, car lights)
    lit_windows: float           # fraction of lit windows
    # thermal
    ambient_c: float
    sky_c: float                 # sky temperature at the zenith
    solar: float                 # 1 in full sun: heats sunlit surfaces
    shadows: bool                # the sun casts sharp shadows
    thermal_contrast: float      # < 1 when rain pulls surfaces to the water's temperature
    # weather
    fog_beta: dict               # extinction per metre for 'rgb', 'nir', 'thr'
    fog_rgb: np.ndarray
    fog_nir: float
    fog_c: float
    wetness: float               # wet road: darker albedo and sky reflections
    rain_streaks: int            # streaks per megapixel
    veil: float                  # contrast loss: blend towards the mean level
    # sensors
    exposure_rgb: float
    exposure_nir: float
    noise_rgb: float             # grain in the sqrt-intensity domain
    noise_nir: float
    noise_thr: float             # thermal noise, raw counts
    # surface appearance ('texture' condition)
    appearance: np.ndarray | None  # (M,) material whose albedo, reflectance and texture each
                                   # material shows; None = its own
    texture_gain: float          # scale of every material's texture (0 = textureless)


def condition_params(seed: int, condition: str) -> Conditions:
    """The settings of sequence ``seed`` under ``condition`` (one of EVAL_CONDITIONS)."""
    if condition not in EVAL_CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; expected one of {EVAL_CONDITIONS}")
    # The sun, the air temperature and the camera's exposure belong to the sequence; the
    # condition then changes them, so one scene can be compared across conditions.
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0D1]))
    elevation = np.deg2rad(rng.uniform(20.0, 60.0))
    azimuth = rng.uniform(0.0, 2.0 * np.pi)
    sun_dir = np.array([np.cos(elevation) * np.sin(azimuth), -np.sin(elevation),
                        np.cos(elevation) * np.cos(azimuth)])
    ambient_c = rng.uniform(23.0, 31.0)
    sun = rng.uniform(1.4, 1.9)
    exposure_rgb, exposure_nir = rng.uniform(0.9, 1.1, 2)
    # 'texture' keeps the day's light exactly: it draws what the day draws.
    lighting = "day" if condition == "texture" else condition
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0D1, CONDITIONS.index(lighting)]))
    rgb = np.array
    params = dict(  # clear day
        name=condition, sun_dir=sun_dir, sun_rgb=sun * rgb([1.0, 0.95, 0.86]), sun_nir=0.9 * sun,
        ambient_rgb=rng.uniform(0.8, 1.1) * rgb([0.36, 0.42, 0.52]), ambient_nir=0.35,
        sky_horizon_rgb=rgb([0.78, 0.84, 0.92]), sky_zenith_rgb=rgb([0.22, 0.40, 0.78]),
        sky_nir=0.45, street_light_rgb=np.zeros(3), street_light_nir=0.0,
        headlight_rgb=np.zeros(3), nir_illuminator=0.0, glow=0.06, lit_windows=0.0,
        ambient_c=ambient_c, sky_c=ambient_c - 45.0, solar=1.0, shadows=True,
        thermal_contrast=1.0, fog_beta={"rgb": 0.0, "nir": 0.0, "thr": 0.0},
        fog_rgb=np.zeros(3), fog_nir=0.0, fog_c=ambient_c, wetness=0.0, rain_streaks=0, veil=0.0,
        exposure_rgb=exposure_rgb, exposure_nir=exposure_nir,
        noise_rgb=0.004, noise_nir=0.005, noise_thr=4.0, appearance=None, texture_gain=1.0)
    if condition == "night":
        ambient_c -= rng.uniform(1.0, 3.0)
        sodium = rng.random() < 0.6
        lamp = rng.uniform(2.0, 4.0) * (rgb([1.0, 0.78, 0.5]) if sodium else rgb([0.9, 0.92, 1.0]))
        params.update(
            sun_rgb=np.zeros(3), sun_nir=0.0, ambient_rgb=rgb([0.004, 0.005, 0.008]),
            ambient_nir=0.004, sky_horizon_rgb=rgb([0.010, 0.010, 0.014]),
            sky_zenith_rgb=rgb([0.002, 0.003, 0.006]), sky_nir=0.005,
            street_light_rgb=lamp, street_light_nir=0.15 * float(lamp.mean()),
            headlight_rgb=rng.uniform(150.0, 250.0) * rgb([1.0, 0.97, 0.9]),
            nir_illuminator=rng.uniform(30.0, 45.0), glow=1.0,
            lit_windows=rng.uniform(0.15, 0.45), ambient_c=ambient_c, sky_c=ambient_c - 40.0,
            solar=0.0, shadows=False, fog_c=ambient_c, exposure_rgb=0.3 * exposure_rgb,
            exposure_nir=2.0 * exposure_nir, noise_rgb=0.06, noise_nir=0.02, noise_thr=4.5)
    elif condition == "fog":
        beta = rng.uniform(0.06, 0.12)  # visibility 3 / beta: 25 to 50 m
        fog = rng.uniform(0.6, 0.75) * rgb([0.96, 0.98, 1.0])
        params.update(
            sun_rgb=0.3 * params["sun_rgb"], sun_nir=0.3 * params["sun_nir"],
            ambient_rgb=rgb([0.75, 0.77, 0.8]), ambient_nir=0.6, glow=0.15,
            sky_horizon_rgb=fog, sky_zenith_rgb=fog, sky_nir=0.55, sky_c=ambient_c - 6.0,
            solar=0.3, shadows=False,
            fog_beta={"rgb": beta, "nir": 0.55 * beta, "thr": 0.12 * beta},
            fog_rgb=fog, fog_nir=0.55, fog_c=ambient_c - 1.5)
    elif condition == "rain":
        ambient_c -= rng.uniform(1.0, 3.0)
        overcast = rng.uniform(0.45, 0.6)
        params.update(
            sun_rgb=0.15 * params["sun_rgb"], sun_nir=0.15 * params["sun_nir"],
            ambient_rgb=overcast * rgb([1.0, 1.02, 1.08]), ambient_nir=overcast,
            sky_horizon_rgb=(overcast + 0.12) * rgb([0.95, 0.97, 1.0]),
            sky_zenith_rgb=overcast * rgb([0.8, 0.82, 0.86]), sky_nir=0.4, glow=0.25,
            ambient_c=ambient_c, sky_c=ambient_c - 12.0, fog_c=ambient_c, solar=0.25,
            shadows=False, thermal_contrast=rng.uniform(0.45, 0.6),
            wetness=rng.uniform(0.7, 1.0), rain_streaks=int(rng.uniform(600, 1400)),
            veil=rng.uniform(0.1, 0.2), noise_rgb=0.006, noise_nir=0.007)
    elif condition == "texture":
        params.update(texture_params(seed))
    return Conditions(**params)


# Materials whose looks the 'texture' condition shuffles; light sources keep theirs.
SWAPPABLE_MATERIALS = tuple(m for m in Mat if m not in (Mat.LIT_WINDOW, Mat.HEADLIGHT, Mat.TAILLIGHT, Mat.LAMP))


def texture_params(seed: int) -> dict:
    """Misleading or missing texture: every swappable material takes another's albedo, NIR
    reflectance and texture pattern; half of the scenes then lose all texture, the other
    half get it 1.5-3x stronger."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7E47]))
    appearance = np.arange(len(Mat))
    appearance[list(SWAPPABLE_MATERIALS)] = rng.permutation(SWAPPABLE_MATERIALS)
    gain = 0.0 if rng.random() < 0.5 else float(rng.uniform(1.5, 3.0))
    return {"appearance": appearance, "texture_gain": gain}
