"""A tiny dataset in the real MS2 layout, built inside the tests.

MS-Synth frames are written through the MS2 writer, then made to look like a real MS2 root:
no meta.json (real MS2 has none, so conditions come from the test list names) and MS2's own
split files. The real MS2 frames of ``../shared/samples/ms2`` join the day test list when
given: they have no depth and no calibration of their own, so they get the MS-Synth rig
(modelled on MS2's, same image sizes) and show that frames without ground truth are skipped.
"""
from __future__ import annotations

from pathlib import Path

from core.data import ms2
from core.data.imageio import read_spectrum
from core.data.frame import SPECTRA, Frame
from core.data.msynth import MSynthSource, make_rig, msynth_sequence_meta

# list file -> (MS-Synth split, condition, sequences)
TINY_LISTS = {
    "train_list.txt": ("train", "day", 2),
    "val_list.txt": ("val", "day", 1),
    "test_day_list.txt": ("test", "day", 1),
    "test_night_list.txt": ("test", "night", 1),
    "test_rainy_list.txt": ("test", "rain", 1),
}
REAL_SEQUENCE = "real_ms2_samples"


def write_tiny_ms2_root(root: Path, frames_per_sequence: int = 2, scale: float = 0.25,
                        shared_ms2: Path | None = None) -> dict[str, list[str]]:
    """Write the root and return {list file: its sequence names}."""
    root = Path(root)
    lists: dict[str, list[str]] = {}
    for list_name, (split, condition, n_sequences) in TINY_LISTS.items():
        source = MSynthSource(split, n_sequences, frames_per_sequence, conditions=[condition], scale=scale)
        names = []
        for index in range(len(source)):
            frame = source[index]
            sequence = f"_tiny-{split}-{frame.meta['seed']}"
            ms2.write_frame(root, sequence, f"{frame.meta['frame_index']:06d}", frame, msynth_sequence_meta(frame))
            if sequence not in names:
                names.append(sequence)
        lists[list_name] = names
    if shared_ms2 is not None:
        _write_real_frames(root, Path(shared_ms2))
        lists["test_day_list.txt"].append(REAL_SEQUENCE)
    for meta in (root / "sync_data").glob("*/meta.json"):
        meta.unlink()
    for list_name, names in lists.items():
        (root / list_name).write_text("\n".join(names) + "\n")
    return lists


def _write_real_frames(root: Path, shared_ms2: Path) -> None:
    rig = make_rig()
    for rgb in sorted(shared_ms2.glob("*_rgb.png")):
        frame_id = rgb.name.split("_")[0]
        images = {s: read_spectrum(shared_ms2 / f"{frame_id}_{s}.png", s) for s in SPECTRA}
        ms2.write_frame(root, REAL_SEQUENCE, frame_id, Frame(images, {s: rig[s] for s in SPECTRA}))

