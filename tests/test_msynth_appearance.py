"""MS-Synth appearance: heterogeneous fog (exact along each ray), skies, thermal and NIR
signatures, the camera and thermal sensor models, the domain-randomised mode."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.data.msynth import Scene, make_rig, raw_to_celsius
from core.data.msynth.classes import BUILDING, ROAD, SKY, VEGETATION
from core.data.msynth.conditions import FogField, FogProfile, condition_params
from core.data.msynth.materials import Mat, sample_texture, sample_texture_bands, texture_tiles
from core.data.msynth.raycast import cast
from core.data.msynth.sensors import (CameraSettings, encode_8bit, encode_thermal, jpeg_roundtrip,
                                      thermal_fixed_pattern)
from core.data.msynth.shading import _sky_rgb, _sky_signal, shade_nir, shade_rgb, shade_thermal
from core.data.msynth.surface import compute_surface
from core.data.msynth.thermal_model import PLANCK_O, celsius_to_signal
from core.data.msynth.world import fog_visibility, sequence_condition, split_seeds
from core.geometry.camera import make_transform

CAMERA_HEIGHT = 1.6


def _test_scene() -> Scene:
    """The flat road with a hedge on the left, a brick wall on the right and a glass front."""
    return (Scene.ground_only()
            .with_box((-3.0, -0.6, 14.0), (2.0, 1.2, 6.0), VEGETATION, Mat.HEDGE, (1, 1, 1))
            .with_box((6.0, -1.5, 20.0), (1.0, 3.0, 12.0), BUILDING, Mat.BRICK, (1, 1, 1))
            .with_box((1.0, -2.0, 40.0), (8.0, 4.0, 1.0), BUILDING, Mat.GLASS, (1, 1, 1)))


def _surface(scene: Scene, spectrum: str, cond, scale: float = 0.25):
    """(surface, rays) of the rig's camera for ``spectrum`` at the road's origin."""
    rig = make_rig()[spectrum]
    camera = rig.resized(round(rig.height * scale), round(rig.width * scale))
    pose = make_transform(np.eye(3), (1.75, -CAMERA_HEIGHT, 0.0))
    gbuffer = cast(scene, camera, pose @ camera.T_rig_cam, 0.0)
    surface = compute_surface(scene, gbuffer, cond.lit_windows)
    return surface, gbuffer.rays


def _constant_fog(beta: float, nir: float = 0.6, thr: float = 0.05) -> FogField:
    along = FogProfile.from_knots(-500.0, 1.0, np.full(1501, beta))
    across = FogProfile.from_knots(-500.0, 2.0, np.zeros(501))
    return FogField(along, across, {"rgb": 1.0, "nir": nir, "thr": thr})


def test_optical_depth_matches_a_numerical_integral_of_the_varying_beta():
    fog = condition_params(3, "fog").fog
    rng = np.random.default_rng(0)
    origin = np.array([0.7, -1.6, 12.0])
    points = origin[:, None] + rng.normal(0.0, 1.0, (3, 300)) * np.array([[40.0], [3.0], [150.0]])
    # Sideways rays (tiny or no z span), a ray to the origin itself, one beyond the profile's end.
    points[:, :4] = origin[:, None] + np.array([[25.0, 0, 1e-4], [8.0, 1.0, 0.03], [0, 0, 0],
                                                [0.0, 0.0, 2600.0]]).T
    points = points.astype(np.float32)
    exact = fog.optical_depth(origin, points)
    s = np.linspace(0.0, 1.0, 4001)
    path = origin[:, None, None] + (points.astype(np.float64) - origin[:, None])[:, :, None] * s
    beta = fog.beta(path[0].ravel(), path[2].ravel()).reshape(path.shape[1:])
    distance = np.linalg.norm(points - origin[:, None], axis=0)
    numeric = np.trapezoid(beta, s, axis=1) * distance
    np.testing.assert_allclose(exact, numeric, rtol=2e-4, atol=2e-5)
    assert exact[2] == 0.0
    np.testing.assert_allclose(fog.optical_depth(origin, points, "thr"),
                               fog.spectral["thr"] * exact, rtol=1e-6)


def test_constant_fog_is_exp_minus_beta_times_distance_on_every_pixel():
    scene = _test_scene()
    beta = 0.05
    for spectrum, shade in (("rgb", shade_rgb), ("nir", shade_nir), ("thr", None)):
        clear = condition_params(4, "day")
        foggy = replace(clear, fog=_constant_fog(beta), fog_rgb=np.array([0.6, 0.62, 0.65]),
                        fog_nir=0.5)
        surface, rays = _surface(scene, spectrum, clear)
        if shade is None:
            without, with_fog = shade_thermal(surface, clear), shade_thermal(surface, foggy)
            airlight = np.float32(celsius_to_signal(foggy.fog_c))
        else:
            without = shade(surface, scene, clear, rays)
            with_fog = shade(surface, scene, foggy, rays)
            airlight = foggy.fog_rgb if spectrum == "rgb" else foggy.fog_nir
        distance = surface.depth * np.linalg.norm(surface.ray, axis=0)
        transmittance = np.exp(-beta * foggy.fog.spectral[spectrum] * distance)
        transmittance[surface.sky] = 0.0
        if without.ndim == 2:
            transmittance = transmittance[:, None]
        expected = airlight + transmittance * (without - airlight)
        np.testing.assert_allclose(with_fog, expected, rtol=2e-5, atol=1e-5 * np.abs(without).max())


def test_fog_banks_hide_rgb_at_10_to_30_m_nir_sees_further_thermal_barely_fogged():
    for seed in range(20):
        fog = condition_params(seed, "fog").fog
        beta = fog.along.at(np.arange(-50.0, 400.0, 0.5))   # the road the ego drives and sees
        assert 10.0 <= 3.0 / beta.max() <= 30.0              # visibility in the densest bank
        assert 40.0 <= 3.0 / beta.min() <= 100.0             # between the banks
        assert 0.5 <= fog.spectral["nir"] < 0.8 and fog.spectral["thr"] <= 0.1
    for condition in ("day", "night", "rain", "texture"):
        assert condition_params(0, condition).fog is None


def test_thermal_sky_is_colder_than_the_sunlit_road_and_clouds_warmer_than_clear_sky():
    day = condition_params(5, "day")
    surface, _ = _surface(_test_scene(), "thr", day)
    signal = shade_thermal(surface, day)
    sky = signal[surface.classes == SKY]
    road = signal[surface.classes == ROAD]
    assert sky.size > 100 and road.size > 100
    assert sky.max() < road.min()
    assert raw_to_celsius(np.median(road) + PLANCK_O) > day.ambient_c + 5.0  # sun-heated asphalt

    up = np.array([[0.0, 0.3, 0.0], [-1.0, -0.8, -0.3], [0.0, 0.5, 0.95]])
    up /= np.linalg.norm(up, axis=0)
    origin = np.array([0.0, -1.6, 0.0])
    clear = _sky_signal(up, origin, replace(day, cloud_cover=0.0))
    overcast = _sky_signal(up, origin, replace(day, cloud_cover=1.0))
    assert np.all(overcast > clear)
    assert raw_to_celsius(clear[0] + PLANCK_O) < day.ambient_c - 30.0   # the zenith


def test_vegetation_is_cool_in_thermal_and_bright_in_nir_and_asphalt_dark():
    scene = _test_scene()
    day = condition_params(6, "day")
    thermal, _ = _surface(scene, "thr", day)
    celsius = raw_to_celsius(shade_thermal(thermal, day) + PLANCK_O)
    hedge = thermal.material == Mat.HEDGE
    assert hedge.sum() > 20
    asphalt = (thermal.material == Mat.ASPHALT) & (thermal.classes == ROAD)
    assert np.median(celsius[hedge]) < np.median(celsius[asphalt]) - 5.0
    # Without the sun (its direction favours one face or another), reflectance decides.
    overcast = replace(day, sun_rgb=np.zeros(3), sun_nir=0.0)
    surface, rays = _surface(scene, "nir", overcast)
    nir = shade_nir(surface, scene, overcast, rays)
    asphalt = (surface.material == Mat.ASPHALT) & (surface.classes == ROAD)
    hedge = surface.material == Mat.HEDGE
    hedge_nir = np.median(nir[hedge])
    assert hedge_nir > 2.0 * np.median(nir[asphalt])
    surface, rays = _surface(scene, "rgb", overcast)
    rgb = shade_rgb(surface, scene, overcast, rays)
    hedge = surface.material == Mat.HEDGE
    assert np.median(rgb[hedge][:, 1]) > np.median(rgb[hedge][:, 0])          # green
    assert np.median(rgb[hedge].mean(axis=1)) < 0.5 * hedge_nir


def test_sky_has_a_sun_disc_and_clouds():
    day = condition_params(7, "day")
    origin = np.zeros(3)
    towards_sun = day.sun_dir[:, None].astype(np.float32)
    away = np.array([[-day.sun_dir[0]], [day.sun_dir[1]], [-day.sun_dir[2]]], np.float32)
    radiance = _sky_rgb(np.concatenate([towards_sun, away], axis=1), origin,
                        replace(day, cloud_cover=0.0))
    assert radiance[0].min() > 10.0 * radiance[1].max()
    rng = np.random.default_rng(1)
    directions = rng.normal(0.0, 1.0, (3, 2000)).astype(np.float32)
    directions[1] = -np.abs(directions[1]) - 0.3
    directions /= np.linalg.norm(directions, axis=0)
    clear = _sky_rgb(directions, origin, replace(day, cloud_cover=0.0, sun_rgb=np.zeros(3)))
    cloudy = _sky_rgb(directions, origin, replace(day, cloud_cover=0.6, sun_rgb=np.zeros(3)))
    covered = np.abs(cloudy - clear).max(axis=1) > 0.05
    assert 0.2 < covered.mean() < 0.95   # patches of cloud, not a uniform veil


def test_texture_bands_sum_to_the_texture_and_the_low_band_is_smooth():
    tiles = texture_tiles()
    assert tiles.dtype == np.complex64
    tile = np.full(1000, int(Mat.BRICK) % 3, np.int32)
    s1 = np.linspace(0.0, 300.0, 1000, dtype=np.float32)
    s2 = np.linspace(5.0, 90.0, 1000, dtype=np.float32)
    bands = sample_texture_bands(tile, s1, s2)
    np.testing.assert_allclose(sample_texture(tile, s1, s2), bands.real + bands.imag, rtol=1e-6)
    assert np.abs(np.diff(bands.real)).mean() < 0.5 * np.abs(np.diff(bands.imag)).mean()


def _camera(**changes) -> CameraSettings:
    settings = CameraSettings(blur=1.0, vignetting=0.3, white_balance=(1.05, 1.0, 0.95),
                              saturation=1.2, gamma=2.2, shoulder=0.75,
                              jpeg_quality=80)
    return replace(settings, **changes)


def test_camera_encoding_keeps_shape_and_dtype_and_is_deterministic_for_a_seed():
    rng = np.random.default_rng(2)
    blocks = rng.uniform(0.02, 0.6, (12, 20, 3)).astype(np.float32)
    linear = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)
    grey = linear.mean(axis=2)
    nir_camera = _camera(white_balance=(1.0,), saturation=1.0)
    for image, camera in ((linear, _camera()), (grey, nir_camera)):
        first = encode_8bit(image, 1.0, 0.01, 0.0, np.random.default_rng(5), camera)
        again = encode_8bit(image, 1.0, 0.01, 0.0, np.random.default_rng(5), camera)
        other = encode_8bit(image, 1.0, 0.01, 0.0, np.random.default_rng(6), camera)
        plain = encode_8bit(image, 1.0, 0.01, 0.0, np.random.default_rng(5))
        assert first.shape == image.shape and first.dtype == np.uint8
        assert np.array_equal(first, again) and not np.array_equal(first, other)
        assert np.abs(first.astype(int) - plain.astype(int)).mean() > 1.0


def test_vignetting_darkens_the_corners_and_blur_and_jpeg_smooth_edges():
    flat = np.full((64, 96), 0.2, np.float32)
    camera = _camera(white_balance=(1.0,), saturation=1.0, blur=0.0, jpeg_quality=0)
    image = encode_8bit(flat, 1.0, 0.0, 0.0, np.random.default_rng(0), camera).astype(int)
    plain = encode_8bit(flat, 1.0, 0.0, 0.0, np.random.default_rng(0)).astype(int)
    assert image[0, 0] < image[32, 48] - 10 and abs(image[32, 48] - plain[32, 48]) <= 1
    edge = np.zeros((64, 96), np.float32)
    edge[:, 48:] = 0.5
    sharp = encode_8bit(edge, 1.0, 0.0, 0.0, np.random.default_rng(0),
                        replace(camera, vignetting=0.0))
    blurred = encode_8bit(edge, 1.0, 0.0, 0.0, np.random.default_rng(0),
                          replace(camera, vignetting=0.0, blur=1.0))
    assert sharp[32, 47] == 0 and sharp[32, 48] == sharp[32, 49]
    assert 0 < blurred[32, 47] < blurred[32, 48] < sharp[32, 48]
    photo = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    fine, coarse = jpeg_roundtrip(photo, 95), jpeg_roundtrip(photo, 20)
    assert fine.shape == photo.shape and fine.dtype == np.uint8
    assert np.abs(fine.astype(int) - photo).mean() < np.abs(coarse.astype(int) - photo).mean()


def test_thermal_fixed_pattern_is_fixed_per_sequence_and_applied_exactly():
    gain, offset = thermal_fixed_pattern(7, 64, 48)
    again = thermal_fixed_pattern(7, 64, 48)
    other = thermal_fixed_pattern(8, 64, 48)
    assert gain.shape == offset.shape == (48, 64) and gain.dtype == np.float32
    assert np.array_equal(gain, again[0]) and np.array_equal(offset, again[1])
    assert not np.array_equal(offset, other[1])
    with pytest.raises(ValueError):
        offset[0, 0] = 1.0                                  # shared by the frames: read-only
    stripes = np.diff(offset.mean(axis=0)).std() / np.sqrt(2.0)
    assert 1.0 < stripes < 3.0                               # column offsets of about 2 counts
    assert gain[:8, :8].mean() < gain[20:28, 28:36].mean() < 1.001   # vignetting
    signal = np.full((48, 64), 3000.0, np.float32)
    raw = encode_thermal(signal, 0.0, offset, np.random.default_rng(0), gain=gain)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, np.rint(signal * gain + offset + np.float32(PLANCK_O)))


def test_randomised_mode_changes_every_object_and_light_deterministically():
    natural = condition_params(9, "day")
    randomised = condition_params(9, "day", randomised=True)
    assert randomised.randomised and not natural.randomised
    assert not np.allclose(randomised.sun_rgb / randomised.sun_rgb.sum(),
                           natural.sun_rgb / natural.sun_rgb.sum())
    assert np.array_equal(natural.sun_dir, randomised.sun_dir)
    again = condition_params(9, "day", randomised=True)
    assert np.array_equal(randomised.ambient_rgb, again.ambient_rgb)
    scene = _test_scene()
    surface, rays = _surface(scene, "rgb", natural)
    looks = {name: shade_rgb(surface, scene, cond, rays)
             for name, cond in (("natural", natural), ("randomised", randomised),
                                ("again", again))}
    np.testing.assert_array_equal(looks["randomised"], looks["again"])
    for material in (Mat.HEDGE, Mat.BRICK, Mat.ASPHALT):
        pixels = (surface.material == material) & ~surface.sky
        assert np.abs(looks["randomised"][pixels].mean(axis=0)
                      - looks["natural"][pixels].mean(axis=0)).max() > 0.02
    other_seed = condition_params(10, "day", randomised=True)
    assert not np.array_equal(shade_rgb(surface, scene, other_seed, rays), looks["randomised"])


def test_fog_report_hides_most_from_rgb_less_from_nir_nothing_from_thermal():
    seed = next(s for s in split_seeds("test") if sequence_condition(s) == "fog")
    report = fog_visibility([seed], frames_per_sequence=1, scale=0.25)
    assert 0.0 < report["nir"]["hidden"] <= report["rgb"]["hidden"] < 1.0
    assert report["thr"]["hidden"] == 0.0
    for row in report.values():
        assert row["dimmed"] >= row["hidden"]
    assert report["rgb"]["hidden_median_depth"] > 15.0     # fog hides the distance, not the road at the wheels
