"""eval-real: floors, per-frame metrics, the report and its JSON, on tiny frames built here and on the real
KITTI frames in ../shared (skipped where absent)."""
import json
import os
import shutil
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from core.data.imageio import write_png
from core.data.ms2 import depth_to_uint16
from core.data.samples import SHARED_SAMPLES
from core.geometry.camera import Camera
from core.inference import AnalysisRequest, analyse
from core.metrics import compute_depth_metrics
from core.models import AlignFuseConfig, build_model, save_checkpoint
from train.targets import real_targets
from train.evaluate_real import (CONSTANT_FLOOR, FLAT_ROAD_FLOOR, RealEvalConfig, floor_predictions, flat_road_floor,
                                 frame_ids, read_real_frame, real_eval_config, run_eval_real)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_KITTI = SHARED_SAMPLES / "kitti"
HEIGHT, CAP = 1.65, 15.0
ROAD_K = {"fx": 60.0, "fy": 60.0, "cx": 59.5, "cy": 10.0, "width": 120, "height": 48}
SCATTER_K = {"fx": 50.0, "fy": 55.0, "cx": 49.0, "cy": 21.0, "width": 100, "height": 40}


@pytest.fixture(scope="session")
def shared_kitti() -> Path:
    if not SHARED_KITTI.is_dir():
        pytest.skip(f"real KITTI samples not found at {SHARED_KITTI} (the shared folder is absent)")
    return SHARED_KITTI


def road_depth(K: dict) -> np.ndarray:
    """A flat road HEIGHT below the camera, by hand: Z = h fy / (v - cy) per row, 0 (no LiDAR) where it is
    not below the horizon or not nearer than the cap."""
    v = np.arange(K["height"], dtype=np.float64)[:, None].repeat(K["width"], axis=1)
    with np.errstate(divide="ignore"):
        z = np.where(v > K["cy"], HEIGHT * K["fy"] / (v - K["cy"]), 0.0)
    return np.where(z < CAP, z, 0.0)


def scattered_depth(K: dict) -> np.ndarray:
    """Sparse depths from 2 to 60 m at a tenth of the pixels, not a road."""
    rng = np.random.default_rng(0)
    depth = rng.uniform(2.0, 60.0, (K["height"], K["width"]))
    return np.where(rng.random(depth.shape) < 0.1, depth, 0.0)


def write_real_frame(folder: Path, frame_id: str, depth: np.ndarray, K: dict) -> None:
    """One frame in the layout of ../shared/samples/kitti (depth quantised to 1/256 m like LiDAR PNGs)."""
    rng = np.random.default_rng(len(frame_id))
    write_png(folder / f"{frame_id}_rgb.png", rng.integers(0, 256, (*depth.shape, 3), dtype=np.uint8))
    write_png(folder / f"{frame_id}_depth.png", depth_to_uint16(depth.astype(np.float32)))
    (folder / f"{frame_id}_K.json").write_text(json.dumps(K))


@pytest.fixture
def tiny_frames(tmp_path) -> Path:
    """A repo root beside a frames folder: 'road' whose ground truth is a flat road, 'scatter' which is not."""
    (tmp_path / "repo").mkdir()
    folder = tmp_path / "frames"
    folder.mkdir()
    write_real_frame(folder, "road", road_depth(ROAD_K), ROAD_K)
    write_real_frame(folder, "scatter", scattered_depth(SCATTER_K), SCATTER_K)
    return folder


def test_flat_road_floor_rows_exactly():
    camera = Camera(np.array([[7.0, 0.0, 1.0], [0.0, 10.0, 2.0], [0.0, 0.0, 1.0]]), 3, 6, np.eye(4))
    floor = flat_road_floor(camera, HEIGHT, CAP)
    # Rows 0-2 at or above the horizon get the cap, row 3 (16.5 m) is capped, rows 4, 5 are 16.5/2, 16.5/3.
    expected = np.array([15.0, 15.0, 15.0, 15.0, 8.25, 5.5], dtype=np.float32)
    assert floor.dtype == np.float32 and floor.shape == (6, 3)
    np.testing.assert_array_equal(floor, np.repeat(expected[:, None], 3, axis=1))


def test_floors_on_a_frame_whose_ground_truth_is_a_flat_road(tiny_frames):
    frame = read_real_frame(tiny_frames, "road")
    gt = frame.depth["rgb"]
    floors = floor_predictions(frame, RealEvalConfig(flat_road_height=HEIGHT, flat_road_cap=CAP))
    road = {scaling: compute_depth_metrics(floors[FLAT_ROAD_FLOOR], gt, median_scaling=scaling == "median")
            for scaling in ("median", "metric")}
    constant = compute_depth_metrics(floors[CONSTANT_FLOOR], gt, median_scaling=True)
    # Only the 1/256 m quantisation of the PNG separates the floor from the ground truth.
    assert road["median"]["abs_rel"] < 1e-3 and road["metric"]["abs_rel"] < 1e-3
    assert road["median"]["a1"] == 1.0
    assert constant["abs_rel"] > 0.2 and constant["a1"] < 0.6
    # The metric constant is the flat road's median over the LiDAR pixels.
    assert np.all(floors[CONSTANT_FLOOR] == np.float32(np.median(floors[FLAT_ROAD_FLOOR][gt > 0])))


def test_report_and_json_match_compute_depth_metrics(tiny_frames, tiny_checkpoint):
    repo = tiny_frames.parent / "repo"
    cfg = {"stage": "eval-real", "frames": "../frames", "checkpoints": [tiny_checkpoint], "report": "out/EVAL-real.md",
           "max_depth": 80.0, "flat_road_height": HEIGHT, "flat_road_cap": CAP}
    text = run_eval_real(real_eval_config(cfg), repo)
    assert (repo / "out" / "EVAL-real.md").read_text() == text
    record = json.loads((repo / "out" / "EVAL-real.json").read_text())
    assert record["frames"] == "../frames" and record["frame_ids"] == ["road", "scatter"]
    rows = [CONSTANT_FLOOR, FLAT_ROAD_FLOOR, "tiny-fuse"]
    for scaling in ("median_scaled", "metric"):
        assert list(record["results"][scaling]) == rows

    # Per-frame numbers are compute_depth_metrics of hand-built predictions on the frame's own depth.
    for frame_id, K in (("road", ROAD_K), ("scatter", SCATTER_K)):
        frame = read_real_frame(tiny_frames, frame_id)
        gt = frame.depth["rgb"]
        v = np.arange(K["height"], dtype=np.float64) - K["cy"]
        road_rows = np.minimum(np.where(v > 0, HEIGHT * K["fy"] / np.where(v > 0, v, 1.0), CAP), CAP)
        road = np.repeat(road_rows[:, None], K["width"], axis=1)
        constant = np.full(gt.shape, np.median(road[gt > 0]))
        model = analyse(frame, AnalysisRequest(tiny_checkpoint, "spectral", spectra=("rgb",))).depth("rgb")
        assert model.shape == gt.shape == (K["height"], K["width"])
        for scaling in ("median_scaled", "metric"):
            results = record["results"][scaling]
            for row, pred in ((CONSTANT_FLOOR, constant), (FLAT_ROAD_FLOOR, road), ("tiny-fuse", model)):
                expected = compute_depth_metrics(pred, gt, 1e-3, 80.0, median_scaling=scaling == "median_scaled")
                assert results[row]["per_frame"][frame_id] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    for row in rows:
        result = record["results"]["metric"][row]
        assert result["mean"]["rmse"] == pytest.approx(np.mean([m["rmse"] for m in result["per_frame"].values()]))

    # Structure: header with the relative folder, median-scaled before metric, mean then per-frame tables.
    assert "`../frames`" in text and str(tiny_frames.parent) not in text
    assert "never used in training" in text
    assert text.index("### Median-scaled") < text.index("### Metric")
    for section in text.split("### ")[1:]:
        mean, per_frame = section.split("Per frame:")
        table = [line for line in mean.splitlines() if line.startswith("| ")]
        assert table[0] == "| depth | input | AbsRel | SqRel | RMSE | δ < 1.25 |"
        assert [line.split(" | ")[0][2:] for line in table[1:]] == rows
        frame_rows = [line.split(" | ")[:2] for line in per_frame.splitlines() if line.startswith("| ")][1:]
        assert frame_rows == [[f"| {f}", row] for f in ("road", "scatter") for row in rows]
    median_mean = record["results"]["median_scaled"][FLAT_ROAD_FLOOR]["mean"]
    assert f"| {FLAT_ROAD_FLOOR} | none (formula) | {median_mean['abs_rel']:.3f} |" in text


def test_flip_averaged_rows_score_the_flip_averaged_depth(tiny_frames, tmp_path):
    # An untrained network's depth is nearly flat; a strong last layer makes it vary across the image.
    torch.manual_seed(0)
    model = build_model(AlignFuseConfig(input_size=(64, 160))).eval()
    with torch.no_grad():
        model.network.decoder.head[1].weight.mul_(200.0)
    checkpoint = tmp_path / "tiny-fuse"
    save_checkpoint(checkpoint, model, model.config, command="tests/test_eval_real.py")
    repo = tiny_frames.parent / "repo"
    cfg = {"stage": "eval-real", "frames": "../frames", "checkpoints": [str(checkpoint)],
           "report": "out/EVAL-real.md", "flip_average": True}
    text = run_eval_real(real_eval_config(cfg), repo)
    assert "- flip averaging: each model's depth is the mean of two passes" in text
    record = json.loads((repo / "out" / "EVAL-real.json").read_text())
    for frame_id in ("road", "scatter"):
        frame = read_real_frame(tiny_frames, frame_id)
        single, averaged = (analyse(frame, AnalysisRequest(str(checkpoint), "spectral", spectra=("rgb",),
                                                           flip_average=flip)).depth("rgb") for flip in (False, True))
        reported = record["results"]["median_scaled"]["tiny-fuse"]["per_frame"][frame_id]
        for depth, scored in ((averaged, True), (single, False)):
            expected = compute_depth_metrics(depth, frame.depth["rgb"], 1e-3, 80.0, median_scaling=True)
            assert (reported == pytest.approx(expected, rel=1e-5)) is scored


def test_checkpoints_sharing_a_folder_name_get_rows_of_their_own(tiny_frames, tiny_checkpoint):
    repo = tiny_frames.parent / "repo"
    copy = repo / "runs" / "b" / Path(tiny_checkpoint).name
    shutil.copytree(tiny_checkpoint, copy, dirs_exist_ok=True)
    cfg = {"frames": "../frames", "checkpoints": [tiny_checkpoint, "runs/b/tiny-fuse"], "report": "out/two.md"}
    run_eval_real(real_eval_config(cfg), repo)
    rows = list(json.loads((repo / "out" / "two.json").read_text())["results"]["metric"])
    assert rows == [CONSTANT_FLOOR, FLAT_ROAD_FLOOR, os.path.relpath(tiny_checkpoint, repo), "runs/b/tiny-fuse"]
    # Targets name checkpoints as the config lists them, and read the row each one got.
    run_eval_real(real_eval_config({**cfg, "targets": {"default": "runs/b/tiny-fuse",
                                                       "below_flat_road": [tiny_checkpoint]}}), repo)
    report = (repo / "out" / "two.md").read_text()
    assert "| runs/b/tiny-fuse: mean AbsRel (median-scaled) on the real frames |" in report
    assert f"| {os.path.relpath(tiny_checkpoint, repo)}: worst frame's AbsRel minus its flat-road floor |" in report
    with pytest.raises(ValueError, match="listed twice"):
        run_eval_real(real_eval_config({**cfg, "checkpoints": ["runs/b/tiny-fuse", str(copy)]}), repo)


def test_real_kitti_floors_match_the_issue(shared_kitti, tiny_checkpoint, tmp_path):
    cfg = {"frames": "../shared/samples/kitti", "checkpoints": [tiny_checkpoint], "report": str(tmp_path / "r.md")}
    text = run_eval_real(real_eval_config(cfg), REPO_ROOT)
    assert "`../shared/samples/kitti`" in text and str(Path.home()) not in text
    results = json.loads((tmp_path / "r.json").read_text())["results"]["median_scaled"]
    # Measured in the issue (constant, flat road): 000001 0.450, 0.280; 000002 0.345, 0.405. Rows at integer
    # pixel centres give 0.281 / 0.404; the issue's match rows at v + 0.5 (0.280 / 0.405).
    for frame_id, constant, road in (("000001", 0.450, 0.280), ("000002", 0.345, 0.405)):
        assert results[CONSTANT_FLOOR]["per_frame"][frame_id]["abs_rel"] == pytest.approx(constant, abs=0.01)
        assert results[FLAT_ROAD_FLOOR]["per_frame"][frame_id]["abs_rel"] == pytest.approx(road, abs=0.01)
    assert results[FLAT_ROAD_FLOOR]["mean"]["abs_rel"] < results[CONSTANT_FLOOR]["mean"]["abs_rel"]


def test_empty_folder_is_a_readable_error(tmp_path):
    with pytest.raises(ValueError, match="has no frames: expected <id>_rgb.png"):
        frame_ids(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        run_eval_real(real_eval_config({"frames": "missing"}), tmp_path)


@pytest.mark.parametrize("missing", ["road_K.json", "road_depth.png"])
def test_frame_without_its_depth_or_k_is_a_readable_error(tiny_frames, missing):
    (tiny_frames / missing).unlink()
    with pytest.raises(ValueError, match=f"frame road in .* lacks {missing}"):
        run_eval_real(real_eval_config({"frames": str(tiny_frames), "checkpoints": []}), tiny_frames.parent)


def test_unknown_config_key_is_refused(tiny_frames):
    with pytest.raises(ValueError, match="unknown config key .max_dept.; did you mean .max_depth."):
        run_eval_real(real_eval_config({"frames": str(tiny_frames), "max_dept": 50}), tiny_frames.parent)


def test_missing_checkpoint_is_a_readable_error(tiny_frames):
    with pytest.raises(ValueError, match="checkpoint 'msynth-nothing' not found"):
        run_eval_real(real_eval_config({"frames": str(tiny_frames), "checkpoints": ["msynth-nothing"]}),
                      tiny_frames.parent)


def test_shipped_config_declares_every_key_and_shipped_checkpoints():
    cfg = yaml.safe_load((REPO_ROOT / "train" / "configs" / "real-eval.yaml").read_text())
    assert list(cfg)[0] == "stage" and cfg["stage"] == "eval-real"
    # Every key but the checkpoints, which come from the model registry.
    assert set(cfg) == {f.name for f in fields(RealEvalConfig)} - {"checkpoints"}
    assert RealEvalConfig(**cfg) == RealEvalConfig()  # the defaults are the shipped config
    for name in RealEvalConfig().checkpoints:
        assert (REPO_ROOT / "checkpoints" / name / "config.json").is_file()


def test_real_targets_check_the_default_mean_every_frame_against_the_flat_road_and_each_teacher():
    def row(a, b):
        return {"per_frame": {"1": {"abs_rel": a}, "2": {"abs_rel": b}}, "mean": {"abs_rel": (a + b) / 2}}

    rows = {FLAT_ROAD_FLOOR: row(0.30, 0.40), "good": row(0.15, 0.20), "half": row(0.25, 0.45)}
    targets = {"default": "good", "below_flat_road": ["good", "half"],
               "teacher_controls": [["good", "half"], ["half", "good"], ["good", "not evaluated"]]}
    lines = real_targets(rows, targets, FLAT_ROAD_FLOOR).splitlines()
    assert "| good: mean AbsRel (median-scaled) on the real frames | 0.175 | <= 0.20 | yes |" in lines
    assert "| good: worst frame's AbsRel minus its flat-road floor | -0.150 | < 0 on every frame | yes |" in lines
    assert "| half: worst frame's AbsRel minus its flat-road floor | 0.050 | < 0 on every frame | NO |" in lines
    # 1 - 0.175 / 0.35 and 1 - 0.35 / 0.175; a pair with a checkpoint that was not evaluated is left out
    assert "| AbsRel reduction, good vs its equal-training no-VFM control half | 0.500 | >= 0.10 | yes |" in lines
    assert "| AbsRel reduction, half vs its equal-training no-VFM control good | -1.000 | >= 0.10 | NO |" in lines
    assert not any("not evaluated" in line for line in lines)
