"""Robustness probes degrade each spectrum as the physics would, and only the images."""
import numpy as np
import pytest

from core.data.msynth import render_frame
from core.data.perturb import FOG_AIRLIGHT, PROBES, perturb_frame


@pytest.fixture(scope="module")
def frame():
    return render_frame(200_004, 5, "day", scale=0.25)


def test_no_probe_or_zero_strength_is_the_input(frame):
    assert perturb_frame(frame, "none", 1.0) is frame
    assert perturb_frame(frame, "fog", 0.0) is frame


@pytest.mark.parametrize("probe", PROBES[1:])
def test_probes_keep_formats_geometry_and_repeat(frame, probe):
    out = perturb_frame(frame, probe, 0.7, seed=3)
    for s in frame.spectra:
        assert out.images[s].dtype == frame.images[s].dtype and out.images[s].shape == frame.images[s].shape
        assert out.depth[s] is frame.depth[s] and out.cameras[s] is frame.cameras[s]
    assert out.meta["probe"] == f"{probe} at strength 0.7"
    again = perturb_frame(frame, probe, 0.7, seed=3)
    assert all(np.array_equal(out.images[s], again.images[s]) for s in frame.spectra)
    assert any(not np.array_equal(out.images[s], frame.images[s]) for s in frame.spectra)


def test_night_darkens_rgb_most_and_leaves_thermal(frame):
    night = perturb_frame(frame, "night", 1.0)
    assert night.images["rgb"].mean() < 0.35 * frame.images["rgb"].mean()
    assert 0.35 * frame.images["nir"].mean() < night.images["nir"].mean() < frame.images["nir"].mean()
    assert np.array_equal(night.images["thr"], frame.images["thr"])


def test_fog_hides_far_pixels_more_than_near_ones(frame):
    fog = perturb_frame(frame, "fog", 0.5)
    depth = frame.depth["rgb"]
    change = np.abs(fog.images["rgb"].astype(float) - frame.images["rgb"].astype(float)).mean(axis=2)
    # The share of the way each pixel moved towards the airlight (linear light): 1 - exp(-beta d).
    before, after = ((image.astype(float) / 255.0) ** 2.2 for image in (frame.images["rgb"], fog.images["rgb"]))
    gap = FOG_AIRLIGHT["rgb"] - before
    moved = np.where(np.abs(gap) > 0.1, (after - before) / np.where(np.abs(gap) > 0.1, gap, 1.0), np.nan).mean(axis=2)
    near, far = (depth > 0) & (depth < 7) & np.isfinite(moved), (depth > 40) & np.isfinite(moved)
    assert near.sum() > 50 and far.sum() > 50
    assert np.nanmean(moved[far]) > 2 * np.nanmean(moved[near])
    # Thermal sees through: it changes far less than RGB.
    thermal_change = np.abs(fog.images["thr"].astype(float) - frame.images["thr"].astype(float))
    assert thermal_change.mean() / np.ptp(frame.images["thr"]) < change.mean() / 255


def test_bad_probe_or_strength_is_refused(frame):
    with pytest.raises(ValueError, match="unknown probe"):
        perturb_frame(frame, "snow", 0.5)
    with pytest.raises(ValueError, match="strength"):
        perturb_frame(frame, "fog", 1.5)
