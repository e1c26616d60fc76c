"""Radiometric model of the MS2 thermal camera (FLIR A65C), from the MS2 tools.

celsius = B / ln(R / (raw - O) + F) - 273.15, hence raw = R / (exp(B / kelvin) - F) + O.
``raw - O`` is proportional to the radiance the sensor collects, so mixing radiances (emissivity,
reflections, fog, blur) is linear in ``celsius_to_signal`` and not in temperature.
"""
from __future__ import annotations

import numpy as np

PLANCK_R = 380747.0
PLANCK_B = 1428.0
PLANCK_F = 1.0
PLANCK_O = -88.539
KELVIN = 273.15


def celsius_to_signal(celsius):
    """Radiance in raw-count units (raw minus the offset O) of a black body at ``celsius``."""
    return PLANCK_R / (np.exp(PLANCK_B / (np.asarray(celsius) + KELVIN)) - PLANCK_F)


def celsius_to_raw(celsius):
    """Raw 16-bit counts (as float) that the camera reports for a black body at ``celsius``."""
    return celsius_to_signal(celsius) + PLANCK_O


def raw_to_celsius(raw):
    """Apparent temperature in degrees Celsius of raw counts (inverse of ``celsius_to_raw``)."""
    signal = np.asarray(raw, dtype=np.float64) - PLANCK_O
    return PLANCK_B / np.log(PLANCK_R / signal + PLANCK_F) - KELVIN
