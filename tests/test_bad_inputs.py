"""A bad-input corpus through the studio's public API, as any script or Space visitor can send it
(gradio_client and raw HTTP), and through the Streamlit workbench's upload page (AppTest): every
case gets a readable message (never a bare "Error" or none), and the server keeps serving. All
files are generated here; nothing third-party is read."""
from __future__ import annotations

import io
import json
import logging
import os
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from streamlit.testing.v1 import AppTest

from app.__main__ import launch
from app.guard import ECHO_CHARS
from png_writers import write_rgb16_png
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


class RawClient:
    """The studio's HTTP API without gradio_client, as any script can call it: one session."""

    def __init__(self, url: str):
        self.url, self.session = url, uuid.uuid4().hex

    def upload(self, path) -> dict:
        with open(path, "rb") as file:
            reply = httpx.post(f"{self.url}gradio_api/upload", files={"files": (Path(path).name, file)}, timeout=60)
        reply.raise_for_status()
        return {"path": reply.json()[0], "meta": {"_type": "gradio.FileData"}}

    def call(self, endpoint: str, data: list) -> tuple[str, object]:
        """("complete", outputs) or ("error", message) of one call; ("http", text) if refused before it."""
        reply = httpx.post(f"{self.url}gradio_api/call{endpoint}", json={"data": data, "session_hash": self.session},
                           timeout=60)
        if reply.status_code != 200:
            return "http", f"{reply.status_code} {reply.text}"
        stream = httpx.get(f"{self.url}gradio_api/call{endpoint}/{reply.json()['event_id']}", timeout=600).text
        events = [line.split(": ", 1)[1] for line in stream.splitlines() if line.startswith("event: ")]
        payloads = [line.split(": ", 1)[1] for line in stream.splitlines() if line.startswith("data: ")]
        kind, payload = events[-1], json.loads(payloads[-1])
        if kind == "error":
            return "error", (payload or {}).get("error") if isinstance(payload, dict) else payload
        return kind, payload


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
        "16-bit colour PNG as RGB": (write_rgb16_png(folder / "rgb48.png", rgb[:384, :1224].astype(np.uint16) * 257),
                                     None, None),
        "16-bit colour PNG as NIR": (None, write_rgb16_png(folder / "nir48.png", rgb[:352, :1224].astype(np.uint16)),
                                     None),
        "one refused file in every slot": (str(text), str(text), str(text)),
        "good RGB with 8-bit thermal": (_write(folder / "good_rgb.png", rgb), None,
                                        _write(folder / "thr8b.png", (thermal // 30).astype(np.uint8))),
    }


CONTROL_CASES = {
    # endpoint, arguments (after a valid frame and analysis exist in the session); JSON has no NaN,
    # so a raw call sends it as the text "nan", which Python's float() reads as NaN
    "mode None": ("/analyse", ("msynth-fuse", None, "RGB", "none", 0.5, False)),
    "mode unknown": ("/analyse", ("msynth-fuse", "Everything", "RGB", "none", 0.5, False)),
    "anchor None": ("/analyse", ("msynth-fuse", "Both", None, "none", 0.5, False)),
    "anchor unknown": ("/analyse", ("msynth-fuse", "Both", "UV", "none", 0.5, False)),
    "probe unknown": ("/analyse", ("msynth-fuse", "Both", "RGB", "snow", 0.5, False)),
    "strength NaN": ("/analyse", ("msynth-fuse", "Both", "RGB", "fog", "nan", False)),
    "strength text": ("/analyse", ("msynth-fuse", "Both", "RGB", "fog", "lots", False)),
    "strength 5": ("/analyse", ("msynth-fuse", "Both", "RGB", "fog", 5, False)),
    "model None": ("/analyse", (None, "Both", "RGB", "none", 0.5, False)),
    "model path": ("/analyse", ("/etc", "Both", "RGB", "none", 0.5, False)),
    "model root": ("/analyse", ("/root", "Both", "RGB", "none", 0.5, False)),
    "model Hub id": ("/analyse", ("someone/some-depth-model", "Both", "RGB", "none", 0.5, False)),
    "model 10 kB name": ("/analyse", ("m" * 10_000, "Both", "RGB", "none", 0.5, False)),
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
    "distance words spectrum unknown": ("/distance_words", ("UV",)),
    "sample unknown": ("/load_sample", ("no such sample",)),
    "sample 1 MB name": ("/load_sample", ("x" * 1_000_000,)),
    "sample None": ("/load_sample", (None,)),
    # values of the wrong type where a slider, radio or checkbox value belongs (Gradio reads them first)
    "strength None": ("/analyse", ("msynth-fuse", "Both", "RGB", "fog", None, False)),
    "strength list": ("/analyse", ("msynth-fuse", "Both", "RGB", "fog", [0.5], False)),
    "strength dict": ("/analyse", ("msynth-fuse", "Both", "RGB", "fog", {"value": 0.5}, False)),
    "mode list": ("/analyse", ("msynth-fuse", ["Both"], "RGB", "none", 0.5, False)),
    "model dict": ("/analyse", ({"name": "msynth-fuse"}, "Both", "RGB", "none", 0.5, False)),
    "flip averaging text": ("/analyse", ("msynth-fuse", "Both", "RGB", "none", 0.5, "yes")),
    "depth min None": ("/show", ("Fused", False, True, None, 80)),
    "depth max list": ("/show", ("Fused", False, True, 0, [80])),
    "view dict": ("/show", ({"view": "Fused"}, False, False, 0, 80)),
    "points None": ("/point_cloud", ("Fused", "RGB", None)),
    "points list": ("/point_cloud", ("Fused", "RGB", [15000])),
    "attention layer None": ("/attention", ("RGB", "DINO", None, "mean", False)),
    "attention layer -1": ("/attention", ("RGB", "DINO", -1, "mean", False)),
    "attention layer text": ("/attention", ("RGB", "DINO", "top", "mean", False)),
    "attention head None": ("/attention", ("RGB", "DINO", 0, None, False)),
    "compare teacher None": ("/compare", (None, "msynth-student-cycle4", "RGB", False)),
    "compare student Hub id": ("/compare", ("msynth-teacher", "someone/student", "RGB", False)),
    "prompt spectrum list": ("/prompt_similarity", (["RGB"], "a car")),
}

# Calls before the session has a frame (or an analysis): each says what to do first.
BEFORE_A_FRAME = {
    "analyse before a frame": ("/analyse", ("msynth-fuse", "Both", "RGB", "none", 0.5, False)),
    "show before an analysis": ("/show", ("Fused", False, False, 0, 80)),
    "point cloud before an analysis": ("/point_cloud", ("Fused", "RGB", 15000)),
    "compare before a frame": ("/compare", ("msynth-teacher", "msynth-student-cycle4", "RGB", False)),
    "attention before a frame": ("/attention", ("RGB", "DINO", 0, "mean", False)),
    "prompt before a frame": ("/prompt_similarity", ("RGB", "a car")),
    "distance words before a frame": ("/distance_words", ("RGB",)),
}

# What only a raw HTTP call can send: wrong counts, file data naming server paths, broken uploads.
RAW_ONLY = {
    "analyse with 2 values": ("/analyse", ["msynth-fuse", "Both"]),
    "show with no value": ("/show", []),
    "point cloud with 1 value": ("/point_cloud", ["Fused"]),
    "compare with 1 value": ("/compare", ["msynth-teacher"]),
    "attention with 2 values": ("/attention", ["RGB", "DINO"]),
    "prompt with 1 value": ("/prompt_similarity", ["RGB"]),
    "load sample with no value": ("/load_sample", []),
    "upload naming /etc/passwd": ("/decode_upload", [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
                                                     None, None]),
    "upload naming the repository": ("/decode_upload", [{"path": str(REPO / "README.md"),
                                                         "meta": {"_type": "gradio.FileData"}}, None, None]),
    "upload naming a missing file": ("/decode_upload", [None, None, {"path": "/no/such/thermal.png",
                                                                     "meta": {"_type": "gradio.FileData"}}]),
    "upload as a plain string": ("/decode_upload", ["/etc/hosts", None, None]),
    "upload as a number": ("/decode_upload", [7, None, None]),
}


def _alive(client) -> None:
    sample = inference.list_samples()[0].name
    client.predict(sample, api_name="/load_sample")


def _check_words(name: str, message, *, forbidden=()) -> str:
    """A refusal in words: not empty, not a bare "Error", short, no traceback, no server path."""
    assert isinstance(message, str), f"{name}: no message ({message!r})"
    text = message.strip().strip("'\"")
    assert text and text.lower() not in ("error", "none", "null"), f"{name}: bare error {message!r}"
    assert len(text) < 600 and "Traceback" not in text, name
    assert not any(path in text for path in (str(REPO), *forbidden)), f"{name}: a server path in {text!r}"
    return text


def test_an_image_over_the_upload_limit_is_refused_in_words_before_it_is_decoded(tmp_path):
    """The server takes files up to a sequence's 200 MB; an image is held to its own bound."""
    from core.inference.vocabulary import MAX_UPLOAD_MB
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.truncate((MAX_UPLOAD_MB + 1) * 2**20)
    with pytest.raises(inference.InputError, match=f"RGB file is {MAX_UPLOAD_MB + 1} MB: images take at most "
                                                   f"{MAX_UPLOAD_MB} MB"):
        inference.load_upload({"rgb": str(big)})
    with pytest.raises(inference.InputError, match="images take at most"):
        inference.load_upload({"thr": big.read_bytes()})


def test_every_bad_upload_gets_a_readable_message(client, tmp_path):
    cases = upload_cases(tmp_path)
    for name, (rgb, nir, thr) in cases.items():
        files = [handle_file(p) if p else None for p in (rgb, nir, thr)]
        with pytest.raises(AppError) as refused:
            client.predict(*files, api_name="/decode_upload")
        _check_words(name, str(refused.value), forbidden=(str(tmp_path),))
        _alive(client)


def test_a_refused_upload_leaves_another_sessions_identical_file_readable(client, tmp_path):
    """Gradio's cache stores equal bytes at one path: refusing A's trio must not delete what B holds."""
    rgb = _write(tmp_path / "street.png", np.random.default_rng(1).integers(0, 255, (384, 1224, 3)).astype(np.uint8))
    thermal8 = _write(tmp_path / "thermal8.png", np.full((256, 640), 90, np.uint8))
    visitor_a, visitor_b = RawClient(client.src), RawClient(client.src)
    held_by_b = visitor_b.upload(rgb)
    assert visitor_b.call("/decode_upload", [held_by_b, None, None])[0] == "complete"
    same = visitor_a.upload(rgb)
    assert same["path"] == held_by_b["path"]                  # one file for both visitors
    kind, message = visitor_a.call("/decode_upload", [same, None, visitor_a.upload(thermal8)])
    assert kind == "error" and "16-bit" in message
    assert Path(held_by_b["path"]).is_file()
    assert visitor_b.call("/decode_upload", [held_by_b, None, None])[0] == "complete"
    kind, outputs = visitor_b.call("/analyse", ["msynth-fuse", "Spectral-wise", "RGB", "none", 0.5, False])
    assert kind == "complete" and "upload" in outputs[5]


def test_a_refused_input_is_one_log_line_without_a_traceback(client, caplog, capfd):
    _alive(client)
    caplog.set_level(logging.INFO, logger="spectradepth")
    for model in ("/etc", None, "m" * 10_000):
        with pytest.raises(AppError):
            client.predict(model, "Both", "RGB", "none", 0.5, api_name="/analyse")
    with pytest.raises(AppError):   # refused by Gradio's own reading of the slider, before our handler
        client.predict("msynth-fuse", "Both", "RGB", "none", None, api_name="/analyse")
    raw = RawClient(client.src)
    assert raw.call("/analyse", ["msynth-fuse"])[0] == "error"   # too few values, refused by Gradio
    refusals = [r for r in caplog.records if r.name == "spectradepth.studio"]
    assert len(refusals) == 5 and all("\n" not in r.getMessage() for r in refusals)
    assert "Traceback" not in capfd.readouterr().err


def test_every_bad_control_gets_a_readable_message(client, tmp_path):
    cases = len(CONTROL_CASES) + len(BEFORE_A_FRAME) + len(RAW_ONLY) + len(upload_cases(tmp_path))
    assert cases >= 80     # the corpus has 80+ cases
    _alive(client)
    client.predict("msynth-fuse", "Both", "RGB", "none", 0.5, api_name="/analyse")
    for name, (endpoint, arguments) in CONTROL_CASES.items():
        with pytest.raises(AppError, match=".") as refused:
            client.predict(*arguments, api_name=endpoint)
            pytest.fail(f"{name}: not refused")
        message = _check_words(name, str(refused.value))
        assert "x" * (ECHO_CHARS + 2) not in message, name     # echoed text is cut
        _alive(client)


def test_calls_before_a_frame_say_what_to_do_first(client):
    fresh = Client(client.src, verbose=False)
    for name, (endpoint, arguments) in BEFORE_A_FRAME.items():
        with pytest.raises(AppError, match="pick a sample or upload images") as refused:
            fresh.predict(*arguments, api_name=endpoint)
        _check_words(name, str(refused.value))


def test_every_case_through_raw_http_is_answered_in_words(client):
    """The same corpus as a script without gradio_client sends it: one session, raw JSON."""
    raw = RawClient(client.src)
    for name, (endpoint, arguments) in BEFORE_A_FRAME.items():
        kind, message = raw.call(endpoint, list(arguments))
        assert kind == "error" and "pick a sample or upload images" in _check_words(name, message), name
    sample = inference.list_samples()[0].name
    assert raw.call("/load_sample", [sample])[0] == "complete"
    assert raw.call("/analyse", ["msynth-fuse", "Both", "RGB", "none", 0.5, False])[0] == "complete"
    for name, (endpoint, arguments) in {**CONTROL_CASES, **RAW_ONLY}.items():
        kind, message = raw.call(endpoint, list(arguments))
        assert kind == "error", f"{name}: {kind} {str(message)[:200]}"
        message = _check_words(name, message, forbidden=("/etc/passwd",))
        assert "x" * (ECHO_CHARS + 2) not in message, name
        assert name in RAW_ONLY or "this call sent" not in message, name   # the case's own refusal
    assert raw.call("/show", ["Fused", False, False, 0, 80])[0] == "complete"    # the session still serves


def test_uploads_the_upload_route_cannot_take_get_400_in_words(client):
    form = b'--xx\r\nContent-Disposition: form-data; name="files"\r\n\r\nnot a file\r\n--xx--\r\n'
    reply = httpx.post(f"{client.src}gradio_api/upload", content=form,
                       headers={"Content-Type": "multipart/form-data; boundary=xx"}, timeout=60)
    assert reply.status_code == 400 and "upload refused" in reply.text
    reply = httpx.post(f"{client.src}gradio_api/upload", content=b"garbage",
                       headers={"Content-Type": "multipart/form-data; boundary=xx"}, timeout=60)
    assert reply.status_code == 400 and reply.text.strip()


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
