"""The studio served for real and driven through its named API with gradio_client, as a
script or a Space's visitor would: samples, 16-bit thermal uploads, bad uploads."""
import json
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from app.__main__ import launch
from core import inference
from core.data.imageio import write_png
from core.data.msynth import render_frame


@pytest.fixture(scope="module")
def client(tiny_checkpoint):
    demo = launch(tiny_checkpoint, block=False, server_name="127.0.0.1")
    yield Client(demo.local_url, verbose=False)
    demo.close()


def render_args(model: str, mode: str = "Both", view: str = "Fused", probe: str = "none") -> list:
    return [model, mode, "RGB", view, "RGB", False, False, 0, 80, 20000, probe, 0.5]


def named(outputs) -> dict:
    names = ["rgb", "nir", "thr", "info", "depth_rgb", "depth_nir", "depth_thr", "depth_fused", "metrics",
             "panel", "figure", "downloads", "status", "slider", "error"]
    assert len(outputs) == len(names)
    return dict(zip(names, outputs))


def test_api_lists_the_named_endpoints(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/load_sample", "/render", "/decode_upload", "/compare", "/attention", "/prompt_similarity"} <= set(api)


def test_sample_prediction_through_the_api(client, tiny_checkpoint):
    sample = inference.list_samples()[2]
    client.predict(sample.name, api_name="/load_sample")
    out = named(client.predict(*render_args(tiny_checkpoint), api_name="/render"))
    assert np.asarray(Image.open(out["thr"])).shape == (256, 640)
    for key, width in (("depth_rgb", 1224), ("depth_nir", 1280), ("depth_thr", 640), ("depth_fused", 1224)):
        assert np.asarray(Image.open(out[key])).shape[1] == width
    assert [row[0] for row in out["metrics"]["data"]][-1] == "fused (RGB anchor)"
    assert all(0 <= row[1] < 10 for row in out["metrics"]["data"])
    assert json.loads(out["figure"]["plot"])["data"][0]["type"] == "scatter3d"
    suffixes = sorted(path.rsplit(".", 1)[1] for path in out["downloads"])
    assert suffixes == ["npy", "ply", "png"]
    depth_png = np.asarray(Image.open(next(p for p in out["downloads"] if p.endswith(".png"))))
    assert depth_png.dtype == np.uint16 and depth_png.max() > 255
    assert sample.name in out["status"] and "metres" in out["status"]
    assert len(out["slider"]) == 2 and out["error"] is not None


def test_uploaded_16_bit_thermal_through_the_api(client, tiny_checkpoint, tmp_path):
    frame = render_frame(200_010, 3, "night")
    thermal, rgb = tmp_path / "thermal.png", tmp_path / "rgb.png"
    write_png(thermal, frame.images["thr"])
    write_png(rgb, frame.images["rgb"])
    client.predict(handle_file(str(rgb)), None, handle_file(str(thermal)), api_name="/decode_upload")
    out = named(client.predict(*render_args(tiny_checkpoint, mode="Spectral-wise", view="Thermal alone"),
                               api_name="/render"))
    info = {row[0]: row for row in out["info"]["data"]}
    assert info["Thermal"][2] == "16-bit x 1" and "°C" in info["Thermal"][3]
    assert out["nir"] is None and out["depth_fused"] is None
    assert np.asarray(Image.open(out["depth_thr"])).shape[1] == 640
    assert "Calibration: none uploaded" in out["status"]
    assert out["metrics"]["data"] in ([], None) or out["metrics"] is None


@pytest.mark.parametrize("case, message", [
    ("text", "Invalid file type"), ("empty", "Thermal file"), ("eight_bit", "16-bit"),
    ("wrong_shape", "aspect"), ("huge", "limit of"),
])
def test_bad_uploads_are_clear_errors_and_the_app_keeps_serving(client, tiny_checkpoint, tmp_path, case, message):
    path = tmp_path / f"{case}.png"
    if case == "text":  # refused by Gradio itself (file_types=["image"]) before our decoder sees it
        path = tmp_path / "notes.txt"
        path.write_text("not an image")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "eight_bit":
        Image.fromarray(np.full((256, 640), 90, np.uint8)).save(path)
    elif case == "wrong_shape":
        Image.fromarray(np.full((640, 256), 3000, np.uint16)).save(path)
    else:
        Image.new("I;16", (5000, 4000)).save(path)
    with pytest.raises(AppError, match=message):
        client.predict(None, None, handle_file(str(path)), api_name="/decode_upload")
    client.predict(inference.list_samples()[0].name, api_name="/load_sample")
    out = named(client.predict(*render_args(tiny_checkpoint, mode="Spectral-wise", view="RGB alone"),
                               api_name="/render"))
    assert out["depth_rgb"] is not None


def test_spaces_front_matter_matches_the_installed_stack():
    import gradio
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    front = readme.split("---")[1]
    fields = dict(line.split(": ", 1) for line in front.strip().splitlines())
    assert fields["sdk"] == "gradio" and fields["sdk_version"] == gradio.__version__
    assert (Path(__file__).resolve().parents[1] / fields["app_file"]).is_file()
    assert fields["python_version"].strip('"') == "3.11"
