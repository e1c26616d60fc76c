"""Lighting, weather and sensor settings of one sequence under one condition.

Everything is drawn from (seed, condition), so a sequence looks the same in every frame and a
scene can be rendered under any condition for side-by-side comparisons. The sun, the air
temperature, the cameras and the objects' colour variation belong to the seed; a condition
then changes the light and the weather.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.frame import CONDITIONS, EVAL_CONDITIONS, TEST_ONLY_CONDITIONS
from core.data.msynth.materials import Mat
from core.data.msynth.sensors import CameraSettings

# Fog profiles span this much world coordinate; beyond, the extinction stays at the base level.
FOG_ALONG_RANGE = (-1000.0, 3000.0)    # z, m
FOG_ACROSS_RANGE = (-2000.0, 2000.0)   # x, m
_FLAT_MARGIN = 100.0                   # m at either end of a profile kept at the base level
SHORT_INTERVAL = 0.1    # m; shorter spans take beta at their middle (float32 quotients are noisy)


@dataclass(frozen=True)
class FogProfile:
    """A piecewise-linear extinction coefficient beta(t) (per metre) on a uniform grid, constant
    beyond its ends, with its exact antiderivative."""

    start: float
    step: float
    beta: np.ndarray        # (K,) float64 at start + k * step
    cumulative: np.ndarray  # (K,) float64 integral of beta from ``start`` to each knot

    @classmethod
    def from_knots(cls, start: float, step: float, beta: np.ndarray) -> "FogProfile":
        segments = 0.5 * step * (beta[1:] + beta[:-1])
        return cls(start, step, beta, np.concatenate([[0.0], np.cumsum(segments)]))

    def _segment(self, t: np.ndarray):
        """Segment index and position in it (outside [0, 1] beyond the ends, where the end
        segments are flat so the formulas extend beta and its integral exactly)."""
        f = (np.asarray(t, np.float32) - np.float32(self.start)) * np.float32(1.0 / self.step)
        index = np.clip(f, 0, len(self.beta) - 2).astype(np.int32)
        return index, f - index

    def at(self, t: np.ndarray) -> np.ndarray:
        index, w = self._segment(t)
        b0 = self.beta.take(index)
        return b0 + np.clip(w, 0.0, 1.0) * (self.beta.take(index + 1) - b0)

    def integral(self, t) -> np.ndarray:
        """Antiderivative B(t) = int_start^t beta (float64): exact for the piecewise-linear
        beta."""
        f = (np.asarray(t, np.float64) - self.start) / self.step
        index = np.clip(np.floor(f), 0, len(self.beta) - 2).astype(np.intp)
        w = f - index
        b0 = self.beta.take(index)
        slope = self.beta.take(index + 1) - b0
        return self.cumulative.take(index) + self.step * w * (b0 + 0.5 * slope * w)

    def mean_between(self, a: float, b: np.ndarray) -> np.ndarray:
        """(n,) float32 mean of beta over [a, b] for a scalar ``a``: (B(b) - B(a)) / (b - a),
        and beta at the middle where the interval is too short for the difference quotient.

        Evaluated in float32 relative to ``a`` (grid position and B(a)), which keeps the
        precision of short intervals."""
        position = (a - self.start) / self.step
        knot = np.floor(position)
        offset = (b - np.float32(a)) * np.float32(1.0 / self.step)
        cells = offset + np.float32(position - knot)
        index = np.clip(np.floor(cells) + np.float32(knot), 0, len(self.beta) - 2)
        w = cells - (index - np.float32(knot))
        index = index.astype(np.int32)
        relative = (self.cumulative - self.integral(a)).astype(np.float32)
        b0 = self.beta.astype(np.float32)
        # Integral over the part of the segment before b: step * w * (beta_0 + slope * w / 2).
        within = (np.float32(0.5) * np.diff(b0)).take(index)
        within *= w
        within += b0.take(index)
        within *= w
        within *= np.float32(self.step)
        quotient = relative.take(index)
        quotient += within
        length = offset * np.float32(self.step)
        short = np.flatnonzero(np.abs(length) < SHORT_INTERVAL)
        length[short] = 1.0
        quotient /= length
        quotient[short] = self.at(0.5 * (a + b.take(short)))
        return quotient


@dataclass(frozen=True)
class FogField:
    """Heterogeneous fog: extinction beta(x, z) = along(z) + across(x) per metre in RGB (banks
    along the road, patches beside it); other spectra scale it by ``spectral``.

    Along a straight ray both terms vary linearly with the distance travelled, so the optical
    depth is the distance times the mean of each profile over the ray's z and x spans: exact.
    """

    along: FogProfile
    across: FogProfile
    spectral: dict          # extinction relative to RGB: 'rgb' 1, 'nir', 'thr'

    def beta(self, x: np.ndarray, z: np.ndarray, spectrum: str = "rgb") -> np.ndarray:
        return self.spectral[spectrum] * (self.along.at(z) + self.across.at(x))

    def transmittance(self, origin: np.ndarray, points: np.ndarray, spectrum: str = "rgb") -> np.ndarray:
        """(n,) float32 share of light that crosses the fog from ``points`` to ``origin``."""
        return np.exp(-self.optical_depth(origin, points, spectrum))

    def optical_depth(self, origin: np.ndarray, points: np.ndarray, spectrum: str = "rgb"):
        """(n,) float32 optical depth of the straight paths from ``origin`` (3,) to ``points``
        (3, n) float32, world frame."""
        origin = np.asarray(origin, np.float64)
        distance = np.zeros(points.shape[1], np.float32)
        for axis in range(3):
            delta = points[axis] - np.float32(origin[axis])
            delta *= delta
            distance += delta
        np.sqrt(distance, out=distance)
        mean_beta = self.along.mean_between(origin[2], points[2])
        mean_beta += self.across.mean_between(origin[0], points[0])
        mean_beta *= np.float32(self.spectral[spectrum])
        mean_beta *= distance
        return mean_beta


def _soft_bumps(grid: np.ndarray, rng: np.random.Generator, span, gap, half_width, peak):
    """Max of flat-topped bumps with soft edges, placed along ``span`` with random gaps."""
    profile = np.zeros_like(grid)
    position = span[0] + rng.uniform(*gap)
    while position < span[1]:
        width = rng.uniform(*half_width)
        edge = np.clip((width - np.abs(grid - position)) / (0.5 * width), 0.0, 1.0)
        np.maximum(profile, rng.uniform(*peak) * edge * edge * (3.0 - 2.0 * edge), out=profile)
        position += width + rng.uniform(*gap)
    return profile


def draw_fog(rng: np.random.Generator) -> FogField:
    """Dense fog: banks with a visibility (3 / beta) of about 10-30 m in RGB, separated by fog
    that still hides beyond 40-100 m, so mid-range structure is hidden too (light fog between
    banks left RGB a distance cue, "grey means far", and no harder than day); NIR sees 1.3-1.8x
    further, LWIR extinction is 3-8 % of RGB's."""
    base = rng.uniform(0.03, 0.075)
    step = 1.0
    z = np.arange(FOG_ALONG_RANGE[0], FOG_ALONG_RANGE[1] + step, step)
    span = (FOG_ALONG_RANGE[0] + _FLAT_MARGIN, FOG_ALONG_RANGE[1] - 2 * _FLAT_MARGIN)
    banks = _soft_bumps(z, rng, span, gap=(15.0, 80.0), half_width=(15.0, 60.0),
                        peak=(0.07, 0.225))
    step_x = 2.0
    x = np.arange(FOG_ACROSS_RANGE[0], FOG_ACROSS_RANGE[1] + step_x, step_x)
    span_x = (FOG_ACROSS_RANGE[0] + _FLAT_MARGIN, FOG_ACROSS_RANGE[1] - 2 * _FLAT_MARGIN)
    patches = _soft_bumps(x, rng, span_x, gap=(20.0, 150.0), half_width=(5.0, 30.0),
                          peak=(0.0, 0.05))
    return FogField(FogProfile.from_knots(z[0], step, base + banks),
                    FogProfile.from_knots(x[0], step_x, patches),
                    {"rgb": 1.0, "nir": float(rng.uniform(0.55, 0.75)),
                     "thr": float(rng.uniform(0.03, 0.08))})


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
    # sky
    cloud_cover: float           # share of the sky the cloud layer covers
    cloud_rgb: np.ndarray        # radiance of a thin cloud; thick ones are darker
    cloud_nir: float
    cloud_c: float               # cloud base temperature
    # thermal
    ambient_c: float
    sky_c: float                 # clear sky temperature at the zenith
    solar: float                 # 1 in full sun: heats sunlit surfaces
    shadows: bool                # the sun casts sharp shadows
    thermal_contrast: float      # < 1 when rain pulls surfaces to the water's temperature
    # weather
    fog: FogField | None         # None: clear air
    fog_rgb: np.ndarray          # radiance of the fog (airlight)
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
    camera_rgb: CameraSettings
    camera_nir: CameraSettings
    # surface appearance
    object_salt: int             # seeds each object's colour and texture variation
    randomised: bool             # random albedo, NIR reflectance and texture per object
    appearance: np.ndarray | None  # (M,) material whose albedo, reflectance and texture each
                                   # material shows ('texture' condition); None = its own
    texture_gain: float          # scale of every material's texture (0 = textureless)


def draw_camera(rng: np.random.Generator, colour: bool) -> CameraSettings:
    """A camera's optics and image processing: mild blur and vignetting, a tone curve, a colour
    cast and saturation (RGB) and JPEG quality."""
    white_balance = np.exp(rng.normal(0.0, 0.05, 3)) if colour else np.ones(1)
    return CameraSettings(
        blur=float(rng.uniform(0.2, 1.0)), vignetting=float(rng.uniform(0.1, 0.35)),
        white_balance=tuple(float(g) for g in white_balance / white_balance.mean()),
        saturation=float(rng.uniform(0.85, 1.3)) if colour else 1.0,
        gamma=float(rng.uniform(2.0, 2.4)),
        shoulder=float(rng.uniform(0.6, 0.85)), jpeg_quality=int(rng.integers(65, 96)))


def condition_params(seed: int, condition: str, randomised: bool = False) -> Conditions:
    """The settings of sequence ``seed`` under ``condition`` (one of EVAL_CONDITIONS).

    randomised: domain-randomised appearance for training: every object shows a random albedo,
    NIR reflectance, texture pattern and frequency and a small temperature offset, under light
    of random colour and intensity; geometry, weather and sensors stay those of the sequence.
    """
    if condition not in EVAL_CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; expected one of {EVAL_CONDITIONS}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0D1]))
    elevation = np.deg2rad(rng.uniform(20.0, 60.0))
    azimuth = rng.uniform(0.0, 2.0 * np.pi)
    sun_dir = np.array([np.cos(elevation) * np.sin(azimuth), -np.sin(elevation),
                        np.cos(elevation) * np.cos(azimuth)])
    ambient_c = rng.uniform(23.0, 31.0)
    sun = rng.uniform(1.4, 1.9)
    exposure_rgb, exposure_nir = rng.uniform(0.8, 1.25, 2)
    sequence = np.random.default_rng(np.random.SeedSequence([seed, 0xCA3E]))
    camera_rgb, camera_nir = draw_camera(sequence, True), draw_camera(sequence, False)
    object_salt = int(sequence.integers(0, 2 ** 31))
    cover = float(sequence.uniform(0.0, 0.85))
    # 'texture' and 'clear' keep the day's light exactly: they draw what the day draws.
    lighting = "day" if condition in TEST_ONLY_CONDITIONS else condition
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0D1, CONDITIONS.index(lighting)]))
    rgb = np.array
    # Clouds let through less sun and add diffuse light.
    sun *= 1.0 - 0.4 * cover ** 2
    ambient_rgb = rng.uniform(0.8, 1.1) * (1.0 + 0.3 * cover) * rgb([0.36, 0.42, 0.52])
    params = dict(  # clear day
        name=condition, sun_dir=sun_dir, sun_rgb=sun * rgb([1.0, 0.95, 0.86]), sun_nir=0.9 * sun,
        ambient_rgb=ambient_rgb, ambient_nir=0.35 * (1.0 + 0.3 * cover),
        sky_horizon_rgb=rgb([0.78, 0.84, 0.92]), sky_zenith_rgb=rgb([0.22, 0.40, 0.78]),
        sky_nir=0.3, street_light_rgb=np.zeros(3), street_light_nir=0.0,
        headlight_rgb=np.zeros(3), nir_illuminator=0.0, glow=0.06, lit_windows=0.0,
        cloud_cover=cover, cloud_rgb=0.35 * sun * rgb([1.0, 0.97, 0.93]) + 1.2 * ambient_rgb,
        cloud_nir=0.35 * 0.9 * sun + 1.2 * 0.35, cloud_c=ambient_c - rng.uniform(8.0, 20.0),
        ambient_c=ambient_c, sky_c=ambient_c - 45.0, solar=1.0, shadows=True,
        thermal_contrast=1.0, fog=None, fog_rgb=np.zeros(3), fog_nir=0.0, fog_c=ambient_c,
        wetness=0.0, rain_streaks=0, veil=0.0, exposure_rgb=exposure_rgb,
        exposure_nir=exposure_nir, noise_rgb=0.004, noise_nir=0.005, noise_thr=4.0,
        camera_rgb=camera_rgb, camera_nir=camera_nir, object_salt=object_salt,
        randomised=randomised, appearance=None, texture_gain=1.0)
    if condition == "night":
        ambient_c -= rng.uniform(1.0, 3.0)
        sodium = rng.random() < 0.6
        lamp = rng.uniform(2.0, 4.0) * (rgb([1.0, 0.78, 0.5]) if sodium else rgb([0.9, 0.92, 1.0]))
        params.update(
            sun_rgb=np.zeros(3), sun_nir=0.0, ambient_rgb=rgb([0.004, 0.005, 0.008]),
            ambient_nir=0.004, sky_horizon_rgb=rgb([0.010, 0.010, 0.014]),
            sky_zenith_rgb=rgb([0.002, 0.003, 0.006]), sky_nir=0.005,
            cloud_rgb=rgb([0.016, 0.013, 0.011]), cloud_nir=0.008,  # lit by the city
            street_light_rgb=lamp, street_light_nir=0.15 * float(lamp.mean()),
            headlight_rgb=rng.uniform(150.0, 250.0) * rgb([1.0, 0.97, 0.9]),
            nir_illuminator=rng.uniform(30.0, 45.0), glow=1.0,
            lit_windows=rng.uniform(0.15, 0.45), ambient_c=ambient_c, sky_c=ambient_c - 40.0,
            cloud_c=ambient_c - rng.uniform(6.0, 15.0), solar=0.0, shadows=False,
            fog_c=ambient_c, exposure_rgb=0.3 * exposure_rgb, exposure_nir=2.0 * exposure_nir,
            noise_rgb=0.06, noise_nir=0.02, noise_thr=4.5)
    elif condition == "fog":
        fog = rng.uniform(0.6, 0.75) * rgb([0.96, 0.98, 1.0])
        params.update(
            sun_rgb=0.3 * params["sun_rgb"], sun_nir=0.3 * params["sun_nir"],
            ambient_rgb=rgb([0.75, 0.77, 0.8]), ambient_nir=0.6, glow=0.15,
            sky_horizon_rgb=fog, sky_zenith_rgb=fog, sky_nir=0.55, sky_c=ambient_c - 6.0,
            cloud_cover=1.0, cloud_rgb=fog, cloud_nir=0.55, cloud_c=ambient_c - 3.0,
            solar=0.3, shadows=False, fog=draw_fog(rng), fog_rgb=fog, fog_nir=0.55,
            fog_c=ambient_c - 1.5)
    elif condition == "rain":
        ambient_c -= rng.uniform(1.0, 3.0)
        overcast = rng.uniform(0.45, 0.6)
        params.update(
            sun_rgb=0.15 * params["sun_rgb"], sun_nir=0.15 * params["sun_nir"],
            ambient_rgb=overcast * rgb([1.0, 1.02, 1.08]), ambient_nir=overcast,
            sky_horizon_rgb=(overcast + 0.12) * rgb([0.95, 0.97, 1.0]),
            sky_zenith_rgb=overcast * rgb([0.8, 0.82, 0.86]), sky_nir=0.4, glow=0.25,
            cloud_cover=1.0, cloud_rgb=(overcast + 0.05) * rgb([0.9, 0.92, 0.95]),
            cloud_nir=overcast + 0.05, cloud_c=ambient_c - rng.uniform(3.0, 8.0),
            ambient_c=ambient_c, sky_c=ambient_c - 12.0, fog_c=ambient_c, solar=0.25,
            shadows=False, thermal_contrast=rng.uniform(0.45, 0.6),
            wetness=rng.uniform(0.7, 1.0), rain_streaks=int(rng.uniform(600, 1400)),
            veil=rng.uniform(0.1, 0.2), noise_rgb=0.006, noise_nir=0.007)
    elif condition == "texture":
        params.update(texture_params(seed))
    if randomised:
        params.update(randomised_light(seed, condition, params))
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


def _random_colour(rng: np.random.Generator, spread: float) -> np.ndarray:
    """RGB gains of mean 1 with a random hue, log-normal with deviation ``spread``."""
    gains = np.exp(rng.normal(0.0, spread, 3))
    return gains / gains.mean()


def randomised_light(seed: int, condition: str, params: dict) -> dict:
    """Light of random colour and intensity for the domain-randomised mode: the sun, the sky
    light, the sky, the clouds, street lamps and headlights (scaled, recoloured)."""
    rng = np.random.default_rng(np.random.SeedSequence(
        [seed, 0xDA7A, EVAL_CONDITIONS.index(condition)]))

    def scaled(key, spread=0.35, intensity=(0.5, 1.8)):
        return np.asarray(params[key]) * _random_colour(rng, spread) * rng.uniform(*intensity)

    nir_gain = rng.uniform(0.5, 1.6)
    return dict(
        sun_rgb=scaled("sun_rgb"), ambient_rgb=scaled("ambient_rgb"),
        sky_horizon_rgb=scaled("sky_horizon_rgb", 0.5),
        sky_zenith_rgb=scaled("sky_zenith_rgb", 0.5),
        cloud_rgb=scaled("cloud_rgb", 0.2), street_light_rgb=scaled("street_light_rgb", 0.5),
        headlight_rgb=scaled("headlight_rgb", 0.2), cloud_cover=float(rng.uniform(0.0, 1.0)),
        sun_nir=params["sun_nir"] * nir_gain, ambient_nir=params["ambient_nir"] * nir_gain,
        sky_nir=params["sky_nir"] * rng.uniform(0.5, 2.0),
        cloud_nir=params["cloud_nir"] * rng.uniform(0.6, 1.4))
