"""The studio's handlers and a served page, driven as a user would."""
import json
import threading
import time
import urllib.request

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from app import studio
from app.__main__ import launch
from core import inference
from core.data.frame import CONDITIONS

SKIP = gr.skip()


@pytest.fixture(scope="module")
def samples():
    return inference.list_samples()


@pytest.fixture(scope="module")
def controls(tiny_checkpoint):
    return dict(model_name=tiny_checkpoint, mode_label="Both", anchor_label="RGB", view="Fused",
                color_label="Thermal", invert=False, fixed_range=False, depth_min=0.0, depth_max=80.0,
                max_points=20000)


def run(frame, model_name, mode_label, anchor_label, view, color_label, invert, fixed_range, depth_min, depth_max,
        max_points, probe_label="none", strength=0.5) -> dict:
    """The three steps a click runs (analyse, show, point cloud), their outputs by name."""
    analysed = studio.analyse_frame(frame, model_name, mode_label, anchor_label, probe_label, strength)
    shown = studio.show(analysed[0], view, invert, fixed_range, depth_min, depth_max)
    cloud = studio.show_cloud(analysed[0], view, color_label, max_points)
    outputs = (*analysed, *shown, *cloud)
    names = (*studio.ANALYSE_OUTPUTS, *studio.SHOW_OUTPUTS, *studio.CLOUD_OUTPUTS)
    assert len(outputs) == len(names)
    return dict(zip(names, outputs))


@pytest.fixture(scope="module")
def first_sample(samples, controls) -> dict:
    """The first sample through all three steps with the default controls, once for the tests that read it."""
    frame = studio.load_sample(samples[0].name)
    return {"frame": frame, **run(frame, **controls)}


def kept(stored):
    """What a handle the studio keeps for a session stands for: its analysis or its frame."""
    return studio.sessions().analysis(stored) if stored.slot == "analysis" else studio.sessions().frame(stored)


def value(update):
    """The value of an output that may come as a gr.update (metrics, error map, notice)."""
    return update["value"] if isinstance(update, dict) and update.get("__type__") == "update" else update


def visible(update) -> bool:
    return update.get("visible", True)


def test_gallery_covers_every_condition(samples):
    assert {s.condition for s in samples} == set(CONDITIONS)
    assert all(s.thumbnail.exists() for s in samples)


def test_sample_renders_spectra_depths_metrics_cloud_and_downloads(first_sample, controls):
    out = first_sample
    assert out["rgb"].shape == (384, 1224, 3) and out["nir"].shape == (352, 1280) and out["thr"].shape == (256, 640)
    assert out["thr"].dtype == np.uint8 and out["thr"].std() > 10  # normalised thermal, not a black frame
    for key, width in (("depth_rgb", 1224), ("depth_nir", 1280), ("depth_thr", 640), ("depth_fused", 1224)):
        assert out[key].shape[1] == width and out[key].ndim == 3
    rows = value(out["metrics"])
    assert visible(out["metrics"])
    assert [row[0] for row in rows] == ["RGB alone", "NIR alone", "Thermal alone", "fused (RGB anchor)"]
    assert all(0 <= row[1] < 10 for row in rows)
    assert len(out["figure"].data) == 1 and 0 < len(out["figure"].data[0].x) <= controls["max_points"] * 1.1
    assert "metres" in out["status"] and "ms" in out["status"]
    assert not visible(out["notice"])          # an MS-Synth sample needs no note on training data


def test_ground_truth_view_downloads_exact_depth(samples, controls):
    frame = studio.load_sample(samples[2].name)
    out = run(frame, **{**controls, "view": "Ground truth", "anchor_label": "Thermal"})
    png = next(p for p in out["downloads"] if p.endswith(".png"))
    npy = next(p for p in out["downloads"] if p.endswith(".npy"))
    depth = kept(frame).depth["thr"]
    stored = np.asarray(Image.open(png))
    assert stored.shape == depth.shape and stored.max() > 255  # 16-bit
    assert np.allclose(stored / 256.0, depth, atol=1 / 512 + 1e-6)
    assert np.array_equal(np.load(npy), depth)
    assert any(p.endswith(".ply") for p in out["downloads"])


def test_each_view_shows_its_own_camera_and_colouring_changes_the_points(samples, controls):
    frame = studio.load_sample(samples[1].name)
    analysis = studio.analyse_frame(frame, controls["model_name"], "Both", "Thermal")[0]
    widths = {camera.width for camera in kept(frame).cameras.values()}
    assert len(widths) == 3   # the cameras differ, so a panel's width says which camera it shows
    for view, camera in (("Fused", "thr"), ("RGB alone", "rgb"), ("NIR alone", "nir"), ("Thermal alone", "thr"),
                         ("Ground truth", "thr")):
        shown = dict(zip(studio.SHOW_OUTPUTS, studio.show(analysis, view, False, False, 0, 80)))
        assert shown["panel"].shape[1] == kept(frame).cameras[camera].width
        image, depth = shown["slider"]
        assert image.shape == depth.shape == (*kept(frame).cameras[camera].size, 3)
    colours = {}
    for color_label in ("RGB", "NIR", "Thermal"):
        figure, paths = studio.show_cloud(analysis, "NIR alone", color_label, 5000)
        colours[color_label] = np.asarray(figure.data[0].marker.color)
        assert any("_nir_nir_" in p.rsplit("/", 1)[1] for p in paths)
    assert not np.array_equal(colours["RGB"], colours["Thermal"])
    assert not np.array_equal(colours["NIR"], colours["Thermal"])


def test_spectral_mode_has_no_fused_output(samples, controls):
    frame = studio.load_sample(samples[0].name)
    out = run(frame, **{**controls, "mode_label": "Spectral-wise", "view": "NIR alone"})
    assert out["depth_fused"] is None and out["depth_nir"].shape[1] == 1280
    with pytest.raises(gr.Error, match="not computed in this mode"):
        studio.show(out["analysis"], "Fused", False, False, 0, 80)


def test_fixed_range_must_be_ordered_and_sets_the_colour_bar(first_sample):
    analysis = first_sample["analysis"]
    with pytest.raises(gr.Error, match="max > min"):
        studio.show(analysis, "Fused", False, True, 50.0, 10.0)
    suggested = studio.show(analysis, "Fused", False, False, 0, 80)[5]
    fixed = studio.show(analysis, "Fused", False, True, 0.0, 200.0)[5]
    assert suggested.shape == fixed.shape and not np.array_equal(suggested, fixed)


def test_controls_before_any_frame_change_nothing(controls):
    """A control touched before a frame is picked changes nothing; a call of the named endpoint
    (a script) is told what to do first."""
    for step, args in (("analyse", (controls["model_name"], "Both", "RGB")), ("show", ("Fused", False, False, 0, 80)),
                       ("cloud", ("Fused", "RGB", 5000))):
        handler, outputs, _ = studio.STEP_HANDLERS[step]
        assert studio.when_kept(handler, outputs)(None, *args) == (SKIP,) * len(outputs)
        with pytest.raises(gr.Error, match="pick a sample or upload images"):
            handler(None, *args)


def test_display_only_controls_run_no_network(samples, controls, infer_calls):
    calls = infer_calls
    frame = studio.load_sample(samples[0].name)
    analysis = studio.analyse_frame(frame, controls["model_name"], "Both", "RGB")[0]
    assert len(calls) == 1
    plain = studio.show(analysis, "Fused", False, False, 0, 80)
    inverted = studio.show(analysis, "Fused", True, False, 0, 80)
    ranged = studio.show(analysis, "Fused", False, True, 5.0, 30.0)
    other_view = studio.show(analysis, "NIR alone", False, False, 0, 80)
    clouds = [studio.show_cloud(analysis, "Fused", colour, 5000)[0] for colour in ("RGB", "Thermal")]
    assert len(calls) == 1   # one network run for the frame, none for any display choice
    for changed in (inverted, ranged):
        assert not np.array_equal(changed[3], plain[3])                   # the fused panel was redrawn
    assert other_view[5].shape[1] == kept(frame).cameras["nir"].width
    assert not np.array_equal(clouds[0].data[0].marker.color, clouds[1].data[0].marker.color)


def test_network_controls_rerun_the_network(samples, controls):
    frame = studio.load_sample(samples[0].name)
    fused_rgb = studio.analyse_frame(frame, controls["model_name"], "Both", "RGB")[0]
    fused_thr = studio.analyse_frame(frame, controls["model_name"], "Fused", "Thermal")[0]
    spectral = studio.analyse_frame(frame, controls["model_name"], "Spectral-wise", "RGB")[0]
    fused_rgb, fused_thr, spectral = (kept(stored) for stored in (fused_rgb, fused_thr, spectral))
    assert (fused_rgb.anchor, fused_thr.anchor, spectral.anchor) == ("rgb", "thr", None)
    assert fused_thr.outputs == ("fused",) and spectral.outputs == ("rgb", "nir", "thr")
    assert fused_thr.depth("fused").shape == kept(frame).cameras["thr"].size


def test_real_ms2_upload_keeps_16_bit_thermal_and_says_what_was_assumed(shared_ms2, controls):
    frame = studio.decode_upload(*(str(shared_ms2 / f"000011_{s}.png") for s in ("rgb", "nir", "thr")))
    assert kept(frame).images["thr"].dtype == np.uint16 and 2500 < kept(frame).images["thr"].mean() < 7000
    out = run(frame, **controls)
    assert out["thr"].std() > 10
    assert not visible(out["metrics"]) and not visible(out["error"])   # no ground truth for uploads
    assert out["depth_fused"] is not None and "Calibration" in out["status"]
    assert visible(out["notice"]) and "MS-Synth" in value(out["notice"]) and "rig" in value(out["notice"])
    assert "°C" in out["info"][-1][3]
    with pytest.raises(gr.Error, match="no ground-truth depth"):
        studio.show(out["analysis"], "Ground truth", False, False, 0, 80)


def test_upload_of_a_single_spectrum_runs_spectral_wise(shared_ms2, controls):
    frame = studio.decode_upload(None, None, str(shared_ms2 / "002079_thr.png"))
    out = run(frame, **{**controls, "view": "Thermal alone"})
    assert out["depth_thr"].shape[1] == kept(frame).cameras["thr"].width and out["depth_rgb"] is None


def test_a_large_upload_is_shown_at_display_size_and_downloaded_at_its_own(tmp_path, controls, samples):
    sample = studio.load_sample(samples[0].name)
    big = np.repeat(np.repeat(kept(sample).images["rgb"], 3, axis=0), 3, axis=1)   # 3672 x 1152
    path = tmp_path / "big_rgb.png"
    Image.fromarray(big).save(path)
    frame = studio.decode_upload(str(path), None, None)
    out = run(frame, **{**controls, "view": "RGB alone", "max_points": 5000})
    assert out["rgb"].shape[1] == inference.DISPLAY_MAX_WIDTH and out["depth_rgb"].shape[1] == 1280
    assert out["panel"].shape[1] == 1280 and out["slider"][0].shape == (402, 1280, 3)
    npy = np.load(next(p for p in out["downloads"] if p.endswith(".npy")))
    # downloads at the resolution the session keeps: the upload's own, up to UPLOAD_KEEP_WIDTH
    keep = inference.UPLOAD_KEEP_WIDTH
    assert npy.shape == (round(big.shape[0] * keep / big.shape[1]), keep)


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


def test_models_outside_the_allow_list_are_refused_without_touching_the_server(samples, controls, monkeypatch):
    frame = studio.load_sample(samples[0].name)
    for name in ("no-such-checkpoint", "/etc", "/root", "openai/some-hub-repo", None, ""):
        with pytest.raises(gr.Error) as refused:
            studio.analyse_frame(frame, name, "Both", "RGB")
        message = str(refused.value)
        assert "not offered here" in message or "choose a model" in message
        assert "/tmp" not in message and "checkpoints/" not in message and len(message) < 300
    # The operator opens the door for a self-hosted studio: then a missing one says so, by its name.
    monkeypatch.setenv(inference.CUSTOM_MODELS_ENV, "1")
    with pytest.raises(gr.Error, match="no checkpoint folder at 'no-such-checkpoint'"):
        studio.analyse_frame(frame, "no-such-checkpoint", "Both", "RGB")


def test_checkpoint_configs_are_checked_before_anything_is_built(tmp_path, monkeypatch, tiny_checkpoint):
    import json
    import shutil

    monkeypatch.setenv(inference.CUSTOM_MODELS_ENV, "1")
    frame = studio.load_sample(studio.inference.list_samples()[0].name)
    cases = {"huge": {"input_size": [2048, 5120]}, "big-encoder": {"encoder": "resnet152"}}
    for name, change in cases.items():
        folder = tmp_path / name
        shutil.copytree(tiny_checkpoint, folder)
        description = json.loads((folder / "config.json").read_text())
        description["model"].update(change)
        (folder / "config.json").write_text(json.dumps(description))
        with pytest.raises(gr.Error) as refused:
            studio.analyse_frame(frame, str(folder), "Both", "RGB")
        assert "outside what is allowed" in str(refused.value) or "not one allowed here" in str(refused.value)
        assert len(str(refused.value)) < 400
    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(gr.Error, match="config.json is not a valid checkpoint config"):
        studio.analyse_frame(frame, str(broken), "Both", "RGB")


@pytest.mark.slow
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
    assert not np.array_equal(teacher_panel, student_panel)
    assert [row[0] for row in rows] == ["teacher", "student"]
    assert rows[0][2] > rows[1][2] > 0 and all(row[3] > 0 for row in rows)   # parameters [M], time [ms]
    assert all(0 <= row[4] < 10 for row in rows)                              # AbsRel against GT
    assert "frozen backbones" in summary and "vfm_student" in summary


def test_teacher_has_no_fused_mode_and_choosing_it_switches_to_spectral_wise(samples, controls,
                                                                             tiny_teacher_student):
    frame = studio.load_sample(samples[0].name)
    with pytest.raises(gr.Error, match="no fusion module"):
        studio.analyse_frame(frame, tiny_teacher_student[0], "Both", "RGB")
    assert studio.controls_for_model(tiny_teacher_student[0], "Both", "Fused") == ("Spectral-wise", "RGB alone")
    assert studio.controls_for_model(tiny_teacher_student[1], "Fused", "NIR alone") == ("Spectral-wise", "NIR alone")
    assert studio.controls_for_model(controls["model_name"], "Both", "Fused") == ("Both", "Fused")


def test_a_student_by_default_starts_spectral_wise(tiny_teacher_student):
    page = studio.build_studio(tiny_teacher_student[1])
    radios = {block.label: block.value for block in page.blocks.values() if isinstance(block, gr.Radio)}
    assert radios["Mode"] == "Spectral-wise" and radios["Show (above, in 3-D and as download)"] == "RGB alone"


def test_attention_and_prompt_maps_over_the_input(samples, backbone_specs, monkeypatch):
    clip, dino = backbone_specs
    monkeypatch.setenv("SPECTRADEPTH_CLIP", clip)
    monkeypatch.setenv("SPECTRADEPTH_DINO", dino)
    inference.load_vfm.cache_clear()
    frame = studio.load_sample(samples[2].name)
    layers, heads = inference.backbone_shape("dino")
    layer_slider, head_choice = studio.attention_controls("DINO")
    assert (layer_slider.minimum, layer_slider.maximum, layer_slider.value) == (0, layers - 1, layers - 1)
    assert [choice for choice, _ in head_choice.choices] == ["mean", *map(str, range(heads))]
    overlay, caption = studio.show_attention(frame, "Thermal", "DINO", layers - 1, "mean", False)
    assert overlay.shape[1] == 640 and f"layer {layers - 1}, head mean" in caption
    assert dino.split(":", 1)[1] in caption
    first, _ = studio.show_attention(frame, "Thermal", "DINO", 0, "mean", False)
    assert not np.array_equal(first, overlay)
    clip_layers = inference.backbone_shape("clip")[0]
    rollout, caption = studio.show_attention(frame, "RGB", "CLIP", clip_layers - 1, "1", True)
    assert rollout.shape[1] == 1224 and "rollout over 2 layers" in caption
    near, caption = studio.show_prompt(frame, "RGB", "a very close car")
    far, _ = studio.show_prompt(frame, "RGB", "the distant sky")
    assert '"a very close car"' in caption and not np.array_equal(near, far)
    with pytest.raises(gr.Error, match="layer must be between"):
        studio.show_attention(frame, "RGB", "DINO", layers, "mean", False)
    with pytest.raises(gr.Error, match="type a prompt"):
        studio.show_prompt(frame, "RGB", "  ")
    _, caption = studio.show_prompt(frame, "RGB", "a very close car")
    assert "Not measured: a free prompt" in caption and '"the road"' in caption
    _, caption = studio.show_prompt(frame, "RGB", "The road")
    assert "Not measured for" in caption              # the tiny test CLIP was never evaluated
    words, caption = studio.show_distance_words(frame, "RGB")
    assert words.shape[1] == 2 * rollout.shape[1] and "Right: the true depth" in caption and " m." in caption
    inference.load_vfm.cache_clear()


def test_a_class_prompt_says_its_measured_auroc_and_the_distance_map_its_spearman(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from core.inference import attention
    shipped = SimpleNamespace(name="builtin-clip", source="built-in CLIP trained on MS-Synth (builtin-clip)")
    report = {"shipped": {"name": shipped.name, "source": shipped.source, "groups": {"rgb": {"all": {
        "auroc": {"road": 0.93, "person": None}, "spearman": 0.81}}}}}
    (tmp_path / "EVAL-language.json").write_text(json.dumps(report))
    monkeypatch.setattr(attention, "LANGUAGE_REPORT", tmp_path / "EVAL-language.json")
    attention.measured_language.cache_clear()
    try:
        assert "AUROC 0.93 against the true road patches" in attention.prompt_worth(shipped, "rgb", "the road")
        assert "no RGB test patch is mostly person" in attention.prompt_worth(shipped, "rgb", "a person")
        same_name_elsewhere = SimpleNamespace(name="builtin-clip", source="open_clip builtin-clip from /elsewhere")
        assert "Not measured for builtin-clip" in attention.prompt_worth(same_name_elsewhere, "rgb", "the road")
    finally:
        attention.measured_language.cache_clear()


def test_slider_and_error_map_beside_the_depth(first_sample):
    frame, out = first_sample["frame"], first_sample
    image, depth = out["slider"]
    assert image.shape == depth.shape == (384, 1224, 3) and image.dtype == depth.dtype == np.uint8
    assert np.array_equal(image, kept(frame).images["rgb"])
    error = value(out["error"])
    assert visible(out["error"]) and error.shape[1] == 1224 and error.shape[0] > 384    # map + colour bar
    gt_view = dict(zip(studio.SHOW_OUTPUTS, studio.show(out["analysis"], "Ground truth", False, False, 0, 80)))
    assert not visible(gt_view["error"]) and value(gt_view["error"]) is None


def test_robustness_probe_degrades_the_inputs_and_says_so(first_sample, controls):
    frame, clean = first_sample["frame"], first_sample
    night = run(frame, **controls, probe_label="night", strength=1.0)
    assert night["rgb"].mean() < 0.35 * clean["rgb"].mean()
    assert np.array_equal(night["thr"], clean["thr"])          # thermal does not need light
    assert "Inputs probed: night at strength 1" in night["status"]
    assert not np.array_equal(kept(night["analysis"]).depth("rgb"), kept(clean["analysis"]).depth("rgb"))
    with pytest.raises(gr.Error, match="choose a probe"):
        run(frame, **controls, probe_label="snow")


def test_backbone_status_is_on_the_page():
    status = inference.backbone_status()
    assert status.startswith("CLIP: ") and " · DINO: " in status
    page = studio.build_studio()
    assert any(getattr(block, "elem_id", None) == "backbones" for block in page.blocks.values())


def test_every_heavy_handler_shares_one_app_wide_concurrency_pool():
    """Network runs and point clouds share one pool of HEAVY_CONCURRENCY slots for the whole app;
    display redraws do not wait behind them. A sequence run streams in a group of its own (it
    holds a heavy slot per frame, not for its whole length)."""
    demo = studio.build_studio()
    functions = demo.fns.values() if isinstance(demo.fns, dict) else demo.fns
    by_name = {}
    for function in functions:
        by_name.setdefault(getattr(function.fn, "__name__", ""), set()).add(
            (function.concurrency_id, function.concurrency_limit))
    for name in ("analyse_frame", "show_cloud", "compare", "show_attention", "show_prompt", "map", "downloads"):
        assert by_name[name] == {("heavy", studio.HEAVY_CONCURRENCY)}, name
    assert all(pool != "heavy" for pool, _ in by_name["show"])
    assert by_name["run"] == {("sequence", studio.HEAVY_CONCURRENCY)}


def test_a_freed_heavy_slot_goes_to_the_longest_waiter_not_back_to_its_holder():
    """A sequence run gives its slot back after a frame and asks again at once: the visitor who was
    waiting gets it first."""
    slots = studio.HeavySlots(1)
    order = []
    run_frame = slots.slot()
    run_frame.__enter__()

    def visitor():
        with slots.slot():
            order.append("visitor")
    waiting = threading.Thread(target=visitor)
    waiting.start()
    while not slots._waiting:   # the visitor is in line
        time.sleep(0.001)
    run_frame.__exit__(None, None, None)
    with slots.slot():
        order.append("next frame")
    waiting.join()
    assert order == ["visitor", "next frame"] and slots.held == 0


def test_the_network_step_runs_while_holding_a_heavy_slot(samples, controls, monkeypatch):
    held_during_analyse = []
    analyse = inference.analyse

    def watched(*args, **kwargs):
        held_during_analyse.append(studio.HEAVY_SLOTS.held)
        return analyse(*args, **kwargs)
    monkeypatch.setattr(inference, "analyse", watched)
    studio.analyse_frame(studio.load_sample(samples[0].name), controls["model_name"], "Both", "RGB")
    assert held_during_analyse == [1] and studio.HEAVY_SLOTS.held == 0


def test_controls_out_of_range_or_missing_are_refused_in_words(samples, controls):
    """What a script can send through the raw API that no widget would: None, NaN, text, values
    not offered. Each gets a readable message, never a bare error."""
    frame = studio.load_sample(samples[0].name)
    analysis = studio.analyse_frame(frame, "msynth-fuse", "Both", "RGB")[0]
    nan = float("nan")
    cases = [
        (studio.analyse_frame, (frame, "msynth-fuse", None, "RGB"), "choose a mode"),
        (studio.analyse_frame, (frame, "msynth-fuse", "Both", None), "choose a fusion camera"),
        (studio.analyse_frame, (frame, "msynth-fuse", "Both", "RGB", "smoke"), "choose a probe"),
        (studio.analyse_frame, (frame, "msynth-fuse", "Both", "RGB", "fog", nan), "probe strength must be between"),
        (studio.analyse_frame, (frame, "msynth-fuse", "Both", "RGB", "fog", "lots"), "must be a number"),
        (studio.show, (analysis, None, False, False, 0, 80), "choose a view"),
        (studio.show, (analysis, "Fused", False, True, nan, 80), "depth min must be between"),
        (studio.show, (analysis, "Fused", False, True, 0, float("inf")), "depth max must be between"),
        (studio.show_cloud, (analysis, "Fused", "RGB", "lots"), "max points must be a number"),
        (studio.show_cloud, (analysis, "Fused", "UV", 1000), "choose a colour source"),
        (studio.show_cloud, (analysis, "Fused", "RGB", 10**9), "max points must be between"),
        (studio.compare, (frame, "msynth-teacher", "msynth-student-cycle4", None, False), "choose a spectrum"),
        (studio.show_attention, (frame, "RGB", "SAM", 0, "mean", False), "choose a backbone"),
        (studio.show_attention, (frame, "RGB", "DINO", 11, "mean", False), "layer must be between"),
        (studio.show_attention, (frame, "RGB", "DINO", 0.5 * nan, "mean", False), "layer must be between"),
        (studio.show_attention, (frame, "RGB", "DINO", 0, "99", False), "choose a head"),
        (studio.show_prompt, (frame, "RGB", None), "type a prompt"),
    ]
    for handler, args, expected in cases:
        with pytest.raises(gr.Error, match=expected):
            handler(*args)


@pytest.mark.slow
def test_sigterm_removes_the_export_folder(tmp_path):
    """A Space or container stops the studio with SIGTERM: its scratch folder must go with it."""
    import os
    import signal
    import subprocess
    import sys

    from bench.servers import free_port
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", "TMPDIR": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "app"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        exports = list(tmp_path.glob("spectradepth-exports-*"))
        assert len(exports) == 1
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert not exports[0].exists()
    finally:
        if server.poll() is None:
            server.kill()


def test_long_prompts_are_cut_to_what_clip_reads_and_the_caption_says_so(samples):
    frame = studio.load_sample(samples[0].name)
    words = " ".join(f"car{i}" for i in range(20000))          # about 120 kB, far beyond CLIP's context
    overlay, caption = studio.show_prompt(frame, "RGB", words)
    assert "CLIP reads only the first" in caption and "of 20000 words" in caption
    assert len(caption) < 1500
    read = int(caption.split("CLIP reads only the first ")[1].split(" ")[0])
    assert 5 <= read < 77
    assert caption.split('"')[1] == " ".join(f"car{i}" for i in range(read))
    _, short = studio.show_prompt(frame, "RGB", "a very close car")
    assert '"a very close car"' in short and "reads only" not in short


def test_session_state_has_a_lifetime_so_api_sessions_are_freed():
    demo = studio.build_studio()
    states = [block for block in demo.blocks.values() if isinstance(block, gr.State)]
    assert len(states) >= 2
    assert all(state.time_to_live == studio.SESSION_TTL_S for state in states)


def test_tiny_uploads_are_refused_in_words(tmp_path):
    tiny = tmp_path / "tiny_rgb.png"
    Image.fromarray(np.full((4, 10, 3), 120, np.uint8)).save(tiny)     # the RGB camera's aspect, 10 x 4
    with pytest.raises(gr.Error, match="10 x 4: too small to see depth in"):
        studio.decode_upload(str(tiny), None, None)


def test_flip_averaging_runs_two_passes_and_refuses_what_is_not_a_switch(samples, controls):
    frame = studio.load_sample(samples[0].name)
    single, averaged = (studio.analyse_frame(frame, controls["model_name"], "Both", "RGB", "none", 0.5, flip)
                        for flip in (False, True))
    assert "mean of two passes" in averaged[5] and "mean of two passes" not in single[5]
    expected = inference.analyse(kept(frame), inference.AnalysisRequest(controls["model_name"], "both", "rgb",
                                                                        flip_average=True))
    for output in ("rgb", "fused"):
        np.testing.assert_array_equal(kept(averaged[0]).depth(output), expected.depth(output))
        assert not np.array_equal(kept(averaged[0]).depth(output), kept(single[0]).depth(output))
    with pytest.raises(gr.Error, match="true or false"):
        studio.analyse_frame(frame, controls["model_name"], "Both", "RGB", "none", 0.5, "yes")
