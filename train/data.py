"""Training data: MS-Synth rendered once into an MS2-layout cache, then read like real MS2.

Rendering is deterministic, so a cache is fully described by its parameters; a marker file
records them and a cache with other parameters is re-rendered rather than silently reused.
"""
from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from core.data import ms2
from core.data.dataset import FrameDataset
from core.data.msynth import RENDER_VERSION, MSynthSource, msynth_sequence_meta

CACHE_ROOT = Path(__file__).resolve().parent.parent / "runs" / "cache"


def msynth_cache(split: str, n_sequences: int, frames_per_sequence: int, scale: float,
                 root: Path = CACHE_ROOT, conditions: list[str] | None = None, show_progress: bool = True) -> Path:
    """Render (once) an MS-Synth split into ``root`` in the MS2 layout and return its folder."""
    params = {"split": split, "n_sequences": n_sequences, "frames_per_sequence": frames_per_sequence,
              "scale": scale, "conditions": conditions, "render_version": RENDER_VERSION}
    name = f"msynth-{split}-{n_sequences}x{frames_per_sequence}-s{scale:g}" + (
        "-" + "-".join(conditions) if conditions else "")
    folder = Path(root) / name
    marker = folder / "cache.json"
    if marker.exists() and json.loads(marker.read_text()) == params:
        return folder
    source = MSynthSource(split, n_sequences, frames_per_sequence, conditions=conditions, scale=scale)
    for index in tqdm(range(len(source)), desc=f"rendering MS-Synth {split}", disable=not show_progress):
        frame = source[index]
        sequence = f"msynth_{frame.meta['seed']}_{frame.condition}"
        ms2.write_frame(folder, sequence, f"{frame.meta['frame_index']:06d}", frame, msynth_sequence_meta(frame))
    marker.write_text(json.dumps(params))
    return folder


def build_dataset(data_cfg: dict, split: str, augment: bool, show_progress: bool = True) -> FrameDataset:
    """A FrameDataset over the cached split described by ``data_cfg[split]``."""
    split_cfg = data_cfg[split]
    folder = msynth_cache(split, split_cfg["n_sequences"], split_cfg["frames_per_sequence"], data_cfg["scale"],
                          root=Path(data_cfg.get("cache_root", CACHE_ROOT)), conditions=split_cfg.get("conditions"),
                          show_progress=show_progress)
    source = ms2.MS2Source(folder, spectra=tuple(data_cfg["spectra"]))
    return FrameDataset(source, spectra=tuple(data_cfg["spectra"]), size=tuple(data_cfg["size"]),
                        augment=augment, seed=data_cfg.get("seed", 0),
                        neighbours=tuple(data_cfg.get("neighbours", ())) if split == "train" else ())
