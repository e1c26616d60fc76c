"""Shared fixtures: real MS2 frames from ../shared (skipped where absent), tiny checkpoints and
tiny CLIP / DINOv2 backbones saved in the layouts real weights use."""
from pathlib import Path

import pytest

from core.data.samples import SHARED_MS2


@pytest.fixture(scope="session")
def shared_ms2() -> Path:
    if not SHARED_MS2.is_dir():
        pytest.skip(f"real MS2 samples not found at {SHARED_MS2} (the shared folder is absent)")
    return SHARED_MS2


def offer_in_studios(*folders: str) -> None:
    """List checkpoint folders as the operator's models (SPECTRADEPTH_MODELS), as a self-hoster
    would, so the studios' allow-list lets tests load them."""
    import os

    from core.inference import EXTRA_MODELS_ENV
    listed = [name for name in os.environ.get(EXTRA_MODELS_ENV, "").split(",") if name]
    os.environ[EXTRA_MODELS_ENV] = ",".join(listed + [f for f in folders if f not in listed])


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> str:
    """An untrained align-and-fuse model saved like a shipped one (small input, fast)."""
    from core.models import AlignFuseConfig, build_model, save_checkpoint
    config = AlignFuseConfig(input_size=(64, 160))
    folder = tmp_path_factory.mktemp("checkpoint") / "tiny-fuse"
    save_checkpoint(folder, build_model(config).eval(), config, command="tests/conftest.py")
    offer_in_studios(str(folder))
    return str(folder)


@pytest.fixture(scope="session")
def backbone_specs(tmp_path_factory) -> tuple[str, str]:
    """load_backbone specs of a tiny CLIP (open_clip's hf-hub folder layout) and a tiny DINOv2
    (save_pretrained folder), random weights, saved once."""
    from tiny_backbones import save_tiny_clip, save_tiny_dino
    clip_folder, dino_folder = tmp_path_factory.mktemp("tiny-clip"), tmp_path_factory.mktemp("tiny-dinov2")
    save_tiny_clip(clip_folder)
    save_tiny_dino(dino_folder)
    return f"clip:{clip_folder}", f"dino:{dino_folder}"


@pytest.fixture(scope="session")
def tiny_teacher_student(tmp_path_factory, backbone_specs) -> tuple[str, str]:
    """Folders of an untrained tiny teacher (on the tiny backbones) and student, saved like shipped ones."""
    import torch

    from core.models import build_model, save_checkpoint
    from core.models.student import StudentConfig
    from core.models.teacher import TeacherConfig
    clip, dino = backbone_specs
    root = tmp_path_factory.mktemp("teacher-student")
    torch.manual_seed(0)
    teacher_config = TeacherConfig(input_size=(64, 160), clip=clip, dino=dino, dino_image_size=(32, 80),
                                   aggregation_width=16, aggregation_heads=2, bin_head_width=16)
    student_config = StudentConfig(input_size=(64, 160))
    for name, config in (("tiny-teacher", teacher_config), ("tiny-student", student_config)):
        save_checkpoint(root / name, build_model(config).eval(), config, command="tests/conftest.py")
    offer_in_studios(str(root / "tiny-teacher"), str(root / "tiny-student"))
    return str(root / "tiny-teacher"), str(root / "tiny-student")


from bench.servers import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (shared with the browser benchmark)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download)."""
    import shutil
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip(f"Debian chromium not installed at {CHROMIUM} (see packages.txt)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def infer_calls(monkeypatch) -> list[str]:
    """Every depth-network run during a test, by architecture: DepthModel.infer, counted."""
    from core.models import DepthModel
    calls: list[str] = []
    infer = DepthModel.infer

    def counted(self, *args, **kwargs):
        calls.append(type(self).__name__)
        return infer(self, *args, **kwargs)
    monkeypatch.setattr(DepthModel, "infer", counted)
    return calls

