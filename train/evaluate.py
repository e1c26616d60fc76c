"""Evaluation under the MS2 reference protocol: spectrum x condition x mode tables.

Modes: spectral-wise (each spectrum alone) and, for models with a fusion module, fused in
each anchor camera with all spectra present. Per image, the prediction is upsampled
(bilinear) to the native resolution of the camera's ground truth, and ``core.metrics`` keeps
pixels with 1e-3 < gt < max depth, both metric and median-scaled. A condition's score is the
mean over its images; "all" is the mean of the condition (test split) means, as the
reference averages its day / night / rain results. AbsRel is also kept per ground-truth depth
band (``depth_bands``: 0-10-20-40 m and on to the max depth) to show where a condition costs.
Held-out conditions ('texture') stay out of "all", so it means the same in every table.
``reference_table`` lays the tables out as the reference's MS2 tables. With ``shard`` each rank of
a process group scores its share of the frames and the sums are added over the ranks.
"""
from __future__ import annotations

from collections import defaultdict

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from core.data.dataset import collate_frames
from core.data.frame import EVAL_CONDITIONS, SPECTRUM_LABELS, TEST_ONLY_CONDITIONS
from core.inference import METRIC_LABELS, infer_batch
from core.metrics import METRIC_NAMES, MIN_DEPTH, MetricAccumulator
from core.models import FUSED, DepthModel
from train.batching import batch_spectra, to_device
from train.config import DataConfig
from train.data import build_dataset

ALL_CONDITIONS = "all"


def depth_bands(max_depth: float) -> tuple[float, ...]:
    """Band edges of the per-depth AbsRel: near road, mid range, far, beyond 40 m."""
    return (0.0, 10.0, 20.0, 40.0, max_depth)


def evaluate_model(model: DepthModel, data_cfg: DataConfig, max_depth: float, device: torch.device,
                   show_progress: bool = True, split: str = "test", flip_average: bool = False,
                   shard: tuple[int, int] = (0, 1), num_workers: int = 0) -> dict:
    """{scaling: {mode: {spectrum: {condition: metrics}}}}; mode 'spectral' or 'fused'.
    ``split`` 'val' serves model choice and design, so the test split is left for reports.
    ``flip_average``: each prediction averaged with its mirror's (``DepthModel.infer``).
    ``shard`` (rank, world size): each process of a process group scores every world-size-th
    frame and the metric sums are added over all of them, so every rank returns the tables of
    the whole split; every rank must call this."""
    dataset = build_dataset(data_cfg, split, augment=False, show_progress=show_progress, native_depth=True)
    rank, world_size = shard
    loader = DataLoader(Subset(dataset, range(rank, len(dataset), world_size)), batch_size=1,
                        collate_fn=collate_frames, num_workers=num_workers)
    accumulators = {scaling: defaultdict(lambda s=scaling: MetricAccumulator(
        MIN_DEPTH, max_depth, median_scaling=s == "median_scaled", depth_ranges=depth_bands(max_depth)))
        for scaling in ("metric", "median_scaled")}
    fuses = model.supports_fusion
    model.eval().to(device)
    with torch.no_grad():
        for batch in tqdm(loader, desc=f"evaluating ({split})", disable=not show_progress):
            batch = to_device(batch, device)
            spectra = batch_spectra(batch)
            # The service's network call (core.inference), so `eval` and `eval-real` score the same pass.
            spectral = infer_batch(model, batch, spectra, "spectral", flip_average=flip_average).depth
            predictions = {("spectral", s): d for s, d in spectral.items()}
            if fuses and len(spectra) > 1:
                for anchor in spectra:
                    fused = infer_batch(model, batch, spectra, "fused", anchor, flip_average)
                    predictions[("fused", anchor)] = fused.depth[FUSED]
            condition = batch["condition"][0]
            for (mode, spectrum), depth in predictions.items():
                if f"depth/{spectrum}" not in batch:
                    continue
                gt = batch[f"depth/{spectrum}"].float().cpu()
                pred = F.interpolate(depth.float(), size=gt.shape[-2:], mode="bilinear", align_corners=False).cpu()
                for by_condition in accumulators.values():
                    by_condition[mode, spectrum, condition].update(pred, gt)
    if world_size > 1:
        add_over_processes(accumulators, device)
    return {scaling: with_condition_means(accs) for scaling, accs in accumulators.items()}


def add_over_processes(accumulators: dict[str, defaultdict], device: torch.device) -> None:
    """Every process's sums and counts added (one all-reduce), in place on every process. A
    process that saw no frame of an output or condition joins with zeros for it."""
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, sorted({key for accs in accumulators.values() for key in accs}))
    keys = sorted(set().union(*map(set, gathered)))
    ordered = [accs[key] for accs in accumulators.values() for key in keys]  # defaultdict: creates the missing
    states = torch.tensor([accumulator.state() for accumulator in ordered], dtype=torch.float64, device=device)
    dist.all_reduce(states, op=dist.ReduceOp.SUM)
    for accumulator, state in zip(ordered, states.cpu().tolist()):
        accumulator.load_state(state)


def with_condition_means(accumulators: dict) -> dict:
    """{mode: {spectrum: {condition: metrics, 'all': mean of the condition means}}}; conditions
    without any image with ground truth are left out."""
    results: dict = {}
    for (mode, spectrum, condition), accumulator in accumulators.items():
        if accumulator.count:
            results.setdefault(mode, {}).setdefault(spectrum, {})[condition] = accumulator.compute()
    for by_spectrum in results.values():
        for by_condition in by_spectrum.values():
            pooled = [metrics for cond, metrics in by_condition.items() if cond not in TEST_ONLY_CONDITIONS]
            if pooled:
                by_condition[ALL_CONDITIONS] = {name: sum(m[name] for m in pooled) / len(pooled)
                                                for name in METRIC_NAMES}
    return results


def validation_score(results: dict) -> float:
    """The model-choice score: metric AbsRel over all validation conditions, averaged over the
    model's main outputs (fused in every anchor where the model fuses, else spectral-wise)."""
    metric = results["metric"]
    outputs = metric.get("fused") or metric["spectral"]
    return sum(by_condition[ALL_CONDITIONS]["abs_rel"] for by_condition in outputs.values()) / len(outputs)


def results_table(results: dict, scaling: str = "metric", metric_names=METRIC_NAMES, label: str = "") -> str:
    """A markdown table: one row per mode x spectrum x condition."""
    header = ["model", "mode", "camera", "condition", *metric_names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for mode, by_spectrum in results[scaling].items():
        for spectrum, by_condition in by_spectrum.items():
            known = [c for c in EVAL_CONDITIONS if c in by_condition]
            others = sorted(set(by_condition) - set(known) - {ALL_CONDITIONS})
            for cond in (*known, *others, ALL_CONDITIONS):
                if cond not in by_condition:
                    continue
                values = [f"{by_condition[cond][m]:.3f}" for m in metric_names]
                mode_text = "spectral-wise" if mode == "spectral" else "fused"
                lines.append("| " + " | ".join([label, mode_text, SPECTRUM_LABELS[spectrum], cond, *values]) + " |")
    return "\n".join(lines)


def reference_table(results_by_model: dict[str, dict], scaling: str, metric_names=METRIC_NAMES) -> str:
    """The reference's layout (BridgeMultiSpectralDepth's MS2 tables): one row per model and
    output (spectral-wise per spectrum, then fused per anchor), one column group per condition
    and the mean of the condition means last, ``metric_names`` in each group."""
    seen = {condition for results in results_by_model.values() for by_spectrum in results[scaling].values()
            for by_condition in by_spectrum.values() for condition in by_condition} - {ALL_CONDITIONS}
    known = [c for c in EVAL_CONDITIONS if c in seen]
    groups = [*known, *sorted(seen - set(known)), ALL_CONDITIONS]
    header = ["model", "output", *(f"{'mean' if group == ALL_CONDITIONS else group} {METRIC_LABELS[name]}"
                                    for group in groups for name in metric_names)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, results in results_by_model.items():
        for mode in ("spectral", "fused"):
            for spectrum, by_condition in results[scaling].get(mode, {}).items():
                output = (f"spectral-wise {SPECTRUM_LABELS[spectrum]}" if mode == "spectral"
                          else f"fused in {SPECTRUM_LABELS[spectrum]}")
                values = [f"{by_condition[group][name]:.3f}" if group in by_condition else "-"
                          for group in groups for name in metric_names]
                lines.append("| " + " | ".join([label, output, *values]) + " |")
    return "\n".join(lines)
