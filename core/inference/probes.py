"""Robustness probes in the service: a frame as seen at night, in fog, rain, noise or without its
texture (``core.data.perturb``), with the service's error type."""
from __future__ import annotations

from core.data.frame import Frame
from core.data.perturb import PROBES, perturb_frame
from core.inference.errors import InputError

__all__ = ["PROBES", "probe"]   # PROBES: the UIs' probe choices


def probe(frame: Frame, kind: str, strength: float) -> Frame:
    """The frame as seen at night, in fog, rain, noise or without its texture (PROBES), with
    ``strength`` from 0 (unchanged) to 1; depth and cameras stay as they are."""
    try:
        return perturb_frame(frame, kind, strength)
    except ValueError as err:
        raise InputError(str(err)) from err
