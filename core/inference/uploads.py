"""Uploaded files in: decoded per spectrum, checked, given the rig's cameras rescaled, kept at a
bounded size; and the memory decoding used given back to the system."""
from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import numpy as np

from core.data.frame import SPECTRA, SPECTRUM_LABELS, Frame
from core.data.imageio import ImageDecodeError, read_spectrum
from core.data.msynth import make_rig
from core.inference.display import at_display_size
from core.geometry.camera import Camera
from core.inference.errors import InputError
from core.inference.vocabulary import MAX_UPLOAD_MB

# Uploads use the rig's lenses rescaled to the image size, each axis on its own: a full frame
# resized to another aspect (NIR's 3.64 to a network's 2.5) stays a valid camera, while a
# rotated or foreign image (ratios of 2 and more) would make the rescaled lens meaningless.
MAX_ASPECT_MISMATCH = 2.0
UPLOAD_CALIBRATION = "none uploaded: MS-Synth rig (modelled on the MS2 rig) scaled to the image sizes"
UPLOAD_KEEP_WIDTH = 2048
MIN_UPLOAD_SIDE = 32   # the network's input is 128 px and more; a smaller image holds no depth to speak of


def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):   # not glibc: nothing to give back this way
        return None


MALLOC_TRIM = _malloc_trim()


def return_freed_memory() -> None:
    """Give the heap's free pages back to the system. Decoding a large upload allocates and frees
    buffers of tens of MB that glibc keeps for reuse in the process heap, so each session that
    uploaded would look ~30 MB bigger than the frame it holds."""
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)


def load_upload(paths: dict[str, str | Path | bytes | None]) -> Frame:
    """A frame from uploaded files, one per spectrum (any subset of rgb, nir, thr).

    Uploads carry no calibration, so each camera is the MS-Synth rig camera (modelled on
    the MS2 rig) rescaled to the uploaded image size; ``frame.meta['calibration']`` says so.
    Images wider than UPLOAD_KEEP_WIDTH are kept (and exported) at that width.
    """
    try:
        return _decode_upload(paths)
    finally:
        return_freed_memory()


def rig_camera_for(spectrum: str, image: np.ndarray, rig: dict[str, Camera] | None = None) -> Camera:
    """The rig's ``spectrum`` camera rescaled to an uploaded image, or InputError where the
    image's shape is too far from the camera's for its lens to mean anything."""
    camera = (rig or make_rig())[spectrum]
    aspect, camera_aspect = image.shape[1] / image.shape[0], camera.width / camera.height
    if max(aspect, camera_aspect) / min(aspect, camera_aspect) > MAX_ASPECT_MISMATCH:
        raise InputError(f"{SPECTRUM_LABELS[spectrum]} image is {image.shape[1]} x {image.shape[0]} (aspect "
                         f"{aspect:.2f}), but the {SPECTRUM_LABELS[spectrum]} camera's is {camera_aspect:.2f} "
                         f"({camera.width} x {camera.height}); without calibration its lens cannot be fitted to "
                         f"this shape: upload the camera's full frame")
    return camera.resized(*image.shape[:2])


def _size_mb(data: str | Path | bytes) -> float:
    """An upload's size; 0 for a path that is no file (reading it says so)."""
    if isinstance(data, bytes):
        return len(data) / 2**20
    return Path(data).stat().st_size / 2**20 if Path(data).is_file() else 0.0


def _decode_upload(paths: dict[str, str | Path | bytes | None]) -> Frame:
    images, cameras = {}, {}
    rig = make_rig()
    for spectrum in SPECTRA:
        path = paths.get(spectrum)
        if path is None or path == "":
            continue
        size_mb = _size_mb(path)
        if size_mb > MAX_UPLOAD_MB:
            raise InputError(f"{SPECTRUM_LABELS[spectrum]} file is {size_mb:.0f} MB: images take at most "
                             f"{MAX_UPLOAD_MB} MB")
        try:
            image = read_spectrum(path, spectrum)
        except ImageDecodeError as err:
            raise InputError(f"{SPECTRUM_LABELS[spectrum]} file: {err}") from err
        if min(image.shape[:2]) < MIN_UPLOAD_SIDE:
            raise InputError(f"{SPECTRUM_LABELS[spectrum]} image is {image.shape[1]} x {image.shape[0]}: too small to "
                             f"see depth in; upload at least {MIN_UPLOAD_SIDE} pixels on each side")
        images[spectrum] = image
        cameras[spectrum] = rig_camera_for(spectrum, image, rig)
    if not images:
        raise InputError("upload at least one of RGB, NIR or thermal")
    frame = Frame(images, cameras, name="upload", meta={"source": "upload", "calibration": UPLOAD_CALIBRATION})
    # A session keeps its frame: an upload wider than any camera of the rigs we model (MS2: 1280)
    # is kept at UPLOAD_KEEP_WIDTH, so 20 sessions holding 6400-px uploads stay a few hundred MB.
    return at_display_size(frame, UPLOAD_KEEP_WIDTH)
