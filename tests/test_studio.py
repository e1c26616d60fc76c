"""The studio's handlers and a served page, driven as a user would."""
import socket
import urllib.request
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from app import studio
from core import inference
from core.data.frame import CONDITIONS

SHARED_MS2 = Path(__file__).resolve().parents[2] / "shared" / "samples" / "ms2"
VIEW = dict(depth_label="Thermal", color_label="RGB", invert=False, fixed_range=False,
            depth_min=0.0, depth_max=80.0, max_points=20000)


@pytest.fixture(scope="module")
def samples():
    return inference.list_samples()


def test_gallery_covers_every_condition(samples):
    assert {s.condition for s in samples} == set(CONDITIONS)
    assert all(s.thumbnail.exists() for s in samples)


def test_sample_renders_spectra_depth_cloud_and_downloads(samples):
    frame = studio.load_sample(samples[0].name)
    rgb, nir, thr, info, panel, figure, downloads, status = studio.render(frame, **VIEW)
    assert rgb.shape == (384, 1224, 3) and nir.shape == (352, 1280) and thr.shape == (256, 640)
    assert thr.dtype == np.uint8 and thr.std() > 10  # normalised thermal, not a black frame
    assert panel.shape[1] == 640 and panel.shape[0] > 256  # depth plus its colour bar
    assert len(figure.data) == 1 and 0 < len(figure.data[0].x) <= VIEW["max_points"] * 1.1
    png = next(p for p in downloads if p.endswith(".png"))
    npy = next(p for p in downloads if p.endswith(".npy"))
    depth = frame.depth["thr"]
    stored = np.asarray(Image.open(png))
    assert stored.dtype == np.uint16 or stored.max() > 255
    assert np.allclose(stored / 256.0, depth, atol=1 / 512 + 1e-6)
    assert np.array_equal(np.load(npy), depth)
    assert any(p.endswith(".ply") for p in downloads)
    assert "ground-truth depth" in status


def test_every_spectrum_can_colour_the_cloud_of_every_camera(samples):
    frame = studio.load_sample(samples[1].name)
    for depth_label in ("RGB", "NIR", "Thermal"):
        for color_label in ("RGB", "NIR", "Thermal"):
            outputs = studio.render(frame, **{**VIEW, "depth_label": depth_label, "color_label": color_label})
            assert outputs[5] is not None


def test_fixed_range_must_be_ordered(samples):
    frame = studio.load_sample(samples[0].name)
    with pytest.raises(gr.Error, match="max > min"):
        studio.render(frame, **{**VIEW, "fixed_range": True, "depth_min": 50.0, "depth_max": 10.0})


def test_real_ms2_upload_keeps_16_bit_thermal():
    if not SHARED_MS2.is_dir():
        pytest.skip(f"real MS2 samples not found at {SHARED_MS2} (the shared folder is absent)")
    frame = studio.decode_upload(*(str(SHARED_MS2 / f"000011_{s}.png") for s in ("rgb", "nir", "thr")))
    assert frame.images["thr"].dtype == np.uint16 and 2500 < frame.images["thr"].mean() < 7000
    outputs = studio.render(frame, **VIEW)
    assert outputs[2].std() > 10
    assert outputs[4] is None and "No ground-truth depth" in outputs[-1]
    assert "°C" in outputs[3][-1][3]


def test_bad_uploads_give_clear_errors(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(gr.Error, match="Thermal file"):
        studio.decode_upload(None, None, str(text))
    eight_bit = tmp_path / "thermal8.png"
    Image.fromarray(np.full((256, 640), 90, np.uint8)).save(eight_bit)
    with pytest.raises(gr.Error, match="16-bit"):
        studio.decode_upload(None, None, str(eight_bit))
    with pytest.raises(gr.Error, match="at least one"):
        studio.decode_upload(None, None, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_studio_serves_the_page():
    port = free_port()
    demo = studio.build_studio()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            assert response.status == 200
            assert "SpectraDepth" in response.read().decode()
    finally:
        demo.close()
