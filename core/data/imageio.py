"""Image decoding and encoding that keep bit depth and fail with messages a user can act on.

Every error raised while reading is an ``ImageDecodeError``; its message is shown as is in
the web UIs, so it names the file, says what is wrong and what to do about it.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.data.frame import IMAGE_FORMATS, SPECTRA

DEFAULT_MAX_PIXELS = 4096 * 4096
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)   # ITU-R BT.601 grey from RGB

ImageSource = str | Path | bytes | bytearray

# Modes PIL decodes to 8 bits per channel that we flatten to RGB or L.
_TO_RGB_MODES = {"RGBA", "RGBa", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"}
_TO_L_MODES = {"1", "LA"}
_UINT16_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}


class ImageDecodeError(ValueError):
    """An image could not be read or does not fit what the caller needs."""


def read_image(source: ImageSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file (path or bytes), keeping its bit depth.

    Returns (H, W, 3) uint8 for colour, (H, W) uint8 for 8-bit grey and (H, W) uint16 for
    16-bit grey. Alpha is dropped, palettes and other colour spaces become RGB.
    The size is checked from the header before any pixel is decoded; ``max_pixels=None``
    leaves only PIL's own decompression-bomb limit.
    """
    data, label = _read_bytes(source)
    if not data:
        raise ImageDecodeError(f"{label} is empty (0 bytes): the upload or copy did not complete.")
    if _is_16_bit_colour_png(data):
        raise ImageDecodeError(f"{label} is a 16-bit-per-channel colour PNG, which would be cut to 8 bits "
                               "unseen: export it as 8-bit colour (RGB, NIR), or thermal as 16-bit grey.")
    with warnings.catch_warnings():
        # PIL only warns below twice its limit; a bomb must never be decoded.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                _check_size(image, label, max_pixels)
                image.load()  # full decode, so truncation and corruption surface here
                return _to_array(image, label)
        except ImageDecodeError:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
            raise ImageDecodeError(f"{label} is refused as a possible decompression bomb: {error}") from error
        except UnidentifiedImageError as error:
            raise ImageDecodeError(_unidentified_message(data, label)) from error
        except (OSError, SyntaxError, EOFError, ValueError) as error:
            # PIL reports truncated and corrupt data as OSError, bad PNG chunk CRCs as
            # SyntaxError and impossible TIFF tile layouts as ValueError.
            raise ImageDecodeError(f"{label} is truncated or corrupt ({error}); "
                                   "export or copy the file again.") from error


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_COLOUR_TYPES_WITH_CHANNELS = {2, 4, 6}   # RGB, grey + alpha, RGBA: PIL decodes them at 8 bits


def _is_16_bit_colour_png(data: bytes) -> bool:
    """Whether ``data`` is a PNG with 16 bits per sample and more than one channel (IHDR: bit
    depth at byte 24, colour type at byte 25), which PIL would silently decode at 8 bits."""
    return data[:8] == PNG_SIGNATURE and len(data) > 25 and data[24] == 16 and \
        data[25] in PNG_COLOUR_TYPES_WITH_CHANNELS


# A 16-bit NIR file whose brightest pixel is this low uses under a quarter of its range, as raw
# thermal counts do (MS2: about 3000-6000): most likely the thermal file given as NIR.
THERMAL_LIKE_MAX = 2 ** 14


def read_spectrum(source: ImageSource, spectrum: str, *,
                  max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image and check it is a valid raw image of ``spectrum``.

    rgb: (H, W, 3) uint8; an 8-bit grey image is repeated to three channels.
    nir: (H, W) uint8; a colour file whose channels are equal gives that channel, any
         other colour file its luminance (ITU-R 601). A 16-bit NIR file is scaled to
         8 bits linearly over the full 16-bit range (value / 257), so brightness stays
         comparable between frames; the low bits are lost. One that uses under a quarter of
         the range (raw thermal counts, THERMAL_LIKE_MAX) is refused as a likely mix-up.
    thr: (H, W) uint16 raw counts. An 8-bit file is refused: its counts were already
         squashed by a viewer or browser and cannot be recovered; so is a constant frame.
    """
    if spectrum not in SPECTRA:
        raise ValueError(f"unknown spectrum {spectrum!r}; expected one of {SPECTRA}")
    image = read_image(source, max_pixels=max_pixels)
    label = _label(source)
    if spectrum == "rgb":
        return _as_rgb(image, label)
    if spectrum == "nir":
        return _as_nir(image, label)
    return _as_thermal(image, label)


def write_png(path: str | Path, array: np.ndarray) -> None:
    """Write uint8 (H, W) / (H, W, 3) or uint16 (H, W) losslessly as PNG."""
    array = np.asarray(array)
    is_uint8 = array.dtype == np.uint8 and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3))
    is_uint16 = array.dtype == np.uint16 and array.ndim == 2
    if not (is_uint8 or is_uint16):
        raise ValueError(f"write_png takes uint8 (H, W) or (H, W, 3), or uint16 (H, W); "
                         f"got {array.dtype} {array.shape}")
    # PIL maps uint8 to L/RGB and uint16 to I;16, which PNG stores as 16-bit grey.
    Image.fromarray(np.ascontiguousarray(array)).save(Path(path), format="PNG")


def check_raw_image(image: np.ndarray, spectrum: str) -> None:
    """Raise ValueError unless ``image`` has the raw dtype and channels of ``spectrum``."""
    if spectrum not in IMAGE_FORMATS:
        raise ValueError(f"unknown spectrum {spectrum!r}; expected one of {SPECTRA}")
    dtype, channels = IMAGE_FORMATS[spectrum]
    shape_ok = image.ndim == 2 if channels == 1 else (image.ndim == 3 and image.shape[2] == channels)
    if image.dtype != dtype or not shape_ok:
        raise ValueError(f"{spectrum} image must be {np.dtype(dtype).name} with {channels} channel(s), "
                         f"got {image.dtype} {image.shape}")


def _read_bytes(source: ImageSource) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), _label(source)
    path = Path(source)
    if not path.is_file():
        raise ImageDecodeError(f"{_label(source)} does not exist or is not a file.")
    return path.read_bytes(), _label(source)


def _label(source: ImageSource) -> str:
    if isinstance(source, (bytes, bytearray)):
        return "The uploaded image"
    return f"Image file '{Path(source).name}'"


def _check_size(image: Image.Image, label: str, max_pixels: int | None) -> None:
    width, height = image.size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageDecodeError(
            f"{label} is {width} x {height} pixels ({width * height / 1e6:.1f} MP), above the "
            f"limit of {max_pixels:,} pixels ({max_pixels / 1e6:.1f} MP, e.g. 4096 x 4096); "
            "downscale it first.")


def _unidentified_message(data: bytes, label: str) -> str:
    head = data[:512]
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return f"{label} is a text file, not an image; choose a PNG, JPEG or TIFF file."
        except UnicodeDecodeError:
            pass
    return (f"{label} is not an image format we can read, or its header is damaged; "
            "use PNG (16-bit for thermal), JPEG or TIFF.")


def _to_array(image: Image.Image, label: str) -> np.ndarray:
    # np.array (not asarray): callers get writable arrays they own.
    mode = image.mode
    if mode in ("RGB", "L"):
        return np.array(image, dtype=np.uint8)
    if mode in _TO_RGB_MODES:
        # Palettes may carry transparency: expand through RGBA, then drop alpha.
        return np.array(image.convert("RGBA" if mode in ("P", "PA") else "RGB"))[..., :3].copy()
    if mode in _TO_L_MODES:
        return np.array(image.convert("L"))
    if mode in _UINT16_MODES:
        return np.array(image).astype(np.uint16)  # native byte order, whatever the file's
    if mode == "I":
        values = np.array(image)
        if values.size and (values.min() < 0 or values.max() > np.iinfo(np.uint16).max):
            raise ImageDecodeError(f"{label} holds 32-bit integers outside 0-65535; save it as a "
                                   "16-bit grey PNG.")
        return values.astype(np.uint16)
    kind = "floating-point pixels" if mode.startswith("F") else "an unusual pixel layout"
    raise ImageDecodeError(f"{label} has pixel mode '{mode}' ({kind}), which is not supported; "
                           "save it as 8-bit RGB/grey or 16-bit grey PNG.")


def _as_rgb(image: np.ndarray, label: str) -> np.ndarray:
    if image.dtype == np.uint8 and image.ndim == 3:
        return image
    if image.dtype == np.uint8 and image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    raise ImageDecodeError(f"{label} is a 16-bit grey image; an RGB image must be 8-bit colour. "
                           "Did you mean to load it as thermal?")


def _as_nir(image: np.ndarray, label: str) -> np.ndarray:
    if image.ndim == 3:
        channels = image[..., 0], image[..., 1], image[..., 2]
        if np.array_equal(channels[0], channels[1]) and np.array_equal(channels[0], channels[2]):
            return np.ascontiguousarray(channels[0])
        luminance = image.astype(np.float32) @ LUMA_WEIGHTS
        return np.clip(np.rint(luminance), 0, 255).astype(np.uint8)
    if image.dtype == np.uint16:
        if image.size and int(image.max()) < THERMAL_LIKE_MAX:
            raise ImageDecodeError(
                f"{label} is a 16-bit image with values {int(image.min())}-{int(image.max())}, like raw "
                "thermal counts: as NIR it would be almost black. Upload it as the thermal image, or give "
                "the 8-bit NIR file.")
        return np.rint(image / 257.0).astype(np.uint8)
    return image


def _as_thermal(image: np.ndarray, label: str) -> np.ndarray:
    if image.dtype == np.uint16:
        if image.size and image.min() == image.max():
            raise ImageDecodeError(
                f"{label}: every pixel of this thermal image is {int(image.min())}: a constant frame shows "
                "nothing (a covered lens or a failed capture?). Upload another frame, or leave thermal out.")
        return image
    kind = "8-bit colour" if image.ndim == 3 else "8-bit grey"
    raise ImageDecodeError(
        f"{label} is an {kind} image, but thermal must be the 16-bit raw file (e.g. MS2 "
        "thr/img_left/*.png, counts around 3000-6000). Browsers, screenshots and 8-bit viewers "
        "convert thermal images to 8 bits and the temperatures are lost; upload the original "
        "16-bit PNG or TIFF as a file.")
