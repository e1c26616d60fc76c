"""Command line of MS-Synth.

    python -m core.data.msynth render --seed 3 --condition fog --out /tmp/x

``render`` writes one frame as PNGs for a quick look: the raw images (thermal as 16-bit raw
counts), depth per camera as 16-bit metres x 256 (the KITTI / MS2 convention) and a preview
sheet with every image and depth map in 8 bits.

    python -m core.data.msynth fog [--split test] [--sequences 12]

``fog`` says how much fog hides, per spectrum, on a split's fog sequences: the share of the
evaluated pixels (ground truth up to 80 m) whose transmittance is below 0.05 (hidden) and 0.2
(dimmed), and the median depth of the hidden ones. A network can only do worse in fog where
the fog hides depth it cannot guess.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from core.data.frame import EVAL_CONDITIONS, SPECTRA, Frame
from core.data.msynth.world import FOG_DIMMED, FOG_HIDDEN, fog_visibility, render_frame, sequence_condition, split_seeds
from core.metrics import MAX_DEPTH

DEPTH_PNG_SCALE = 256.0


def _to_8bit(image: np.ndarray) -> np.ndarray:
    """8-bit RGB view; 16-bit images are stretched between their 1st and 99th percentiles."""
    if image.dtype == np.uint8:
        return image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    lo, hi = np.percentile(image, [1, 99])
    grey = np.clip((image.astype(np.float32) - lo) / max(hi - lo, 1.0), 0.0, 1.0)
    return np.repeat((255 * grey).astype(np.uint8)[..., None], 3, axis=2)


def _depth_preview(depth: np.ndarray) -> np.ndarray:
    """Inverse-depth grey levels (near bright), black where invalid."""
    near = np.where(depth > 0, 1.0 / np.maximum(depth, 1e-3), 0.0)
    grey = np.clip(np.sqrt(near / 0.5), 0.0, 1.0)
    return np.repeat((255 * grey).astype(np.uint8)[..., None], 3, axis=2)


def preview_sheet(frame: Frame) -> np.ndarray:
    """Images (left) and depth maps (right) of every spectrum, stacked, padded to one width."""
    rows = [np.concatenate([_to_8bit(frame.images[s]), _depth_preview(frame.depth[s])], axis=1)
            for s in frame.spectra]
    width = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])


def write_frame_pngs(frame: Frame, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for spectrum in frame.spectra:
        paths = (out / f"{frame.name}_{spectrum}.png", out / f"{frame.name}_{spectrum}_depth.png")
        Image.fromarray(frame.images[spectrum]).save(paths[0])
        depth = np.clip(np.round(frame.depth[spectrum] * DEPTH_PNG_SCALE), 0, 65535)
        Image.fromarray(depth.astype(np.uint16)).save(paths[1])
        written += paths
    written.append(out / f"{frame.name}_preview.png")
    Image.fromarray(preview_sheet(frame)).save(written[-1])
    return written


def _render(args: argparse.Namespace) -> None:
    frame = render_frame(args.seed, frame_index=args.frame, condition=args.condition,
                         spectra=tuple(args.spectra), scale=args.scale)
    for path in write_frame_pngs(frame, args.out):
        print(path)


def _fog(args: argparse.Namespace) -> None:
    seeds = [s for s in split_seeds(args.split) if sequence_condition(s) == "fog"][:args.sequences]
    print(f"fog on {len(seeds)} {args.split} sequences x {args.frames} frames, pixels with ground truth "
          f"up to {MAX_DEPTH:g} m")
    print(f"{'spectrum':10}{f'hidden (t < {FOG_HIDDEN:g})':>20}{f'dimmed (t < {FOG_DIMMED:g})':>20}"
          f"{'median depth hidden':>22}")
    for spectrum, row in fog_visibility(seeds, args.frames).items():
        print(f"{spectrum:10}{row['hidden']:20.3f}{row['dimmed']:20.3f}{row['hidden_median_depth']:20.1f} m")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.data.msynth",
                                     description="MS-Synth procedural multi-spectral driving world")
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="render one frame to PNGs")
    render.add_argument("--seed", type=int, default=0)
    render.add_argument("--frame", type=int, default=0, help="frame index along the sequence")
    render.add_argument("--condition", choices=EVAL_CONDITIONS, default=None,
                        help="default: the sequence's own condition")
    render.add_argument("--spectra", nargs="+", choices=SPECTRA, default=list(SPECTRA))
    render.add_argument("--scale", type=float, default=1.0)
    render.add_argument("--out", type=Path, required=True)
    render.set_defaults(run=_render)
    fog = commands.add_parser("fog", help="how much the fog hides, per spectrum")
    fog.add_argument("--split", choices=("train", "val", "test"), default="test")
    fog.add_argument("--sequences", type=int, default=12, help="fog sequences of the split to read")
    fog.add_argument("--frames", type=int, default=3, help="frames per sequence, spread along it")
    fog.set_defaults(run=_fog)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
