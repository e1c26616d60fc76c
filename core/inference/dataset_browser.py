"""The user's own dataset: an MS2 root's test frames, browsed by sequence and frame."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core import settings
from core.data import ms2
from core.data.frame import Frame
from core.inference.errors import InputError

DATASET_ENV = settings.DATASET_ENV
# MS2's test splits, one list file per condition.
TEST_LISTS = {ms2.split_condition(name): name for name in ms2.MS2_TEST_LISTS}


@dataclass(frozen=True)
class DatasetSequence:
    """A test sequence of an MS2 root: its condition (from its list's name) and frame ids."""

    name: str
    condition: str
    frame_ids: tuple[str, ...]

    @property
    def label(self) -> str:
        count = f"{len(self.frame_ids)} frames" if self.frame_ids else "no frames"
        return f"{self.condition} · {self.name} ({count})"


def check_dataset_root(root: str | Path) -> Path:
    """``root`` resolved, or InputError saying why it is not an MS2 root with test lists."""
    path = Path(root).expanduser()
    name = path.resolve().name   # the folder's name only: messages may reach a web page
    if not path.is_dir():
        raise InputError(f"no folder '{name}': name an MS2 root, the folder holding sync_data/")
    if not (path / "sync_data").is_dir():
        raise InputError(f"'{name}' is not an MS2 root: it has no sync_data/ folder")
    if not any(ms2.split_list_path(path, list_name) for list_name in TEST_LISTS.values()):
        raise InputError(f"'{name}' is an MS2 root without test lists: expected at least one of "
                         f"{', '.join(TEST_LISTS.values())}")
    return path.resolve()


def dataset_root_from(value: str | Path | None) -> Path | None:
    """The dataset root a launcher was given (``value``, else $SPECTRADEPTH_DATA), checked;
    None when neither names one."""
    value = value or settings.dataset_root_setting()
    return check_dataset_root(value) if value else None


def _test_conditions(root: Path) -> dict[str, str]:
    """Sequence name -> condition, from the test list files, in list order."""
    conditions: dict[str, str] = {}
    for condition, list_name in TEST_LISTS.items():
        if list_path := ms2.split_list_path(root, list_name):
            for name in ms2.read_split_list(list_path):
                conditions.setdefault(name, condition)
    return conditions


def list_dataset_sequences(root: str | Path) -> list[DatasetSequence]:
    """The test sequences of an MS2 root, by condition (day, night, rain) then name; train and
    val sequences are not listed. A listed sequence without its folder has no frames."""
    root = check_dataset_root(root)
    sequences = []
    for name, condition in _test_conditions(root).items():
        try:
            frame_ids = tuple(ms2.list_frames(root, name))
        except (FileNotFoundError, ValueError):   # missing folder or an unsafe name in a list file
            frame_ids = ()
        sequences.append(DatasetSequence(name, condition, frame_ids))
    order = list(TEST_LISTS)
    return sorted(sequences, key=lambda s: (order.index(s.condition), s.name))


def load_dataset_frame(root: str | Path, sequence: str, frame_id: str) -> Frame:
    """One test frame of an MS2 root with its sequence's own calibration and ground truth where
    there is some. Its name and meta say where it came from, by the dataset's folder name only.

    MS2's pickled calib.npy stays refused (loading a pickle can run code): the error says how to
    convert it once.
    """
    root = check_dataset_root(root)
    condition = _test_conditions(root).get(sequence)
    if condition is None:
        raise InputError(f"{root.name} has no test sequence named {sequence!r}")
    try:
        frame = ms2.read_frame(root, sequence, frame_id)
    except (OSError, ValueError) as err:   # ms2.CalibrationError and ImageDecodeError are ValueErrors
        raise InputError(f"{root.name} · {sequence}/{frame_id}: {_without_server_paths(str(err), root)}") from err
    frame.condition = frame.condition or condition
    frame.name = f"{root.name} · {sequence}/{frame_id}"
    frame.meta.update(source=f"{root.name}, {TEST_LISTS[condition]}",
                      calibration=f"{root.name}/sync_data/{sequence}/calib.json (the sequence's own)")
    return frame


def _without_server_paths(message: str, root: Path) -> str:
    """``message`` with the dataset's location on this server cut down to its folder name."""
    return message.replace(str(root), root.name)
