"""Align-and-fuse on CPU: three spectral-wise passes against one fused pass, and parameters.

    python -m bench.bench_align_fuse [--repeats 7] [--height 256] [--width 640] [--compare-encoder lcnet_150]

Every variant runs once per repeat, interleaved, so load from other processes hits all of
them alike; the table gives the median after warm-up runs, under torch.no_grad. Cameras are
the MS-Synth rig resized to the input size, as the data loader gives them. The fusion
module has the shipped settings (``train/configs/msynth-fuse.yaml``), and the model is prepared
as the studio runs it (``prepare_for_inference``: BatchNorm folded, channels-last weights).
Weights are freshly initialised: latency does not depend on their values. ``--compare-encoder``
adds the same network with another timm encoder (level and decoder widths unchanged) side by
side: the cost half of the encoder-capacity trade.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import time
from collections.abc import Callable

import torch

from bench.tables import print_ratio_table
from core.data.frame import SPECTRA
from core.data.msynth import make_rig
from core.models import AlignFuseConfig, build_model, parameter_report, prepare_for_inference
from core.models.depthnet import SPECTRUM_CHANNELS
from core.settings import TRAIN_CONFIGS_DIR
from train.config import load_config


def rig_inputs(height: int, width: int) -> tuple[dict, dict, dict]:
    cameras = {s: camera.resized(height, width) for s, camera in make_rig().items()}
    images = {s: torch.rand(1, SPECTRUM_CHANNELS[s], height, width) for s in SPECTRA}
    K = {s: torch.tensor(cameras[s].K, dtype=torch.float32)[None] for s in SPECTRA}
    T = {s: torch.tensor(cameras[s].T_rig_cam, dtype=torch.float32)[None] for s in SPECTRA}
    return images, K, T


def time_interleaved(variants: dict[str, Callable[[], object]], repeats: int, warmup: int) -> dict[str, float]:
    """Median milliseconds of each variant."""
    samples = {name: [] for name in variants}
    for repeat in range(warmup + repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            if repeat >= warmup:
                samples[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(times) for name, times in samples.items()}


def add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    """--repeats, --warmup and the input --height / --width every latency benchmark takes."""
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=640)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_arguments(parser)
    parser.add_argument("--compare-encoder", metavar="NAME",
                        help="also time the network with this encoder, e.g. lcnet_150")
    args = parser.parse_args()

    torch.manual_seed(0)
    fusion_settings = load_config(TRAIN_CONFIGS_DIR / "msynth-fuse.yaml").model
    config = AlignFuseConfig(**fusion_settings, input_size=(args.height, args.width))
    trained = build_model(config).eval()
    model = prepare_for_inference(copy.deepcopy(trained))
    network = model.network
    images, K, T = rig_inputs(args.height, args.width)
    anchor = config.default_anchor
    with torch.no_grad():
        features = {s: network.encode(images[s], s) for s in SPECTRA}
        anchor_depth = network.decode(features[anchor], (args.height, args.width), anchor)
    sizes = {s: (args.height, args.width) for s in SPECTRA}

    # The "no warping" ablation: the same weights, other spectra resized instead of warped.
    unwarped = build_model(dataclasses.replace(config, fusion_geometry=False)).eval()
    unwarped.load_state_dict(trained.state_dict())
    unwarped = prepare_for_inference(unwarped)

    variants = {
        "3 spectral-wise passes (3 enc + 3 dec)": lambda: [network(images[s], s) for s in SPECTRA],
        "fused pass (3 enc + anchor dec + fusion + dec)": lambda: model.fused_depth(images, K, T, anchor),
        "fused, no warping (3 enc + fusion + dec)": lambda: unwarped.fused_depth(images, anchor=anchor),
        "all outputs (3 spectral-wise + fused)": lambda: model(images, K, T, anchor),
        "  one encoder": lambda: network.encode(images[anchor], anchor),
        "  one decoder": lambda: network.decode(features[anchor], (args.height, args.width), anchor),
        "  fusion module (warp, weights, attention)": lambda: model.fusion(features, anchor, anchor_depth, K, T, sizes),
    }
    if args.compare_encoder:
        compared = build_model(dataclasses.replace(config, encoder=args.compare_encoder, fusion=False)).eval()
        compared_parameters = parameter_report(compared)["one_spectral_network"]
        compared_network = prepare_for_inference(compared).network
        variants[f"3 spectral-wise passes, {args.compare_encoder} encoder"] = (
            lambda: [compared_network(images[s], s) for s in SPECTRA])
        variants[f"  one encoder, {args.compare_encoder}"] = lambda: compared_network.encode(images[anchor], anchor)
    with torch.no_grad():
        latency = time_interleaved(variants, args.repeats, args.warmup)

    baseline = latency["3 spectral-wise passes (3 enc + 3 dec)"]
    print(f"align-and-fuse, {config.encoder} encoder, {args.height} x {args.width}, batch 1, CPU, "
          f"{torch.get_num_threads()} threads, median of {args.repeats} after {args.warmup} warm-up, "
          f"anchor {anchor}")
    print_ratio_table("latency", "ms", "x 3 spectral", latency, baseline)

    report = parameter_report(trained)
    one = report["one_spectral_network"]
    rows = {
        "one spectral network (trunk + 1 stem)": one,
        "shared network (trunk + 3 stems)": report["network"],
        "fusion module": report["fusion"],
        "shared network + fusion module": report["network"] + report["fusion"],
        "three separate spectral networks": report["three_separate_networks"],
    }
    if args.compare_encoder:
        rows[f"one spectral network, {args.compare_encoder} encoder"] = compared_parameters
    print()
    print_ratio_table("parameters", "count", "x one net", rows, one, ",")


if __name__ == "__main__":
    main()
