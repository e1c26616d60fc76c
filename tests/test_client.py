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


pytestmark = pytest.mark.slow   # a served studio


def analyse(client, model: str, mode: str = "Both", probe: str = "none") -> dict:
    """The network step for the session's frame: its outputs by name (the kept Analysis stays on the server)."""
    outputs = client.predict(model, mode, "RGB", probe, 0.5, api_name="/analyse")
    names = ["rgb", "nir", "thr", "info", "status", "notice"]
    assert len(outputs) == len(names)
    return dict(zip(names, outputs))


def show(client, view: str = "Fused", invert: bool = False) -> dict:
    """The display step from the kept Analysis."""
    outputs = client.predict(view, invert, False, 0, 80, api_name="/show")
    names = ["depth_rgb", "depth_nir", "depth_thr", "depth_fused", "metrics", "panel", "slider", "error"]
    assert len(outputs) == len(names)
    return dict(zip(names, outputs))


def value(update):
    """An output's value; outputs that can be hidden (metrics, error map, notice) come as updates."""
    return update["value"] if isinstance(update, dict) and update.get("__type__") == "update" else update


def cloud(client, view: str = "Fused") -> dict:
    return dict(zip(["figure", "downloads"], client.predict(view, "RGB", 20000, api_name="/point_cloud")))


def test_api_lists_the_named_endpoints(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/load_sample", "/analyse", "/show", "/point_cloud", "/decode_upload", "/compare", "/attention",
            "/prompt_similarity", "/distance_words"} <= set(api)


def test_sample_prediction_through_the_api(client, tiny_checkpoint):
    sample = inference.list_samples()[2]
    client.predict(sample.name, api_name="/load_sample")
    analysed = analyse(client, tiny_checkpoint)
    out = {**analysed, **show(client), **cloud(client)}
    assert np.asarray(Image.open(out["thr"])).shape == (256, 640)
    for key, width in (("depth_rgb", 1224), ("depth_nir", 1280), ("depth_thr", 640), ("depth_fused", 1224)):
        assert np.asarray(Image.open(out[key])).shape[1] == width
    metrics = value(out["metrics"])["data"]
    assert [row[0] for row in metrics][-1] == "fused (RGB anchor)"
    assert all(0 <= row[1] < 10 for row in metrics)
    assert json.loads(out["figure"]["plot"])["data"][0]["type"] == "scatter3d"
    suffixes = sorted(path.rsplit(".", 1)[1] for path in out["downloads"])
    assert suffixes == ["npy", "ply", "png"]
    depth_png = np.asarray(Image.open(next(p for p in out["downloads"] if p.endswith(".png"))))
    assert depth_png.dtype == np.uint16 and depth_png.max() > 255
    assert sample.name in out["status"] and "metres" in out["status"]
    assert len(out["slider"]) == 2 and np.asarray(Image.open(value(out["error"]))).shape[1] == 1224
    assert out["notice"]["visible"] is False


def test_uploaded_16_bit_thermal_through_the_api(client, tiny_checkpoint, tmp_path):
    frame = render_frame(200_010, 3, "night")
    thermal, rgb = tmp_path / "thermal.png", tmp_path / "rgb.png"
    write_png(thermal, frame.images["thr"])
    write_png(rgb, frame.images["rgb"])
    client.predict(handle_file(str(rgb)), None, handle_file(str(thermal)), api_name="/decode_upload")
    out = {**analyse(client, tiny_checkpoint, mode="Spectral-wise"), **show(client, view="Thermal alone")}
    info = {row[0]: row for row in out["info"]["data"]}
    assert info["Thermal"][2] == "16-bit x 1" and "°C" in info["Thermal"][3]
    assert out["nir"] is None and out["depth_fused"] is None
    assert np.asarray(Image.open(out["depth_thr"])).shape[1] == 640
    assert "Calibration: none uploaded" in out["status"] and "MS-Synth" in value(out["notice"])
    assert not out["metrics"]["visible"] and not out["error"]["visible"]


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
        Image.fromarray((3000 + np.arange(640 * 256) % 2000).reshape(640, 256).astype(np.uint16)).save(path)
    else:
        Image.new("I;16", (5000, 4000)).save(path)
    with pytest.raises(AppError, match=message):
        client.predict(None, None, handle_file(str(path)), api_name="/decode_upload")
    client.predict(inference.list_samples()[0].name, api_name="/load_sample")
    analyse(client, tiny_checkpoint, mode="Spectral-wise")
    out = show(client, view="RGB alone")
    assert np.asarray(Image.open(out["depth_rgb"])).shape[1] == 1224


def test_spaces_front_matter_matches_the_installed_stack():
    import gradio
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    front = readme.split("---")[1]
    fields = dict(line.split(": ", 1) for line in front.strip().splitlines())
    assert fields["sdk"] == "gradio" and fields["sdk_version"] == gradio.__version__
    assert (Path(__file__).resolve().parents[1] / fields["app_file"]).is_file()
    assert fields["python_version"].strip('"') == "3.11"


def test_a_session_keeps_one_frame_and_one_analysis_on_disk_however_often_it_uploads(client, tiny_checkpoint, tmp_path):
    from app import studio
    before = set(studio.sessions().root.rglob("*.npz")) if studio.sessions().root.exists() else set()
    session = Client(client.src, verbose=False)
    for seed in range(3):
        path = tmp_path / f"street{seed}.png"
        Image.fromarray(np.random.default_rng(seed).integers(0, 255, (384, 1224, 3)).astype(np.uint8)).save(path)
        session.predict(handle_file(str(path)), None, None, api_name="/decode_upload")
        session.predict(tiny_checkpoint, "Spectral-wise", "RGB", "none", 0.5, False, api_name="/analyse")
    kept = set(studio.sessions().root.rglob("*.npz")) - before
    assert sorted(path.name.split("-")[0] for path in kept) == ["analysis", "frame"]
    assert len({path.parent for path in kept}) == 1       # one folder: this session's
