"""Image decoding: bit depth kept, bad input refused with actionable messages, real MS2 frames."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.data.imageio import ImageDecodeError, read_image, read_spectrum, write_png
from core.data.thermal import normalize_thermal, spectrum_to_float

MS2_FRAME_IDS = ("000011", "002079")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# --- round trips -----------------------------------------------------------------------

@pytest.mark.parametrize("shape, dtype", [((37, 53, 3), np.uint8), ((37, 53), np.uint8),
                                          ((37, 53), np.uint16)])
def test_png_round_trip_is_exact(tmp_path, rng, shape, dtype):
    array = rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    array.flat[:2] = [0, np.iinfo(dtype).max]  # both ends of the range
    write_png(tmp_path / "image.png", array)
    for source in (tmp_path / "image.png", (tmp_path / "image.png").read_bytes()):
        decoded = read_image(source)
        assert decoded.dtype == dtype and decoded.shape == shape
        np.testing.assert_array_equal(decoded, array)


def test_write_png_refuses_other_formats(tmp_path):
    with pytest.raises(ValueError, match="uint16 \\(H, W\\)"):
        write_png(tmp_path / "x.png", np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError):
        write_png(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint16))


def test_big_endian_16_bit_gives_native_uint16():
    values = np.array([[1, 300], [4096, 65535]], dtype=">u2")
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="TIFF")
    decoded = read_image(buffer.getvalue())
    assert decoded.dtype == np.uint16 and decoded.dtype.isnative
    np.testing.assert_array_equal(decoded, values.astype(np.uint16))


def test_alpha_and_palette_become_rgb_or_grey(rng):
    rgba = rng.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    np.testing.assert_array_equal(read_image(png_bytes(Image.fromarray(rgba, "RGBA"))), rgba[..., :3])
    palette = Image.fromarray(rgba[..., :3]).convert("P")
    assert read_image(png_bytes(palette)).shape == (5, 6, 3)
    grey_alpha = Image.fromarray(rgba[..., :2], "LA")
    np.testing.assert_array_equal(read_image(png_bytes(grey_alpha)), rgba[..., 0])
    cmyk = Image.new("CMYK", (6, 5))
    buffer = io.BytesIO()
    cmyk.save(buffer, format="JPEG")
    assert read_image(buffer.getvalue()).shape == (5, 6, 3)


# --- bad input -------------------------------------------------------------------------

def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("depth,rgb\n1,2\n")
    with pytest.raises(ImageDecodeError, match="'notes.png' is a text file, not an image"):
        read_image(path)


def test_unknown_binary_is_not_an_image():
    with pytest.raises(ImageDecodeError, match="not an image format we can read"):
        read_image(bytes(range(256)) * 4)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="'empty.png' is empty"):
        read_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageDecodeError, match="does not exist"):
        read_image(tmp_path / "nowhere.png")


def test_truncated_png(rng):
    data = png_bytes(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    with pytest.raises(ImageDecodeError, match="truncated or corrupt"):
        read_image(data[: len(data) // 2])


def test_corrupt_png_data(rng):
    data = bytearray(png_bytes(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ImageDecodeError, match="truncated or corrupt"):
        read_image(bytes(data))


def test_oversized_image_is_refused_from_its_header():
    # Only the header of a 5000 x 5000 PNG survives: decoding would fail as truncated, so the
    # size message proves the check ran before decoding.
    header_only = png_bytes(Image.new("L", (5000, 5000)))[:100]
    with pytest.raises(ImageDecodeError, match=r"5000 x 5000 pixels \(25\.0 MP\).*16,777,216 pixels"):
        read_image(header_only)
    with pytest.raises(ImageDecodeError, match="1,000 pixels"):
        read_image(png_bytes(Image.new("L", (50, 40))), max_pixels=1000)


def test_decompression_bomb_warning_becomes_our_error(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for side in (40, 60):  # 1600 px: PIL warns; 3600 px: PIL raises
        with pytest.raises(ImageDecodeError, match="decompression bomb"):
            read_image(png_bytes(Image.new("L", (side, side))), max_pixels=None)


def test_float_image_is_unsupported():
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.float32)).save(buffer, format="TIFF")
    with pytest.raises(ImageDecodeError, match="mode 'F' \\(floating-point pixels\\)"):
        read_image(buffer.getvalue())


def test_8_bit_thermal_is_refused_with_an_explanation(rng):
    grey = png_bytes(Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)))
    with pytest.raises(ImageDecodeError, match="thermal must be the 16-bit raw file") as caught:
        read_spectrum(grey, "thr")
    assert "8-bit viewers" in str(caught.value)
    with pytest.raises(ImageDecodeError, match="8-bit colour image"):
        read_spectrum(png_bytes(Image.new("RGB", (8, 8))), "thr")


def test_16_bit_rgb_is_refused():
    with pytest.raises(ImageDecodeError, match="must be 8-bit colour"):
        read_spectrum(png_bytes(Image.fromarray(np.zeros((4, 4), np.uint16))), "rgb")


# --- spectrum checks -------------------------------------------------------------------

def test_read_spectrum_conversions(rng):
    grey = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    np.testing.assert_array_equal(read_spectrum(png_bytes(Image.fromarray(grey)), "rgb"),
                                  np.repeat(grey[..., None], 3, axis=2))
    equal_channels = Image.fromarray(np.repeat(grey[..., None], 3, axis=2))
    np.testing.assert_array_equal(read_spectrum(png_bytes(equal_channels), "nir"), grey)
    colour = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    luminance = read_spectrum(png_bytes(Image.fromarray(colour)), "nir")
    expected = np.asarray(Image.fromarray(colour).convert("L")).astype(int)
    assert luminance.dtype == np.uint8 and np.abs(luminance.astype(int) - expected).max() <= 1
    nir16 = np.array([[0, 257], [65535, 32768]], np.uint16)
    np.testing.assert_array_equal(read_spectrum(png_bytes(Image.fromarray(nir16)), "nir"),
                                  [[0, 1], [255, 128]])
    thermal = np.array([[3000, 6000]], np.uint16)
    np.testing.assert_array_equal(read_spectrum(png_bytes(Image.fromarray(thermal)), "thr"), thermal)


def test_normalize_thermal_range_and_guards(rng):
    raw = rng.integers(3000, 6000, (2, 32, 40)).astype(np.uint16)
    raw[1] += 5000  # a second, warmer image in the stack is normalised on its own
    normalised = normalize_thermal(raw)
    assert normalised.dtype == np.float32
    for image in normalised:
        assert image.min() == 0.0 and image.max() == 1.0
    np.testing.assert_allclose(normalised[1], normalize_thermal(raw[1]), atol=1e-6)
    flat = normalize_thermal(np.full((8, 8), 4000, np.uint16))
    assert flat.dtype == np.float32 and not flat.any()


def test_spectrum_to_float():
    assert spectrum_to_float(np.full((2, 3, 3), 255, np.uint8), "rgb").max() == 1.0
    assert spectrum_to_float(np.zeros((2, 3), np.uint8), "nir").dtype == np.float32
    with pytest.raises(ValueError, match="thr image must be uint16"):
        spectrum_to_float(np.zeros((2, 3), np.uint8), "thr")


# --- real MS2 frames -------------------------------------------------------------------

@pytest.mark.parametrize("frame_id", MS2_FRAME_IDS)
def test_real_ms2_frames_decode_with_16_bit_thermal(shared_ms2, frame_id):
    rgb = read_spectrum(shared_ms2 / f"{frame_id}_rgb.png", "rgb")
    nir = read_spectrum(shared_ms2 / f"{frame_id}_nir.png", "nir")
    thermal = read_spectrum(shared_ms2 / f"{frame_id}_thr.png", "thr")
    assert rgb.shape == (384, 1224, 3) and rgb.dtype == np.uint8
    assert nir.shape == (352, 1280) and nir.dtype == np.uint8
    assert thermal.shape == (256, 640) and thermal.dtype == np.uint16
    assert 2000 < thermal.min() and thermal.max() < 8000  # raw counts, not squashed to 8 bits
    assert thermal.max() - thermal.min() > 1000


@pytest.mark.parametrize("frame_id", MS2_FRAME_IDS)
def test_normalised_real_thermal_has_a_spread(shared_ms2, frame_id):
    normalised = normalize_thermal(read_spectrum(shared_ms2 / f"{frame_id}_thr.png", "thr"))
    assert normalised.dtype == np.float32
    assert normalised.min() == 0.0 and normalised.max() == 1.0
    assert 0.2 < normalised.mean() < 0.8 and normalised.std() > 0.15  # not almost black


def test_thermal_given_as_nir_is_refused_with_the_likely_mix_up(rng):
    thermal_counts = rng.integers(3000, 6000, (32, 64)).astype(np.uint16)
    with pytest.raises(ImageDecodeError, match="like raw thermal counts.*Upload it as the thermal image"):
        read_spectrum(png_bytes(Image.fromarray(thermal_counts)), "nir")
    wide = rng.integers(0, 65535, (32, 64)).astype(np.uint16)      # a real 16-bit NIR frame
    assert read_spectrum(png_bytes(Image.fromarray(wide)), "nir").dtype == np.uint8


def test_constant_thermal_frame_is_refused_in_words():
    with pytest.raises(ImageDecodeError, match="every pixel of this thermal image is 4000"):
        read_spectrum(png_bytes(Image.fromarray(np.full((32, 64), 4000, np.uint16))), "thr")


def test_a_16_bit_colour_png_is_refused_in_words_not_cut_to_8_bits(tmp_path):
    from png_writers import write_rgb16_png
    rgb = (np.arange(48 * 64 * 3, dtype=np.uint16).reshape(48, 64, 3) * 7)
    path = write_rgb16_png(tmp_path / "rgb48.png", rgb)
    with pytest.raises(ImageDecodeError, match="16-bit-per-channel colour PNG"):
        read_spectrum(path, "rgb")
