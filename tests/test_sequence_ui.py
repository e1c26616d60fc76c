"""The Sequence tab through gradio_client (a streamed run of a gallery drive, the player, the map
and the downloads; bad inputs answered in words) and the Sequence page through AppTest."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from streamlit.testing.v1 import AppTest

from app import studio
from app.__main__ import launch
from core import inference
from core.inference.sequence_sources import gallery_sequence_names

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow   # a served studio, a Streamlit page
DRIVE = gallery_sequence_names()[1]   # the night drive


@pytest.fixture(scope="module")
def client():
    demo = launch(block=False, server_name="127.0.0.1")
    yield Client(demo.local_url, verbose=False)
    demo.close()


def run_arguments(**changes):
    values = {"kind": "MS-Synth drive", "gallery": DRIVE, "dataset": None, "upload": None,
              "model": inference.DEFAULT_STUDENT, "mode": "Spectral-wise", "anchor": "RGB", "probe": "none",
              "strength": 0.5, "first": 0, "count": 3, "stride": 2, "output": "RGB alone", "invert": False}
    values.update(changes)
    return list(values.values())


def test_a_run_streams_one_update_a_frame_then_plays_maps_and_downloads(client):
    job = client.submit(*run_arguments(), api_name="/sequence_run")
    updates = list(job)
    assert job.status().success
    frames = [update[1] for update in updates if isinstance(update[1], dict) and "value" in update[1]]
    assert [f["value"] for f in frames][-1] == 2 and len(updates) >= 3
    inputs, depth = client.predict(1, "RGB alone", False, api_name="/sequence_frame")
    assert len(inputs) == 3 and Path(depth).is_file()
    figure, ply = client.predict("RGB alone", 1, 0.5, "Time", api_name="/sequence_map")
    assert Path(ply).stat().st_size > 1000
    files = client.predict("RGB alone", False, api_name="/sequence_downloads")
    assert sorted(Path(f).suffix for f in files) == [".mp4", ".zip"]


@pytest.mark.parametrize("changes, message", [
    ({"kind": "Upload (zip or video)"}, "upload a zip of MS2-layout frames or a video"),
    ({"gallery": "a drive that is not there"}, "not in the list of choices"),
    ({"stride": 0}, "stride must be between 1 and 100"),
    ({"first": 500}, "first frame must be between 0 and 99"),
])
def test_bad_runs_are_refused_in_words(client, changes, message):
    with pytest.raises(AppError, match=message):
        client.predict(*run_arguments(**changes), api_name="/sequence_run")


def test_a_sequence_upload_above_the_image_limit_reaches_the_sequence_checks(client, tmp_path):
    """Sequence uploads take up to 200 MB (images 50): a 60 MB file named .zip is taken and refused as no zip."""
    fake = tmp_path / "frames.zip"
    with open(fake, "wb") as handle:
        handle.truncate(60 * 2**20)
    with pytest.raises(AppError, match="not a zip archive"):
        client.predict(*run_arguments(kind="Upload (zip or video)", upload=handle_file(str(fake))),
                       api_name="/sequence_run")


def test_a_text_file_named_mp4_is_refused_in_words(client, tmp_path):
    text = tmp_path / "clip.mp4"
    text.write_text("not a video")
    with pytest.raises(AppError, match="not a video that can be decoded"):
        client.predict(*run_arguments(kind="Upload (zip or video)", upload=handle_file(str(text))),
                       api_name="/sequence_run")


def test_the_sequence_page_runs_a_drive_and_shows_player_metrics_and_map():
    at = AppTest.from_file(str(REPO / "pages" / "sequence.py"), default_timeout=600).run()
    at.selectbox(key="sequence-drive").set_value(DRIVE)
    at.slider(key="sequence-count").set_value(2)
    at.button(key="sequence-run-button").click().run()
    assert not at.exception and not at.error
    assert at.slider(key="sequence-frame").max == 1
    assert len(at.get("plotly_chart")) == 2    # metrics against time, the 3-D map
    assert len(at.dataframe) == 1              # stability per output


def test_a_single_frame_is_served_between_the_frames_of_running_sequences(client):
    """With every heavy slot taken by a streaming run, a visitor's single-frame analysis still gets
    a slot between two frames and is answered before the runs end."""
    runners = [Client(client.src, verbose=False) for _ in range(studio.HEAVY_CONCURRENCY)]
    jobs = [runner.submit(*run_arguments(count=100, stride=1), api_name="/sequence_run") for runner in runners]
    while any(len(job.outputs()) < 3 for job in jobs):   # each run's start and two frames
        assert not any(job.done() for job in jobs)
        time.sleep(0.1)
    visitor = Client(client.src, verbose=False)
    visitor.predict(inference.list_samples()[0].name, api_name="/load_sample")
    visitor.predict(inference.DEFAULT_STUDENT, "Spectral-wise", "RGB", "none", 0.5, False, api_name="/analyse")
    assert not any(job.done() for job in jobs)
    for job in jobs:
        job.cancel()


def test_stop_keeps_the_frames_done_for_the_player(client):
    job = client.submit(*run_arguments(count=60, stride=1), api_name="/sequence_run")
    while len(job.outputs()) < 3:   # the start and two frames
        time.sleep(0.2)
    job.cancel()
    inputs, depth = client.predict(1, "RGB alone", False, api_name="/sequence_frame")
    assert len(inputs) == 3 and Path(depth).is_file()
    with pytest.raises(AppError, match="Value 59 is greater than maximum value"):   # the slider ends at the frames done
        client.predict(59, "RGB alone", False, api_name="/sequence_frame")
