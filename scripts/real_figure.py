"""The real-image figure of docs/experiments.md: real MS2 trios and KITTI street frames beside their depth.

    python -m scripts.real_figure [--model CHECKPOINT] [--out docs/real_depth.png]

MS2 (../shared/samples/ms2): per frame, the RGB, NIR and thermal inputs, then each spectrum's
own depth (spectral-wise) and the fused depth in the thermal camera. Uploads carry no
calibration, so the MS-Synth rig (modelled on MS2's) is assumed, as in the studio.
KITTI (../shared/samples/kitti): the RGB input, its depth, and the LiDAR depth for comparison.
Depth is drawn in metres with one colour bar per row. The frames are read from ../shared and
never copied into the project; the caption names their sources and licences.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from core import inference  # noqa: E402
from core.data.frame import SPECTRA, SPECTRUM_LABELS  # noqa: E402
from core.models import FUSED  # noqa: E402
from core.settings import REPO_ROOT, SHARED_SAMPLES  # noqa: E402
from core.viz.colormap import DEFAULT_DEPTH_CMAP  # noqa: E402
from train.evaluate_real import frame_ids, read_real_frame  # noqa: E402

CAPTION = ("Real frames, never used in training. MS2: Multi-Spectral Stereo dataset (Shin et al., CVPR 2023), "
           "research use, see ../shared/samples/ms2/README.md. KITTI: Geiger, Lenz, Urtasun, CVPR 2012, "
           "CC BY-NC-SA 3.0, see ../shared/samples/kitti/README.md. Weights: {model}, trained on MS-Synth only.")


def ms2_frames(folder: Path) -> list[tuple[str, object]]:
    ids = sorted({p.name.split("_")[0] for p in folder.glob("*_rgb.png")})
    return [(frame_id, inference.load_upload({s: folder / f"{frame_id}_{s}.png" for s in SPECTRA}))
            for frame_id in ids]


def depth_axes(axes, depths: list[np.ndarray], titles: list[str], figure) -> None:
    """Depth maps sharing one metric colour range and one labelled colour bar."""
    valid = np.concatenate([d[d > 0].ravel() for d in depths])
    low, high = np.percentile(valid, [2, 98])
    for ax, depth, title in zip(axes, depths, titles):
        shown = np.where(depth > 0, depth, np.nan)
        image = ax.imshow(shown, cmap=DEFAULT_DEPTH_CMAP, vmin=low, vmax=high, interpolation="nearest")
        ax.set_title(title, fontsize=9)
    bar = figure.colorbar(image, ax=list(axes), fraction=0.02, pad=0.01)
    bar.set_label("depth [m]", fontsize=8)
    bar.ax.tick_params(labelsize=7)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=inference.DEFAULT_CHECKPOINT)
    parser.add_argument("--shared", type=Path, default=SHARED_SAMPLES, help="folder holding ms2/ and kitti/")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "real_depth.png")
    args = parser.parse_args(argv)
    ms2_folder, kitti_folder = args.shared / "ms2", args.shared / "kitti"
    if not ms2_folder.is_dir() or not kitti_folder.is_dir():
        raise SystemExit(f"real samples not found under {args.shared} (expected ms2/ and kitti/)")
    ms2 = ms2_frames(ms2_folder)
    kitti = [(frame_id, read_real_frame(kitti_folder, frame_id)) for frame_id in frame_ids(kitti_folder)]
    rows = 2 * len(ms2) + len(kitti)
    figure = plt.figure(figsize=(18, 2.3 * rows), layout="constrained")
    grid = figure.subplots(rows, 4)
    for index, (frame_id, frame) in enumerate(ms2):
        analysis = inference.analyse(frame, inference.AnalysisRequest(model=args.model, mode="both", anchor="thr"))
        inputs, depth_row = grid[2 * index], grid[2 * index + 1]
        for ax, spectrum in zip(inputs, SPECTRA):
            ax.imshow(inference.display_image(frame, spectrum), cmap="gray")
            ax.set_title(f"MS2 {frame_id}: {SPECTRUM_LABELS[spectrum]} input", fontsize=9)
        inputs[3].axis("off")
        outputs = [s for s in SPECTRA if s in analysis.outputs] + ([FUSED] if FUSED in analysis.outputs else [])
        depth_axes(depth_row[:len(outputs)], [analysis.depth(o) for o in outputs],
                   [f"depth: {inference.output_title(o, analysis.anchor)}" for o in outputs], figure)
        for ax in depth_row[len(outputs):]:
            ax.axis("off")
    for index, (frame_id, frame) in enumerate(kitti):
        row = grid[2 * len(ms2) + index]
        analysis = inference.analyse(frame, inference.AnalysisRequest(model=args.model, mode="spectral",
                                                                        spectra=("rgb",)))
        row[0].imshow(frame.images["rgb"])
        row[0].set_title(f"KITTI {frame_id}: RGB input", fontsize=9)
        lidar = frame.depth["rgb"]
        depth_axes(row[1:3], [analysis.depth("rgb"), lidar],
                   ["depth: RGB alone", "LiDAR depth (sparse, for comparison)"], figure)
        row[3].axis("off")
    for ax in grid.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    figure.suptitle(CAPTION.format(model=args.model), fontsize=9, wrap=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
