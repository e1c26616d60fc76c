"""Evaluation on the fixed MS-Synth test split: spectrum x condition x mode tables.

Modes: spectral-wise (each spectrum alone) and, for models with a fusion module, fused in
each anchor camera with all spectra present. Metrics are computed by ``core.metrics``
against the anchor / spectrum camera's ground truth, both metric and median-scaled.
"""
from __future__ import annotations

from collections import defaultdict

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from core.data.dataset import collate_frames
from core.data.frame import EVAL_CONDITIONS, SPECTRUM_LABELS, TEST_ONLY_CONDITIONS
from core.metrics import METRIC_NAMES, MetricAccumulator
from train.batching import batch_spectra, model_inputs
from train.data import build_dataset

ALL_CONDITIONS = "all"


def evaluate_model(model: torch.nn.Module, data_cfg: dict, min_depth: float, max_depth: float,
                   device: torch.device, show_progress: bool = True, split: str = "test") -> dict:
    """{scaling: {mode: {spectrum: {condition: metrics}}}}; mode 'spectral' or 'fused'. ``split``
    'val' serves design choices, so the test split is left for the reported numbers."""
    dataset = build_dataset(data_cfg, split, augment=False, show_progress=show_progress)
    loader = DataLoader(dataset, batch_size=1, collate_fn=collate_frames)
    accumulators = defaultdict(lambda: MetricAccumulator(min_depth, max_depth))
    median_accumulators = defaultdict(lambda: MetricAccumulator(min_depth, max_depth, median_scaling=True))
    fuses = getattr(model, "fusion", None) is not None
    model.eval().to(device)
    with torch.no_grad():
        for batch in tqdm(loader, desc="evaluating", disable=not show_progress):
            batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            spectra = batch_spectra(batch)
            images, K, T = model_inputs(batch, spectra)
            predictions = {("spectral", s): d for s, d in model.spectral_depth(images).items()}
            if fuses and len(spectra) > 1:
                for anchor in spectra:
                    predictions[("fused", anchor)] = model.predict_fused(images, K, T, anchor=anchor)
            condition = batch["condition"][0]
            for (mode, spectrum), depth in predictions.items():
                gt = batch[f"depth/{spectrum}"]
                # Held-out conditions stay out of "all", so it means the same in every table.
                for cond in (condition,) if condition in TEST_ONLY_CONDITIONS else (condition, ALL_CONDITIONS):
                    accumulators[mode, spectrum, cond].update(depth.float().cpu(), gt.cpu())
                    median_accumulators[mode, spectrum, cond].update(depth.float().cpu(), gt.cpu())
    results: dict = {}
    for scaling, accs in (("metric", accumulators), ("median_scaled", median_accumulators)):
        for (mode, spectrum, cond), acc in accs.items():
            results.setdefault(scaling, {}).setdefault(mode, {}).setdefault(spectrum, {})[cond] = acc.compute()
    return results


def results_table(results: dict, scaling: str = "metric", metric_names=METRIC_NAMES, label: str = "") -> str:
    """A markdown table: one row per mode x spectrum x condition."""
    header = ["model", "mode", "camera", "condition", *metric_names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for mode, by_spectrum in results[scaling].items():
        for spectrum, by_condition in by_spectrum.items():
            for cond in (*EVAL_CONDITIONS, ALL_CONDITIONS):
                if cond not in by_condition:
                    continue
                values = [f"{by_condition[cond][m]:.3f}" for m in metric_names]
                mode_text = "spectral-wise" if mode == "spectral" else "fused"
                lines.append("| " + " | ".join([label, mode_text, SPECTRUM_LABELS[spectrum], cond, *values]) + " |")
    return "\n".join(lines)
