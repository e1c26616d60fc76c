"""The studio's own cache folder: Gradio's uploads, panels and downloads, and the sessions' kept
frames. Gradio sweeps only the files its running process made, so a restart would orphan the
last process's files for good; the studio therefore owns one folder and sweeps it on start."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from core import settings

CACHE_FOLDER_NAME = "spectradepth-studio"


def studio_cache_folder() -> Path:
    """The studio's folder inside Gradio's cache location ($GRADIO_TEMP_DIR, else the system's
    temporary folder). Its own subfolder, so a sweep never touches another program's files."""
    base = Path(settings.gradio_cache_setting() or tempfile.gettempdir())
    return base if base.name == CACHE_FOLDER_NAME else base / CACHE_FOLDER_NAME


def use_studio_cache_folder() -> Path:
    """Point Gradio at the studio's folder (before any component is built: each reads it then)."""
    folder = studio_cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    settings.set_gradio_cache(folder)
    return folder


def sweep(folder: Path, older_than_s: float) -> int:
    """Remove files under ``folder`` last modified more than ``older_than_s`` ago, then the
    folders left empty; how many files went."""
    cutoff = time.time() - older_than_s
    removed = 0
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        try:
            if path.is_file() or path.is_symlink():
                if path.lstat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        except OSError:   # taken by a concurrent sweep or in use: the next sweep tries again
            continue
    return removed
