"""Per-session frames and analyses kept on disk, so a session costs memory only while in use.

A public studio keeps each visitor's frame and analysis between clicks. Held in memory, 300
scripted sessions of 2048-px uploads cost gigabytes that the allocator seldom gives back; here a
session holds a small handle, and the arrays live in one compressed ``.npz`` per slot under the
store's folder (no pickle: arrays plus a JSON header). A handler loads what it needs, the arrays
are freed when it returns. Gallery samples are not copied: their handle names the sample.

Files are keyed by session and slot ("frame", "analysis"): storing a new value removes the
session's older files of that slot, and ``discard`` (the state's expiry) removes the handle's own.
"""
from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.data.frame import Frame
from core.geometry.camera import Camera
from core.inference.analysis import Analysis, AnalysisRequest
from core.inference.errors import InputError
from core.inference.gallery import is_msynth_sample, load_sample
from core.inference.uploads import return_freed_memory

# Calls made in-process without a web session (tests, scripts) keep every value they store, each
# in its own folder, until the process ends; a web session keeps one value per slot.
LOCAL_SESSION = "local"
EXPIRED = "this result is no longer kept on the server (sessions last {minutes} minutes unused): {action}"
# Level 1 deflate: images and depth shrink about as much as at level 6, at a third of the time.
COMPRESS_LEVEL = 1


@dataclass(frozen=True)
class Stored:
    """A session's kept value: a gallery sample by name (``sample``), or a file of the store."""

    slot: str
    session: str
    key: str | None = None
    sample: str | None = None


def _session_folder_name(session: str | None) -> str:
    """A file-system-safe name for a session id (Gradio's are short random strings)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", session or LOCAL_SESSION)[:80] or LOCAL_SESSION


def write_npz(path: Path, arrays: dict[str, np.ndarray], header: dict, compress: bool = True) -> None:
    """Arrays and a JSON header in one npz (compressed unless told not to), written whole before it
    replaces anything."""
    partial = path.with_suffix(".partial")
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(partial, "w", method, compresslevel=COMPRESS_LEVEL if compress else None) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(f"{name}.npy", buffer.getvalue())
        archive.writestr("header.json", json.dumps(header, default=str))
    partial.replace(path)


def read_npz(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """What ``write_npz`` wrote, read in one pass over the archive."""
    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read("header.json"))
        arrays = {}
        for member in archive.namelist():
            if member.endswith(".npy"):
                with archive.open(member) as stream:
                    arrays[member[:-4]] = np.lib.format.read_array(stream, allow_pickle=False)
    return arrays, header


def frame_arrays(frame: Frame, prefix: str = "frame") -> tuple[dict[str, np.ndarray], dict]:
    """A frame as named arrays and a JSON-able header; ``frame_from_arrays`` inverts it exactly."""
    arrays = {}
    for field in ("images", "depth", "classes"):
        for spectrum, array in getattr(frame, field).items():
            arrays[f"{prefix}.{field}.{spectrum}"] = array
    if frame.pose is not None:
        arrays[f"{prefix}.pose"] = frame.pose
    header = {"cameras": {s: c.to_dict() for s, c in frame.cameras.items()}, "condition": frame.condition,
              "name": frame.name, "meta": frame.meta}
    return arrays, header


def frame_from_arrays(arrays: dict[str, np.ndarray], header: dict, prefix: str = "frame") -> Frame:
    fields = {field: {} for field in ("images", "depth", "classes")}
    for key, array in arrays.items():
        parts = key.split(".")
        if parts[0] == prefix and len(parts) == 3:
            fields[parts[1]][parts[2]] = array
    cameras = {s: Camera.from_dict(c) for s, c in header["cameras"].items()}
    return Frame(fields["images"], cameras, fields["depth"], fields["classes"], arrays.get(f"{prefix}.pose"),
                 header["condition"], header["name"], header["meta"])


def _gallery_name(frame: Frame) -> str | None:
    """The sample's name where ``frame`` is the gallery's own (shared, unprobed) object, else None."""
    if not is_msynth_sample(frame):
        return None
    try:
        return frame.name if load_sample(frame.name) is frame else None
    except InputError:
        return None


class SessionStore:
    """Frames and analyses of web sessions, one compressed file per session and slot."""

    def __init__(self, root: Path, lifetime_s: float):
        self.root = Path(root)
        self.lifetime_s = lifetime_s

    def _path(self, stored: Stored) -> Path:
        return self.root / _session_folder_name(stored.session) / f"{stored.slot}-{stored.key}.npz"

    def _put(self, slot: str, session: str | None, arrays: dict, header: dict) -> Stored:
        key = uuid.uuid4().hex
        session = session or f"{LOCAL_SESSION}-{key}"
        stored = Stored(slot, _session_folder_name(session), key)
        path = self._path(stored)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz(path, arrays, header)
        for older in path.parent.glob(f"{slot}-*.npz"):   # the session's earlier value of this slot
            if older != path:
                older.unlink(missing_ok=True)
        return stored

    def _read(self, stored: Stored, action: str) -> tuple[dict[str, np.ndarray], dict]:
        try:
            return read_npz(self._path(stored))
        except FileNotFoundError:
            raise InputError(EXPIRED.format(minutes=round(self.lifetime_s / 60), action=action)) from None

    def put_frame(self, frame: Frame, session: str | None = None, sample: str | None = None) -> Stored:
        """Keep ``frame`` for ``session``; a gallery sample (``sample``: its name) is kept by name."""
        if sample is not None:
            return Stored("frame", _session_folder_name(session), sample=sample)
        arrays, header = frame_arrays(frame)
        return self._put("frame", session, arrays, header)

    def frame(self, stored: Stored) -> Frame:
        if stored.sample is not None:
            return load_sample(stored.sample)
        return frame_from_arrays(*self._read(stored, "pick the sample or upload the images again"))

    def put_analysis(self, analysis: Analysis, session: str | None = None) -> Stored:
        """Keep what an analysis needs to redraw itself: request, depth at the model's size, its
        frame as analysed (by sample name where that is an unprobed gallery sample)."""
        arrays = {f"depth.{output}": depth.numpy() for output, depth in analysis.model_depth.items()}
        sample = _gallery_name(analysis.frame)
        if sample is None:
            frame_part, frame_header = frame_arrays(analysis.frame)
            arrays.update(frame_part)
        else:
            frame_header = None
        header = {"request": dataclasses.asdict(analysis.request), "anchor": analysis.anchor,
                  "timings_ms": analysis.timings_ms, "description": analysis.description,
                  "frame": frame_header, "sample": sample, "outputs": list(analysis.model_depth)}
        return self._put("analysis", session, arrays, header)

    def analysis(self, stored: Stored) -> Analysis:
        arrays, header = self._read(stored, "run the analysis again")
        request = header["request"]
        if request.get("spectra") is not None:
            request["spectra"] = tuple(request["spectra"])
        frame = load_sample(header["sample"]) if header["sample"] else frame_from_arrays(arrays, header["frame"])
        depth = {output: torch.from_numpy(arrays[f"depth.{output}"]) for output in header["outputs"]}
        return Analysis(AnalysisRequest(**request), frame, header["anchor"], depth, header["timings_ms"],
                        header["description"])

    def discard(self, stored: Stored | None) -> None:
        """Remove a kept value (its session's folder once empty) and give the memory back."""
        if isinstance(stored, Stored) and stored.key is not None:
            path = self._path(stored)
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()
            except OSError:   # the session's other slot is still kept, or the folder is gone
                pass
        return_freed_memory()

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
