"""The training core on a real-layout MS2 root: every stage, eval under the reference protocol,
split hygiene, the calib.npy trust flag, typed configs, exact resume and a 2-process gloo run."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import SHARED_MS2
from core.data import ms2
from core.data.ms2 import CalibrationError
from core.metrics import METRIC_NAMES
from core.models import load_checkpoint
from tiny_ms2 import REAL_SEQUENCE, write_tiny_ms2_root
from train.__main__ import main as train_main
from train.config import ConfigError, load_config
from train.data import DataError, build_dataset

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "train" / "configs"
TEST_LISTS = ("test_day_list.txt", "test_night_list.txt", "test_rainy_list.txt")


@pytest.fixture(scope="module")
def ms2_root(tmp_path_factory) -> tuple[Path, dict]:
    """The tiny MS2 root, with the real ../shared MS2 frames in its day test list when present."""
    root = tmp_path_factory.mktemp("ms2") / "MS2"
    lists = write_tiny_ms2_root(root, shared_ms2=SHARED_MS2 if SHARED_MS2.is_dir() else None)
    return root, lists


def on_ms2(root: Path, tmp: Path, name: str, steps: int = 2) -> list[str]:
    return ["--set", "data.dataset=ms2", "--set", f"data.root={root}", "--set", f"optim.steps={steps}",
            "--set", "optim.batch_size=2", "--set", "log_every=1", "--set", "save_every=1", "--set", "num_workers=0",
            "--set", "validate_every=1", "--set", "data.size=[64,160]", "--set", "calibration_batches=1",
            "--set", f"out={tmp / name}", "--set", f"run_dir={tmp / 'runs' / name}"]


def ms2_config(stage: str) -> str:
    return str(CONFIGS / f"ms2-{stage}.yaml")


def log_rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def trained(ms2_root, tmp_path_factory, backbone_specs):
    """align -> calibrate -> fuse -> teacher -> distill on the MS2 root, 2 steps each, as the
    README's MS2 commands run them (with the tiny CLIP / DINOv2 in place of the real ones)."""
    root, _ = ms2_root
    tmp = tmp_path_factory.mktemp("ms2-train")
    clip, dino = backbone_specs
    train_main(["align", "--config", ms2_config("align"), *on_ms2(root, tmp, "align"),
                "--set", "model.input_size=[64,160]"])
    train_main(["calibrate", "--config", ms2_config("align"), *on_ms2(root, tmp, "align")])
    train_main(["fuse", "--config", ms2_config("fuse"), *on_ms2(root, tmp, "fuse"),
                "--set", f"align_checkpoint={tmp / 'align'}"])
    train_main(["teacher", "--config", ms2_config("teacher"), *on_ms2(root, tmp, "teacher"),
                "--set", f"align_checkpoint={tmp / 'align'}", "--set", f"model.clip={clip}",
                "--set", f"model.dino={dino}", "--set", "model.dino_image_size=[32,80]"])
    train_main(["distill", "--config", ms2_config("student"), *on_ms2(root, tmp, "student"),
                "--set", f"teacher_checkpoint={tmp / 'teacher'}"])
    return tmp


def test_every_stage_records_exactly_what_it_trained_on(ms2_root, trained):
    root, lists = ms2_root
    test_sequences = {seq for name in TEST_LISTS for seq in lists[name]}
    for name, stage in (("align", "align"), ("fuse", "fuse"), ("teacher", "teacher"), ("student", "distill")):
        model, description = load_checkpoint(trained / name)
        data = description["training_data"]
        assert description["stage"] == stage
        assert data["dataset"] == "ms2" and data["root"] == str(root)
        assert data["train_sequences"] == lists["train_list.txt"], name
        assert not set(data["train_sequences"]) & test_sequences
        assert data["train_frames"] == 4  # 2 sequences x 2 frames, every one (training samples every frame)
        assert description["selection"]["split"] == "val"
        metrics = json.loads((trained / name / "metrics.json").read_text())
        assert set(metrics["metric"]["spectral"]) == {"rgb", "nir", "thr"}
    assert load_checkpoint(trained / "align")[1]["calibration_command"].startswith("python -m train calibrate")


def test_tensorboard_events_hold_losses_lr_throughput_validation_and_depth_images(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = trained / "runs" / "align"
    assert list(run.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(run), size_guidance={"images": 0}).Reload()
    scalars = set(events.Tags()["scalars"])
    logged = set(log_rows(run / "log.csv")[0]) - {"step", "epoch", "lr", "seconds"}
    assert {f"loss/{name}" for name in logged} | {"optim/lr", "throughput/frames_per_second", "val/score"} <= scalars
    assert "val_median_scaled/spectral_thr/abs_rel" in scalars
    assert [event.step for event in events.Scalars("loss/loss")] == [1, 2]
    assert {"input/rgb", "depth/rgb", "input/thr", "depth/thr"} <= set(events.Tags()["images"])


def test_no_frame_of_a_test_list_reaches_training(ms2_root):
    root, lists = ms2_root
    cfg = load_config(ms2_config("align"), ["data.dataset=ms2", f"data.root={root}"], stage="align")
    test_sequences = {seq for name in TEST_LISTS for seq in lists[name]}
    for split in ("train", "val"):
        dataset = build_dataset(cfg.data, split, augment=False)
        read = {dataset.source[i].name.split("/")[0] for i in range(len(dataset))}
        assert read and not read & test_sequences, split


def test_a_test_sequence_listed_for_training_is_refused(ms2_root, tmp_path):
    root, lists = ms2_root
    leaky = tmp_path / "MS2"
    shutil.copytree(root, leaky)
    night = lists["test_night_list.txt"][0]
    (leaky / "train_list.txt").write_text("\n".join([*lists["train_list.txt"], night]) + "\n")
    cfg = load_config(ms2_config("align"), ["data.dataset=ms2", f"data.root={leaky}"], stage="align")
    with pytest.raises(DataError, match=f"{night}.*test_night_list.txt.*never reach train"):
        build_dataset(cfg.data, "train", augment=True)


def test_eval_reports_each_test_split_and_the_mean_of_their_means(ms2_root, trained, tmp_path, capsys):
    root, _ = ms2_root
    train_main(["eval", "--config", ms2_config("eval"), "--set", f"data.root={root}",
                "--set", f"checkpoints=[{trained / 'fuse'},{trained / 'student'}]",
                "--set", "data.size=[64,160]", "--set", f"report={tmp_path / 'EVAL.md'}"])
    report = (tmp_path / "EVAL.md").read_text()
    assert report.startswith("## MS2 test split (test_day_list.txt, test_night_list.txt, test_rainy_list.txt, "
                             "frames [0:-1:10] of each list as the reference samples them; network input 64 x 160; "
                             "prediction upsampled to the native ground truth; valid 0.001 < gt < 80 m")
    # the median-scaled table (the reference's default) leads, in its layout; the metric one follows
    sections = report.split("\n### ")
    assert [section.splitlines()[0] for section in sections[1:]] == [
        "median-scaled (the reference's default: compare with published numbers)", "metric"]
    median_rows = [line.split(" | ")[:2] for line in sections[1].splitlines()[4:]]
    assert median_rows[:4] == [["| fuse", "spectral-wise RGB"], ["| fuse", "spectral-wise NIR"],
                               ["| fuse", "spectral-wise Thermal"], ["| fuse", "fused in RGB"]]
    assert sections[1].splitlines()[2].startswith("| model | output | day AbsRel | day SqRel |")
    assert "mean AbsRel" in sections[1] and "| student | spectral-wise Thermal |" in sections[2]
    results = json.loads((tmp_path / "EVAL.json").read_text())
    for scaling in ("metric", "median_scaled"):
        for mode, by_spectrum in results["fuse"][scaling].items():
            for spectrum, by_condition in by_spectrum.items():
                assert set(by_condition) == {"day", "night", "rain", "all"}, (mode, spectrum)
                for name in METRIC_NAMES:
                    mean = sum(by_condition[c][name] for c in ("day", "night", "rain")) / 3
                    assert by_condition["all"][name] == pytest.approx(mean, rel=1e-12)
    assert report.strip() in capsys.readouterr().out


def test_eval_uses_every_tenth_frame_at_native_ground_truth(ms2_root):
    root, lists = ms2_root
    cfg = load_config(ms2_config("eval"), [f"data.root={root}", "data.size=[64,160]"], stage="eval")
    dataset = build_dataset(cfg.data, "test", augment=False, native_depth=True)
    # [0:-1:10] of each list's frames in list order: the first frame of each list
    firsts = [f"{lists[name][0]}/{ms2.list_frames(root, lists[name][0])[0]}" for name in TEST_LISTS]
    assert [dataset.source[i].name for i in range(len(dataset))] == firsts
    item = dataset[0]
    native = ms2.read_calibration(root, dataset.source[0].name.split("/")[0])["rgb"]
    assert item["image/rgb"].shape[-2:] == (64, 160)
    assert item["depth/rgb"].shape[-2:] == native.size


def test_real_ms2_frames_without_depth_are_listed_and_skipped_by_the_metrics(ms2_root, shared_ms2):
    root, lists = ms2_root
    assert REAL_SEQUENCE in lists["test_day_list.txt"]
    frame = ms2.read_frame(root, REAL_SEQUENCE, "000011")
    assert frame.images["thr"].dtype == np.uint16 and not frame.depth


def test_pickled_calibration_needs_the_trust_flag_or_the_converter(ms2_root, tmp_path):
    root, lists = ms2_root
    pickled = tmp_path / "MS2"
    shutil.copytree(root, pickled)
    K = {s: ms2.read_calibration(root, lists["train_list.txt"][0])[s].K for s in ("rgb", "nir", "thr")}
    calib = {"K_rgbL": K["rgb"], "K_nirL": K["nir"], "K_thrL": K["thr"],
             "R_nir2thr": np.eye(3), "T_nir2thr": np.array([100.0, 0.0, 0.0]),
             "R_nir2rgb": np.eye(3), "T_nir2rgb": np.array([-50.0, 0.0, 0.0])}
    for seq in lists["train_list.txt"] + lists["val_list.txt"]:
        folder = ms2.sequence_dir(pickled, seq)
        (folder / "calib.json").unlink()
        np.save(folder / "calib.npy", calib, allow_pickle=True)
    overrides = ["data.dataset=ms2", f"data.root={pickled}"]
    cfg = load_config(ms2_config("align"), overrides, stage="align")
    with pytest.raises(CalibrationError, match="convert-calib"):
        build_dataset(cfg.data, "train", augment=True)
    trusted = load_config(ms2_config("align"), [*overrides, "data.trust_pickled_calib=true"], stage="align")
    trusted.data.size = [64, 160]
    assert len(build_dataset(trusted.data, "train", augment=True)) == 4

    result = subprocess.run([sys.executable, "-m", "core.data.ms2", "convert-calib", str(pickled)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"converted {len(lists['train_list.txt']) + len(lists['val_list.txt'])} sequence" in result.stdout
    cameras = ms2.read_calibration(pickled, lists["train_list.txt"][0])
    assert np.allclose(cameras["nir"].T_rig_cam[:3, 3], [0.1, 0.0, 0.0])


def test_a_typo_in_set_is_refused_with_the_nearest_name(ms2_root, tmp_path):
    root, _ = ms2_root
    with pytest.raises(ConfigError, match="unknown config key 'optim.stpes'; did you mean 'optim.steps'"):
        train_main(["align", "--config", ms2_config("align"), *on_ms2(root, tmp_path, "typo"),
                    "--set", "optim.stpes=3"])
    with pytest.raises(ConfigError, match="'data.trust_pickled_calib' must be bool"):
        load_config(ms2_config("align"), ["data.trust_pickled_calib=maybe"], stage="align")
    with pytest.raises(ConfigError, match="is a 'teacher' config; run it with `python -m train teacher`"):
        load_config(ms2_config("teacher"), [], stage="align")
    with pytest.raises(ConfigError, match=r"loss.p_texture_swap is a probability, between 0 and 1; got 1.5"):
        load_config(ms2_config("align"), ["loss.p_texture_swap=1.5"], stage="align")
    with pytest.raises(ConfigError, match=r"loss.texture_gain_range must be \[low, high\]"):
        load_config(ms2_config("align"), ["loss.texture_gain_range=[2.0,1.0]"], stage="align")
    assert not (tmp_path / "runs" / "typo").exists()


@pytest.fixture
def one_thread():
    """Bit-for-bit comparisons of two runs: with several threads, a loaded machine can change CPU
    reduction orders in the last bits between two runs from scratch, which says nothing about them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_resumed_run_sees_the_batches_of_an_uninterrupted_one(ms2_root, tmp_path, one_thread):
    """4 steps straight vs 2 steps then --resume to 4: the same losses at every step and the same
    weights, bit for bit (an epoch is 2 batches here, so the resume starts mid-sampler too)."""
    root, _ = ms2_root
    common = ["align", "--config", ms2_config("align"), "--set", "validate_every=0"]
    train_main([*common, *on_ms2(root, tmp_path, "straight", steps=4), "--set", "optim.batch_size=1"])
    train_main([*common, *on_ms2(root, tmp_path, "resumed", steps=3), "--set", "optim.batch_size=1"])
    train_main([*common, *on_ms2(root, tmp_path, "resumed", steps=4), "--set", "optim.batch_size=1", "--resume"])
    straight = log_rows(tmp_path / "runs" / "straight" / "log.csv")
    resumed = log_rows(tmp_path / "runs" / "resumed" / "log.csv")
    assert [r["step"] for r in resumed] == ["1", "2", "3", "4"]
    for a, b in zip(straight, resumed):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    first = torch.load(tmp_path / "runs" / "straight" / "training_state.pt", weights_only=True)["model"]
    second = torch.load(tmp_path / "runs" / "resumed" / "training_state.pt", weights_only=True)["model"]
    for name, value in first.items():
        assert torch.equal(value, second[name]), name


def test_ddp_two_processes_with_gloo_on_the_ms2_root(ms2_root, tmp_path):
    root, _ = ms2_root
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_PORT": "29517"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
           "-m", "train", "align", "--config", ms2_config("align"), *on_ms2(root, tmp_path, "ddp"),
           "--set", "optim.batch_size=1", "--set", "optim.accumulate=2", "--set", "ddp_timeout_minutes=5"]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    # ms2-align.yaml's lr 5e-4 is for 16 frames a step; 2 processes x 1 x 2 accumulated = 4
    assert "optim.lr 0.0005 is for a global batch of 16; this run's is 2 processes x 1 x 2 accumulated = 4: " \
           "lr 0.000125" in result.stdout
    assert [row["step"] for row in log_rows(tmp_path / "runs" / "ddp" / "log.csv")] == ["1", "2"]
    _, description = load_checkpoint(tmp_path / "ddp")
    assert description["training_data"]["dataset"] == "ms2"
    assert sorted(p.name for p in (tmp_path / "runs" / "ddp" / "rng").iterdir()) == ["rank0.pt", "rank1.pt"]


def test_the_ms2_script_runs_every_stage_in_order(tmp_path, backbone_specs):
    """scripts/train_ms2.sh end to end on a tiny root as MS2 ships it (its list names, pickled
    calib.npy only) under a path with a space: the trust flag given once reaches every command,
    eval included; one process, 2 steps a stage, the tiny CLIP / DINOv2 in place of the real ones."""
    root = tmp_path / "MS2 copy"
    lists = write_tiny_ms2_root(root)
    for seq in {seq for names in lists.values() for seq in names}:
        cameras = ms2.read_calibration(root, seq)
        calib = {f"K_{s}L": cameras[s].K for s in ("rgb", "nir", "thr")}
        calib |= {"R_nir2thr": np.eye(3), "T_nir2thr": np.array([100.0, 0.0, 0.0]),
                  "R_nir2rgb": np.eye(3), "T_nir2rgb": np.array([-50.0, 0.0, 0.0])}
        (ms2.sequence_dir(root, seq) / "calib.json").unlink()
        np.save(ms2.sequence_dir(root, seq) / "calib.npy", calib, allow_pickle=True)
    clip, dino = backbone_specs
    out = tmp_path / "out dir"
    env = {**os.environ, "PY": sys.executable, "OMP_NUM_THREADS": "1", "CLIP_SPEC": clip, "DINO_SPEC": dino,
           "OUT": str(out / "checkpoints"), "RUNS": str(out / "runs"), "DINO_IMAGE_SIZE": "[32,80]"}
    tiny = ["--set", "optim.steps=2", "--set", "optim.batch_size=2", "--set", "num_workers=0",
            "--set", "validate_every=0", "--set", "calibration_batches=1", "--set", "data.size=[64,160]",
            "--set", "data.trust_pickled_calib=true"]
    result = subprocess.run(["bash", str(REPO / "scripts" / "train_ms2.sh"), str(root), "1", *tiny],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{root}: ok" in result.stdout
    for name in ("ms2-align", "ms2-fuse", "ms2-teacher", "ms2-student"):
        assert (out / "checkpoints" / name / "model.safetensors").is_file(), name
    assert "eval: ignoring optim.steps=2 (a training option)" in result.stdout
    report = (out / "checkpoints" / "EVAL-ms2.md").read_text()
    assert report.startswith("## MS2 test split") and "| ms2-fuse | fused in RGB |" in report.split("### metric")[0]
