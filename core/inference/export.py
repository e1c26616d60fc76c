"""Downloads: depth at the camera's native resolution as 16-bit PNG (metres x 256, the
KITTI/MS2 convention) and float32 .npy, and the point cloud shown as PLY."""
from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from core.data import ms2
from core.data.imageio import write_png
from core.inference.analysis import Analysis
from core.inference.views import DisplayOptions, PointCloud, view_depth
from core.viz.pointcloud import write_ply


class ExportDir:
    """Scratch space for downloads: the newest ``keep`` results survive, all of it goes at exit."""

    def __init__(self, keep: int = 16):
        self.root = Path(tempfile.mkdtemp(prefix="spectradepth-exports-"))
        self.keep = keep
        atexit.register(shutil.rmtree, self.root, ignore_errors=True)

    def new(self, name: str) -> Path:
        results = sorted(self.root.iterdir(), key=lambda p: p.stat().st_mtime)
        for old in results[: max(0, len(results) - self.keep + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))


def file_stem(*parts: str) -> str:
    """A file name from words (frame name, output, camera): letters and digits joined by '_'."""
    return re.sub(r"[^A-Za-z0-9]+", "_", "_".join(parts)).strip("_")


def export_depth(depth: np.ndarray, cloud: PointCloud | None, folder: Path, stem: str) -> list[Path]:
    """Depth as 16-bit PNG (metres x 256) and .npy; PLY of ``cloud`` if given."""
    png = folder / f"{stem}_depth_m256.png"
    write_png(png, ms2.depth_to_uint16(depth))
    npy = folder / f"{stem}_depth_m.npy"
    np.save(npy, depth.astype(np.float32))
    paths = [png, npy]
    if cloud is not None:
        ply = folder / f"{stem}_points.ply"
        write_ply(ply, cloud.points, cloud.colors)
        paths.append(ply)
    return paths


def downloads(analysis: Analysis, options: DisplayOptions, folder: Path, cloud: PointCloud | None = None) -> list[Path]:
    """The view's depth at its camera's native resolution (PNG, .npy) and, given, its point cloud (PLY)."""
    depth, camera = view_depth(analysis, options.view, native=True)
    return export_depth(depth, cloud, folder, file_stem(analysis.frame.name, options.view, camera))
