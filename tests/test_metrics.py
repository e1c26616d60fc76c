"""Depth metrics against hand-computed values and the standard protocol's invariances."""
import math

import numpy as np
import pytest
import torch

from core.metrics import METRIC_NAMES, MetricAccumulator, compute_depth_metrics, depth_band_labels

# gt 0 (no data) and 100 (beyond 80 m) are excluded; the four valid pixels have
# pred/gt ratios 1.5, 1, 3.5/4 and 1.8.
GT = np.array([[1.0, 2.0, 4.0], [5.0, 0.0, 100.0]])
PRED = np.array([[1.5, 2.0, 3.5], [9.0, 7.0, 7.0]])
EXPECTED = {
    "abs_rel": (0.5 / 1 + 0 + 0.5 / 4 + 4 / 5) / 4,
    "sq_rel": (0.25 / 1 + 0 + 0.25 / 4 + 16 / 5) / 4,
    "rmse": math.sqrt((0.25 + 0 + 0.25 + 16) / 4),
    "rmse_log": math.sqrt((math.log(1.5) ** 2 + math.log(3.5 / 4) ** 2 + math.log(1.8) ** 2) / 4),
    "a1": 2 / 4,   # ratios 1 and 4/3.5 are below 1.25
    "a2": 3 / 4,   # 1.5 < 1.5625
    "a3": 4 / 4,   # 1.8 < 1.953125
}


def test_hand_computed_values():
    metrics = compute_depth_metrics(PRED, GT)
    assert set(metrics) == set(METRIC_NAMES)
    for name, value in EXPECTED.items():
        assert metrics[name] == pytest.approx(value, rel=1e-12), name


def test_torch_and_numpy_inputs_agree():
    assert compute_depth_metrics(torch.from_numpy(PRED).float(), torch.from_numpy(GT).float()) \
        == pytest.approx(compute_depth_metrics(PRED, GT), rel=1e-6)


def test_prediction_is_clamped_to_the_depth_range():
    gt = np.array([[50.0, 0.5]])
    pred = np.array([[500.0, -1.0]])  # clamped to 80 and 1e-3
    metrics = compute_depth_metrics(pred, gt)
    assert metrics["abs_rel"] == pytest.approx((30 / 50 + (0.5 - 1e-3) / 0.5) / 2, rel=1e-12)
    assert np.isfinite(metrics["rmse_log"])


def test_perfect_prediction():
    gt = np.random.default_rng(0).uniform(1, 79, (6, 8))
    metrics = compute_depth_metrics(gt, gt)
    assert metrics["abs_rel"] == 0 and metrics["rmse"] == 0 and metrics["rmse_log"] == 0
    assert metrics["a1"] == metrics["a2"] == metrics["a3"] == 1


def test_median_scaling_removes_the_global_scale():
    rng = np.random.default_rng(1)
    gt = rng.uniform(1, 20, (2, 6, 8))
    pred = gt * rng.uniform(0.8, 1.2, gt.shape)
    plain = compute_depth_metrics(pred, gt, median_scaling=True)
    scaled = compute_depth_metrics(pred * 3, gt, median_scaling=True)
    assert scaled == pytest.approx(plain, rel=1e-9)
    assert compute_depth_metrics(pred * 3, gt)["abs_rel"] > 1  # without scaling it is visible


def test_batches_average_per_image_metrics_and_skip_images_without_ground_truth():
    rng = np.random.default_rng(2)
    gt = rng.uniform(1, 20, (3, 1, 5, 7))
    gt[0, 0, :, :4] = 0  # semi-dense: image 0 has fewer valid pixels than the others
    gt[2] = 0            # no ground truth at all
    pred = gt * rng.uniform(0.7, 1.3, gt.shape) + 0.1
    batch = compute_depth_metrics(torch.from_numpy(pred), torch.from_numpy(gt))
    singles = [compute_depth_metrics(pred[i, 0], gt[i, 0]) for i in range(2)]
    for name in METRIC_NAMES:
        assert batch[name] == pytest.approx((singles[0][name] + singles[1][name]) / 2, rel=1e-12)

    accumulator = MetricAccumulator()
    per_image = accumulator.update(pred[:1], gt[:1]) + accumulator.update(pred[1:], gt[1:])
    assert per_image[2] is None and accumulator.count == 2
    assert accumulator.compute() == pytest.approx(batch, rel=1e-12)
    accumulator.reset()
    assert accumulator.count == 0 and all(math.isnan(v) for v in accumulator.compute().values())


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        compute_depth_metrics(np.ones((4, 4)), np.ones((4, 5)))


def published_errors(gt: np.ndarray, pred: np.ndarray) -> dict:
    """A straight transcription of the published formulas (Eigen et al.; the compute_errors of
    the MS2 reference evaluation), written independently of core.metrics."""
    thresh = np.maximum(gt / pred, pred / gt)
    return {"abs_rel": np.mean(np.abs(gt - pred) / gt), "sq_rel": np.mean(((gt - pred) ** 2) / gt),
            "rmse": np.sqrt(np.mean((gt - pred) ** 2)), "rmse_log": np.sqrt(np.mean((np.log(gt) - np.log(pred)) ** 2)),
            "a1": np.mean(thresh < 1.25), "a2": np.mean(thresh < 1.25 ** 2), "a3": np.mean(thresh < 1.25 ** 3)}


def published_protocol(gt: np.ndarray, pred: np.ndarray, median_scaling: bool) -> dict:
    """The reference's per-image steps: valid 1e-3 < gt < 80, optional median scaling, clip."""
    mask = np.logical_and(gt > 1e-3, gt < 80.0)
    gt, pred = gt[mask], pred[mask]
    if median_scaling:
        pred = pred * torch.median(torch.from_numpy(gt)).item() / torch.median(torch.from_numpy(pred)).item()
    pred = np.clip(pred, 1e-3, 80.0)
    return published_errors(gt, pred)


@pytest.mark.parametrize("median_scaling", [False, True])
def test_metrics_match_a_transcription_of_the_published_formulas(median_scaling):
    rng = np.random.default_rng(7)
    gt = rng.uniform(0.5, 95.0, (3, 24, 40))
    gt[rng.random(gt.shape) < 0.6] = 0.0          # sparse LiDAR-like ground truth
    gt[0, 0, :5] = 80.0                            # the cap itself is out, as in the reference
    pred = np.abs(gt * rng.uniform(0.6, 1.5, gt.shape) + rng.normal(0, 2, gt.shape)) + 1e-4
    pred[1, :3] = 120.0                            # beyond the cap: clipped
    accumulator = MetricAccumulator(median_scaling=median_scaling)
    accumulator.update(pred, gt)
    expected = [published_protocol(g, p, median_scaling) for g, p in zip(gt, pred)]
    for name in METRIC_NAMES:
        assert accumulator.compute()[name] == pytest.approx(np.mean([e[name] for e in expected]), abs=1e-6), name


def test_depth_bands_average_absrel_per_image_over_the_images_with_pixels_in_them():
    accumulator = MetricAccumulator(depth_ranges=(0, 3, 10, 80))
    # Image 1 (GT above): band (0, 3] holds gt 1, 2; (3, 10] gt 4, 5; (10, 80] nothing (100 is out of range).
    accumulator.update(PRED, GT)
    # Image 2: one pixel per band (gt 2, 8, 40), errors 0.5, 0.25, 0.
    accumulator.update(np.array([[3.0, 10.0, 40.0]]), np.array([[2.0, 8.0, 40.0]]))
    result = accumulator.compute()
    assert result["abs_rel_0-3m"] == pytest.approx(((0.5 / 1 + 0) / 2 + 0.5) / 2, rel=1e-12)
    assert result["abs_rel_3-10m"] == pytest.approx(((0.5 / 4 + 4 / 5) / 2 + 0.25) / 2, rel=1e-12)
    assert result["abs_rel_10-80m"] == 0.0  # image 1 has no pixel there and is not counted
    assert list(depth_band_labels(result).values()) == ["0 - 3 m", "3 - 10 m", "10 - 80 m"]
    plain = MetricAccumulator()
    plain.update(PRED, GT)
    plain.update(np.array([[3.0, 10.0, 40.0]]), np.array([[2.0, 8.0, 40.0]]))
    assert {k: v for k, v in result.items() if k in METRIC_NAMES} == plain.compute()
    assert set(plain.compute()) == set(METRIC_NAMES)
    empty = MetricAccumulator(depth_ranges=(0, 10)).compute()
    assert math.isnan(empty["abs_rel_0-10m"]) and math.isnan(empty["abs_rel"])
    with pytest.raises(ValueError, match="increase"):
        MetricAccumulator(depth_ranges=(0, 10, 10))
