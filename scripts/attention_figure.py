"""The attention figure of docs/experiments.md: CLIP and DINO maps over one MS-Synth sample, every spectrum.

    python -m scripts.attention_figure [--sample "night · scene 200002"] [--out docs/attention.png]

Rows: RGB, NIR, thermal. Columns: the input, DINO attention rollout, CLIP last-layer CLS
attention (mean of heads), CLIP similarity to a prompt. Backbones resolve as in the studio
(real CLIP / DINOv2 when available, else the built-in ones; the title says which).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from core import inference  # noqa: E402
from core.data.frame import SPECTRA, SPECTRUM_LABELS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default=None, help="a gallery sample name (default: the first night one)")
    parser.add_argument("--prompt", default="This car appears to be very close")
    parser.add_argument("--out", type=Path, default=Path("docs/attention.png"))
    args = parser.parse_args()
    samples = inference.list_samples()
    name = args.sample or next(s.name for s in samples if s.condition == "night")
    frame = inference.load_sample(name)
    columns = ["input", "DINO rollout", "CLIP CLS attention, last layer", f'CLIP: "{args.prompt}"']
    figure, axes = plt.subplots(len(SPECTRA), len(columns), figsize=(4.2 * len(columns), 1.75 * len(SPECTRA)))
    for row, spectrum in enumerate(SPECTRA):
        views = [inference.attention_view(frame, spectrum, "dino", rollout=True),
                 inference.attention_view(frame, spectrum, "clip"),
                 inference.prompt_view(frame, spectrum, args.prompt)]
        images = [inference.display_image(frame, spectrum), *(view.overlay for view in views)]
        for column, image in enumerate(images):
            axis = axes[row, column]
            axis.imshow(image, cmap="gray" if image.ndim == 2 else None, aspect="auto")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(columns[column], fontsize=9)
            if column == 0:
                axis.set_ylabel(SPECTRUM_LABELS[spectrum], fontsize=9)
    sources = [f"{kind.upper()}: {inference.load_vfm(kind)[0].source}" for kind in ("clip", "dino")]
    figure.suptitle(f"{name} · " + " · ".join(sources), fontsize=8)
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
