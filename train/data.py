"""Training and evaluation data, chosen by ``data.dataset``:

- ``msynth``: MS-Synth rendered once into an MS2-layout cache, then read like real MS2.
  Rendering is deterministic, so a cache is fully described by its parameters; a marker file
  records them and a cache with other parameters is re-rendered rather than silently reused.
- ``ms2``: a real MS2 root and its own split files (train_list.txt, val_list.txt,
  test_day_list.txt, ...: ``ms2.read_split_list``). A test list's condition is in its name.
  No sequence of a test list may be in the training or validation lists.
"""
from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path

from tqdm import tqdm

from core.data import ms2
from core.data.dataset import FrameDataset
from core.data.msynth import RENDER_VERSION, MSynthSource, msynth_sequence_meta
from core.settings import MSYNTH_CACHE_DIR
from train.config import DataConfig


class DataError(ValueError):
    """A dataset that cannot be read as configured (missing split files, leaking splits)."""


def msynth_cache(split: str, n_sequences: int, frames_per_sequence: int, scale: float,
                 root: Path = MSYNTH_CACHE_DIR, conditions: list[str] | None = None, show_progress: bool = True,
                 randomised: float = 0.0, workers: int = 1) -> Path:
    """Render (once) an MS-Synth split into ``root`` in the MS2 layout and return its folder.
    ``randomised``: share of sequences in the domain-randomised appearance; ``workers``:
    rendering processes (each renders whole sequences; the result does not depend on it)."""
    params = {"split": split, "n_sequences": n_sequences, "frames_per_sequence": frames_per_sequence,
              "scale": scale, "conditions": conditions, "render_version": RENDER_VERSION}
    if randomised:
        params["randomised"] = randomised
    name = f"msynth-{split}-{n_sequences}x{frames_per_sequence}-s{scale:g}" + (
        "-" + "-".join(conditions) if conditions else "") + (f"-r{randomised:g}" if randomised else "")
    folder = Path(root) / name
    marker = folder / "cache.json"
    if marker.exists() and json.loads(marker.read_text()) == params:
        return folder
    source = MSynthSource(split, n_sequences, frames_per_sequence, conditions=conditions, scale=scale,
                          randomised=randomised)
    per_sequence = len(source.frame_indices)
    sequences = [range(i, i + per_sequence) for i in range(0, len(source), per_sequence)]
    progress = tqdm(total=len(sequences), desc=f"rendering MS-Synth {split}", disable=not show_progress)
    if workers <= 1:
        for indices in sequences:
            _write_msynth_frames(source, folder, indices)
            progress.update()
    else:
        with ProcessPoolExecutor(workers) as pool:
            for _ in pool.map(_write_msynth_frames, repeat(source), repeat(folder), sequences):
                progress.update()
    progress.close()
    marker.write_text(json.dumps(params))
    return folder


def _write_msynth_frames(source: MSynthSource, folder: Path, indices: range) -> None:
    for index in indices:
        frame = source[index]
        sequence = f"msynth_{frame.meta['seed']}_{frame.condition}"
        ms2.write_frame(folder, sequence, f"{frame.meta['frame_index']:06d}", frame, msynth_sequence_meta(frame))


class ChainedSource:
    """Several MS2 sources read as one (a split made of several lists); neighbours stay
    within a source, as sequences never span two."""

    def __init__(self, sources: list[ms2.MS2Source]) -> None:
        self.sources = sources
        self._starts = [0]
        for source in sources:
            self._starts.append(self._starts[-1] + len(source))

    @property
    def sequences(self) -> list[str]:
        return [seq for source in self.sources for seq in source.sequences]

    def __len__(self) -> int:
        return self._starts[-1]

    def _locate(self, index: int) -> tuple[ms2.MS2Source, int]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        position = next(i for i in range(len(self.sources)) if index < self._starts[i + 1])
        return self.sources[position], index - self._starts[position]

    def __getitem__(self, index: int):
        source, local = self._locate(index)
        return source[local]

    def neighbour(self, index: int, offset: int):
        source, local = self._locate(index)
        return source.neighbour(local, offset)


def sampling_step(data_cfg: DataConfig, split: str) -> int:
    step = getattr(data_cfg, split).sampling_step
    if step is not None:
        return step
    return ms2.REFERENCE_SAMPLING_STEPS[split] if data_cfg.dataset == "ms2" else 1


def ms2_source(data_cfg: DataConfig, split: str) -> ChainedSource:
    """The MS2 root's ``split``, one source per split file, after checking no test sequence
    is listed for training or validation."""
    root = Path(data_cfg.root)
    if not (root / "sync_data").is_dir():
        raise DataError(f"data.root {root} is not an MS2 root: it has no sync_data folder")
    lists = getattr(data_cfg, split).lists
    if not lists:
        raise DataError(f"data.{split}.lists is empty: name the split files of the MS2 root")
    if split != "test":
        check_no_test_sequences(root, data_cfg, split)
    step = sampling_step(data_cfg, split)
    return ChainedSource([ms2.MS2Source(root, split_file(root, name), spectra=tuple(data_cfg.spectra),
                                        trust_pickled_calib=data_cfg.trust_pickled_calib,
                                        condition=ms2.split_condition(name), sampling_step=step)
                          for name in lists])


def split_file(root: Path, list_name: str) -> Path:
    """The split file at the root, under its name or its other name (test_rainy / test_rain)."""
    path = ms2.split_list_path(root, list_name)
    if path is None:
        raise DataError(f"split file {list_name} not found at the root of {root}; "
                        f"check the root with `python -m core.data.ms2 check {root}`")
    return path


def check_no_test_sequences(root: Path, data_cfg: DataConfig, split: str) -> None:
    """Every test list must be there (a missing one cannot be checked for leaks)."""
    used = set().union(*(ms2.read_split_list(split_file(root, name)) for name in getattr(data_cfg, split).lists))
    for name in data_cfg.test.lists:
        if shared := used & set(ms2.read_split_list(split_file(root, name))):
            raise DataError(f"sequences {sorted(shared)} are in {name} and in the {split} lists "
                            f"{getattr(data_cfg, split).lists}: test frames must never reach {split}")


def msynth_source(data_cfg: DataConfig, split: str, show_progress: bool) -> ms2.MS2Source:
    split_cfg = getattr(data_cfg, split)
    folder = msynth_cache(split, split_cfg.n_sequences, split_cfg.frames_per_sequence, data_cfg.scale,
                          root=Path(data_cfg.cache_root or MSYNTH_CACHE_DIR), conditions=split_cfg.conditions,
                          show_progress=show_progress, randomised=data_cfg.randomised if split == "train" else 0.0,
                          workers=data_cfg.render_workers)
    return ms2.MS2Source(folder, spectra=tuple(data_cfg.spectra), sampling_step=sampling_step(data_cfg, split))


def build_dataset(data_cfg: DataConfig, split: str, augment: bool, show_progress: bool = True,
                  native_depth: bool = False) -> FrameDataset:
    """A FrameDataset over ``split`` of the configured dataset. ``native_depth`` keeps ground
    truth at each camera's native resolution (evaluation) while images are resized."""
    source = (ms2_source(data_cfg, split) if data_cfg.dataset == "ms2"
              else msynth_source(data_cfg, split, show_progress))
    return FrameDataset(source, spectra=tuple(data_cfg.spectra), size=tuple(data_cfg.size),
                        augment=augment, seed=data_cfg.seed, native_depth=native_depth,
                        neighbours=tuple(data_cfg.neighbours) if split == "train" else (),
                        photometric=data_cfg.photometric, crop_scale=data_cfg.crop_scale,
                        zoom_scales_depth=data_cfg.zoom_scales_depth)


def dataset_record(data_cfg: DataConfig, dataset: FrameDataset) -> dict:
    """What a checkpoint trained on: the data config plus the sequences and frame count read."""
    return {**dataclasses.asdict(data_cfg), "train_sequences": list(dataset.source.sequences), "train_frames": len(dataset)}
