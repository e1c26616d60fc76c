"""The studio's handlers and a served page, driven as a user would."""
import urllib.request

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from app import studio
from app.__main__ import launch
from core import inference
from core.data.frame import CONDITIONS


@pytest.fixture(scope="module")
def samples():
    return inference.list_samples()


@pytest.fixture
def controls(tiny_checkpoint):
    return dict(model_name=tiny_checkpoint, mode_label="Both", anchor_label="RGB", view="Fused",
                color_label="Thermal", invert=False, fixed_range=False, depth_min=0.0, depth_max=80.0,
                max_points=20000)


def unpack(outputs):
    names = ["rgb", "nir", "thr", "info", "depth_rgb", "depth_nir", "depth_thr", "depth_fused", "metrics",
             "panel", "figure", "downloads", "status", "slider", "error"]
    assert len(outputs) == len(names) == studio.RENDER_OUTPUTS
    return dict(zip(names, outputs))


def test_gallery_covers_every_condition(samples):
    assert {s.condition for s in samples} == set(CONDITIONS)
    assert all(s.thumbnail.exists() for s in samples)


def test_sample_renders_spectra_depths_metrics_cloud_and_downloads(samples, controls):
    frame = studio.load_sample(samples[0].name)
    out = unpack(studio.render(frame, **controls))
    assert out["rgb"].shape == (384, 1224, 3) and out["nir"].shape == (352, 1280) and out["thr"].shape == (256, 640)
    assert out["thr"].dtype == np.uint8 and out["thr"].std() > 10  # normalised thermal, not a black frame
    for key, width in (("depth_rgb", 1224), ("depth_nir", 1280), ("depth_thr", 640), ("depth_fused", 1224)):
        assert out[key].shape[1] == width and out[key].ndim == 3
    assert [row[0] for row in out["metrics"]] == ["RGB alone", "NIR alone", "Thermal alone", "fused (RGB anchor)"]
    assert all(0 <= row[1] < 10 for row in out["metrics"])
    assert len(out["figure"].data) == 1 and 0 < len(out["figure"].data[0].x) <= controls["max_points"] * 1.1
    assert "metres" in out["status"] and "ms" in out["status"]


def test_ground_truth_view_downloads_exact_depth(samples, controls):
    frame = studio.load_sample(samples[2].name)
    out = unpack(studio.render(frame, **{**controls, "view": "Ground truth", "anchor_label": "Thermal"}))
    png = next(p for p in out["downloads"] if p.endswith(".png"))
    npy = next(p for p in out["downloads"] if p.endswith(".npy"))
    depth = frame.depth["thr"]
    stored = np.asarray(Image.open(png))
    assert stored.shape == depth.shape and stored.max() > 255  # 16-bit
    assert np.allclose(stored / 256.0, depth, atol=1 / 512 + 1e-6)
    assert np.array_equal(np.load(npy), depth)
    assert any(p.endswith(".ply") for p in out["downloads"])


def test_every_output_and_colouring_renders(samples, controls):
    frame = studio.load_sample(samples[1].name)
    for view in studio.VIEW_CHOICES:
        for color_label in ("RGB", "NIR", "Thermal"):
            out = unpack(studio.render(frame, **{**controls, "view": view, "color_label": color_label}))
            assert out["figure"] is not None and out["panel"] is not None


def test_spectral_mode_has_no_fused_output(samples, controls):
    frame = studio.load_sample(samples[0].name)
    out = unpack(studio.render(frame, **{**controls, "mode_label": "Spectral-wise", "view": "NIR alone"}))
    assert out["depth_fused"] is None and out["depth_nir"] is not None
    with pytest.raises(gr.Error, match="not computed in this mode"):
        studio.render(frame, **{**controls, "mode_label": "Spectral-wise", "view": "Fused"})


def test_fixed_range_must_be_ordered(samples, controls):
    frame = studio.load_sample(samples[0].name)
    with pytest.raises(gr.Error, match="max > min"):
        studio.render(frame, **{**controls, "fixed_range": True, "depth_min": 50.0, "depth_max": 10.0})


def test_controls_before_any_frame_change_nothing(controls):
    assert all(isinstance(o, dict) or o is not None for o in studio.rerender(None, *controls.values()))


def test_real_ms2_upload_keeps_16_bit_thermal(shared_ms2, controls):
    frame = studio.decode_upload(*(str(shared_ms2 / f"000011_{s}.png") for s in ("rgb", "nir", "thr")))
    assert frame.images["thr"].dtype == np.uint16 and 2500 < frame.images["thr"].mean() < 7000
    out = unpack(studio.render(frame, **controls))
    assert out["thr"].std() > 10
    assert out["metrics"] is None  # no ground truth for uploads
    assert out["depth_fused"] is not None and "Calibration" in out["status"]
    assert "°C" in out["info"][-1][3]
    with pytest.raises(gr.Error, match="no ground-truth depth"):
        studio.render(frame, **{**controls, "view": "Ground truth"})


def test_upload_of_a_single_spectrum_runs_spectral_wise(shared_ms2, controls):
    frame = studio.decode_upload(None, None, str(shared_ms2 / "002079_thr.png"))
    out = unpack(studio.render(frame, **{**controls, "view": "Thermal alone"}))
    assert out["depth_thr"] is not None and out["depth_rgb"] is None


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


def test_missing_checkpoint_is_a_clear_error(samples, controls):
    frame = studio.load_sample(samples[0].name)
    with pytest.raises(gr.Error, match="no checkpoint folder"):
        studio.render(frame, **{**controls, "model_name": "no-such-checkpoint"})


def test_studio_serves_the_page():
    demo = launch(block=False, server_name="127.0.0.1")
    try:
        with urllib.request.urlopen(demo.local_url, timeout=30) as response:
            assert response.status == 200
            assert "SpectraDepth" in response.read().decode()
    finally:
        demo.close()


def test_teacher_and_student_side_by_side_with_cost(samples, tiny_teacher_student):
    teacher, student = tiny_teacher_student
    frame = studio.load_sample(samples[0].name)
    teacher_panel, student_panel, rows, summary = studio.compare(frame, teacher, student, "Thermal", False)
    assert teacher_panel.shape[1] == student_panel.shape[1] == 640 and teacher_panel.ndim == 3
    assert [row[0] for row in rows] == ["teacher", "student"]
    assert rows[0][2] > rows[1][2] > 0 and all(row[3] > 0 for row in rows)   # parameters [M], time [ms]
    assert all(0 <= row[4] < 10 for row in rows)                              # AbsRel against GT
    assert "frozen backbones" in summary and "vfm_student" in summary


def test_teacher_has_no_fused_mode(samples, controls, tiny_teacher_student):
    frame = studio.load_sample(samples[0].name)
    with pytest.raises(gr.Error, match="no fusion module"):
        studio.render(frame, **{**controls, "model_name": tiny_teacher_student[0]})


def test_attention_and_prompt_maps_over_the_input(samples, backbone_specs, monkeypatch):
    clip, dino = backbone_specs
    monkeypatch.setenv("SPECTRADEPTH_CLIP", clip)
    monkeypatch.setenv("SPECTRADEPTH_DINO", dino)
    inference.load_vfm.cache_clear()
    frame = studio.load_sample(samples[2].name)
    overlay, caption = studio.show_attention(frame, "Thermal", "DINO", -1, "mean", False)
    assert overlay.shape == (256, 640, 3) and "layer 1, head mean" in caption and dino.split(":", 1)[1] in caption
    rollout, caption = studio.show_attention(frame, "RGB", "CLIP", -1, "1", True)
    assert rollout.shape == (384, 1224, 3) and "rollout over 2 layers" in caption
    near, caption = studio.show_prompt(frame, "RGB", "a very close car")
    far, _ = studio.show_prompt(frame, "RGB", "the distant sky")
    assert '"a very close car"' in caption and not np.array_equal(near, far)
    with pytest.raises(gr.Error, match="out of range"):
        studio.show_attention(frame, "RGB", "DINO", 5, "mean", False)
    with pytest.raises(gr.Error, match="type a prompt"):
        studio.show_prompt(frame, "RGB", "  ")
    inference.load_vfm.cache_clear()


def test_slider_and_error_map_beside_the_depth(samples, controls):
    frame = studio.load_sample(samples[0].name)
    out = unpack(studio.render(frame, **controls))
    image, depth = out["slider"]
    assert image.shape == depth.shape == (384, 1224, 3) and image.dtype == depth.dtype == np.uint8
    assert out["error"].shape[1] == 1224 and out["error"].shape[0] > 384    # map + colour bar
    gt_view = unpack(studio.render(frame, **{**controls, "view": "Ground truth"}))
    assert gt_view["error"] is None


def test_robustness_probe_degrades_the_inputs_and_says_so(samples, controls):
    frame = studio.load_sample(samples[0].name)
    clean = unpack(studio.render(frame, **controls))
    night = unpack(studio.render(frame, **controls, probe_label="night", strength=1.0))
    assert night["rgb"].mean() < 0.35 * clean["rgb"].mean()
    assert np.array_equal(night["thr"], clean["thr"])          # thermal does not need light
    assert "Inputs probed: night at strength 1" in night["status"]
    with pytest.raises(gr.Error, match="unknown probe"):
        studio.render(frame, **controls, probe_label="snow")


def test_backbone_status_is_on_the_page():
    status = inference.backbone_status()
    assert status.startswith("CLIP: ") and " · DINO: " in status
    page = studio.build_studio()
    assert any(getattr(block, "elem_id", None) == "backbones" for block in page.blocks.values())
