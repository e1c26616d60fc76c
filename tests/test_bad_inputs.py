"""A bad-input corpus through the studio's public API, as any script or Space visitor can send it,
and through the Streamlit workbench's upload page (AppTest): every case gets a readable message
(never a bare "Error" or none), and the server keeps serving. All files are generated here;
nothing third-party is read."""
from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from streamlit.testing.v1 import AppTest

from app.__main__ import launch
from core import inference

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow   # a served studio


@pytest.fixture(scope="module")
def upload_cache(tmp_path_factory):
    """Gradio's upload cache for this module's server, empty at the start."""
    folder = tmp_path_factory.mktemp("gradio-cache")
    before = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    yield folder
    if before is None:
        del os.environ["GRADIO_TEMP_DIR"]
    else:
        os.environ["GRADIO_TEMP_DIR"] = before


@pytest.fixture(scope="module")
def client(upload_cache):
    demo = launch(block=False, server_name="127.0.0.1")
    yield Client(demo.local_url, verbose=False)
    demo.close()


def _write(path, array, mode=None):
    Image.fromarray(array, mode).save(path)
    return str(path)


def upload_cases(folder) -> dict[str, tuple]:
    """name -> (rgb, nir, thr) file paths (None: not given)."""
    rng = np.random.default_rng(0)
    thermal = rng.integers(3000, 6000, (256, 640)).astype(np.uint16)
    rgb = rng.integers(0, 255, (384, 1224, 3)).astype(np.uint8)
    text = folder / "notes.png"
    text.write_text("not an image")
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    good = io.BytesIO()
    Image.fromarray(rgb).save(good, format="PNG")
    truncated = folder / "truncated.png"
    truncated.write_bytes(good.getvalue()[: len(good.getvalue()) // 3])
    cmyk = folder / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(cmyk)
    return {
        "nothing": (None, None, None),
        "text file as RGB": (str(text), None, None),
        "empty file as thermal": (None, None, str(empty)),
        "truncated PNG": (str(truncated), None, None),
        "8-bit thermal": (None, None, _write(folder / "thr8.png", (thermal // 30).astype(np.uint8))),
        "colour thermal": (None, None, _write(folder / "thr_rgb.png", rgb[:256, :640])),
        "16-bit RGB": (_write(folder / "rgb16.png", thermal), None, None),
        "thermal given as NIR": (None, _write(folder / "nir16.png", np.tile(thermal, (2, 2))[:352, :1280]), None),
        "constant thermal": (None, None, _write(folder / "flat.png", np.full((256, 640), 4000, np.uint16))),
        "tiny RGB": (_write(folder / "tiny.png", rgb[:4, :12]), None, None),
        "square RGB": (_write(folder / "square.png", rgb[:384, :384]), None, None),
        "tall thermal": (None, None, _write(folder / "tall.png", thermal.T.copy())),
        "CMYK JPEG as thermal": (None, None, str(cmyk)),
    }


CONTROL_CASES = {
    # endpoint, arguments (after a valid frame and analysis exist in the session); JSON has no NaN,
    # so a raw call sends it as the text "nan", which Python's float() reads as NaN
    "mode None": ("/analyse", ("msynth-fuse", None, "RGB", "none", 0.5)),
    "mode unknown": ("/analyse", ("msynth-fuse", "Everything", "RGB", "none", 0.5)),
    "anchor None": ("/analyse", ("msynth-fuse", "Both", None, "none", 0.5)),
    "anchor unknown": ("/analyse", ("msynth-fuse", "Both", "UV", "none", 0.5)),
    "probe unknown": ("/analyse", ("msynth-fuse", "Both", "RGB", "snow", 0.5)),
    "strength NaN": ("/analyse", ("msynth-fuse", "Both", "RGB", "fog", "nan")),
    "strength text": ("/analyse", ("msynth-fuse", "Both", "RGB", "fog", "lots")),
    "strength 5": ("/analyse", ("msynth-fuse", "Both", "RGB", "fog", 5)),
    "model None": ("/analyse", (None, "Both", "RGB", "none", 0.5)),
    "model path": ("/analyse", ("/etc", "Both", "RGB", "none", 0.5)),
    "model root": ("/analyse", ("/root", "Both", "RGB", "none", 0.5)),
    "model Hub id": ("/analyse", ("someone/some-depth-model", "Both", "RGB", "none", 0.5)),
    "model 10 kB name": ("/analyse", ("m" * 10_000, "Both", "RGB", "none", 0.5)),
    "view None": ("/show", (None, False, False, 0, 80)),
    "view unknown": ("/show", ("Sideways", False, False, 0, 80)),
    "depth min NaN": ("/show", ("Fused", False, True, "nan", 80)),
    "depth max text": ("/show", ("Fused", False, True, 0, "far")),
    "depth max huge": ("/show", ("Fused", False, True, 0, 1e12)),
    "points text": ("/point_cloud", ("Fused", "RGB", "lots")),
    "points NaN": ("/point_cloud", ("Fused", "RGB", "nan")),
    "points a billion": ("/point_cloud", ("Fused", "RGB", 10**9)),
    "colour source unknown": ("/point_cloud", ("Fused", "UV", 15000)),
    "view None for the cloud": ("/point_cloud", (None, "RGB", 15000)),
    "compare spectrum None": ("/compare", ("msynth-teacher", "msynth-student-cycle4", None, False)),
    "compare model path": ("/compare", ("/etc", "msynth-student-cycle4", "RGB", False)),
    "attention backbone unknown": ("/attention", ("RGB", "SAM", 0, "mean", False)),
    "attention layer 11": ("/attention", ("RGB", "DINO", 11, "mean", False)),
    "attention layer NaN": ("/attention", ("RGB", "DINO", "nan", "mean", False)),
    "attention head 99": ("/attention", ("RGB", "DINO", 0, "99", False)),
    "attention spectrum None": ("/attention", (None, "DINO", 0, "mean", False)),
    "prompt None": ("/prompt_similarity", ("RGB", None)),
    "prompt blank": ("/prompt_similarity", ("RGB", "   ")),
    "prompt spectrum unknown": ("/prompt_similarity", ("UV", "a car")),
    "sample unknown": ("/load_sample", ("no such sample",)),
}


def _readable(error: AppError) -> str:
    message = str(error).strip().strip("'\"")
    assert message and message.lower() not in ("error", "none", "null"), f"bare error: {error!r}"
    return message


def _alive(client) -> None:
    sample = inference.list_samples()[0].name
    client.predict(sample, api_name="/load_sample")


def test_every_bad_upload_gets_a_readable_message_and_leaves_no_file(client, upload_cache, tmp_path):
    cases = upload_cases(tmp_path)
    for name, (rgb, nir, thr) in cases.items():
        files = [handle_file(p) if p else None for p in (rgb, nir, thr)]
        with pytest.raises(AppError) as refused:
            client.predict(*files, api_name="/decode_upload")
        message = _readable(refused.value)
        assert str(tmp_path) not in message, name          # no server path echoed back
        _alive(client)
    uploaded = {Path(p).name for trio in cases.values() for p in trio if p}
    assert not [f for f in upload_cache.rglob("*") if f.name in uploaded]   # refused files are not kept


def test_a_refused_input_is_one_log_line_without_a_traceback(client, caplog, capfd):
    _alive(client)
    caplog.set_level(logging.INFO, logger="spectradepth")
    for model in ("/etc", None, "m" * 10_000):
        with pytest.raises(AppError):
            client.predict(model, "Both", "RGB", "none", 0.5, api_name="/analyse")
    refusals = [r for r in caplog.records if r.name == "spectradepth.studio"]
    assert len(refusals) == 3 and all("\n" not in r.getMessage() for r in refusals)
    assert "Traceback" not in capfd.readouterr().err


def test_every_bad_control_gets_a_readable_message(client, tmp_path):
    assert len(CONTROL_CASES) + len(upload_cases(tmp_path)) >= 40     # the corpus has 40+ cases
    _alive(client)
    client.predict("msynth-fuse", "Both", "RGB", "none", 0.5, api_name="/analyse")
    for name, (endpoint, arguments) in CONTROL_CASES.items():
        with pytest.raises(AppError) as refused:
            client.predict(*arguments, api_name=endpoint)
        message = _readable(refused.value)
        assert len(message) < 600, name
        assert str(inference.CHECKPOINTS_DIR.parent) not in message and "Traceback" not in message, name
        _alive(client)



def test_streamlit_explore_gives_every_bad_upload_a_readable_message(tmp_path):
    for name, trio in upload_cases(tmp_path).items():
        if not any(trio):
            continue      # nothing uploaded: the page asks for a file, which is not a refusal
        at = AppTest.from_file(str(REPO / "pages" / "explore.py"), default_timeout=600).run()
        at.radio(key="explore-source").set_value("Upload").run()
        for spectrum, path in zip(("rgb", "nir", "thr"), trio):
            if path:
                at.file_uploader(key=f"explore-{spectrum}").set_value((Path(path).name, Path(path).read_bytes(),
                                                                        "image/png"))
        at.run()
        assert not at.exception, name
        messages = [error.value for error in at.error]
        assert messages and all(m.strip() and m.strip().lower() != "error" for m in messages), name
