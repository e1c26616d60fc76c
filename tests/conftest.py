"""Shared fixtures: real MS2 frames from ../shared (skipped where absent) and a tiny checkpoint."""
from pathlib import Path

import pytest

SHARED_MS2 = Path(__file__).resolve().parents[2] / "shared" / "samples" / "ms2"


@pytest.fixture(scope="session")
def shared_ms2() -> Path:
    if not SHARED_MS2.is_dir():
        pytest.skip(f"real MS2 samples not found at {SHARED_MS2} (the shared folder is absent)")
    return SHARED_MS2


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> str:
    """An untrained align-and-fuse model saved like a shipped one (small input, fast)."""
    from core.models import AlignFuseConfig, build_model, save_checkpoint
    config = AlignFuseConfig(input_size=(64, 160))
    folder = tmp_path_factory.mktemp("checkpoint") / "tiny-fuse"
    save_checkpoint(folder, build_model(config).eval(), config, command="tests/conftest.py")
    return str(folder)
