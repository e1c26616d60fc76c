"""The user's own MS2 dataset in the studios: its test sequences listed by condition, frames
loaded with their own calibration, depth with metrics and an error map, launch-time checks."""
import json
import shutil
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client
from streamlit.testing.v1 import AppTest

from app import studio
from app.__main__ import launch, parse_args
from core import inference
from core.data import ms2
from tiny_ms2 import REAL_SEQUENCE, TINY_LISTS, write_tiny_ms2_root

REPO = Path(__file__).resolve().parents[1]
TEST_LISTS = {name: condition for name, (split, condition, _) in TINY_LISTS.items() if split == "test"}
# One test sequence gets a lens of its own, so a frame read with any other calibration would show it.
OWN_FOCAL_SCALE = 1.1


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("datasets") / "tiny-ms2"
    lists = write_tiny_ms2_root(root)
    sequence = lists["test_night_list.txt"][0]
    cameras = ms2.read_calibration(root, sequence)
    for camera in cameras.values():
        camera.K[:2, :2] *= OWN_FOCAL_SCALE
    ms2.write_calibration(ms2.sequence_dir(root, sequence) / "calib.json", cameras)
    return root, lists


@pytest.fixture
def controls(tiny_checkpoint):
    return dict(model_name=tiny_checkpoint, mode_label="Both", anchor_label="RGB")


def analyse_and_show(frame, controls) -> dict:
    """The studio's network step then its display step for the fused view, outputs by name."""
    analysed = studio.analyse_frame(frame, **controls)
    shown = studio.show(analysed[0], "Fused", False, False, 0.0, 80.0)
    return dict(zip((*studio.ANALYSE_OUTPUTS, *studio.SHOW_OUTPUTS), (*analysed, *shown)))


def test_lists_every_test_sequence_with_its_condition_and_frame_count(tiny_root):
    root, lists = tiny_root
    sequences = inference.list_dataset_sequences(root)
    expected = {name: TEST_LISTS[list_name] for list_name in TEST_LISTS for name in lists[list_name]}
    assert {s.name: s.condition for s in sequences} == expected
    assert [s.condition for s in sequences] == ["day", "night", "rain"]
    for sequence in sequences:
        assert sequence.frame_ids == tuple(ms2.list_frames(root, sequence.name)) and len(sequence.frame_ids) == 2
        assert sequence.label.startswith(f"{sequence.condition} · {sequence.name}") and "2 frames" in sequence.label
    training = lists["train_list.txt"] + lists["val_list.txt"]
    assert training and not {s.name for s in sequences} & set(training)


def test_a_frame_comes_with_its_own_calibration_and_ground_truth(tiny_root):
    root, lists = tiny_root
    frames = {}
    for list_name, condition in TEST_LISTS.items():
        sequence = lists[list_name][0]
        frame_id = ms2.list_frames(root, sequence)[-1]
        frame = frames[sequence] = inference.load_dataset_frame(root, sequence, frame_id)
        cameras = ms2.read_calibration(root, sequence)
        assert {s: c.to_dict() for s, c in frame.cameras.items()} == {s: c.to_dict() for s, c in cameras.items()}
        assert frame.condition == condition and set(frame.depth) == {"rgb", "nir", "thr"}
        assert frame.name == f"tiny-ms2 · {sequence}/{frame_id}"
        assert frame.meta["calibration"].startswith(f"tiny-ms2/sync_data/{sequence}/calib.json")
        assert str(root) not in json.dumps(frame.meta)
    day, night = (frames[lists[name][0]] for name in ("test_day_list.txt", "test_night_list.txt"))
    assert night.cameras["rgb"].K[0, 0] == pytest.approx(day.cameras["rgb"].K[0, 0] * OWN_FOCAL_SCALE)


def test_studio_handler_gives_depth_metrics_and_error_map(tiny_root, controls):
    root, lists = tiny_root
    browser = studio.DatasetBrowser(root)
    sequence = lists["test_rainy_list.txt"][0]
    assert (f"rain · {sequence} (2 frames)", sequence) in browser.sequence_choices()
    first, last = ms2.list_frames(root, sequence)
    frame_choice, stored = browser.choose_sequence(sequence)
    frame = studio.sessions().frame(stored)
    assert frame_choice.value == first and frame.name.endswith(f"{sequence}/{first}")
    out = analyse_and_show(stored, controls)
    depth_fused, metrics, status, error = out["depth_fused"], out["metrics"], out["status"], out["error"]
    assert depth_fused.shape[1] == frame.cameras["rgb"].width
    assert metrics["visible"] and [row[0] for row in metrics["value"]] == [
        "RGB alone", "NIR alone", "Thermal alone", "fused (RGB anchor)"]
    assert error["visible"] and error["value"].shape[1] == frame.cameras["rgb"].width
    assert out["notice"]["visible"] and "sync_data" in out["notice"]["value"]
    assert "(rain)" in status and "tiny-ms2/sync_data" in status and str(root) not in status
    other = studio.sessions().frame(browser.load_frame(sequence, last))
    assert other.name.endswith(f"/{last}") and not np.array_equal(other.images["rgb"], frame.images["rgb"])


def test_real_frames_without_ground_truth_show_depth_only(shared_ms2, tmp_path, controls):
    root = tmp_path / "with-real-ms2"
    write_tiny_ms2_root(root, frames_per_sequence=1, shared_ms2=shared_ms2)
    browser = studio.DatasetBrowser(root)
    assert browser.sequences[REAL_SEQUENCE].condition == "day"
    _, stored = browser.choose_sequence(REAL_SEQUENCE)
    frame = studio.sessions().frame(stored)
    assert not frame.depth and frame.images["thr"].dtype == np.uint16
    out = analyse_and_show(stored, controls)
    assert out["depth_fused"].shape[1] == frame.cameras["rgb"].width
    assert not out["metrics"]["visible"] and not out["error"]["visible"]


def test_bad_sequences_and_frames_are_readable_errors(tiny_root):
    root, lists = tiny_root
    browser = studio.DatasetBrowser(root)
    with pytest.raises(gr.Error, match="no test sequence named 'nowhere'"):
        browser.choose_sequence("nowhere")
    with pytest.raises(gr.Error, match="no test sequence"):
        browser.load_frame(lists["train_list.txt"][0], "000000")   # train frames are not offered
    with pytest.raises(gr.Error, match="no test sequence"):
        browser.load_frame("../sync_data", "000000")
    with pytest.raises(gr.Error, match="not found") as missing:
        browser.load_frame(lists["test_day_list.txt"][0], "999999")
    assert str(root) not in str(missing.value)


def test_pickled_calibration_is_refused_with_its_reason_in_words(tiny_root, tmp_path):
    root, lists = tiny_root
    copy = tmp_path / "pickled-ms2"
    shutil.copytree(root, copy)
    sequence = lists["test_day_list.txt"][0]
    folder = ms2.sequence_dir(copy, sequence)
    (folder / "calib.json").unlink()
    np.save(folder / "calib.npy", np.array({"K_rgbL": np.eye(3)}, dtype=object), allow_pickle=True)
    with pytest.raises(inference.InputError, match="pickle") as refused:
        inference.load_dataset_frame(copy, sequence, "000000")
    assert "calib.json" in str(refused.value) and str(copy) not in str(refused.value)


def test_a_listed_sequence_without_its_folder_says_so(tiny_root, tmp_path):
    root, lists = tiny_root
    copy = tmp_path / "incomplete-ms2"
    shutil.copytree(root, copy)
    missing = lists["test_night_list.txt"][0]
    shutil.rmtree(ms2.sequence_dir(copy, missing))
    listed = {s.name: s for s in inference.list_dataset_sequences(copy)}
    assert listed[missing].frame_ids == () and "no frames" in listed[missing].label
    with pytest.raises(gr.Error, match="has no frames"):
        studio.DatasetBrowser(copy).choose_sequence(missing)


def test_launcher_takes_data_from_the_option_or_the_environment(tiny_root, monkeypatch):
    root, _ = tiny_root
    monkeypatch.delenv(inference.DATASET_ENV, raising=False)
    assert parse_args([]).data is None
    assert parse_args(["--data", str(root)]).data == root.resolve()
    monkeypatch.setenv(inference.DATASET_ENV, str(root))
    assert parse_args([]).data == root.resolve()


@pytest.mark.parametrize("make, message", [
    (lambda folder: folder, "not an MS2 root: it has no sync_data/"),
    (lambda folder: (folder / "sync_data").mkdir() or folder, "without test lists"),
    (lambda folder: folder / "absent", "no folder 'absent'"),
])
def test_launcher_refuses_a_folder_that_is_not_an_ms2_root(tmp_path, capsys, make, message):
    folder = make(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--data", str(folder)])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in error and "Traceback" not in error


def test_studio_offers_the_dataset_only_when_given_one(tiny_root, tiny_checkpoint):
    root, lists = tiny_root
    with_data = studio.build_studio(tiny_checkpoint, data_root=root)
    ids = {getattr(block, "elem_id", None) for block in with_data.blocks.values()}
    assert {"dataset-sequence", "dataset-frame"} <= ids
    without = studio.build_studio(tiny_checkpoint)
    assert "dataset-sequence" not in {getattr(block, "elem_id", None) for block in without.blocks.values()}


@pytest.mark.slow
def test_served_studio_browses_the_dataset_through_its_api(tiny_root, tiny_checkpoint):
    root, lists = tiny_root
    demo = launch(tiny_checkpoint, data_root=root, block=False, server_name="127.0.0.1")
    try:
        client = Client(demo.local_url, verbose=False)
        api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert {"/choose_dataset_sequence", "/load_dataset_frame"} <= set(api) and str(root) not in json.dumps(api)
        sequence = lists["test_day_list.txt"][0]
        first, last = ms2.list_frames(root, sequence)
        frame_choice = client.predict(sequence, api_name="/choose_dataset_sequence")   # the frame dropdown's update
        assert frame_choice["value"] == first and [value for _, value in frame_choice["choices"]] == [first, last]
        client.predict(sequence, last, api_name="/load_dataset_frame")
        status = client.predict(tiny_checkpoint, "Both", "RGB", "none", 0.5, api_name="/analyse")[4]
        metrics = client.predict("Fused", False, False, 0, 80, api_name="/show")[4]
        assert f"{sequence}/{last}" in status and "(day)" in status
        assert metrics["value"]["data"][-1][0] == "fused (RGB anchor)"
    finally:
        demo.close()


def test_streamlit_takes_data_after_the_double_dash():
    from pages import _shared
    # `streamlit run streamlit_app.py -- --data ROOT` leaves the script ["--data", "ROOT"]; a test runner's own
    # options are no error.
    assert _shared.data_argument(["--data", "/datasets/MS2"]) == "/datasets/MS2"
    assert _shared.data_argument(["-q", "tests/test_streamlit.py"]) is None


@pytest.mark.slow
def test_streamlit_page_browses_the_dataset_with_metrics(tiny_root, monkeypatch):
    root, lists = tiny_root
    monkeypatch.setenv(inference.DATASET_ENV, str(root))
    at = AppTest.from_file(str(REPO / "pages" / "explore.py"), default_timeout=600).run()
    at.radio(key="explore-source").set_value("Dataset").run()
    sequence_choice = at.selectbox(key="explore-sequence")
    night = lists["test_night_list.txt"][0]
    assert len(sequence_choice.options) == 3 and f"night · {night} (2 frames)" in sequence_choice.options
    sequence_choice.set_value(night).run()
    last = ms2.list_frames(root, night)[-1]
    at.selectbox(key=f"explore-frame-{night}").set_value(last).run()
    assert not at.exception and not at.error
    assert len(at.dataframe) == 1                                  # metrics against ground truth
    assert any(f"tiny-ms2 · {night}/{last}" in caption.value and "(night)" in caption.value for caption in at.caption)


@pytest.mark.slow
def test_streamlit_says_why_a_dataset_cannot_be_used(tmp_path, monkeypatch):
    monkeypatch.setenv(inference.DATASET_ENV, str(tmp_path))
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=600).run()
    assert not at.exception
    assert any("not an MS2 root" in error.value for error in at.error)
