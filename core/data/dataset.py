"""A PyTorch Dataset over any frame source, with geometry-consistent augmentation.

The frame transforms (``select_spectra``, ``resize_frame``, ``crop_frame``, ``flip_frame``)
are plain functions on Frame, so inference and tools can reuse them outside the Dataset.
Each keeps images, depth, classes, intrinsics and extrinsics consistent with one another.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from core.data.frame import SPECTRA, Frame
from core.data.imageio import LUMA_WEIGHTS
from core.data.thermal import spectrum_to_float
from core.geometry.camera import Camera, make_transform, mirrored_intrinsics, mirrored_transform

DEFAULT_CROP_SCALE = 1.2   # scale-crop: enlarge by up to 20 %, then crop back to the output size
FLIP_PROBABILITY = 0.5
JITTER_STRENGTH = 0.2      # brightness, contrast and saturation factors drawn in [0.8, 1.2]
PHOTOMETRIC_LEVELS = ("basic", "strong")
UNKNOWN_CONDITION = "unknown"


class FrameSource(Protocol):
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Frame: ...


# --- frame transforms ------------------------------------------------------------------

def select_spectra(frame: Frame, spectra: Iterable[str]) -> Frame:
    """The frame restricted to ``spectra``; spectra the frame lacks are skipped."""
    keep = set(spectra)

    def kept(arrays: dict) -> dict:
        return {s: v for s, v in arrays.items() if s in keep}

    return dataclasses.replace(frame, images=kept(frame.images), cameras=kept(frame.cameras),
                               depth=kept(frame.depth), classes=kept(frame.classes))


def resize_frame(frame: Frame, size: tuple[int, int]) -> Frame:
    """Every spectrum resized to ``size`` = (height, width).

    Images are resampled bilinearly (antialiased when shrinking) and keep their raw dtype;
    depth and classes use the nearest pixel, so depths are never blended across edges.
    Intrinsics follow ``Camera.resized``; both use the align_corners=False pixel convention.
    """
    cameras = {s: c.resized(*size) for s, c in frame.cameras.items()}
    return _map_pixels(frame, cameras, lambda image: _resize_image(image, size),
                       lambda values: _resize_nearest(values, size))


def crop_frame(frame: Frame, top: int, left: int, height: int, width: int) -> Frame:
    """The window [top:top+height, left:left+width] of every spectrum (principal points shift)."""
    for spectrum, camera in frame.cameras.items():
        if top < 0 or left < 0 or top + height > camera.height or left + width > camera.width:
            raise ValueError(f"crop {width}x{height} at ({left}, {top}) exceeds the "
                             f"{camera.width}x{camera.height} {spectrum} image")
    cameras = {s: c.cropped(top, left, height, width) for s, c in frame.cameras.items()}
    return _map_pixels(frame, cameras, lambda values: values[top:top + height, left:left + width].copy())


def flip_frame(frame: Frame) -> Frame:
    """All spectra mirrored left-right together, with a mirrored, still valid rig.

    Pixel u becomes W-1-u, so cx -> W-1-cx (and the skew changes sign); camera and rig
    coordinates mirror x -> -x, so T' = F T F with F = diag(-1, 1, 1, 1), for T_rig_cam and
    the pose alike. Depth is unchanged by the mirror.
    """
    cameras = {s: _flipped_camera(c) for s, c in frame.cameras.items()}
    pose = None if frame.pose is None else mirrored_transform(frame.pose)
    return _map_pixels(frame, cameras, lambda values: values[:, ::-1].copy(), pose=pose)


def scale_world(frame: Frame, factor: float) -> Frame:
    """The frame of a world ``factor`` times the size, seen by the same cameras: depth, rig
    translations and the pose's translation scale, while images and intrinsics do not change
    (a uniformly scaled world projects to the same pixels)."""
    def scaled(T: np.ndarray) -> np.ndarray:
        return make_transform(T[:3, :3], T[:3, 3] * factor)

    cameras = {s: Camera(c.K, c.width, c.height, scaled(c.T_rig_cam)) for s, c in frame.cameras.items()}
    return dataclasses.replace(frame, cameras=cameras,
                               depth={s: (d * factor).astype(d.dtype) for s, d in frame.depth.items()},
                               pose=None if frame.pose is None else scaled(frame.pose))


def _map_pixels(frame: Frame, cameras: dict[str, Camera],
                image_fn: Callable[[np.ndarray], np.ndarray],
                label_fn: Callable[[np.ndarray], np.ndarray] | None = None, **changes) -> Frame:
    """A copy of ``frame`` with new cameras, ``image_fn`` applied to every image and
    ``label_fn`` (default: ``image_fn``) to every depth and class map."""
    label_fn = label_fn or image_fn
    return dataclasses.replace(frame, images={s: image_fn(v) for s, v in frame.images.items()},
                               cameras=cameras, depth={s: label_fn(v) for s, v in frame.depth.items()},
                               classes={s: label_fn(v) for s, v in frame.classes.items()}, **changes)


def _flipped_camera(camera: Camera) -> Camera:
    return Camera(mirrored_intrinsics(camera.K, camera.width), camera.width, camera.height,
                  mirrored_transform(camera.T_rig_cam))


def _resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[:2] == tuple(size):
        return image.copy()
    info = np.iinfo(image.dtype)
    channels_first = torch.from_numpy(image.astype(np.float32)).reshape(*image.shape[:2], -1).permute(2, 0, 1)
    resized = F.interpolate(channels_first[None], size=tuple(size), mode="bilinear",
                            align_corners=False, antialias=True)[0]
    values = resized.permute(1, 2, 0).round().clamp(info.min, info.max).numpy().astype(image.dtype)
    return values.reshape(*size, *image.shape[2:])


def _resize_nearest(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    # 'nearest-exact' samples the source pixel whose centre is closest, matching the
    # pixel-centre convention of Camera.resized ('nearest' is offset by half a pixel).
    resized = F.interpolate(torch.from_numpy(values.astype(np.float32))[None, None], size=tuple(size),
                            mode="nearest-exact")[0, 0]
    return resized.numpy().astype(values.dtype)


# --- the Dataset -----------------------------------------------------------------------

class FrameDataset(Dataset):
    """Frames from ``source`` as dicts of tensors, resized to ``size`` = (height, width).

    Per spectrum present (any subset of ``spectra``):
      image/<s>      float32 (C, H, W) from spectrum_to_float (rgb C=3, nir and thr C=1)
      K/<s>          float32 (3, 3) for the output image
      T_rig_cam/<s>  float32 (4, 4)
      depth/<s>      float32 (1, H, W) metres, 0 = invalid   } only when the frame has
      valid/<s>      bool (1, H, W), depth > 0               } ground truth for <s>
      classes/<s>    int64 (H, W)                              only when the frame has them
    and ``spectra`` (tuple), ``condition`` (str, 'unknown' when not known), ``name``.

    ``augment`` applies a random scale-crop (enlarge by up to ``crop_scale``, so apparent
    size and image row vary for the same depth; with ``zoom_scales_depth`` the world shrinks by
    the same factor, see scale_world, so an object enlarged s times reads s times nearer and
    apparent size keeps meaning distance for a metric network), a horizontal flip of all spectra together and
    colour jitter on rgb and nir; ``photometric='strong'`` adds, per spectrum, gamma, channel
    gains, blur, noise and occasional grey (rgb), and gain, offset, blur and noise in thermal,
    so a network cannot lean on the renderer's exact colours and sharpness. Randomness is drawn from (seed, epoch, index), so results do
    not depend on worker count or order; call ``set_epoch`` each epoch for fresh draws (workers
    started with ``persistent_workers=True`` keep the epoch they were started with).
    ``size=None`` keeps native sizes (items of different sizes then cannot be batched).
    Batch with ``collate_frames``, which also handles items with different spectra.

    ``native_depth`` (evaluation) keeps depth and classes at each camera's native resolution
    while images are resized, so metrics are computed against the untouched ground truth.

    ``neighbours`` (offsets, e.g. (-1, 1)) adds, for self-supervised training, the images of
    neighbouring frames of the same sequence as ``image/<s>@<offset>`` (transformed exactly
    like the frame itself) and the rig poses ``pose`` and ``pose@<offset>`` (T_world_rig).
    """

    def __init__(self, source: FrameSource, spectra: Sequence[str] = SPECTRA,
                 size: tuple[int, int] | None = (256, 640), augment: bool = False, seed: int = 0,
                 neighbours: Sequence[int] = (), native_depth: bool = False,
                 photometric: str = "basic", crop_scale: float = DEFAULT_CROP_SCALE,
                 zoom_scales_depth: bool = False) -> None:
        if photometric not in PHOTOMETRIC_LEVELS:
            raise ValueError(f"photometric must be one of {PHOTOMETRIC_LEVELS}, got {photometric!r}")
        unknown = set(spectra) - set(SPECTRA)
        if unknown or not spectra:
            raise ValueError(f"spectra must be a non-empty subset of {SPECTRA}, got {list(spectra)}")
        if crop_scale < 1.0:
            raise ValueError(f"crop_scale enlarges before cropping: it must be >= 1, got {crop_scale}")
        if augment and size is None:
            raise ValueError("augmentation crops to a fixed output size: give size=(height, width)")
        self.source = source
        self.spectra = tuple(s for s in SPECTRA if s in spectra)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        if neighbours and not hasattr(source, "neighbour"):
            raise ValueError("neighbour frames need a source with a neighbour(index, offset) method")
        self.neighbours = tuple(neighbours)
        if native_depth and augment:
            raise ValueError("native_depth is for evaluation: augmentation moves the ground truth")
        self.native_depth = native_depth
        self.photometric = photometric
        self.crop_scale = crop_scale
        self.zoom_scales_depth = zoom_scales_depth

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict:
        frame = select_spectra(self.source[index], self.spectra)
        if not frame.spectra:
            raise ValueError(f"frame {index} ({frame.name or 'unnamed'}) has none of the spectra "
                             f"{self.spectra}")
        item = self._prepare(frame, index)
        for offset in self.neighbours:
            # At a sequence's ends the frame on the other side stands in (offsets stay symmetric).
            neighbour = self.source.neighbour(index, offset) or self.source.neighbour(index, -offset)
            if neighbour is None:
                raise ValueError(f"frame {index} ({frame.name}) has no neighbour at offset +-{offset}")
            neighbour = select_spectra(neighbour, frame.spectra)
            neighbour_item = self._prepare(neighbour, index)
            item["pose@" + str(offset)] = neighbour_item["pose"]
            for spectrum in frame.spectra:
                item[f"image/{spectrum}@{offset}"] = neighbour_item[f"image/{spectrum}"]
        return item

    def _prepare(self, frame: Frame, index: int) -> dict:
        """Augment and convert; the same index draws the same crop, flip and jitter, so a
        frame and its neighbours are transformed alike."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.augment:
            frame = _random_scale_crop(frame, self.size, self.crop_scale, rng, self.zoom_scales_depth)
            if rng.random() < FLIP_PROBABILITY:
                frame = flip_frame(frame)
        elif self.size is not None and self.native_depth:
            resized = resize_frame(dataclasses.replace(frame, depth={}, classes={}), self.size)
            frame = dataclasses.replace(resized, depth=frame.depth, classes=frame.classes)
        elif self.size is not None:
            frame = resize_frame(frame, self.size)
        item = frame_to_item(frame, rng if self.augment else None,
                             strong=self.augment and self.photometric == "strong")
        if self.neighbours:
            if frame.pose is None:
                raise ValueError(f"frame {frame.name or 'unnamed'} has no pose; neighbour frames need poses")
            item["pose"] = torch.from_numpy(np.asarray(frame.pose, dtype=np.float32))
        return item


def frame_to_item(frame: Frame, jitter_rng: np.random.Generator | None = None,
                  strong: bool = False) -> dict:
    """A frame as the Dataset's item dict (see FrameDataset); colour jitter when given an rng,
    the strong photometric set on top with ``strong``."""
    item = {"spectra": frame.spectra, "condition": frame.condition or UNKNOWN_CONDITION,
            "name": frame.name}
    for spectrum in frame.spectra:
        image = spectrum_to_float(frame.images[spectrum], spectrum)
        if jitter_rng is not None and spectrum in ("rgb", "nir"):
            image = _jitter_colour(image, jitter_rng)
        if jitter_rng is not None and strong:
            image = strong_photometric(image, jitter_rng, thermal=spectrum == "thr")
        image = image if image.ndim == 3 else image[..., None]
        item[f"image/{spectrum}"] = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        camera = frame.cameras[spectrum]
        item[f"K/{spectrum}"] = torch.from_numpy(camera.K.astype(np.float32))
        item[f"T_rig_cam/{spectrum}"] = torch.from_numpy(camera.T_rig_cam.astype(np.float32))
        if spectrum in frame.depth:
            depth = torch.from_numpy(np.asarray(frame.depth[spectrum], dtype=np.float32))[None]
            item[f"depth/{spectrum}"] = depth
            item[f"valid/{spectrum}"] = depth > 0
        if spectrum in frame.classes:
            item[f"classes/{spectrum}"] = torch.from_numpy(frame.classes[spectrum].astype(np.int64))
    return item


def collate_frames(batch: list[dict]) -> dict:
    """Batch items whose spectra may differ.

    Tensors are stacked; where an item lacks a key (a spectrum or its ground truth) it gets
    zeros, so valid/<s> is False there, and ``present/<s>`` (bool, (B,)) says which items
    have spectrum s. ``spectra``, ``condition`` and ``name`` become lists.
    """
    out = {key: [item[key] for item in batch] for key in ("spectra", "condition", "name")}
    tensor_keys = sorted({key for item in batch for key in item if isinstance(item[key], torch.Tensor)})
    for key in tensor_keys:
        reference = next(item[key] for item in batch if key in item)
        out[key] = torch.stack([item.get(key, torch.zeros_like(reference)) for item in batch])
    for spectrum in SPECTRA:
        present = [f"image/{spectrum}" in item for item in batch]
        if any(present):
            out[f"present/{spectrum}"] = torch.tensor(present)
    return out


def _random_scale_crop(frame: Frame, size: tuple[int, int], max_scale: float,
                       rng: np.random.Generator, scales_depth: bool) -> Frame:
    """Resize to ``size`` enlarged by a random factor up to ``max_scale``, then crop a random
    ``size`` window; with ``scales_depth`` the world also shrinks by that factor."""
    height, width = size
    scale = rng.uniform(1.0, max_scale)
    scaled = (round(height * scale), round(width * scale))
    frame = resize_frame(frame, scaled)
    top = int(rng.integers(0, scaled[0] - height + 1))
    left = int(rng.integers(0, scaled[1] - width + 1))
    frame = crop_frame(frame, top, left, height, width)
    return scale_world(frame, 1.0 / scale) if scales_depth else frame


def _jitter_colour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and (colour images only) saturation jitter on [0, 1] floats."""
    low, high = 1.0 - JITTER_STRENGTH, 1.0 + JITTER_STRENGTH
    image = image * rng.uniform(low, high)
    mean = image.mean()
    image = (image - mean) * rng.uniform(low, high) + mean
    if image.ndim == 3:
        grey = image @ LUMA_WEIGHTS
        image = (image - grey[..., None]) * rng.uniform(low, high) + grey[..., None]
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (H, W[, C]) image, edges replicated."""
    radius = max(1, int(round(2.5 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(image, [(radius, radius), (radius, radius)] + [(0, 0)] * (image.ndim - 2), mode="edge")
    rows = sum(w * padded[i:i + image.shape[0]] for i, w in enumerate(kernel))
    return sum(w * rows[:, i:i + image.shape[1]] for i, w in enumerate(kernel)).astype(np.float32)


def strong_photometric(image: np.ndarray, rng: np.random.Generator, thermal: bool) -> np.ndarray:
    """Appearance changes that keep geometry: gamma, per-channel gains and occasional grey
    (colour), gain and offset (thermal), then blur and sensor noise. On [0, 1] floats."""
    if thermal:
        image = (image - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.08, 0.08)
    else:
        image = np.clip(image, 0.0, 1.0) ** rng.uniform(0.7, 1.5)
        if image.ndim == 3:
            image = image * rng.uniform(0.85, 1.15, 3).astype(np.float32)
            if rng.random() < 0.1:
                image = np.repeat(image @ LUMA_WEIGHTS[:, None], 3, axis=-1)
    if rng.random() < 0.3:
        image = _blur(image, rng.uniform(0.5, 1.5))
    image = image + rng.normal(0.0, rng.uniform(0.0, 0.03), image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0).astype(np.float32)
