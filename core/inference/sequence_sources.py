"""Where sequences come from, each checked against the public bounds and refused in words:
the gallery's MS-Synth drives (rendered frame by frame on first use, then read from the cache),
an MS2 root's test sequences, an uploaded zip of MS2-layout frames and an uploaded RGB video.

A source is lazy: ``frames(indices)`` reads (or renders, or decodes) only the frames a run asks
for, one at a time, so a 300-frame run never holds more than one input frame in memory.
"""
from __future__ import annotations

import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import av
import numpy as np

from core.data import ms2
from core.data.frame import CONDITIONS, SPECTRA, SPECTRUM_LABELS, Frame
from core.data.imageio import ImageDecodeError, read_spectrum
from core.data.msynth import FPS, RENDER_VERSION, SEQUENCE_LENGTH, make_rig, msynth_sequence_meta, render_frame
from core.data.msynth.world import scaled_rig
from core.inference.dataset_browser import list_dataset_sequences, load_dataset_frame
from core.inference.display import at_display_size
from core.inference.errors import InputError
from core.inference.gallery import MSYNTH_SAMPLE, list_samples
from core.inference.uploads import UPLOAD_KEEP_WIDTH, rig_camera_for
from core.settings import SEQUENCES_DIR

MAX_FRAMES = 300                  # per run
MAX_VIDEO_S = 60.0
MAX_SEQUENCE_UPLOAD_MB = 200
# A zip may unpack to at most this much, and no member may unpack to more than MAX_ZIP_RATIO times
# its packed size: PNGs barely compress, so a higher ratio is a zip bomb, not frames.
MAX_UNZIPPED_MB = 1024
MAX_ZIP_RATIO = 50
MAX_ZIP_MEMBERS = 4 * MAX_FRAMES * len(SPECTRA) + 16
VIDEO_TYPES = (".mp4", ".webm", ".mov")
# Gallery drives: half the rig's resolution (the networks see 320 px or less) keeps a first run's
# rendering near half a second a frame; the whole drive the scenes are built for.
GALLERY_SCALE = 0.5
GALLERY_FRAMES = SEQUENCE_LENGTH
NO_POSES = "this sequence has no poses: depth for every frame, but no 3-D map"


@dataclass(frozen=True)
class SequenceSource:
    """A sequence to run: ``count`` frames at ``fps``; ``read(indices)`` yields (index, frame)
    in index order. ``has_poses``: every frame carries T_world_rig (a map can be built)."""

    name: str
    count: int
    fps: float
    has_poses: bool
    read: Callable[[Sequence[int]], Iterator[tuple[int, Frame]]]
    note: str = ""

    def frames(self, indices: Sequence[int]) -> Iterator[tuple[int, Frame]]:
        return self.read(sorted(indices))


def select_frames(count: int, start: int = 0, stop: int | None = None, stride: int = 1) -> list[int]:
    """Frame indices start, start + stride, ... below stop (default: the end), within the bounds."""
    stop = count if stop is None else stop
    if not (isinstance(stride, int) and stride >= 1):
        raise InputError(f"the stride is a whole number of frames, 1 or more; got {stride!r}")
    if not 0 <= start < count:
        raise InputError(f"the first frame must be between 0 and {count - 1} (this sequence has {count} frames)")
    if not start < stop <= count:
        raise InputError(f"the last frame must be after the first and at most {count}")
    indices = list(range(start, stop, stride))
    if len(indices) > MAX_FRAMES:
        raise InputError(f"{len(indices)} frames asked for: a run takes at most {MAX_FRAMES}; raise the stride "
                         f"to {-(-len(indices) // MAX_FRAMES) * stride} or shorten the range")
    return indices


# --- the gallery's MS-Synth drives ------------------------------------------------------------

def gallery_sequence_names() -> list[str]:
    """One drive per condition: the scene of the condition's first gallery sample."""
    return [f"{condition} drive · scene {seed}" for condition, seed in _gallery_scenes().items()]


def _gallery_scenes() -> dict[str, int]:
    scenes = {}
    for sample in list_samples():
        scenes.setdefault(sample.condition, int(sample.sequence.split("_")[1]))
    return {condition: scenes[condition] for condition in CONDITIONS if condition in scenes}


_RENDER_LOCK = threading.Lock()   # one writer of the cache at a time: sequences share calib.json


def gallery_sequence(name: str, root: Path = SEQUENCES_DIR) -> SequenceSource:
    """A gallery drive; frames not yet in the cache are rendered when first read and kept."""
    scenes = _gallery_scenes()
    by_name = dict(zip(gallery_sequence_names(), scenes.items()))
    if name not in by_name:
        raise InputError(f"no gallery sequence named {str(name)!r}: choose one of {', '.join(by_name)}")
    condition, seed = by_name[name]
    folder, sequence = Path(root) / f"render-v{RENDER_VERSION}", f"msynth_{seed}_{condition}"

    def read(indices: Sequence[int]) -> Iterator[tuple[int, Frame]]:
        for index in indices:
            frame_id = f"{index:06d}"
            if not ms2.image_path(folder, sequence, "rgb", frame_id).is_file():
                with _RENDER_LOCK:
                    rendered = render_frame(seed, index, condition, scale=GALLERY_SCALE)
                    ms2.write_frame(folder, sequence, frame_id, rendered, msynth_sequence_meta(rendered))
            frame = ms2.read_frame(folder, sequence, frame_id)
            frame.name = f"{name} · frame {index}"
            frame.meta.update(source=MSYNTH_SAMPLE, time_s=index / FPS)
            yield index, frame

    return SequenceSource(name, GALLERY_FRAMES, FPS, True, read)


# --- an MS2 root's test sequence ----------------------------------------------------------------

def dataset_sequence(root: str | Path, name: str) -> SequenceSource:
    """A test sequence of an MS2 root; poses from its odom/ files where every frame has one."""
    sequences = {s.name: s for s in list_dataset_sequences(root)}
    if name not in sequences or not sequences[name].frame_ids:
        raise InputError(f"no test sequence named {str(name)!r} with frames in this dataset")
    frame_ids = sequences[name].frame_ids
    has_poses = all(any(ms2.odom_path(root, name, s, f).is_file() for s in SPECTRA) for f in frame_ids)

    def read(indices: Sequence[int]) -> Iterator[tuple[int, Frame]]:
        for index in indices:
            yield index, load_dataset_frame(root, name, frame_ids[index])

    return SequenceSource(name, len(frame_ids), FPS, has_poses, read, "" if has_poses else NO_POSES)


# --- uploads ----------------------------------------------------------------------------------------

def _check_upload_size(path: Path, what: str) -> None:
    if not path.is_file():
        raise InputError(f"upload a {what}")
    size_mb = path.stat().st_size / 2 ** 20
    if size_mb > MAX_SEQUENCE_UPLOAD_MB:
        raise InputError(f"the {what} is {size_mb:.0f} MB: uploads take at most {MAX_SEQUENCE_UPLOAD_MB} MB")


def _sequence_folder(members: list[zipfile.ZipInfo]) -> tuple[str, str]:
    """(prefix up to sync_data/, sequence name) of the one sequence a zip holds."""
    found = set()
    for member in members:
        parts = PurePosixPath(member.filename).parts
        if "sync_data" in parts and len(parts) > parts.index("sync_data") + 1:
            at = parts.index("sync_data")
            found.add(("/".join(parts[:at]), parts[at + 1]))
    if len(found) != 1:
        raise InputError("the zip must hold one MS2-layout sequence: sync_data/<sequence>/rgb/img_left/*.png "
                         f"(and nir/, thr/; odom/<sequence>/ optional); found {len(found)} sequences")
    return found.pop()


def zip_sequence(path: str | Path, folder: Path) -> SequenceSource:
    """An uploaded zip of MS2-layout frames, checked (size, zip bomb, names, equal frame counts per
    spectrum, 16-bit thermal) and unpacked into ``folder``. Without its calib.json the rig's cameras
    are scaled to the image sizes, as for single uploads."""
    path = Path(path)
    _check_upload_size(path, "zip")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise InputError("this file is not a zip archive: upload a .zip of MS2-layout frames") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            raise InputError(f"the zip holds {len(members)} files: a sequence takes at most {MAX_FRAMES} frames")
        unpacked = sum(m.file_size for m in members)
        if unpacked > MAX_UNZIPPED_MB * 2 ** 20 or any(m.file_size > MAX_ZIP_RATIO * max(m.compress_size, 1)
                                                       for m in members):
            raise InputError(f"the zip would unpack to {unpacked / 2 ** 20:.0f} MB, or a file in it expands more "
                             f"than {MAX_ZIP_RATIO}-fold: refused as a zip bomb; zip the PNG frames as they are")
        if any(PurePosixPath(m.filename).is_absolute() or ".." in PurePosixPath(m.filename).parts for m in members):
            raise InputError("the zip has a file outside its own folders ('..' or an absolute path): refused")
        prefix, sequence = _sequence_folder(members)
        base = PurePosixPath(prefix) if prefix else PurePosixPath()
        root = Path(folder)
        for member in members:
            relative = PurePosixPath(member.filename)
            inside = relative if not prefix else (relative.relative_to(base) if relative.is_relative_to(base) else None)
            if inside is None or inside.parts[0] not in ("sync_data", "odom") or len(inside.parts) < 3 \
                    or inside.parts[1] != sequence:
                continue
            target = root / Path(*inside.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return _unpacked_sequence(root, sequence)


def _unpacked_sequence(root: Path, sequence: str) -> SequenceSource:
    per_spectrum = {s: sorted(p.stem for p in (ms2.sequence_dir(root, sequence) / s / "img_left").glob("*.png"))
                    for s in SPECTRA}
    present = {s: ids for s, ids in per_spectrum.items() if ids}
    if not present:
        raise InputError(f"sequence {sequence!r} has no frames: expected sync_data/{sequence}/rgb/img_left/*.png")
    counts = {len(ids) for ids in present.values()}
    if len(counts) > 1 or len({tuple(ids) for ids in present.values()}) > 1:
        listed = ", ".join(f"{SPECTRUM_LABELS[s]} {len(ids)}" for s, ids in present.items())
        raise InputError(f"every spectrum must have the same frames; this zip has {listed}: add the missing "
                         "frames or leave a spectrum out")
    frame_ids = next(iter(present.values()))
    if len(frame_ids) > MAX_FRAMES:
        raise InputError(f"the zip holds {len(frame_ids)} frames: a sequence takes at most {MAX_FRAMES}")
    calib = ms2.sequence_dir(root, sequence) / "calib.json"
    if not calib.is_file():
        first = {}
        for spectrum in present:
            try:
                first[spectrum] = read_spectrum(ms2.image_path(root, sequence, spectrum, frame_ids[0]), spectrum)
            except ImageDecodeError as err:
                raise InputError(f"{SPECTRUM_LABELS[spectrum]} frame {frame_ids[0]}: {err}".replace(str(root), "")) \
                    from None
        ms2.write_calibration(calib, {s: rig_camera_for(s, image) for s, image in first.items()})
    has_poses = all(any(ms2.odom_path(root, sequence, s, f).is_file() for s in present) for f in frame_ids)

    def read(indices: Sequence[int]) -> Iterator[tuple[int, Frame]]:
        for index in indices:
            try:
                frame = ms2.read_frame(root, sequence, frame_ids[index])
            except (OSError, ValueError) as err:
                raise InputError(f"frame {frame_ids[index]}: {str(err).replace(str(root), '')}") from None
            frame.name, frame.meta["source"] = f"{sequence} · {frame_ids[index]}", "upload"
            yield index, at_display_size(frame, UPLOAD_KEEP_WIDTH)

    return SequenceSource(sequence, len(frame_ids), FPS, has_poses, read, "" if has_poses else NO_POSES)


def video_sequence(path: str | Path) -> SequenceSource:
    """An uploaded RGB video (mp4, webm, mov) of at most MAX_VIDEO_S seconds: no poses, no map."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_TYPES:
        raise InputError(f"upload a video as {', '.join(VIDEO_TYPES)}")
    _check_upload_size(path, "video")
    not_a_video = f"this {path.suffix.lower()} file is not a video that can be decoded: upload an H.264 / VP9 mp4, " \
                  "webm or mov"
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:   # what an encoder writes when it was given no frames
                raise InputError("the video has no frames")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0) or FPS
            duration = float(stream.duration * stream.time_base) if stream.duration else \
                (container.duration / av.time_base if container.duration else None)
            if duration is not None and duration > MAX_VIDEO_S:
                raise InputError(f"the video lasts {duration:.0f} s: a run takes at most {MAX_VIDEO_S:.0f} s of video; "
                                 "trim it first")
            count = sum(1 for packet in container.demux(stream) if packet.size)
    except av.error.FFmpegError:
        raise InputError(not_a_video) from None
    if count == 0:
        raise InputError("the video has no frames")
    if count / fps > MAX_VIDEO_S + 1 / fps:
        raise InputError(f"the video lasts {count / fps:.0f} s: a run takes at most {MAX_VIDEO_S:.0f} s of video")
    rig = make_rig()

    def read(indices: Sequence[int]) -> Iterator[tuple[int, Frame]]:
        wanted = iter(indices)
        target = next(wanted, None)
        try:
            with av.open(str(path)) as container:
                for index, decoded in enumerate(container.decode(video=0)):
                    if target is None:
                        return
                    if index == target:
                        image = decoded.to_ndarray(format="rgb24")
                        frame = Frame({"rgb": image}, {"rgb": rig_camera_for("rgb", image, rig)},
                                      name=f"{path.stem} · frame {index}",
                                      meta={"source": "upload", "time_s": index / fps,
                                            "calibration": "none: the MS-Synth RGB camera scaled to the video"})
                        yield index, at_display_size(frame, UPLOAD_KEEP_WIDTH)
                        target = next(wanted, None)
        except av.error.FFmpegError:
            raise InputError(not_a_video) from None

    return SequenceSource(path.stem, count, fps, False, read, NO_POSES)


def upload_sequence(path: str | Path, folder: Path) -> SequenceSource:
    """A zip of frames or a video, by its file type."""
    suffix = Path(path).suffix.lower()
    if suffix == ".zip":
        return zip_sequence(path, folder)
    if suffix in VIDEO_TYPES:
        return video_sequence(path)
    raise InputError(f"upload a .zip of MS2-layout frames or a video ({', '.join(VIDEO_TYPES)})")


def rendered_sequence(seed: int, condition: str, scale: float = GALLERY_SCALE, spectra=SPECTRA,
                      poses: Sequence[np.ndarray] | None = None, frozen_at: int = 0) -> SequenceSource:
    """An MS-Synth drive rendered in memory, not cached (tests, benchmarks); with ``poses``, the
    scene frozen at frame ``frozen_at`` seen from each of them in turn."""
    rig = scaled_rig(make_rig(), scale)

    def read(indices: Sequence[int]) -> Iterator[tuple[int, Frame]]:
        for index in indices:
            frame = render_frame(seed, index, condition, spectra, rig) if poses is None else \
                render_frame(seed, frozen_at, condition, spectra, rig, pose=poses[index])
            frame.meta["time_s"] = index / FPS
            yield index, frame

    return SequenceSource(f"msynth {seed} {condition}", SEQUENCE_LENGTH if poses is None else len(poses), FPS,
                          True, read)


def discard_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def scratch_folder(root: Path, prefix: str) -> Path:
    Path(root).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))
