"""Where the project's files are and what the environment says: the one module that knows either.

Folders are fixed by the repository layout (ARCHITECTURE.md); environment variables are read at
call time, not import time, because launchers and tests set them after the code is imported.
This module imports nothing heavy, so a launcher can use it before numpy or torch load.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = REPO_ROOT / "assets" / "samples"
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
TRAIN_CONFIGS_DIR = REPO_ROOT / "train" / "configs"
MSYNTH_CACHE_DIR = REPO_ROOT / "runs" / "cache"
# Calibrations converted from the calib.npy of an MS2 root we may not write into (a read-only share).
MS2_CALIB_CACHE_ENV = "SPECTRADEPTH_MS2_CALIB_CACHE"
# The gallery's MS-Synth sequences, rendered frame by frame on first use and kept (not committed).
SEQUENCES_DIR = MSYNTH_CACHE_DIR / "sequences"
# Beside the code that measures it: the figures describe this code on this machine, not a
# checkpoint, and checkpoints/ is what training writes and reads.
BENCH_RESULTS_FILE = REPO_ROOT / "bench" / "results.json"
# Real frames the project reads but never copies: ../shared/samples beside the repository.
SHARED_SAMPLES = REPO_ROOT.parent / "shared" / "samples"

# An MS2 root whose test frames the studios offer beside the gallery.
DATASET_ENV = "SPECTRADEPTH_DATA"
# Extra models a studio offers (comma-separated folders or Hub ids), and whether users may load any.
EXTRA_MODELS_ENV = "SPECTRADEPTH_MODELS"
CUSTOM_MODELS_ENV = "SPECTRADEPTH_ALLOW_CUSTOM_MODELS"
# The CLIP / DINO the attention views load (any load_backbone spec) in place of the defaults.
VFM_SPEC_ENVS = {"clip": "SPECTRADEPTH_CLIP", "dino": "SPECTRADEPTH_DINO"}
HUB_OFFLINE_ENV = "HF_HUB_OFFLINE"
PROXY_ENVS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
# Numerical libraries' thread pools, sized when they load.
THREAD_ENVS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
TRUE_VALUES = ("1", "true", "yes", "on")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def dataset_root_setting() -> str | None:
    """$SPECTRADEPTH_DATA, or None when unset or empty."""
    return os.environ.get(DATASET_ENV) or None


def ms2_calib_cache_dir() -> Path:
    """$SPECTRADEPTH_MS2_CALIB_CACHE, else runs/cache/ms2-calib: where ``python -m core.data.ms2
    convert-calib`` puts the calib.json of a root it cannot write into (one folder per root)."""
    return Path(os.environ.get(MS2_CALIB_CACHE_ENV) or MSYNTH_CACHE_DIR / "ms2-calib")


def extra_models() -> list[str]:
    """The models the operator lists in $SPECTRADEPTH_MODELS."""
    return [name.strip() for name in os.environ.get(EXTRA_MODELS_ENV, "").split(",") if name.strip()]


def set_extra_models(names: list[str]) -> None:
    os.environ[EXTRA_MODELS_ENV] = ",".join(names)


def custom_models_allowed() -> bool:
    return _flag(CUSTOM_MODELS_ENV)


def allow_custom_models() -> None:
    """Let users load any folder or Hub id, in this process and the processes it starts."""
    os.environ[CUSTOM_MODELS_ENV] = "1"


def vfm_spec(kind: str) -> str | None:
    """$SPECTRADEPTH_CLIP or $SPECTRADEPTH_DINO (``kind`` 'clip' or 'dino'), or None."""
    return os.environ.get(VFM_SPEC_ENVS[kind]) or None


def hub_offline_requested() -> bool:
    """$HF_HUB_OFFLINE as set now (huggingface_hub itself reads it once, at import)."""
    return _flag(HUB_OFFLINE_ENV)


def proxy_configured() -> bool:
    return any(os.environ.get(name) for name in PROXY_ENVS)


def distributed_launch() -> tuple[int, int, int]:
    """(rank, world size, local rank) as torchrun sets them; (0, 1, 0) for a plain run."""
    return (int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
            int(os.environ.get("LOCAL_RANK", "0")))


def use_one_thread() -> None:
    """One thread for every numerical library; effective only before numpy / torch load."""
    for name in THREAD_ENVS:
        os.environ[name] = "1"


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment with ``overrides``, for a child process."""
    return {**os.environ, **overrides}


# The studio's session lifetime in seconds, where the operator (or a benchmark) shortens it.
SESSION_TTL_ENV = "SPECTRADEPTH_SESSION_TTL_S"
# Where Gradio keeps uploads, panels and downloads (Gradio's own variable).
GRADIO_CACHE_ENV = "GRADIO_TEMP_DIR"


def session_lifetime_s(default: float) -> float:
    """$SPECTRADEPTH_SESSION_TTL_S, else ``default``."""
    return float(os.environ.get(SESSION_TTL_ENV) or default)


def gradio_cache_setting() -> str | None:
    """$GRADIO_TEMP_DIR, or None when unset or empty."""
    return os.environ.get(GRADIO_CACHE_ENV) or None


def set_gradio_cache(folder: Path) -> None:
    """Point Gradio (in this process and the ones it starts) at ``folder``."""
    os.environ[GRADIO_CACHE_ENV] = str(folder)
