"""Every Streamlit page run headless with streamlit.testing's AppTest, as a user would use it."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import inference, reports
from core.data.msynth import render_frame
from core.inference import predict
from core.models import DepthModel

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / "pages"
TIMEOUT = 600
pytestmark = pytest.mark.slow   # every page run end to end


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=TIMEOUT)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def images(at: AppTest) -> list:
    return at.get("image")


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint):
    """The pages pick checkpoints from checkpoints/; the tests use the shipped default."""
    assert inference.DEFAULT_CHECKPOINT in inference.list_checkpoints()
    return inference.DEFAULT_CHECKPOINT


def test_explore_runs_a_sample(checkpoint):
    at = page("explore").run()
    assert not at.exception and not at.error
    assert len(images(at)) >= 3 + 4            # three inputs, three spectral-wise depths and the fused one
    assert len(at.dataframe) == 1                # metrics against ground truth
    assert list(at.dataframe[0].value.columns) == ["output", *inference.METRIC_LABELS.values()]
    assert at.radio[1].options == ["Spectral-wise", "Fused", "Both"]   # the studio's words, not the code's
    assert {button.label.rsplit(".", 1)[1] for button in at.get("download_button")} == {"png", "npy", "ply"}


def test_explore_redraws_display_choices_without_the_network(checkpoint, infer_calls):
    calls = infer_calls
    at = page("explore").run()
    calls.clear()
    at.selectbox(key="explore-sample").set_value(inference.list_samples()[5].name).run()   # a frame not cached yet
    assert len(calls) == 1
    before = [image.value for image in images(at)]
    at.toggle[0].set_value(True).run()          # invert colours
    assert not at.exception and len(calls) == 1
    assert [image.value for image in images(at)] != before


# Pages that take uploads: (page, widget key prefix, whether a radio must point at the thermal camera, output).
UPLOAD_PAGES = [("explore", "explore", False, "image"), ("attention", "attention", True, "image"),
                ("point_cloud", "cloud", True, "plotly_chart")]


@pytest.mark.parametrize("name, key, choose_thermal, output", UPLOAD_PAGES)
def test_pages_take_a_16_bit_thermal_upload(checkpoint, backbone_specs, monkeypatch, name, key, choose_thermal,
                                            output):
    monkeypatch.setenv("SPECTRADEPTH_CLIP", backbone_specs[0])
    monkeypatch.setenv("SPECTRADEPTH_DINO", backbone_specs[1])
    inference.load_vfm.cache_clear()
    at = page(name).run()
    at.radio(key=f"{key}-source").set_value("Upload").run()
    if choose_thermal:
        next(r for r in at.radio if "Thermal" in r.options and r.key != f"{key}-source").set_value("Thermal")
    thermal = render_frame(200_012, 2, "night").images["thr"]
    at.file_uploader(key=f"{key}-thr").set_value(("thermal.png", png_bytes(thermal), "image/png")).run()
    assert not at.exception and not at.error
    assert len(at.get(output)) >= 1
    inference.load_vfm.cache_clear()


@pytest.mark.parametrize("name, key", [(name, key) for name, key, _, _ in UPLOAD_PAGES])
def test_pages_show_a_clear_error_for_a_bad_upload(checkpoint, name, key):
    at = page(name).run()
    at.radio(key=f"{key}-source").set_value("Upload").run()
    eight_bit = np.full((256, 640), 90, np.uint8)
    at.file_uploader(key=f"{key}-thr").set_value(("thermal8.png", png_bytes(eight_bit), "image/png")).run()
    assert not at.exception
    assert any("16-bit" in error.value for error in at.error)


def test_compare_fills_the_condition_by_camera_grid(checkpoint):
    at = page("compare").run()
    assert not at.exception and not at.error
    # 5 conditions x (3 spectra + fused) x 2 models, each with its AbsRel.
    captions = [image.captions[0] for image in images(at)]
    assert len(captions) == 40 and all(caption.startswith("AbsRel ") for caption in captions)


def test_attention_page_shows_maps_and_the_backbone(backbone_specs, monkeypatch):
    clip, dino = backbone_specs
    monkeypatch.setenv("SPECTRADEPTH_CLIP", clip)
    monkeypatch.setenv("SPECTRADEPTH_DINO", dino)
    inference.load_vfm.cache_clear()
    at = page("attention").run()
    assert not at.exception and not at.error
    assert dino.split(":", 1)[1] in at.info[0].value
    attention, prompt, words = images(at)
    assert "Not measured: a free prompt" not in prompt.captions[0]            # "a car" is a class prompt
    assert "distance words" in words.captions[0] and "Right: the true depth" in words.captions[0]
    at.toggle[0].set_value(True).run()
    assert "rollout" in images(at)[0].captions[0]
    inference.load_vfm.cache_clear()


def test_point_cloud_page_plots_and_downloads(checkpoint):
    at = page("point_cloud").run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 1
    assert at.get("download_button")[0].label.startswith("Download ") and ".ply" in at.get("download_button")[0].label


def test_results_page_reads_recorded_figures_and_runs_no_model(monkeypatch, tmp_path):
    def no_model(*args, **kwargs):
        raise AssertionError("the Results page loaded or ran a model")
    monkeypatch.setattr(predict, "load_model", no_model)
    monkeypatch.setattr(inference, "load_model", no_model)
    monkeypatch.setattr(DepthModel, "infer", no_model)
    recorded = tmp_path / "results.json"
    recorded.write_text(json.dumps({"benchmarks": {"bench_example": {
        "output": "latency  ms\nexample pass  12.5", "tables": [{"title": "latency", "unit": "ms",
                                                                 "rows": {"example pass": 12.5}}],
        "seconds": 1.0, "load_average": [2.5, 2.0, 2.0], "cpus": 2, "recorded": "2026-12-03T10:00:00+00:00"}}}))
    monkeypatch.setattr(reports, "RESULTS_FILE", recorded)
    at = page("results").run()
    assert not at.exception and not at.error
    # Training curves, AbsRel per condition, size against accuracy, real frames, the recorded benchmark.
    assert len(at.get("plotly_chart")) == 5
    codes = [code.value for code in at.code]
    assert "latency  ms\nexample pass  12.5" in codes
    table = next(code for code in codes if code.startswith("| checkpoint | mode | camera |"))
    recorded_abs_rel = json.loads((inference.CHECKPOINTS_DIR / "EVAL.json").read_text())[
        inference.DEFAULT_CHECKPOINT]["metric"]["spectral"]["rgb"]["all"]["abs_rel"]
    assert f"| {inference.DEFAULT_CHECKPOINT} | Spectral-wise | RGB |" in table
    assert f" {round(recorded_abs_rel, 3)} |" in table
    # The studio's words, never the code's keys.
    assert [radio.options for radio in at.radio] == [["Spectral-wise", "Fused"], ["RGB", "NIR", "Thermal"]]


def test_entry_script_navigates_to_explore(checkpoint):
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "Explore"


def test_streamlit_server_refuses_uploads_above_the_sequence_limit():
    import tomllib
    from pathlib import Path

    from core.inference.sequence_sources import MAX_SEQUENCE_UPLOAD_MB
    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_SEQUENCE_UPLOAD_MB
