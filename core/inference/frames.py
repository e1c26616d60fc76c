"""Frames in: the MS-Synth sample gallery, an MS2 root's test frames, uploads, robustness
probes; and frames out for display (8-bit images, per-spectrum summaries, display size)."""
from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data import ms2
from core.data.dataset import resize_frame, select_spectra
from core.data.frame import EVAL_CONDITIONS, SPECTRA, SPECTRUM_LABELS, Frame
from core.data.imageio import ImageDecodeError, read_spectrum
from core.data.msynth import RENDER_VERSION, make_rig, render_frame
from core.data.msynth.thermal_model import raw_to_celsius
from core.data.perturb import PROBES as PROBES  # re-exported for the UIs' probe choices
from core.data.perturb import perturb_frame
from core.data.samples import write_gallery
from core.data.thermal import normalize_thermal
from core.inference.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES_DIR = REPO_ROOT / "assets" / "samples"
# What panels and point clouds are drawn at: wider cameras are scaled down (downloads keep
# the native resolution). 1280 px covers the MS2 rig's widest camera (NIR) as it is.
DISPLAY_MAX_WIDTH = 1280
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


# --- the user's own dataset: an MS2 root's test frames, browsed by sequence and frame ------

DATASET_ENV = "SPECTRADEPTH_DATA"
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
    if not any((path / list_name).is_file() for list_name in TEST_LISTS.values()):
        raise InputError(f"'{name}' is an MS2 root without test lists: expected at least one of "
                         f"{', '.join(TEST_LISTS.values())}")
    return path.resolve()


def dataset_root_from(value: str | Path | None) -> Path | None:
    """The dataset root a launcher was given (``value``, else $SPECTRADEPTH_DATA), checked;
    None when neither names one."""
    value = value or os.environ.get(DATASET_ENV)
    return check_dataset_root(value) if value else None


def _test_conditions(root: Path) -> dict[str, str]:
    """Sequence name -> condition, from the test list files, in list order."""
    conditions: dict[str, str] = {}
    for condition, list_name in TEST_LISTS.items():
        if (root / list_name).is_file():
            for name in ms2.read_split_list(root / list_name):
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


# Uploads use the rig's lenses rescaled to the image size, each axis on its own: a full frame
# resized to another aspect (NIR's 3.64 to a network's 2.5) stays a valid camera, while a
# rotated or foreign image (ratios of 2 and more) would make the rescaled lens meaningless.
MAX_ASPECT_MISMATCH = 2.0
UPLOAD_CALIBRATION = "none uploaded: MS-Synth rig (modelled on the MS2 rig) scaled to the image sizes"


UPLOAD_KEEP_WIDTH = 2048
MIN_UPLOAD_SIDE = 32   # the network's input is 128 px and more; a smaller image holds no depth to speak of


def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):   # not glibc: nothing to give back this way
        return None


MALLOC_TRIM = _malloc_trim()


def return_freed_memory() -> None:
    """Give the heap's free pages back to the system. Decoding a large upload allocates and frees
    buffers of tens of MB that glibc keeps for reuse in the process heap, so each session that
    uploaded would look ~30 MB bigger than the frame it holds."""
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)


def load_upload(paths: dict[str, str | Path | bytes | None]) -> Frame:
    """A frame from uploaded files, one per spectrum (any subset of rgb, nir, thr).

    Uploads carry no calibration, so each camera is the MS-Synth rig camera (modelled on
    the MS2 rig) rescaled to the uploaded image size; ``frame.meta['calibration']`` says so.
    Images wider than UPLOAD_KEEP_WIDTH are kept (and exported) at that width.
    """
    try:
        return _decode_upload(paths)
    finally:
        return_freed_memory()


def _decode_upload(paths: dict[str, str | Path | bytes | None]) -> Frame:
    images, cameras = {}, {}
    rig = make_rig()
    for spectrum in SPECTRA:
        path = paths.get(spectrum)
        if path is None or path == "":
            continue
        try:
            image = read_spectrum(path, spectrum)
        except ImageDecodeError as err:
            raise InputError(f"{SPECTRUM_LABELS[spectrum]} file: {err}") from err
        if min(image.shape[:2]) < MIN_UPLOAD_SIDE:
            raise InputError(f"{SPECTRUM_LABELS[spectrum]} image is {image.shape[1]} x {image.shape[0]}: too small to "
                             f"see depth in; upload at least {MIN_UPLOAD_SIDE} pixels on each side")
        camera = rig[spectrum]
        aspect, camera_aspect = image.shape[1] / image.shape[0], camera.width / camera.height
        if max(aspect, camera_aspect) / min(aspect, camera_aspect) > MAX_ASPECT_MISMATCH:
            raise InputError(f"{SPECTRUM_LABELS[spectrum]} image is {image.shape[1]} x {image.shape[0]} (aspect "
                             f"{aspect:.2f}), but the {SPECTRUM_LABELS[spectrum]} camera's is {camera_aspect:.2f} "
                             f"({camera.width} x {camera.height}); without calibration its lens cannot be fitted to "
                             f"this shape: upload the camera's full frame")
        images[spectrum] = image
        cameras[spectrum] = camera.resized(*image.shape[:2])
    if not images:
        raise InputError("upload at least one of RGB, NIR or thermal")
    frame = Frame(images, cameras, name="upload", meta={"source": "upload", "calibration": UPLOAD_CALIBRATION})
    # A session keeps its frame: an upload wider than any camera of the rigs we model (MS2: 1280)
    # is kept at UPLOAD_KEEP_WIDTH, so 20 sessions holding 6400-px uploads stay a few hundred MB.
    return at_display_size(frame, UPLOAD_KEEP_WIDTH)


def probe(frame: Frame, kind: str, strength: float) -> Frame:
    """The frame as seen at night, in fog, rain, noise or without its texture (PROBES), with
    ``strength`` from 0 (unchanged) to 1; depth and cameras stay as they are."""
    try:
        return perturb_frame(frame, kind, strength)
    except ValueError as err:
        raise InputError(str(err)) from err


def display_image(frame: Frame, spectrum: str) -> np.ndarray:
    """An 8-bit image of one spectrum for display (thermal through the one normalisation)."""
    image = frame.images[spectrum]
    if spectrum == "thr":
        return (normalize_thermal(image) * 255).round().astype(np.uint8)
    return image


def describe(frame: Frame) -> list[list[str]]:
    """One row per spectrum: size, bit depth, value range (thermal also in degrees Celsius)."""
    rows = []
    for spectrum in frame.spectra:
        image = frame.images[spectrum]
        bits = image.dtype.itemsize * 8
        lo, hi = int(image.min()), int(image.max())
        value_range = f"{lo} - {hi}"
        if spectrum == "thr":
            value_range += f" raw ({raw_to_celsius(lo):.1f} to {raw_to_celsius(hi):.1f} °C)"
        gt = frame.depth.get(spectrum)
        gt_text = f"{gt[gt > 0].min():.1f} - {gt.max():.1f} m" if gt is not None and (gt > 0).any() else "none"
        rows.append([SPECTRUM_LABELS[spectrum], f"{image.shape[1]} x {image.shape[0]}",
                     f"{bits}-bit x {1 if image.ndim == 2 else image.shape[2]}", value_range, gt_text])
    return rows


def is_msynth_sample(frame: Frame) -> bool:
    return frame.meta.get("source") == MSYNTH_SAMPLE


def display_size(size: tuple[int, int], max_width: int = DISPLAY_MAX_WIDTH) -> tuple[int, int]:
    """(height, width) a camera of ``size`` is drawn at: as it is, or scaled to ``max_width``."""
    height, width = size
    if width <= max_width:
        return height, width
    return max(1, round(height * max_width / width)), max_width


def at_display_size(frame: Frame, max_width: int = DISPLAY_MAX_WIDTH) -> Frame:
    """The frame with every camera no wider than ``max_width`` (images resampled, depth by the
    nearest pixel, intrinsics scaled); cameras already that narrow are kept as they are."""
    if all(camera.width <= max_width for camera in frame.cameras.values()):
        return frame
    parts = [resize_frame(select_spectra(frame, [s]), display_size(frame.cameras[s].size, max_width))
             for s in frame.spectra]
    merged = {field: {s: v for part in parts for s, v in getattr(part, field).items()}
              for field in ("images", "cameras", "depth", "classes")}
    return dataclasses.replace(frame, **merged)



def frame_fingerprint(frame: Frame) -> str:
    """A digest of what a frame shows (images, cameras, ground truth): equal for equal frames,
    so caches can key on it where frames arrive as new objects (uploads, reruns)."""
    digest = hashlib.sha1()
    for spectrum in frame.spectra:
        camera = frame.cameras[spectrum]
        for array in (frame.images[spectrum], camera.K, camera.T_rig_cam, frame.depth.get(spectrum)):
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(json.dumps([frame.name, frame.condition, frame.meta], sort_keys=True, default=str).encode())
    return digest.hexdigest()
