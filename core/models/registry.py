"""The one list of shipped models: every folder of ``checkpoints/`` with its role, a label and a
one-line description a user understands, the config that trained it and the evaluation reports
that hold its figures.

Everything else derives from it: the studios' defaults and choices (``core.inference``), the
models a public studio offers, the models each evaluation config scores when it names none, and
the README's models table (checked by tests/test_registry.py). Runs that were measured and not
chosen are not here and not in ``checkpoints/``: docs/experiments.md keeps their figures and
commands.

The order below is the order of the rows in the evaluation reports.
"""
from __future__ import annotations

from dataclasses import dataclass

# Roles in the order a model picker groups them; "backbone" models are CLIP / DINO, not depth models.
ROLE_LABELS = {"default": "Default", "teacher": "Teacher", "student": "Student",
               "network": "Align network", "control": "Control", "ablation": "Ablation", "backbone": "Backbone"}
ONE_OF_A_KIND = ("default", "teacher", "student")
EVALUATION_REPORTS = ("EVAL.md", "EVAL-distill.md", "EVAL-real.md", "EVAL-language.md")


@dataclass(frozen=True)
class RegisteredModel:
    """``name``: its folder in checkpoints/; ``label``: a few words for a model picker;
    ``config``: the training config, relative to the repo root (trained with
    ``python -m train <stage> --config <config>``); ``reports``: the files in checkpoints/
    that hold its figures; ``control_of``: for a control, the model it was trained as long as, from
    the same start, without the one thing that model adds."""

    name: str
    role: str
    label: str
    description: str
    config: str
    reports: tuple[str, ...]
    control_of: str = ""

    @property
    def is_depth_model(self) -> bool:
        return self.role != "backbone"

    @property
    def choice_label(self) -> str:
        """What a model picker shows: 'Default · fused align-and-fuse (RGB/NIR/thermal)'."""
        return f"{ROLE_LABELS[self.role]} · {self.label}"


MODELS = (
    RegisteredModel("msynth-align-continued", "control", "align network, the teacher's equal-training control",
                    "The teacher's starting network trained as many steps as the teacher, without CLIP or DINO: "
                    "what the teacher is measured against.",
                    "train/configs/msynth-align-continued.yaml", ("EVAL-distill.md", "EVAL-real.md"),
                    control_of="msynth-teacher"),
    RegisteredModel("msynth-align-texture-cycle2", "network", "the default's network, spectral-wise only",
                    "One depth network for RGB, NIR and thermal, trained with texture-swapped inputs; "
                    "the default's fusion module sits on it.",
                    "train/configs/msynth-align-texture-cycle2.yaml", ("EVAL-distill.md", "EVAL-real.md")),
    RegisteredModel("msynth-fuse", "control", "fusion with warping, the no-warp ablation's reference",
                    "Fusion module on the first align network, features warped between cameras by depth: "
                    "the reference the no-warp ablation is measured against.",
                    "train/configs/msynth-fuse.yaml", ("EVAL.md", "EVAL-real.md"), control_of="msynth-fuse-nowarp"),
    RegisteredModel("msynth-fuse-nowarp", "ablation", "fusion without warping",
                    "The same fusion module and schedule with the cameras' features fused unwarped: "
                    "what the geometry buys.",
                    "train/configs/msynth-fuse-nowarp.yaml", ("EVAL.md", "EVAL-real.md")),
    RegisteredModel("msynth-fuse-texture-cycle2", "default", "fused align-and-fuse (RGB/NIR/thermal)",
                    "Depth from any of RGB, NIR and thermal alone, or fused in any camera's view; "
                    "the studio's default.",
                    "train/configs/msynth-fuse-texture-cycle2.yaml", ("EVAL.md", "EVAL-real.md")),
    RegisteredModel("msynth-teacher", "teacher", "CLIP + DINO teacher (slow, large)",
                    "Depth network guided by the built-in CLIP and DINO features and language-guided depth bins; "
                    "the student learns from it.",
                    "train/configs/msynth-teacher.yaml", ("EVAL-distill.md", "EVAL-real.md")),
    RegisteredModel("msynth-student-cycle4", "student", "lightweight student (fast, small)",
                    "A small, fast network distilled from the teacher with graph and texture-robust losses; "
                    "the studio's default student.",
                    "train/configs/msynth-student-cycle4.yaml", ("EVAL-distill.md", "EVAL-real.md")),
    RegisteredModel("msynth-student-plain-cycle4", "ablation", "student without graph and texture-robust losses",
                    "The same student and schedule distilled without the structure-centric graph and "
                    "texture-robust losses.",
                    "train/configs/msynth-student-plain-cycle4.yaml", ("EVAL-distill.md", "EVAL-real.md")),
    RegisteredModel("builtin-clip", "backbone", "built-in CLIP",
                    "A small CLIP (image and text towers) trained on MS-Synth with captions and, patch by patch, "
                    "class prompts and distance words; serves when real CLIP weights cannot be loaded.",
                    "train/configs/builtin-clip-language.yaml", ("EVAL-language.md",)),
    RegisteredModel("builtin-dino", "backbone", "built-in DINO",
                    "A small DINOv2 trained by self-distillation on MS-Synth; serves when real DINOv2 weights "
                    "cannot be loaded.",
                    "train/configs/builtin-dino.yaml", ()),
)


def registered(name: str) -> RegisteredModel:
    """The registry's entry for ``name``; KeyError for a model that is not shipped."""
    for model in MODELS:
        if model.name == name:
            return model
    raise KeyError(f"{name!r} is not a shipped model")


def with_role(role: str) -> list[RegisteredModel]:
    if role not in ROLE_LABELS:
        raise ValueError(f"unknown role {role!r}: use one of {', '.join(ROLE_LABELS)}")
    return [model for model in MODELS if model.role == role]


def the_model(role: str) -> str:
    """The name of the one model of a role that has exactly one: default, teacher, student."""
    if role not in ONE_OF_A_KIND:
        raise ValueError(f"more than one model may have the role {role!r}")
    (model,) = with_role(role)
    return model.name


def controls_of(name: str) -> list[str]:
    """The controls trained for ``name``."""
    return [model.name for model in MODELS if model.control_of == name]


def depth_models() -> list[RegisteredModel]:
    """The shipped depth models, default first, then grouped by role in ROLE_LABELS' order."""
    return [model for role in ROLE_LABELS for model in with_role(role) if model.is_depth_model]


def evaluated_in(report: str) -> list[str]:
    """The shipped models whose figures ``report`` (a file name in checkpoints/: EVAL.md, ...) holds, in
    the report's row order."""
    if report not in EVALUATION_REPORTS:
        raise ValueError(f"unknown report {report!r}: the registry's are {', '.join(EVALUATION_REPORTS)}")
    return [model.name for model in MODELS if report in model.reports]
