"""The MS-Synth sample gallery: its index (generated on first use), its frames read once per
process, and a sample's scene rendered under every condition."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from core.data import ms2
from core.data.frame import EVAL_CONDITIONS, Frame
from core.data.msynth import RENDER_VERSION, render_frame
from core.data.samples import write_gallery
from core.inference.errors import InputError
from core.settings import SAMPLES_DIR

MSYNTH_SAMPLE = "MS-Synth sample"   # frame.meta["source"] of gallery samples


@dataclass(frozen=True)
class Sample:
    name: str
    sequence: str
    frame_id: str
    condition: str
    thumbnail: Path


def list_samples(root: Path = SAMPLES_DIR) -> list[Sample]:
    """The sample gallery, generating it first if it is missing or was written by an older
    MS-Synth renderer (deterministic, seconds)."""
    index = root / "index.json"
    gallery = json.loads(index.read_text()) if index.exists() else {}
    if gallery.get("render_version") != RENDER_VERSION:
        write_gallery(root)
        gallery = json.loads(index.read_text())
    entries = gallery["samples"]
    return [Sample(e["name"], e["sequence"], e["frame_id"], e["condition"], root / e["thumbnail"])
            for e in entries]


def load_sample(name: str, root: Path = SAMPLES_DIR) -> Frame:
    """A gallery sample, read once per process: every session that picks it holds the same
    (read-only) frame, so a thousand visitors of one sample cost one frame of memory."""
    return _read_sample(name, Path(root))


@functools.lru_cache(maxsize=32)
def _read_sample(name: str, root: Path) -> Frame:
    for sample in list_samples(root):
        if sample.name == name:
            frame = ms2.read_frame(root, sample.sequence, sample.frame_id)
            frame.name = sample.name
            frame.meta["source"] = MSYNTH_SAMPLE
            return frame
    raise InputError(f"no sample named {name!r}")


# 'clear' renders a scene by day, as 'day' does: one scene shows it once.
SAMPLE_CONDITIONS = tuple(c for c in EVAL_CONDITIONS if c != "clear")


def sample_under_conditions(name: str, conditions=SAMPLE_CONDITIONS) -> dict[str, Frame]:
    """The gallery sample's MS-Synth scene and moment rendered under each condition (same
    geometry, exact depth), by condition."""
    sample = next((s for s in list_samples() if s.name == name), None)
    if sample is None:
        raise InputError(f"no sample named {name!r}")
    seed = int(sample.sequence.split("_")[1])
    frames = {condition: render_frame(seed, int(sample.frame_id), condition) for condition in conditions}
    for frame in frames.values():
        frame.meta["source"] = MSYNTH_SAMPLE
    return frames


def is_msynth_sample(frame: Frame) -> bool:
    return frame.meta.get("source") == MSYNTH_SAMPLE
