"""Depth metrics: the one implementation every evaluation table goes through.

Protocol (the MS2 reference evaluation): per image, keep ground-truth pixels with
``min_depth < gt < max_depth`` (1e-3 and 80 m, both excluded as the reference does);
optionally rescale the prediction by median(gt) / median(pred) over those pixels (the lower
middle value of an even count, as torch.median in the reference); clamp the prediction to
[min_depth, max_depth]; compute the metrics; a dataset score is the mean of per-image
scores (not a pixel-weighted mean).

``depth_ranges`` also reports AbsRel per ground-truth depth band (where a condition costs:
near or far), under the same protocol: per image over the band's pixels, averaged over the
images that have any.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

METRIC_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
MIN_DEPTH = 1e-3   # the reference evaluation's valid-depth floor
MAX_DEPTH = 80.0


def _as_image_batch(depth) -> np.ndarray:
    """(B, H, W) float64 numpy view of a numpy array or tensor shaped (H, W), (B, H, W) or (B, 1, H, W)."""
    if isinstance(depth, torch.Tensor):
        depth = depth.detach().cpu().numpy()
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim == 2:
        return depth[None]
    if depth.ndim == 3:
        return depth
    if depth.ndim == 4 and depth.shape[1] == 1:
        return depth[:, 0]
    raise ValueError(f"expected depth shaped (H, W), (B, H, W) or (B, 1, H, W), got {depth.shape}")


BAND_PREFIX = "abs_rel_"


def range_key(low: float, high: float) -> str:
    """The metrics' key of AbsRel in the ground-truth band (low, high] metres."""
    return f"{BAND_PREFIX}{low:g}-{high:g}m"


def depth_band_labels(metrics: dict) -> dict[str, str]:
    """{band key: "low - high m"} for the depth bands among ``metrics``' keys, in their order."""
    return {key: key.removeprefix(BAND_PREFIX).removesuffix("m").replace("-", " - ") + " m"
            for key in metrics if key.startswith(BAND_PREFIX)}


def lower_median(values: np.ndarray) -> float:
    """The median as the reference computes it (torch.median): of an even count, the lower of
    the two middle values, not their mean."""
    return float(np.partition(values, (values.size - 1) // 2)[(values.size - 1) // 2])


def _image_metrics(pred: np.ndarray, gt: np.ndarray, min_depth: float, max_depth: float,
                   median_scaling: bool, depth_ranges: Sequence[float] = ()) -> dict[str, float] | None:
    """Metrics of one (H, W) prediction, or None when the image has no valid ground truth;
    a band of ``depth_ranges`` without pixels in this image has no key."""
    in_range = (gt > min_depth) & (gt < max_depth)
    if not in_range.any():
        return None
    pred, gt = pred[in_range], gt[in_range]
    if median_scaling:
        pred = pred * (lower_median(gt) / lower_median(pred))
    pred = np.clip(pred, min_depth, max_depth)

    ratio = np.maximum(gt / pred, pred / gt)
    bands = {}
    for low, high in zip(depth_ranges[:-1], depth_ranges[1:]):
        band = (gt > low) & (gt <= high)
        if band.any():
            bands[range_key(low, high)] = float(np.mean(np.abs(pred[band] - gt[band]) / gt[band]))
    return bands | {
        "abs_rel": float(np.mean(np.abs(pred - gt) / gt)),
        "sq_rel": float(np.mean((pred - gt) ** 2 / gt)),
        "rmse": float(np.sqrt(np.mean((pred - gt) ** 2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(pred) - np.log(gt)) ** 2))),
        "a1": float(np.mean(ratio < 1.25)),
        "a2": float(np.mean(ratio < 1.25 ** 2)),
        "a3": float(np.mean(ratio < 1.25 ** 3)),
    }


class MetricAccumulator:
    """Averages per-image depth metrics over any number of ``update`` calls.

    Images without valid ground truth are skipped (they are not counted). ``depth_ranges``
    (increasing band edges in metres, e.g. (0, 10, 20, 40, 80)) adds AbsRel per band.
    """

    def __init__(self, min_depth: float = MIN_DEPTH, max_depth: float = MAX_DEPTH,
                 median_scaling: bool = False, depth_ranges: Sequence[float] = ()) -> None:
        if any(high <= low for low, high in zip(depth_ranges[:-1], depth_ranges[1:])):
            raise ValueError(f"depth_ranges must increase, got {tuple(depth_ranges)}")
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.median_scaling = median_scaling
        self.depth_ranges = tuple(depth_ranges)
        self.reset()

    def reset(self) -> None:
        self._sums = dict.fromkeys(METRIC_NAMES, 0.0)
        self._count = 0
        self._band_sums: dict[str, float] = {}
        self._band_counts: dict[str, int] = {}

    @property
    def count(self) -> int:
        """Number of images accumulated so far."""
        return self._count

    def update(self, pred, gt) -> list[dict[str, float] | None]:
        """Add one image (H, W) or a batch (B, H, W) / (B, 1, H, W), numpy or torch.

        pred and gt must have the same shape (resize the prediction to the ground truth
        first); gt uses 0 (or anything outside the depth range) for missing data.
        Returns the per-image metrics, None for images without valid ground truth.
        """
        preds, gts = _as_image_batch(pred), _as_image_batch(gt)
        if preds.shape != gts.shape:
            raise ValueError(f"prediction {preds.shape} and ground truth {gts.shape} differ in shape")
        per_image = [_image_metrics(p, g, self.min_depth, self.max_depth, self.median_scaling, self.depth_ranges)
                     for p, g in zip(preds, gts)]
        for metrics in per_image:
            if metrics is not None:
                for name in METRIC_NAMES:
                    self._sums[name] += metrics[name]
                self._count += 1
                for key in metrics.keys() - set(METRIC_NAMES):
                    self._band_sums[key] = self._band_sums.get(key, 0.0) + metrics[key]
                    self._band_counts[key] = self._band_counts.get(key, 0) + 1
        return per_image

    def state(self) -> list[float]:
        """Every sum and count, in a fixed order (to add accumulators across processes)."""
        bands = [range_key(low, high) for low, high in zip(self.depth_ranges[:-1], self.depth_ranges[1:])]
        return ([self._sums[name] for name in METRIC_NAMES] + [float(self._count)]
                + [value for key in bands for value in (self._band_sums.get(key, 0.0),
                                                         float(self._band_counts.get(key, 0)))])

    def load_state(self, values: Sequence[float]) -> None:
        """Set the sums and counts from ``state()``'s list (e.g. summed over processes)."""
        n = len(METRIC_NAMES)
        self._sums = dict(zip(METRIC_NAMES, values[:n]))
        self._count = round(values[n])
        bands = [range_key(low, high) for low, high in zip(self.depth_ranges[:-1], self.depth_ranges[1:])]
        pairs = list(zip(values[n + 1::2], values[n + 2::2]))
        self._band_sums = {key: total for key, (total, count) in zip(bands, pairs) if count}
        self._band_counts = {key: round(count) for key, (_, count) in zip(bands, pairs) if count}

    def compute(self) -> dict[str, float]:
        """Mean of each metric over the accumulated images (NaN when there are none); with
        ``depth_ranges``, each band's mean over the images with pixels in it (NaN without)."""
        bands = {range_key(low, high): float("nan") for low, high in zip(self.depth_ranges[:-1], self.depth_ranges[1:])}
        bands.update({key: total / self._band_counts[key] for key, total in self._band_sums.items()})
        if self._count == 0:
            return dict.fromkeys(METRIC_NAMES, float("nan")) | bands
        return {name: total / self._count for name, total in self._sums.items()} | bands


def compute_depth_metrics(pred, gt, min_depth: float = MIN_DEPTH, max_depth: float = MAX_DEPTH,
                          median_scaling: bool = False) -> dict[str, float]:
    """abs_rel, sq_rel, rmse, rmse_log, a1, a2, a3 of one image or the per-image mean of a batch.

    pred, gt: numpy arrays or tensors shaped (H, W), (B, H, W) or (B, 1, H, W), in metres.
    Returns NaN for every metric when no image has valid ground truth.
    """
    accumulator = MetricAccumulator(min_depth, max_depth, median_scaling)
    accumulator.update(pred, gt)
    return accumulator.compute()
