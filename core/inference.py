"""The one service both studios and the benchmarks call.

Functions here take paths or arrays and return plain results (uint8 images for display,
float32 depth in metres, plotly figures, file paths), so the UIs never touch torch modules
or re-implement data handling.
"""
from __future__ import annotations

import atexit
import csv
import dataclasses
import functools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.data import ms2
from core.data.dataset import collate_frames, frame_to_item, resize_frame
from core.data.frame import EVAL_CONDITIONS, SPECTRA, SPECTRUM_LABELS, Frame
from core.data.imageio import ImageDecodeError, read_spectrum, write_png
from core.data.msynth import RENDER_VERSION, make_rig, render_frame
from core.data.perturb import PROBES as PROBES  # re-exported for the UIs' probe choices
from core.data.perturb import perturb_frame
from core.data.msynth.thermal_model import raw_to_celsius
from core.data.samples import write_gallery
from core.data.thermal import normalize_thermal, spectrum_to_float
from core.geometry import relative_pose, warp_to_camera
from core.metrics import METRIC_NAMES, compute_depth_metrics
from core.models import CheckpointError, load_checkpoint, prepare_for_inference
from core.models.checkpoint import CONFIG_FILE, METRICS_FILE
from core.models.depthnet import SPECTRUM_CHANNELS
from core.models.vfm import (VFMBackbone, as_three_channels, attention_rollout, cls_attention,
                             load_backbone_or_builtin, prompt_similarity, rollout_cls_map)
from core.viz.attention import attention_overlay
from core.viz.colormap import colorize_depth, depth_panel, depth_range, error_panel
from core.viz.pointcloud import depth_to_points, downsample_points, pointcloud_figure, write_ply

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = REPO_ROOT / "assets" / "samples"


class InputError(ValueError):
    """A problem with user input, phrased for the user."""


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
    for sample in list_samples(root):
        if sample.name == name:
            frame = ms2.read_frame(root, sample.sequence, sample.frame_id)
            frame.name = sample.name
            return frame
    raise InputError(f"no sample named {name!r}")


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


def load_upload(paths: dict[str, str | Path | None]) -> Frame:
    """A frame from uploaded files, one per spectrum (any subset of rgb, nir, thr).

    Uploads carry no calibration, so each camera is the MS-Synth rig camera (modelled on
    the MS2 rig) rescaled to the uploaded image size; ``frame.meta['calibration']`` says so.
    """
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
    return Frame(images, cameras, name="upload",
                 meta={"calibration": "none uploaded: MS-Synth rig scaled to the image sizes"})


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


def depth_view(depth: np.ndarray, *, invert: bool = False, value_range: tuple[float, float] | None = None,
               title: str | None = None) -> np.ndarray:
    """Colourised depth with its colour bar labelled in metres."""
    vmin, vmax = value_range if value_range else (None, None)
    return depth_panel(depth, vmin=vmin, vmax=vmax, invert=invert, title=title)


def probe(frame: Frame, kind: str, strength: float) -> Frame:
    """The frame as seen at night, in fog, rain, noise or without its texture (PROBES), with
    ``strength`` from 0 (unchanged) to 1; depth and cameras stay as they are."""
    try:
        return perturb_frame(frame, kind, strength)
    except ValueError as err:
        raise InputError(str(err)) from err


def slider_pair(frame: Frame, depth: np.ndarray, camera: str, *, invert: bool = False,
                value_range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(input, colourised depth) of one camera, both uint8 RGB at its resolution, for an
    image slider."""
    image = display_image(frame, camera)
    image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    low, high = value_range if value_range else depth_range(depth)
    return image, colorize_depth(depth, low, high, invert=invert)


def error_view(depth: np.ndarray, gt: np.ndarray, title: str | None = None) -> np.ndarray:
    """Relative error against ground truth, with its colour bar."""
    return error_panel(depth, gt, title=title)


@dataclass
class PointCloud:
    points: np.ndarray
    colors: np.ndarray | None
    figure: object


def point_cloud(frame: Frame, depth: np.ndarray, depth_spectrum: str, color_spectrum: str | None = None,
                max_points: int = 60000) -> PointCloud:
    """A point cloud of ``depth`` (in ``depth_spectrum``'s camera), coloured by any spectrum.

    A spectrum from another camera is first warped into the depth camera with that depth.
    """
    color_spectrum = color_spectrum or depth_spectrum
    colors = colors_in_camera(frame, depth, depth_spectrum, color_spectrum)
    points, point_colors = depth_to_points(depth, frame.cameras[depth_spectrum].K, colors)
    points, point_colors = downsample_points(points, point_colors, max_points=max_points)
    return PointCloud(points, point_colors, pointcloud_figure(points, point_colors, max_points=max_points))


def colors_in_camera(frame: Frame, depth: np.ndarray, depth_spectrum: str, color_spectrum: str) -> np.ndarray:
    """The display image of ``color_spectrum`` as seen from ``depth_spectrum``'s camera."""
    image = display_image(frame, color_spectrum)
    if color_spectrum == depth_spectrum:
        return image
    src = torch.from_numpy(np.atleast_3d(image).astype(np.float32)).permute(2, 0, 1)[None]
    cam_dst, cam_src = frame.cameras[depth_spectrum], frame.cameras[color_spectrum]
    warped, valid = warp_to_camera(src, torch.from_numpy(depth)[None, None],
                                   torch.from_numpy(cam_dst.K)[None], torch.from_numpy(cam_src.K)[None],
                                   torch.from_numpy(relative_pose(cam_src, cam_dst))[None])
    warped = (warped * valid)[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    return warped[..., 0] if image.ndim == 2 else warped


class ExportDir:
    """Scratch space for downloads: the newest ``keep`` results survive, all of it goes at exit."""

    def __init__(self, keep: int = 16):
        self.root = Path(tempfile.mkdtemp(prefix="spectradepth-exports-"))
        self.keep = keep
        atexit.register(shutil.rmtree, self.root, ignore_errors=True)

    def new(self, name: str) -> Path:
        results = sorted(self.root.iterdir(), key=lambda p: p.stat().st_mtime)
        for old in results[: max(0, len(results) - self.keep + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))
        return path


def export_depth(depth: np.ndarray, cloud: PointCloud | None, folder: Path, stem: str) -> list[Path]:
    """Depth as 16-bit PNG (metres x 256, the KITTI/MS2 convention) and .npy; PLY if given."""
    png = folder / f"{stem}_depth_m256.png"
    write_png(png, ms2.depth_to_uint16(depth))
    npy = folder / f"{stem}_depth_m.npy"
    np.save(npy, depth.astype(np.float32))
    paths = [png, npy]
    if cloud is not None:
        ply = folder / f"{stem}_points.ply"
        write_ply(ply, cloud.points, cloud.colors)
        paths.append(ply)
    return paths


CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
DEFAULT_CHECKPOINT = "msynth-fuse"


def list_checkpoints(root: Path = CHECKPOINTS_DIR) -> list[str]:
    """Names of the checkpoint folders shipped in ``checkpoints/``."""
    if not root.is_dir():
        return []
    # Depth models only: their config.json describes a "model"; built-in backbones' do not.
    return sorted(p.parent.name for p in root.glob("*/config.json") if "model" in json.loads(p.read_text()))


@functools.lru_cache(maxsize=4)
def load_model(name_or_path: str):
    """(model, config.json) from checkpoints/<name>, any folder, or a Hub repo id; loaded once,
    prepared for inference (BatchNorm folded, channels-last weights)."""
    local = CHECKPOINTS_DIR / name_or_path
    try:
        model, description = load_checkpoint(local if local.is_dir() else name_or_path, map_location=device())
    except CheckpointError as err:
        raise InputError(str(err)) from err
    return prepare_for_inference(model), description


def model_summary(name_or_path: str) -> str:
    """One line on a checkpoint: architecture, parameters and, for a teacher, its backbones."""
    model, description = load_model(name_or_path)
    parameters = description.get("parameters", {})
    text = f"`{name_or_path}`: {model.config.architecture}, {parameters.get('total', 0) / 1e6:.2f} M parameters"
    backbones = [getattr(model, kind, None) for kind in ("clip", "dino")]
    sources = [b.backbone.source for b in backbones if b is not None]
    if sources:
        text += f" ({parameters.get('frozen_backbones', 0) / 1e6:.2f} M in frozen backbones: {'; '.join(sources)})"
    return text


def device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Prediction:
    """Metric depth per output at each camera's own resolution, with its cost.

    depth keys: a spectrum ('rgb', 'nir', 'thr') for spectral-wise depth, 'fused' for the
    fused depth in ``anchor``'s camera. timings_ms: per output plus 'preprocess'.
    """

    depth: dict[str, np.ndarray]
    anchor: str | None
    timings_ms: dict[str, float]
    parameters: dict
    model_name: str

    def camera_of(self, output: str) -> str:
        return self.anchor if output == "fused" else output


def predict(frame: Frame, model_name: str = DEFAULT_CHECKPOINT, mode: str = "spectral",
            anchor: str | None = None, spectra: Collection[str] | None = None) -> Prediction:
    """Depth for ``frame``: 'spectral' (each spectrum alone), 'fused' (all present spectra in
    ``anchor``'s camera) or 'both'; ``spectra`` limits the inputs used (default: all the
    frame has). Inputs are resized to the model's input size and the depth brought back to
    each camera's resolution."""
    if mode not in ("spectral", "fused", "both"):
        raise InputError(f"unknown mode {mode!r}: use 'spectral', 'fused' or 'both'")
    model, description = load_model(model_name)
    spectra = [s for s in frame.spectra if s in model.config.spectra and (spectra is None or s in spectra)]
    if not spectra:
        raise InputError(f"{model_name} takes {', '.join(model.config.spectra)}; the frame has none of them")
    start = time.perf_counter()
    small = resize_frame(dataclasses.replace(frame, depth={}, classes={}), tuple(model.config.input_size))
    batch = {k: v.to(device()) if isinstance(v, torch.Tensor) else v
             for k, v in collate_frames([frame_to_item(small)]).items()}
    images = {s: batch[f"image/{s}"] for s in spectra}
    K = {s: batch[f"K/{s}"] for s in spectra}
    T = {s: batch[f"T_rig_cam/{s}"] for s in spectra}
    timings = {"preprocess": (time.perf_counter() - start) * 1000}
    outputs = {}
    with torch.inference_mode():
        if mode in ("spectral", "both"):
            for s in spectra:
                start = time.perf_counter()
                outputs[s] = model.spectral_depth({s: images[s]})[s]
                timings[s] = (time.perf_counter() - start) * 1000
        if mode in ("fused", "both"):
            if not hasattr(model, "predict_fused") or (model.fusion is None and len(spectra) > 1):
                raise InputError(f"{model_name} has no fusion module; pick a fusion checkpoint or spectral-wise mode")
            # An anchor that is not among the inputs falls back to the model's default choice.
            anchor = model.choose_anchor(spectra, anchor if anchor in spectra else None)
            start = time.perf_counter()
            outputs["fused"] = model.predict_fused(images, K, T, anchor=anchor)
            timings["fused"] = (time.perf_counter() - start) * 1000
    depth = {}
    for output, value in outputs.items():
        camera = frame.cameras[anchor if output == "fused" else output]
        full = F.interpolate(value.float(), size=camera.size, mode="bilinear", align_corners=False)
        depth[output] = full[0, 0].cpu().numpy().astype(np.float32)
    return Prediction(depth, anchor if "fused" in outputs else None, timings, description.get("parameters", {}),
                      model_name)


def prediction_metrics(frame: Frame, prediction: Prediction, max_depth: float = 80.0) -> list[list]:
    """One row per output with ground truth: output, camera, AbsRel ... delta3 (metric)."""
    rows = []
    for output, depth in prediction.depth.items():
        camera = prediction.camera_of(output)
        gt = frame.depth.get(camera)
        if gt is None or not (gt > 0).any():
            continue
        metrics = compute_depth_metrics(depth, gt, max_depth=max_depth)
        label = f"fused ({SPECTRUM_LABELS[camera]} anchor)" if output == "fused" else f"{SPECTRUM_LABELS[camera]} alone"
        rows.append([label, *(round(metrics[m], 3) for m in METRIC_NAMES)])
    return rows


def common_range(depth: np.ndarray) -> tuple[float, float]:
    """The robust range of one depth map, to colour several maps alike."""
    return tuple(depth_range(depth))


# --- vision foundation models: attention and prompt maps -----------------------------------

# What a user online gets; offline, the built-in backbones stand in (the status says so).
# SPECTRADEPTH_CLIP / SPECTRADEPTH_DINO name others (any load_backbone spec).
DEFAULT_VFM_SPECS = {"clip": "clip:ViT-B-32/openai", "dino": "dino:facebook/dinov2-small"}


@functools.lru_cache(maxsize=4)
def load_vfm(kind: str, spec: str | None = None) -> tuple[VFMBackbone, str]:
    """(backbone, status line): the CLIP or DINO named by ``spec`` (default: the environment's
    SPECTRADEPTH_<KIND>, else DEFAULT_VFM_SPECS), or the built-in one when it cannot be loaded."""
    if kind not in DEFAULT_VFM_SPECS:
        raise InputError(f"unknown backbone kind {kind!r}: use 'clip' or 'dino'")
    spec = spec or os.environ.get(f"SPECTRADEPTH_{kind.upper()}") or DEFAULT_VFM_SPECS[kind]
    try:
        return load_backbone_or_builtin(spec, device())
    except (ValueError, RuntimeError) as err:
        raise InputError(f"no {kind.upper()} backbone can be loaded: {err}") from err


def backbone_status() -> str:
    """Which CLIP and DINO serve (real or built-in, and why), one line for the UIs."""
    lines = []
    for kind in DEFAULT_VFM_SPECS:
        try:
            lines.append(load_vfm(kind)[1])
        except InputError as err:
            lines.append(str(err))
    return " · ".join(lines)


def _vfm_pixels(frame: Frame, spectrum: str, backbone: VFMBackbone) -> torch.Tensor:
    if spectrum not in frame.images:
        raise InputError(f"this input has no {SPECTRUM_LABELS.get(spectrum, spectrum)} image")
    image = torch.from_numpy(spectrum_to_float(frame.images[spectrum], spectrum))
    image = image.permute(2, 0, 1) if image.ndim == 3 else image[None]
    return backbone.preprocess(as_three_channels(image[None]))


@dataclass
class AttentionView:
    """An overlay on the input (uint8 RGB) and what it shows, in words."""

    overlay: np.ndarray
    caption: str
    backbone_status: str


def attention_view(frame: Frame, spectrum: str, kind: str, layer: int = -1, head: str | int = "mean",
                   rollout: bool = False, spec: str | None = None) -> AttentionView:
    """Where the CLS token of CLIP or DINO looks in one spectrum's image: one layer's
    attention for one head or their mean, or the rollout through all layers."""
    backbone, status = load_vfm(kind, spec)
    pixels = _vfm_pixels(frame, spectrum, backbone)
    with torch.inference_mode():
        attentions = backbone.attention(pixels)
    grid = backbone.grid_for(pixels)
    if rollout:
        heat = rollout_cls_map(attention_rollout(attentions), grid, backbone.num_prefix_tokens)[0]
        caption = f"{kind.upper()} attention rollout over {len(attentions)} layers"
    else:
        if not -len(attentions) <= layer < len(attentions):
            raise InputError(f"layer {layer} out of range: {backbone.name} has {len(attentions)} layers")
        maps = cls_attention(attentions[layer], grid, backbone.num_prefix_tokens)
        if head == "mean":
            heat = maps.mean[0]
        elif 0 <= int(head) < maps.per_head.shape[1]:
            heat = maps.per_head[0, int(head)]
        else:
            raise InputError(f"head {head} out of range: {backbone.name} has {maps.per_head.shape[1]} heads")
        caption = f"{kind.upper()} CLS attention, layer {layer % len(attentions)}, head {head}"
    return AttentionView(attention_overlay(display_image(frame, spectrum), heat), caption, status)


def prompt_view(frame: Frame, spectrum: str, prompt: str, spec: str | None = None) -> AttentionView:
    """CLIP's patch-to-text similarity for a prompt ("a very close car"), over the image."""
    prompt = prompt.strip()
    if not prompt:
        raise InputError("type a prompt, e.g. 'a very close car'")
    backbone, status = load_vfm("clip", spec)
    pixels = _vfm_pixels(frame, spectrum, backbone)
    with torch.inference_mode():
        similarity = prompt_similarity(backbone, pixels, [prompt])[0, 0]
    caption = f"CLIP similarity to \"{prompt}\" ({float(similarity.min()):.2f} to {float(similarity.max()):.2f})"
    return AttentionView(attention_overlay(display_image(frame, spectrum), similarity), caption, status)


# --- reviewers' views: one scene under every condition, and every checkpoint's record -------

def sample_under_conditions(name: str, conditions=EVAL_CONDITIONS) -> dict[str, Frame]:
    """The gallery sample's MS-Synth scene and moment rendered under each condition (same
    geometry, exact depth), by condition."""
    sample = next((s for s in list_samples() if s.name == name), None)
    if sample is None:
        raise InputError(f"no sample named {name!r}")
    seed = int(sample.sequence.split("_")[1])
    return {condition: render_frame(seed, int(sample.frame_id), condition) for condition in conditions}


@dataclass
class CheckpointRecord:
    """What training left in a checkpoint folder: its config.json, metrics.json (None if it
    was not evaluated) and the training log as columns (step, loss terms ...)."""

    name: str
    description: dict
    metrics: dict | None
    log: dict[str, list[float]]


def checkpoint_records(root: Path = CHECKPOINTS_DIR) -> list[CheckpointRecord]:
    records = []
    for name in list_checkpoints(root):
        folder = root / name
        metrics_file, log_file = folder / METRICS_FILE, folder / "log.csv"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
        log: dict[str, list[float]] = {}
        if log_file.is_file():
            with log_file.open() as f:
                for row in csv.DictReader(f):
                    for key, value in row.items():
                        log.setdefault(key, []).append(float(value) if value not in ("", None) else float("nan"))
        records.append(CheckpointRecord(name, json.loads((folder / CONFIG_FILE).read_text()), metrics, log))
    return records


def spectral_latency_ms(name_or_path: str, repeats: int = 3) -> float:
    """Median milliseconds of one spectral-wise pass of every spectrum the model takes, at its
    input size, on this machine (weights loaded once)."""
    model, _ = load_model(name_or_path)
    height, width = model.config.input_size
    images = {s: torch.rand(1, SPECTRUM_CHANNELS[s], height, width, device=device()) for s in model.config.spectra}
    times = []
    with torch.inference_mode():
        model.spectral_depth(images)
        for _ in range(repeats):
            start = time.perf_counter()
            model.spectral_depth(images)
            times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))
