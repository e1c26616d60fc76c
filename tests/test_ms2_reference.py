"""Our MS2 evaluation against a transcription, written for this test, of the reference's
(BridgeMultiSpectralDepth) frame sampling and metric code: on the tiny root the same frames are
scored and every metric of every output, condition and mean agrees to 1e-6.

The transcription follows the reference's DataLoader_MS2.crawl_folders_depth (set_length 1:
the sorted left images of every sequence of one list, concatenated, then ``[0:-1:step]``), its
test scripts (the float32 prediction upsampled bilinearly to the ground truth's size) and its
compute_depth_errors (in float64 here, where the reference runs float32 on the GPU): valid
1e-3 < gt < 80, median scaling when aligned, clamp, per-image means.
The network is replaced on both sides by the same made-up depth per frame and output, so the
comparison is about which frames are read and how they are scored.
"""
from __future__ import annotations

import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import train.evaluate
from core.models import FUSED
from tiny_ms2 import write_tiny_ms2_root
from train.config import DataConfig
from train.evaluate import evaluate_model, reference_table

SPECTRA = ("rgb", "nir", "thr")
TEST_STEP = 3  # 4-frame sequences: the reference keeps frame 0; every 3rd per sequence would add frame 3


def made_up_depth(name: str, output: str, size) -> torch.Tensor:
    """A depth map (1, 1, h, w) fixed by the frame and output, partly beyond 80 m (clamped)."""
    rng = np.random.default_rng(zlib.crc32(f"{name}/{output}".encode()))
    return torch.from_numpy(rng.uniform(1.0, 90.0, (1, 1, *size)).astype(np.float32))


def fake_infer_batch(model, batch, spectra, mode, anchor=None, flip_average=False):
    name = batch["name"][0]
    if mode == "spectral":
        return SimpleNamespace(depth={s: made_up_depth(name, s, batch[f"image/{s}"].shape[-2:]) for s in spectra})
    return SimpleNamespace(depth={FUSED: made_up_depth(name, f"fused-{anchor}", batch[f"image/{anchor}"].shape[-2:])})


class FusingStub:
    supports_fusion = True

    def eval(self):
        return self

    def to(self, device):
        return self


# --- the transcription -------------------------------------------------------------------

def reference_samples(root: Path, list_file: str, sensor: str, step: int) -> list[tuple[str, str]]:
    sample_set = []
    for seq_name in open(root / list_file):
        seq = seq_name[:-1]
        for image in sorted((root / "sync_data" / seq / sensor / "img_left").glob("*.png")):
            sample_set.append((seq, image.name[:-4]))
    return sample_set[0:-1:step]


def reference_errors(gt: torch.Tensor, pred: torch.Tensor, align: bool) -> np.ndarray:
    """abs_rel, sq_rel, rmse, rmse_log, a1, a2, a3 of one (h, w) image."""
    valid = (gt > 1e-3) & (gt < 80)
    valid_gt, valid_pred = gt[valid], pred[valid]
    if align:
        valid_pred = valid_pred * torch.median(valid_gt) / torch.median(valid_pred)
    valid_pred = valid_pred.clamp(1e-3, 80)
    thresh = torch.max(valid_gt / valid_pred, valid_pred / valid_gt)
    diff = valid_gt - valid_pred
    return np.array([torch.mean(torch.abs(diff) / valid_gt).item(), torch.mean(diff ** 2 / valid_gt).item(),
                     torch.sqrt(torch.mean(diff ** 2)).item(),
                     torch.sqrt(torch.mean((torch.log(valid_gt) - torch.log(valid_pred)) ** 2)).item(),
                     (thresh < 1.25).double().mean().item(), (thresh < 1.25 ** 2).double().mean().item(),
                     (thresh < 1.25 ** 3).double().mean().item()])


def reference_condition(root: Path, list_file: str, step: int, size, align: bool) -> dict[str, np.ndarray]:
    """Mean errors of one list per output ('rgb', ..., 'fused-rgb', ...): test_monodepth.py per
    modality and test_fuse.py per anchor."""
    results = {}
    for output in (*SPECTRA, *(f"fused-{s}" for s in SPECTRA)):
        sensor = output.removeprefix("fused-")
        errors = []
        for seq, frame in reference_samples(root, list_file, sensor, step):
            depth_png = root / "proj_depth" / seq / sensor / "depth_filtered" / f"{frame}.png"
            gt = torch.from_numpy(np.asarray(Image.open(depth_png), dtype=np.float64) / 256.0)
            # upsampled in float32 as the reference's network output is; the errors in float64
            pred = F.interpolate(made_up_depth(f"{seq}/{frame}", output, size), list(gt.shape), mode="bilinear")
            pred = pred.squeeze().double()
            errors.append(reference_errors(gt, pred, align))
        results[output] = np.mean(errors, axis=0)
    return results


# --- the comparison ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ms2") / "MS2"
    write_tiny_ms2_root(root, frames_per_sequence=4)
    return root


@pytest.mark.parametrize("split", ["test", "val"])
def test_sampling_and_metrics_match_the_reference_to_1e6(root, split, monkeypatch):
    monkeypatch.setattr(train.evaluate, "infer_batch", fake_infer_batch)
    data = DataConfig(dataset="ms2", root=str(root), size=[24, 60])
    data.test.sampling_step = TEST_STEP  # val keeps its default, the reference's 3
    ours = evaluate_model(FusingStub(), data, 80.0, torch.device("cpu"), show_progress=False, split=split)
    step = TEST_STEP if split == "test" else 3
    lists = {"test": {"day": "test_day_list.txt", "night": "test_night_list.txt", "rain": "test_rainy_list.txt"},
             "val": {"unknown": "val_list.txt"}}[split]
    for scaling in ("metric", "median_scaled"):
        reference = {condition: reference_condition(root, list_file, step, data.size, scaling == "median_scaled")
                     for condition, list_file in lists.items()}
        for mode, spectrum in [("spectral", s) for s in SPECTRA] + [("fused", s) for s in SPECTRA]:
            output = spectrum if mode == "spectral" else f"fused-{spectrum}"
            by_condition = ours[scaling][mode][spectrum]
            for condition in lists:
                got = [by_condition[condition][name] for name in train.evaluate.METRIC_NAMES]
                np.testing.assert_allclose(got, reference[condition][output], rtol=0, atol=1e-6)
            mean = np.mean([reference[c][output] for c in lists], axis=0)
            got = [by_condition["all"][name] for name in train.evaluate.METRIC_NAMES]
            np.testing.assert_allclose(got, mean, rtol=0, atol=1e-6)


def test_the_table_has_the_reference_layout(root, monkeypatch):
    monkeypatch.setattr(train.evaluate, "infer_batch", fake_infer_batch)
    data = DataConfig(dataset="ms2", root=str(root), size=[24, 60])
    results = evaluate_model(FusingStub(), data, 80.0, torch.device("cpu"), show_progress=False)
    table = reference_table({"stub": results}, "median_scaled", ("abs_rel", "rmse"))
    lines = table.splitlines()
    assert lines[0] == ("| model | output | day AbsRel | day RMSE [m] | night AbsRel | night RMSE [m] | rain AbsRel "
                        "| rain RMSE [m] | mean AbsRel | mean RMSE [m] |")
    assert [line.split(" | ")[1] for line in lines[2:]] == [
        "spectral-wise RGB", "spectral-wise NIR", "spectral-wise Thermal", "fused in RGB", "fused in NIR",
        "fused in Thermal"]
    day = results["median_scaled"]["fused"]["thr"]["day"]["abs_rel"]
    assert lines[-1].split(" | ")[2] == f"{day:.3f}"
