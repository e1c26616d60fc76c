"""The studio as a process a Space runs and stops: what a restart leaves in its cache, what the
calls in flight hear at SIGTERM. Each test serves ``python -m app`` in a child process."""
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status
from PIL import Image

from app.cache import CACHE_FOLDER_NAME
from app.studio import SESSION_TTL_S
from bench.servers import studio
from core import inference

pytestmark = pytest.mark.slow   # served studios


def test_a_restart_sweeps_what_an_earlier_run_left_in_the_cache(tmp_path):
    env = {"GRADIO_TEMP_DIR": str(tmp_path)}
    image = tmp_path / "street.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (384, 1224, 3)).astype(np.uint8)).save(image)
    with studio(env) as (url, pid):
        client = Client(url, verbose=False)
        client.predict(handle_file(str(image)), None, None, api_name="/decode_upload")
        client.predict(inference.DEFAULT_CHECKPOINT, "Spectral-wise", "RGB", "none", 0.5, False, api_name="/analyse")
        os.kill(pid, signal.SIGKILL)    # a crash: no exit handler runs, no sweep of Gradio's
        time.sleep(1)
    cache = tmp_path / CACHE_FOLDER_NAME
    left = [path for path in cache.rglob("*") if path.is_file()]
    assert any(path.suffix == ".npz" for path in left) and any(path.suffix == ".png" for path in left)
    long_ago = time.time() - 2 * SESSION_TTL_S
    for path in left:
        os.utime(path, (long_ago, long_ago))
    recent = cache / "recent" / "kept.png"
    recent.parent.mkdir()
    recent.write_bytes(b"younger than a session's lifetime")
    with studio(env):
        # the gallery's thumbnails are cached anew at start (same content, same path): only they come back
        thumbnails = {sample.thumbnail.name for sample in inference.list_samples()}
        back = [path for path in left if path.exists()]
        assert back and all(path.name in thumbnails for path in back), back
        assert recent.exists()


def test_calls_in_flight_at_sigterm_are_told_the_studio_is_restarting(tmp_path):
    sample = inference.list_samples()[0].name
    with studio({"GRADIO_TEMP_DIR": str(tmp_path)}) as (url, pid):
        clients = [Client(url, verbose=False) for _ in range(4)]
        for client in clients:
            client.predict(sample, api_name="/load_sample")
        # flip averaging: two passes each, and one heavy slot, so some wait while one runs
        jobs = [client.submit(inference.DEFAULT_CHECKPOINT, "Both", "RGB", "none", 0.5, True, api_name="/analyse")
                for client in clients]
        deadline = time.time() + 120
        while not any(job.status().code == Status.PROCESSING for job in jobs) and time.time() < deadline:
            time.sleep(0.05)
        os.kill(pid, signal.SIGTERM)
        outcomes = []
        for job in jobs:
            try:
                job.result(timeout=60)
                outcomes.append("done")
            except AppError as refused:
                outcomes.append(str(refused))
            except Exception as other:   # noqa: BLE001 - what a client would see instead of words
                outcomes.append(f"{type(other).__name__}: {other}")
    assert any("restarting, try again in a minute" in outcome for outcome in outcomes), outcomes
    assert all(outcome == "done" or "restarting" in outcome for outcome in outcomes), outcomes
