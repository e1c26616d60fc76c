"""`python -m train gpu-check`: does training hold on this GPU? Each stage (align, fuse, teacher,
distill) runs ``STEPS`` steps on a small MS-Synth split in bf16, in order (each from the one
before); every loss term must fall (mean of its last logged fifth below its first), and the fusion
warp under bf16 autocast must land within 0.01 px of fp32. One table: steps per second and peak
GPU memory per stage. Without CUDA it says so in one line and exits 3."""
from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

import torch

from core.geometry import make_transform, pixel_grid, rotation_xyz
from core.models.fusion import warp_features
from core.settings import TRAIN_CONFIGS_DIR

NO_CUDA_EXIT = 3
STEPS = 300
# stage, config, the option naming the checkpoint it starts from (and the stage that wrote it)
STAGES = (("align", "msynth-align.yaml", None), ("fuse", "msynth-fuse.yaml", ("align_checkpoint", "align")),
          ("teacher", "msynth-teacher.yaml", ("align_checkpoint", "align")),
          ("distill", "msynth-student.yaml", ("teacher_checkpoint", "teacher")))
SMALL = ["data.train.n_sequences=16", "data.train.frames_per_sequence=4", "data.val.n_sequences=4",
         "data.val.frames_per_sequence=2", "precision=bf16", "num_workers=4", "log_every=10",
         "validate_every=0", f"save_every={STEPS}"]


def warp_error_px() -> float:
    """Largest gap, in pixels, between where the bf16-autocast and the fp32 fusion warp sample."""
    device = torch.device("cuda")
    height, width = 256, 640
    K = torch.tensor([[[410.0, 0.0, 321.3], [0.0, 412.0, 128.7], [0.0, 0.0, 1.0]]], device=device)
    T = torch.from_numpy(make_transform(rotation_xyz(0.01, -0.02, 0.005), [0.12, -0.03, 0.05])).float()[None].to(device)
    depth = 5.0 + 35.0 * torch.rand(1, 1, height, width, device=device)
    coordinates = pixel_grid(height, width, device=device)[:2][None]
    full = warp_features(coordinates, (height, width), K, depth, (height, width), K, T)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        mixed = warp_features(coordinates, (height, width), K, depth, (height, width), K, T)
    valid = full[1] & mixed[1]
    return float((mixed[0] - full[0]).abs().amax(dim=1, keepdim=True)[valid].max())


def losses_that_did_not_fall(log_csv: Path) -> list[str]:
    with log_csv.open() as f:
        rows = list(csv.DictReader(f))
    fifth = max(1, len(rows) // 5)
    # '_valid' columns are shares of usable pixels, not losses
    terms = [name for name in rows[0] if name not in ("step", "epoch", "lr", "seconds") and not name.endswith("_valid")]
    return [name for name in terms if mean_of(rows[-fifth:], name) >= mean_of(rows[:fifth], name)]


def mean_of(rows: list[dict], name: str) -> float:
    return sum(float(row[name]) for row in rows) / len(rows)


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device visible to torch here; run it on a machine with a GPU")
        return NO_CUDA_EXIT
    from train.__main__ import main as train_main  # the stages, loaded only where they will run

    rows, failures = [], []
    error = warp_error_px()
    if error >= 0.01:
        failures.append(f"bf16 and fp32 fusion warps differ by {error:.3f} px")
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        out = Path(folder)
        for stage, config, parent in STAGES:
            options = [*SMALL, f"optim.steps={STEPS}", f"optim.restart_steps={STEPS}", f"out={out / stage}",
                       f"run_dir={out / 'runs' / stage}"]
            if parent:
                options.append(f"{parent[0]}={out / parent[1]}")
            torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            train_main([stage, "--config", str(TRAIN_CONFIGS_DIR / config),
                        *(part for option in options for part in ("--set", option))])
            torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            flat = losses_that_did_not_fall(out / "runs" / stage / "log.csv")
            failures += [f"{stage}: loss term '{name}' did not fall" for name in flat]
            memory_gib = torch.cuda.max_memory_allocated() / 2**30
            rows.append((stage, STEPS / seconds, memory_gib, "FLAT" if flat else "ok"))
    print(f"\ngpu-check on {torch.cuda.get_device_name()}: bf16 vs fp32 warp {error:.4f} px")
    print(f"{'stage':<10}{'steps/s':>10}{'peak GiB':>10}  losses")
    for stage, speed, memory, verdict in rows:
        print(f"{stage:<10}{speed:>10.2f}{memory:>10.2f}  {verdict}")
    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0
