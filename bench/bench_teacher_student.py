"""VFM teacher against distilled student on CPU: latency and parameters, side by side.

    python -m bench.bench_teacher_student [--clip builtin:clip] [--dino builtin:dino] [--repeats 7]
    python -m bench.bench_teacher_student --real-size-backbones

Both run on the same 256 x 640 image of each spectrum, interleaved (see
``bench_align_fuse.time_interleaved``), teacher backbones included, prepared as the studio runs
them (``prepare_for_inference``: BatchNorm folded, channels-last weights); the last two latency
rows time them as trained (BatchNorm, default memory layout).
They use the shipped configs' settings (``train/configs/msynth-{teacher,student}.yaml``) and
the backbones named on the command line (default: the built-in ones; pass real specs to see
their cost).
Weights are freshly initialised: latency does not depend on their values. So
``--real-size-backbones`` times a teacher on the smallest real foundation models, CLIP
ViT-B-32 and DINOv2-small, built with random weights in a temporary folder and loaded through
the same folder path as real weights, which need a download this machine cannot make.
"""
from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import open_clip
import torch
from transformers import Dinov2Config, Dinov2Model

from bench.bench_align_fuse import add_timing_arguments, time_interleaved
from bench.tables import print_ratio_table
from core.data.frame import SPECTRA
from core.models import build_model, parameter_report, prepare_for_inference
from core.models.depthnet import SPECTRUM_CHANNELS
from core.models.student import StudentConfig
from core.models.teacher import TeacherConfig
from core.models.vfm.builtin import save_clip_folder
from core.settings import TRAIN_CONFIGS_DIR
from train.config import load_config


# The shipped teacher's DINO input (96 x 240 at patch 16) rounded to DINOv2's patch 14.
DINOV2_IMAGE_SIZE = (98, 238)
DINOV2_SMALL = dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4, patch_size=14,
                    image_size=518)


def save_real_size_backbones(folder: Path) -> tuple[str, str]:
    """Random-weight CLIP ViT-B-32 and DINOv2-small in the folder layouts of real weights; their specs."""
    clip = open_clip.create_model("ViT-B-32", pretrained=None)
    save_clip_folder(clip, open_clip.get_model_config("ViT-B-32"), folder / "clip-vit-b-32")
    Dinov2Model(Dinov2Config(**DINOV2_SMALL)).save_pretrained(folder / "dinov2-small")
    return f"clip:{folder / 'clip-vit-b-32'}", f"dino:{folder / 'dinov2-small'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="builtin:clip")
    parser.add_argument("--dino", default="builtin:dino")
    parser.add_argument("--real-size-backbones", action="store_true",
                        help="random-weight CLIP ViT-B-32 and DINOv2-small instead of --clip / --dino")
    add_timing_arguments(parser)
    args = parser.parse_args()
    args.backbones = f"{args.clip}, {args.dino}"
    with tempfile.TemporaryDirectory() as folder:
        if args.real_size_backbones:
            torch.manual_seed(0)
            args.clip, args.dino = save_real_size_backbones(Path(folder))
            args.backbones = "CLIP ViT-B-32 and DINOv2-small, random weights"
        run(args)


def run(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    teacher_settings = load_config(TRAIN_CONFIGS_DIR / "msynth-teacher.yaml").model
    student_settings = load_config(TRAIN_CONFIGS_DIR / "msynth-student.yaml").model
    if args.real_size_backbones:
        teacher_settings["dino_image_size"] = DINOV2_IMAGE_SIZE
    teacher_config = TeacherConfig(**{**teacher_settings, "clip": args.clip, "dino": args.dino,
                                      "input_size": (args.height, args.width)})
    trained_teacher = build_model(teacher_config).eval()
    student_config = StudentConfig(**student_settings, input_size=(args.height, args.width),
                                   num_bins=teacher_config.num_bins,
                                   teacher_level_widths=tuple(trained_teacher.depth_net.level_widths))
    trained_student = build_model(student_config).eval()
    teacher = prepare_for_inference(copy.deepcopy(trained_teacher))
    student = prepare_for_inference(copy.deepcopy(trained_student))
    images = {s: torch.rand(1, SPECTRUM_CHANNELS[s], args.height, args.width) for s in SPECTRA}
    rgb = images["rgb"]
    variants = {
        "teacher, 3 spectra": lambda: teacher.spectral_depth(images),
        "student, 3 spectra": lambda: student.spectral_depth(images),
        "teacher, RGB": lambda: teacher(rgb, "rgb"),
        "student, RGB": lambda: student(rgb, "rgb"),
        "  teacher's CLIP image tower": lambda: teacher.clip(rgb),
        "  teacher's DINO": lambda: teacher.dino(rgb),
        "  teacher's depth network alone": lambda: teacher.depth_net(rgb, "rgb"),
        "teacher, 3 spectra, as trained": lambda: trained_teacher.spectral_depth(images),
        "student, 3 spectra, as trained": lambda: trained_student.spectral_depth(images),
    }
    with torch.no_grad():
        latency = time_interleaved(variants, args.repeats, args.warmup)

    print(f"teacher ({args.backbones}) vs student ({student.config.encoder}), {args.height} x "
          f"{args.width}, batch 1, CPU, {torch.get_num_threads()} threads, median of {args.repeats} after "
          f"{args.warmup} warm-up")
    baseline = latency["teacher, 3 spectra"]
    print_ratio_table("latency", "ms", "x teacher", latency, baseline)

    teacher_parameters, student_parameters = parameter_report(trained_teacher), parameter_report(trained_student)
    rows = {
        "teacher, with its frozen backbones": teacher_parameters["total"],
        "  frozen CLIP + DINO": teacher_parameters["frozen_backbones"],
        "  trained (depth network, aggregation, bins)": teacher_parameters["trained"],
        "student at inference": student_parameters["inference"],
        "  + feature-imitation projections (training)": student_parameters["imitation_projections"],
    }
    print()
    print_ratio_table("parameters", "count", "x teacher", rows, teacher_parameters["total"], ",")


if __name__ == "__main__":
    main()
