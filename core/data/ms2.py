"""Read and write frames in the MS2 (Multi-Spectral Stereo) folder layout.

Layout under a dataset root (left cameras only)::

    sync_data/<seq>/<spectrum>/img_left/<frame>.png          raw images (see IMAGE_FORMATS)
    sync_data/<seq>/calib.json                               our calibration (see below)
    sync_data/<seq>/calib.npy                                MS2's own, pickled (opt-in only)
    <cache>/<root key>/<seq>.json                            calib.json of a root we cannot write into
    sync_data/<seq>/meta.json                                our additions: condition, meta
    proj_depth/<seq>/<spectrum>/depth_filtered/<frame>.png   uint16, metres x 256, 0 = no data
    odom/<seq>/<spectrum>/<frame>.txt                        4 x 4 T_world_cam, whitespace text
    semantic/<seq>/<spectrum>/<frame>.png                    uint8 class ids (when a frame has them)

calib.json holds, per spectrum, ``Camera.to_dict()`` (K, width, height, T_rig_cam) plus a
version. In converted MS2 calibrations the rig frame is the left thermal camera.
Frame ids are zero-padded strings such as '000011'.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.data.frame import SPECTRA, Frame
from core.data.imageio import check_raw_image, read_image, read_spectrum, write_png
from core.geometry.camera import Camera, make_transform
from core.settings import ms2_calib_cache_dir

CALIB_VERSION = 1
META_VERSION = 1
DEPTH_SCALE = 256.0  # MS2/KITTI convention: uint16 value = metres x 256
# (height, width) of the rectified left images MS2 ships; the K in its calib.npy match them.
MS2_IMAGE_SIZES = {"rgb": (384, 1224), "nir": (352, 1280), "thr": (256, 640)}
_MS2_CALIB_KEYS = ("K_rgbL", "K_nirL", "K_thrL", "R_nir2thr", "T_nir2thr", "R_nir2rgb", "T_nir2rgb")
_SAFE_NAME = re.compile(r"^[\w-][\w.-]*$")  # sequence and frame names: no separators, no '..'
# MS2's split files at the dataset root, one sequence name a line; a test list names its condition.
# MS2 ships the rain list as test_rainy_list.txt (the reference loader's name for test_rain).
MS2_SPLIT_LISTS = ("train_list.txt", "val_list.txt")
MS2_TEST_LISTS = ("test_day_list.txt", "test_night_list.txt", "test_rainy_list.txt")
# Names this project used before it read MS2's own: a config naming one still finds the shipped file.
_LIST_ALIASES = {"test_rain_list.txt": "test_rainy_list.txt", "test_rainy_list.txt": "test_rain_list.txt"}
_CONDITION_IN_LIST_NAME = re.compile(r"^test_(\w+?)_list\.txt$")
_CONDITION_NAMES = {"rainy": "rain"}


class CalibrationError(ValueError):
    """A sequence's calibration is missing, untrusted, or inconsistent with its frames."""


# --- paths -----------------------------------------------------------------------------

def sequence_dir(root: str | Path, seq: str) -> Path:
    return Path(root) / "sync_data" / _checked_name(seq, "sequence")


def image_path(root: str | Path, seq: str, spectrum: str, frame_id: str) -> Path:
    return sequence_dir(root, seq) / spectrum / "img_left" / f"{_checked_name(frame_id, 'frame')}.png"


def depth_path(root: str | Path, seq: str, spectrum: str, frame_id: str) -> Path:
    return (Path(root) / "proj_depth" / _checked_name(seq, "sequence") / spectrum / "depth_filtered"
            / f"{_checked_name(frame_id, 'frame')}.png")


def odom_path(root: str | Path, seq: str, spectrum: str, frame_id: str) -> Path:
    return (Path(root) / "odom" / _checked_name(seq, "sequence") / spectrum
            / f"{_checked_name(frame_id, 'frame')}.txt")


def semantic_path(root: str | Path, seq: str, spectrum: str, frame_id: str) -> Path:
    return (Path(root) / "semantic" / _checked_name(seq, "sequence") / spectrum
            / f"{_checked_name(frame_id, 'frame')}.png")


def _checked_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise ValueError(f"invalid {what} name {name!r}: use letters, digits, '_', '-' and '.', "
                         f"e.g. '000011'")
    return name


# --- depth encoding --------------------------------------------------------------------

def depth_to_uint16(depth: np.ndarray) -> np.ndarray:
    """Metric depth (0 = invalid) to MS2's uint16 round(metres x 256).

    Depth the format cannot hold (beyond 65535 / 256 = 255.996 m), NaN and negative values
    become 0 (invalid): a saturated value would be a wrong depth, not a missing one.
    """
    scaled = np.rint(np.nan_to_num(np.asarray(depth, dtype=np.float64) * DEPTH_SCALE, nan=0.0, neginf=0.0))
    scaled[(scaled < 0) | (scaled > np.iinfo(np.uint16).max)] = 0
    return scaled.astype(np.uint16)


def depth_from_uint16(encoded: np.ndarray) -> np.ndarray:
    """MS2's uint16 depth PNG values to float32 metres (0 stays 0 = invalid)."""
    return encoded.astype(np.float32) / np.float32(DEPTH_SCALE)


# --- calibration -----------------------------------------------------------------------

def read_calibration(root: str | Path, seq: str, *, trust_pickled_calib: bool = False) -> dict[str, Camera]:
    """The cameras of a sequence: its calib.json, else the one convert-calib left in our cache
    for a read-only root, else MS2's calib.npy when trusted (sized as the sequence's images,
    ``sequence_image_sizes``: calib.npy has no image sizes of its own).
    """
    folder = sequence_dir(root, seq)
    json_path, npy_path = folder / "calib.json", folder / "calib.npy"
    if json_path.is_file():
        return _read_calib_json(json_path)
    cached = cached_calibration_path(root, seq)
    if cached.is_file() and npy_path.is_file():
        content = _read_calib_content(cached)
        if content.get("source_sha256") != _sha256(npy_path):
            raise CalibrationError(f"{cached} was converted from another {npy_path}: convert again with\n"
                                   f"  python -m core.data.ms2 convert-calib {Path(root)}")
        return _cameras_of(content, cached)
    if npy_path.is_file():
        if not trust_pickled_calib:
            raise CalibrationError(
                f"Sequence '{seq}' only has MS2's calib.npy. That file is a pickle, and loading a "
                "pickle can run arbitrary code, so it is not read by default. If the files come "
                "from the official MS2 release, either convert the whole root once to calib.json "
                "(beside each calib.npy, or in our cache when the root is read-only):\n"
                f"  python -m core.data.ms2 convert-calib {Path(root)}\n"
                "or set data.trust_pickled_calib: true (trust_pickled_calib=True in code).")
        return cameras_from_ms2_calib(_load_pickled_calib(npy_path), sequence_image_sizes(root, seq))
    raise CalibrationError(f"Sequence '{seq}' has no calibration: expected {json_path} "
                           f"(or MS2's calib.npy beside it).")


def sequence_image_sizes(root: str | Path, seq: str) -> dict[str, tuple[int, int]]:
    """(height, width) per spectrum from the sequence's first left image; MS2's own sizes for a
    spectrum without images."""
    sizes = dict(MS2_IMAGE_SIZES)
    for spectrum in SPECTRA:
        first = next(iter(sorted((sequence_dir(root, seq) / spectrum / "img_left").glob("*.png"))), None)
        if first is not None and (size := png_size(first)):
            sizes[spectrum] = size
    return sizes


def cached_calibration_path(root: str | Path, seq: str, cache_dir: Path | None = None) -> Path:
    """Where convert-calib keeps the calib.json of sequence ``seq`` of a root it cannot write
    into: one folder per root (keyed by its resolved path), one file per sequence."""
    key = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:16]
    return (cache_dir or ms2_calib_cache_dir()) / key / f"{_checked_name(seq, 'sequence')}.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_calibration(path: str | Path, cameras: Mapping[str, Camera], source_sha256: str | None = None) -> None:
    """Write calib.json for ``cameras`` (spectrum -> Camera); ``source_sha256``: the hash of the
    calib.npy a cached copy was converted from, so a changed source is noticed."""
    content = {"version": CALIB_VERSION,
               "cameras": {s: cameras[s].to_dict() for s in SPECTRA if s in cameras}}
    if source_sha256:
        content["source_sha256"] = source_sha256
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(content, indent=2))


def cameras_from_ms2_calib(calib: Mapping[str, np.ndarray],
                           image_sizes: Mapping[str, tuple[int, int]] = MS2_IMAGE_SIZES) -> dict[str, Camera]:
    """Cameras from the dict in MS2's calib.npy; the rig frame is the left thermal camera.

    ``R_a2b``/``T_a2b`` map points from camera a to camera b (X_b = R X_a + T), with T in
    millimetres. So T_rig_nir = T_thr_nir and T_rig_rgb = T_rig_nir @ inv(T_rgb_nir).
    """
    missing = [key for key in _MS2_CALIB_KEYS if key not in calib]
    if missing:
        raise CalibrationError(f"MS2 calibration lacks {', '.join(missing)}")
    T_thr_nir = make_transform(calib["R_nir2thr"], np.reshape(calib["T_nir2thr"], 3) / 1000.0)
    T_rgb_nir = make_transform(calib["R_nir2rgb"], np.reshape(calib["T_nir2rgb"], 3) / 1000.0)
    T_rig_cam = {"thr": np.eye(4), "nir": T_thr_nir, "rgb": T_thr_nir @ np.linalg.inv(T_rgb_nir)}
    cameras = {}
    for spectrum in SPECTRA:
        height, width = image_sizes[spectrum]
        cameras[spectrum] = Camera(calib[f"K_{spectrum}L"], width, height, T_rig_cam[spectrum])
    return cameras


def convert_ms2_calib(npy_path: str | Path, json_path: str | Path,
                      image_sizes: Mapping[str, tuple[int, int]] = MS2_IMAGE_SIZES,
                      record_source: bool = False) -> dict[str, Camera]:
    """Convert MS2's pickled calib.npy to calib.json, once. Returns the cameras.

    Calling this is the opt-in: it unpickles ``npy_path``, which can run code, so use it only
    on files from a source you trust. ``image_sizes`` is (height, width) per spectrum;
    ``record_source`` keeps the npy's hash in the JSON (a cached copy away from the npy).
    """
    cameras = cameras_from_ms2_calib(_load_pickled_calib(Path(npy_path)), image_sizes)
    write_calibration(json_path, cameras, _sha256(Path(npy_path)) if record_source else None)
    return cameras


def _load_pickled_calib(path: Path) -> dict:
    # allow_pickle executes the file's pickle: callers reach this only after an explicit opt-in.
    loaded = np.load(path, allow_pickle=True)
    calib = loaded.item() if isinstance(loaded, np.ndarray) and loaded.dtype == object else None
    if not isinstance(calib, dict):
        raise CalibrationError(f"{path} does not hold MS2's calibration dict")
    return calib


def _read_calib_json(path: Path) -> dict[str, Camera]:
    return _cameras_of(_read_calib_content(path), path)


def _read_calib_content(path: Path) -> dict:
    try:
        content = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CalibrationError(f"{path} is not valid JSON: {error}") from error
    if content.get("version") != CALIB_VERSION:
        raise CalibrationError(f"{path} has version {content.get('version')!r}; "
                               f"this code reads version {CALIB_VERSION}")
    return content


def _cameras_of(content: dict, path: Path) -> dict[str, Camera]:
    try:
        return {s: Camera.from_dict(d) for s, d in content["cameras"].items()}
    except (KeyError, TypeError, ValueError) as error:
        raise CalibrationError(f"{path} has a malformed camera entry ({error!r})") from error


# --- sequence metadata -----------------------------------------------------------------

@dataclass
class _SequenceInfo:
    cameras: dict[str, Camera]
    condition: str | None = None
    meta: dict = field(default_factory=dict)


def _read_sequence_info(root: str | Path, seq: str, trust_pickled_calib: bool) -> _SequenceInfo:
    folder = sequence_dir(root, seq)
    if not folder.is_dir():
        raise FileNotFoundError(f"Sequence '{seq}' not found: no folder {folder}")
    info = _SequenceInfo(read_calibration(root, seq, trust_pickled_calib=trust_pickled_calib))
    meta_path = folder / "meta.json"
    if meta_path.is_file():
        content = json.loads(meta_path.read_text())
        info.condition, info.meta = content.get("condition"), content.get("meta", {})
    return info


def _merged_sequence_meta(path: Path, condition: str | None, meta: dict) -> dict:
    """The sequence's meta.json content once a frame's condition and meta are added.

    A sequence has one condition; meta keys already recorded must keep their value (meta.json
    describes the whole sequence), new keys are added.
    """
    content = json.loads(path.read_text()) if path.is_file() else {"version": META_VERSION, "meta": {}}
    if condition is not None:
        if content.get("condition") not in (None, condition):
            raise ValueError(f"{path.parent.name} already holds '{content['condition']}' frames; "
                             f"write '{condition}' frames to another sequence")
        content["condition"] = condition
    for key, value in meta.items():
        if key in content["meta"] and content["meta"][key] != value:
            raise ValueError(f"{path.parent.name}: meta[{key!r}] is {content['meta'][key]!r} for the "
                             f"sequence but {value!r} for this frame; meta.json is per sequence")
        content["meta"][key] = value
    return content


# --- frames ----------------------------------------------------------------------------

def write_frame(root: str | Path, seq: str, frame_id: str, frame: Frame,
                sequence_meta: dict | None = None) -> None:
    """Write one frame; the sequence's calib.json and meta.json are created or extended.

    ``frame.meta`` describes one frame and is not stored; ``sequence_meta`` (JSON values such
    as the generator and its seed) goes to meta.json and comes back as ``meta`` on reading.
    Every frame of a sequence shares the sequence's cameras, condition and meta values. The
    pose is written per spectrum as T_world_cam = pose @ T_rig_cam. Everything is checked
    before the first file is written, so a refused frame leaves the dataset untouched.
    """
    calib_path = sequence_dir(root, seq) / "calib.json"
    cameras = _read_calib_json(calib_path) if calib_path.is_file() else {}
    for spectrum in frame.spectra:
        camera = frame.cameras[spectrum]
        check_raw_image(frame.images[spectrum], spectrum)
        if spectrum in cameras and cameras[spectrum].to_dict() != camera.to_dict():
            raise CalibrationError(f"frame {frame_id}: the {spectrum} camera differs from sequence "
                                   f"'{seq}'s calib.json; all frames of a sequence share one calibration")
        cameras[spectrum] = camera
        if spectrum in frame.depth:
            _check_shape(np.asarray(frame.depth[spectrum]), camera, f"{spectrum} depth")
        if spectrum in frame.classes:
            classes = np.asarray(frame.classes[spectrum])
            _check_shape(classes, camera, f"{spectrum} classes")
            if classes.dtype != np.uint8:
                raise ValueError(f"{spectrum} classes must be uint8, got {classes.dtype}")
    meta_path = calib_path.parent / "meta.json"
    meta = _merged_sequence_meta(meta_path, frame.condition, sequence_meta or {})

    write_calibration(calib_path, cameras)
    meta_path.write_text(json.dumps(meta, indent=2))
    for spectrum in frame.spectra:
        _write_png_into(image_path(root, seq, spectrum, frame_id), frame.images[spectrum])
        if spectrum in frame.depth:
            _write_png_into(depth_path(root, seq, spectrum, frame_id), depth_to_uint16(frame.depth[spectrum]))
        if spectrum in frame.classes:
            _write_png_into(semantic_path(root, seq, spectrum, frame_id), np.asarray(frame.classes[spectrum]))
        if frame.pose is not None:
            path = odom_path(root, seq, spectrum, frame_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savetxt(path, np.asarray(frame.pose) @ frame.cameras[spectrum].T_rig_cam, fmt="%.17g")


def read_frame(root: str | Path, seq: str, frame_id: str, spectra: Iterable[str] | None = None, *,
               trust_pickled_calib: bool = False) -> Frame:
    """Read one frame. ``spectra=None`` reads every spectrum the frame has; a spectrum named
    explicitly must exist."""
    info = _read_sequence_info(root, seq, trust_pickled_calib)
    return _read_frame(root, seq, frame_id, spectra, info)


def _read_frame(root: str | Path, seq: str, frame_id: str, spectra: Iterable[str] | None,
                info: _SequenceInfo) -> Frame:
    if spectra is None:
        spectra = [s for s in SPECTRA if image_path(root, seq, s, frame_id).is_file()]
        if not spectra:
            raise FileNotFoundError(f"Frame '{frame_id}' not found in sequence '{seq}' "
                                    f"(no {'/'.join(SPECTRA)} image under {sequence_dir(root, seq)})")
    elif unknown := set(spectra := list(spectra)) - set(SPECTRA):
        raise ValueError(f"unknown spectra {sorted(unknown)}; expected some of {SPECTRA}")
    images, cameras, depth, classes = {}, {}, {}, {}
    for spectrum in spectra:
        path = image_path(root, seq, spectrum, frame_id)
        if not path.is_file():
            raise FileNotFoundError(f"Frame '{frame_id}' of sequence '{seq}' has no {spectrum} "
                                    f"image: {path} is missing")
        if spectrum not in info.cameras:
            raise CalibrationError(f"Sequence '{seq}' has {spectrum} images but its calibration "
                                   f"has no {spectrum} camera")
        camera = cameras[spectrum] = info.cameras[spectrum]
        images[spectrum] = read_spectrum(path, spectrum)
        if (path := depth_path(root, seq, spectrum, frame_id)).is_file():
            depth[spectrum] = depth_from_uint16(_read_single_channel(path, np.uint16, camera))
        if (path := semantic_path(root, seq, spectrum, frame_id)).is_file():
            classes[spectrum] = _read_single_channel(path, np.uint8, camera)
    return Frame(images, cameras, depth=depth, classes=classes,
                 pose=_read_pose(root, seq, frame_id, cameras), condition=info.condition,
                 name=f"{seq}/{frame_id}", meta=dict(info.meta))


def _read_pose(root: str | Path, seq: str, frame_id: str, cameras: dict[str, Camera]) -> np.ndarray | None:
    """T_world_rig from the first odometry file found, preferring a camera at the rig origin
    (no inverse needed, so the written pose comes back bit for bit)."""
    order = sorted(cameras, key=lambda s: not np.array_equal(cameras[s].T_rig_cam, np.eye(4)))
    for spectrum in order:
        path = odom_path(root, seq, spectrum, frame_id)
        if path.is_file():
            values = np.loadtxt(path, dtype=np.float64).reshape(-1)
            if values.size not in (12, 16):
                raise ValueError(f"{path} must hold a 3 x 4 or 4 x 4 matrix, found {values.size} numbers")
            T_world_cam = (values.reshape(4, 4) if values.size == 16
                           else np.vstack([values.reshape(3, 4), [0.0, 0.0, 0.0, 1.0]]))
            return T_world_cam @ np.linalg.inv(cameras[spectrum].T_rig_cam)
    return None


def list_sequences(root: str | Path) -> list[str]:
    """Sequence names under ``root/sync_data``, sorted."""
    folder = Path(root) / "sync_data"
    if not folder.is_dir():
        raise FileNotFoundError(f"{root} is not an MS2-layout dataset: {folder} is missing")
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def list_frames(root: str | Path, seq: str) -> list[str]:
    """Frame ids with an image of any spectrum in sequence ``seq``, sorted."""
    return sorted(set().union(*_frames_per_spectrum(root, seq).values()))


def _frames_per_spectrum(root: str | Path, seq: str) -> dict[str, set[str]]:
    folder = sequence_dir(root, seq)
    if not folder.is_dir():
        raise FileNotFoundError(f"Sequence '{seq}' not found: no folder {folder}")
    return {s: {p.stem for p in (folder / s / "img_left").glob("*.png")} for s in SPECTRA}


def read_split_list(path: str | Path) -> list[str]:
    """The sequence names of a split file (one a line; blank lines and '#' comments skipped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file {path.name} not found in {path.parent}")
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def split_condition(list_name: str) -> str | None:
    """'test_night_list.txt' -> 'night', 'test_rainy_list.txt' -> 'rain'; None for lists
    without a condition (train, val)."""
    match = _CONDITION_IN_LIST_NAME.match(list_name)
    return _CONDITION_NAMES.get(match.group(1), match.group(1)) if match else None


def split_list_path(root: str | Path, list_name: str) -> Path | None:
    """The split file ``list_name`` at ``root``, or the same list under its other name
    (test_rainy_list.txt / test_rain_list.txt); None when neither is there."""
    for name in (list_name, _LIST_ALIASES.get(list_name)):
        if name and (Path(root) / name).is_file():
            return Path(root) / name
    return None


class MS2Source:
    """A frame source over MS2-layout sequences: ``len()`` and ``source[i] -> Frame``.

    ``split_file_or_sequences``: a split file (one sequence name a line, as MS2's
    ``train_list.txt``), a list of sequence names, or None for every sequence under root.
    Frames with at least one of ``spectra`` are listed; each is read with those it has.
    ``condition`` labels frames whose sequence has no meta.json condition (MS2's test
    splits are per condition: day, night, rain). ``sampling_step`` k > 1 keeps the frames
    the reference loader keeps: ``[0:-1:k]`` of the frames of every sequence concatenated in
    list order (so the last frame of the list is never read); k = 1 keeps every frame.
    """

    def __init__(self, root: str | Path, split_file_or_sequences: str | Path | Iterable[str] | None = None,
                 spectra: Iterable[str] = SPECTRA, *, trust_pickled_calib: bool = False,
                 condition: str | None = None, sampling_step: int = 1) -> None:
        if sampling_step < 1:
            raise ValueError(f"sampling_step must be at least 1, got {sampling_step}")
        self.root = Path(root)
        spectra = set(spectra)
        if not spectra or spectra - set(SPECTRA):
            raise ValueError(f"spectra must be a non-empty subset of {SPECTRA}, got {sorted(spectra)}")
        self.spectra = tuple(s for s in SPECTRA if s in spectra)
        self.sequences = self._sequences(split_file_or_sequences)
        self._info = {}
        self._items: list[tuple[str, str, tuple[str, ...]]] = []
        for seq in self.sequences:
            info = _read_sequence_info(self.root, seq, trust_pickled_calib)
            if info.condition is None:
                info.condition = condition
            self._info[seq] = info
            frames = _frames_per_spectrum(self.root, seq)
            for frame_id in sorted(set().union(*(frames[s] for s in self.spectra))):
                self._items.append((seq, frame_id, tuple(s for s in self.spectra if frame_id in frames[s])))
        if sampling_step > 1:
            self._items = self._items[0:-1:sampling_step]

    def _sequences(self, split: str | Path | Iterable[str] | None) -> list[str]:
        if split is None:
            return list_sequences(self.root)
        if isinstance(split, (str, Path)):
            return read_split_list(split)
        return list(split)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Frame:
        seq, frame_id, spectra = self._items[index]
        return _read_frame(self.root, seq, frame_id, spectra, self._info[seq])

    def neighbour(self, index: int, offset: int) -> Frame | None:
        """The frame ``offset`` places from ``index`` in the same sequence, None past its ends."""
        other = index + offset
        if not 0 <= other < len(self._items) or self._items[other][0] != self._items[index][0]:
            return None
        return self[other]


# --- checks ----------------------------------------------------------------------------

def _check_shape(array: np.ndarray, camera: Camera, what: str) -> None:
    if array.shape != camera.size:
        raise ValueError(f"{what} is {array.shape}, its camera is {camera.height} x {camera.width}")


def _read_single_channel(path: Path, dtype: type, camera: Camera) -> np.ndarray:
    array = read_image(path)
    if array.dtype != dtype or array.ndim != 2:
        raise ValueError(f"{path} must be a {np.dtype(dtype).name} single-channel PNG, "
                         f"got {array.dtype} {array.shape}")
    _check_shape(array, camera, str(path))
    return array


def _write_png_into(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, array)


# --- command line ----------------------------------------------------------------------

def convert_root_calibrations(root: str | Path, to_cache: bool = False,
                              cache_dir: Path | None = None) -> dict[str, Path]:
    """Convert every sequence's calib.npy that has no calib.json yet (cameras sized as the
    sequence's images); returns {sequence: the JSON written}. The JSON goes beside the npy, or
    into our cache (``cached_calibration_path``) when ``to_cache`` or when the sequence folder
    refuses the write (a read-only share). Calling this is the opt-in to unpickling the root's
    calib.npy files."""
    converted = {}
    for seq in list_sequences(root):
        folder = sequence_dir(root, seq)
        npy_path, cached = folder / "calib.npy", cached_calibration_path(root, seq, cache_dir)
        if not npy_path.is_file() or (folder / "calib.json").is_file():
            continue
        if not to_cache:
            try:
                convert_ms2_calib(npy_path, folder / "calib.json", sequence_image_sizes(root, seq))
                converted[seq] = folder / "calib.json"
                continue
            except OSError:  # read-only: fall through to the cache
                pass
        if not cached.is_file() or _read_calib_content(cached).get("source_sha256") != _sha256(npy_path):
            convert_ms2_calib(npy_path, cached, sequence_image_sizes(root, seq), record_source=True)
            converted[seq] = cached
    return converted


# --- checking a root before training ---------------------------------------------------

# The reference loader keeps every 3rd validation frame and every 10th test frame (train: all).
REFERENCE_SAMPLING_STEPS = {"train": 1, "val": 3, "test": 10}


@dataclass
class RootCheck:
    """What ``check_root`` found: one line per problem, and per split list its condition,
    sequences, frames and the frames the reference protocol evaluates."""

    problems: list[str] = field(default_factory=list)
    lists: dict[str, dict] = field(default_factory=dict)
    pickled_only: list[str] = field(default_factory=list)


def check_root(root: str | Path, list_names: Iterable[str] = (*MS2_SPLIT_LISTS, *MS2_TEST_LISTS),
               trust_pickled_calib: bool = False) -> RootCheck:
    """Check an MS2 root before any model is built: every split list, and for each sequence
    listed its spectrum folders, depth (one PNG per image, of its camera's size), calibration
    and odometry. Reads file names and PNG headers only."""
    root, report = Path(root), RootCheck()
    if not (root / "sync_data").is_dir():
        report.problems.append(f"{root / 'sync_data'} is missing: expected the MS2 root (the folder holding "
                               "sync_data/, proj_depth/, odom/ and the split lists)")
        return report
    for list_name in list_names:
        path = split_list_path(root, list_name)
        if path is None:
            report.problems.append(f"{root / list_name} is missing: expected MS2's split list (one sequence "
                                   "name a line)")
            continue
        frames = 0
        sequences = read_split_list(path)
        for seq in sequences:
            frames += _check_sequence(root, seq, path.name, trust_pickled_calib, report)
        split = "test" if list_name.startswith("test_") else list_name.removesuffix("_list.txt")
        step = REFERENCE_SAMPLING_STEPS.get(split, 1)
        report.lists[path.name] = {"condition": split_condition(path.name), "sequences": len(sequences),
                                   "frames": frames, "evaluated": len(range(0, frames - 1, step)) if step > 1
                                   else frames}
    return report


def _check_sequence(root: Path, seq: str, list_name: str, trust: bool, report: RootCheck) -> int:
    """Adds the sequence's problems to ``report``; returns its frame count (thermal images)."""
    where = f"{seq} ({list_name})"
    folder = Path(root) / "sync_data" / seq
    if not _SAFE_NAME.match(seq) or not folder.is_dir():
        report.problems.append(f"{folder} is missing: {list_name} names sequence '{seq}'")
        return 0
    sizes = sequence_image_sizes(root, seq)
    try:
        sizes.update({s: camera.size for s, camera in read_calibration(root, seq, trust_pickled_calib=trust).items()})
    except CalibrationError as error:
        if (folder / "calib.npy").is_file() and not trust:
            report.pickled_only.append(seq)
        else:
            report.problems.append(f"{where}: {str(error).splitlines()[0]}")
    if not (Path(root) / "odom" / seq).is_dir():
        report.problems.append(f"{Path(root) / 'odom' / seq} is missing: expected {seq}'s odometry")
    counts = {}
    for spectrum in SPECTRA:
        images = folder / spectrum / "img_left"
        names = sorted(p.stem for p in images.glob("*.png"))
        counts[spectrum] = len(names)
        if not names:
            report.problems.append(f"{images} is missing or empty: expected the left {spectrum} images "
                                   "(<frame>.png)")
            continue
        depth_folder = depth_path(root, seq, spectrum, names[0]).parent
        missing = [name for name in names if not (depth_folder / f"{name}.png").is_file()]
        if missing:
            report.problems.append(f"{depth_folder}: {len(missing)} of {len(names)} {spectrum} frames have no depth "
                                   f"PNG (first: {missing[0]}.png)")
        for name in names:
            for what, path in (("image", images / f"{name}.png"), ("depth", depth_folder / f"{name}.png")):
                if path.is_file() and (size := png_size(path)) != sizes[spectrum]:
                    report.problems.append(f"{path}: {what} is {size[0]} x {size[1]}, expected the {spectrum} "
                                           f"camera's {sizes[spectrum][0]} x {sizes[spectrum][1]}")
    if len(set(counts.values())) > 1:
        report.problems.append(f"{where}: the spectra have different frame counts "
                               + ", ".join(f"{s} {n}" for s, n in counts.items()))
    return counts["thr"]


def png_size(path: Path) -> tuple[int, int] | None:
    """(height, width) from a PNG's header, without decoding it; None when it is no PNG."""
    with open(path, "rb") as f:
        header = f.read(24)
    if len(header) < 24 or header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", header[16:24])
    return height, width


def _print_check(root: Path, report: RootCheck) -> None:
    for problem in report.problems:
        print(problem)
    for name, counts in report.lists.items():
        condition = f" ({counts['condition']})" if counts["condition"] else ""
        print(f"{name}{condition}: {counts['sequences']} sequences, {counts['frames']} frames, "
              f"{counts['evaluated']} read by the reference protocol")
    if report.pickled_only:
        print(f"{len(report.pickled_only)} sequences have only MS2's pickled calib.npy: run "
              f"`python -m core.data.ms2 convert-calib {root}` or train with data.trust_pickled_calib=true")
    print(f"{root}: {len(report.problems)} problem(s)" if report.problems else f"{root}: ok")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.data.ms2", description="MS2 dataset tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    convert = commands.add_parser(
        "convert-calib", help="convert every sequence's pickled calib.npy to calib.json, once",
        description="Unpickles each sequence's calib.npy (a pickle can run code: use this only on the official "
                    "MS2 release or files you trust) and writes calib.json beside it, or into our cache where the "
                    "root cannot be written (or with --cache); the training core and the studios then read the "
                    "JSON without any trust flag.")
    convert.add_argument("root", type=Path, help="the MS2 root (the folder holding sync_data/)")
    convert.add_argument("--cache", action="store_true",
                         help=f"write into {ms2_calib_cache_dir()} (or $SPECTRADEPTH_MS2_CALIB_CACHE), not the root")
    check = commands.add_parser("check", help="check a root's lists, images, depth, calibration and odometry",
                                description="One line per problem; exit status 1 when there is any.")
    check.add_argument("root", type=Path, help="the MS2 root (the folder holding sync_data/)")
    check.add_argument("--trust-pickled-calib", action="store_true",
                       help="read calib.npy for the cameras' sizes (a pickle can run code)")
    args = parser.parse_args(argv)
    if args.command == "check":
        report = check_root(args.root, trust_pickled_calib=args.trust_pickled_calib)
        _print_check(args.root, report)
        return 1 if report.problems else 0
    converted = convert_root_calibrations(args.root, to_cache=args.cache)
    print(f"converted {len(converted)} sequence calibration(s) under {args.root}"
          + (": " + ", ".join(f"{seq} -> {path}" for seq, path in converted.items()) if converted
             else " (every sequence already has calib.json)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
