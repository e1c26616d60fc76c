"""Point clouds from metric depth: back-projection, downsampling, plotly view, PLY export.

Points are in OpenCV camera coordinates (x right, y down, z forward, metres) unless a
transform ``T`` moves them to another frame. Colours are float32 RGB in [0, 1].
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import open3d as o3d
import plotly.graph_objects as go
import torch
from PIL import Image

from core.geometry.projection import backproject, transform_points
from core.viz.colormap import DEFAULT_DEPTH_CMAP, plotly_colorscale, value_range

DEFAULT_MAX_POINTS = 200_000
FIGURE_MAX_POINTS = 60_000
# Below this many points a voxel search is pointless: keep every k-th point instead.
_STRIDE_BELOW = 1_000
# The voxel search accepts a count in [_ACCEPT_FRACTION * max_points, max_points].
_ACCEPT_FRACTION = 0.8
_VOXEL_SEARCH_STEPS = 8


def _point_colors(colors: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Float32 RGB (H, W, 3) in [0, 1] from an RGB or grey image of the depth map's size."""
    colors = np.asarray(colors)
    if colors.shape[:2] != shape:
        raise ValueError(f"colour image is {colors.shape[:2]} but depth is {shape}")
    if colors.dtype == np.uint8:
        colors = colors.astype(np.float32) / 255.0
    elif np.issubdtype(colors.dtype, np.floating):
        colors = np.clip(colors, 0.0, 1.0).astype(np.float32)
    else:
        raise TypeError(f"colour image must be uint8 or float in [0, 1], got {colors.dtype} "
                        "(normalise raw thermal counts first)")
    if colors.ndim == 2:
        colors = colors[..., None]
    if colors.shape[2] == 1:
        colors = np.repeat(colors, 3, axis=2)
    if colors.shape[2] != 3:
        raise ValueError(f"colour image must have 1 or 3 channels, got {colors.shape[2]}")
    return colors


def depth_to_points(depth: np.ndarray, K: np.ndarray, colors: np.ndarray | None = None,
                    T: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Points (N, 3) float32 of the valid (depth > 0) pixels, and their colours or None.

    depth:  (H, W) metric z-depth in metres, 0 = invalid
    K:      (3, 3) intrinsics of the depth map's camera
    colors: optional (H, W, 3) RGB or (H, W) grey image of the same size, uint8 or float [0, 1]
    T:      optional 4x4 transform applied to the points (e.g. T_rig_cam for rig coordinates)
    Points come in row-major pixel order.
    """
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"expected a (H, W) depth map, got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    depth_batch = torch.from_numpy(np.where(valid, depth, 0.0).astype(np.float32))[None, None]
    K_batch = torch.from_numpy(np.asarray(K, dtype=np.float64).reshape(1, 3, 3))
    points = backproject(depth_batch, K_batch)[0]
    points = points[:, torch.from_numpy(valid)]
    if T is not None:
        T_batch = torch.from_numpy(np.asarray(T, dtype=np.float64).reshape(1, 4, 4))
        points = transform_points(T_batch, points[None])[0]
    points = np.ascontiguousarray(points.T.numpy(), dtype=np.float32)
    point_colors = None if colors is None else _point_colors(colors, depth.shape)[valid]
    return points, point_colors


def _to_open3d(points: np.ndarray, colors: np.ndarray | None) -> o3d.geometry.PointCloud:
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))
    if colors is not None:
        cloud.colors = o3d.utility.Vector3dVector(np.asarray(colors, np.float64))
    return cloud


def _from_open3d(cloud: o3d.geometry.PointCloud) -> tuple[np.ndarray, np.ndarray | None]:
    points = np.asarray(cloud.points, dtype=np.float32)
    colors = np.asarray(cloud.colors, dtype=np.float32) if cloud.has_colors() else None
    return points, colors


def _voxel_down_to(cloud: o3d.geometry.PointCloud, max_points: int) -> o3d.geometry.PointCloud:
    """Voxel-downsample to between ``_ACCEPT_FRACTION * max_points`` and ``max_points`` points.

    Depth maps sample surfaces, so the count falls roughly as 1 / voxel^2: start from the
    bounding box's two largest extents and refine with that law inside a shrinking bracket.
    """
    extents = np.sort(cloud.get_axis_aligned_bounding_box().get_extent())
    area = extents[2] * max(extents[1], 1e-3 * extents[2])
    target = 0.5 * (1 + _ACCEPT_FRACTION) * max_points
    voxel = np.sqrt(area / target)
    too_small, fits = 0.0, np.inf  # voxel sizes known to give too many / few enough points
    best = None
    for _ in range(_VOXEL_SEARCH_STEPS):
        down = cloud.voxel_down_sample(voxel)
        count = len(down.points)
        if count <= max_points:
            fits, best = voxel, down
            if count >= _ACCEPT_FRACTION * max_points:
                return down
        else:
            too_small = voxel
        guess = voxel * np.sqrt(count / target)
        voxel = guess if too_small < guess < fits else (
            np.sqrt(too_small * fits) if np.isfinite(fits) else 2 * too_small)
    while best is None:  # the search never fitted: grow until it does
        too_small *= 2
        down = cloud.voxel_down_sample(too_small)
        best = down if len(down.points) <= max_points else None
    return best


def downsample_points(points: np.ndarray, colors: np.ndarray | None = None,
                      max_points: int = DEFAULT_MAX_POINTS, voxel_size: float | None = None
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """Voxel-downsampled points (and averaged colours) with open3d.

    With ``voxel_size`` that grid is used as is. Without it, a cloud over ``max_points`` gets
    the voxel size that brings it to 80-100 % of ``max_points``; tiny or degenerate clouds
    (no extent to grid) keep every k-th point instead, deterministically.
    """
    points = np.asarray(points, dtype=np.float32)
    if voxel_size is not None:
        return _from_open3d(_to_open3d(points, colors).voxel_down_sample(voxel_size))
    if len(points) <= max_points:
        return points, colors
    if len(points) < _STRIDE_BELOW or np.ptp(points, axis=0).max() == 0:
        keep = np.arange(0, len(points), int(np.ceil(len(points) / max_points)))
        return points[keep], None if colors is None else np.asarray(colors)[keep]
    return _from_open3d(_voxel_down_to(_to_open3d(points, colors), max_points))


def _palette(colors: np.ndarray, max_colors: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per-point palette indices and the palette (M, 3) uint8, M <= max_colors.

    Exact when the cloud has few distinct colours (grey images, colour maps), otherwise an
    octree quantisation, invisible at point-cloud marker sizes.
    """
    rgb = np.clip(np.rint(np.asarray(colors) * 255), 0, 255).astype(np.uint8)
    keys = rgb.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], np.uint32)
    unique, indices = np.unique(keys, return_inverse=True)
    if len(unique) <= max_colors:
        palette = np.stack([unique >> 16, (unique >> 8) & 255, unique & 255], axis=1)
        return indices, palette.astype(np.uint8)
    quantized = Image.fromarray(rgb[None]).quantize(max_colors, method=Image.Quantize.FASTOCTREE,
                                                     dither=Image.Dither.NONE)
    indices = np.asarray(quantized)[0]
    palette = np.asarray(quantized.getpalette(), np.uint8).reshape(-1, 3)[:int(indices.max()) + 1]
    return indices, palette


def _marker_colors(points: np.ndarray, colors: np.ndarray | None, invert: bool) -> dict:
    """Plotly marker colour settings: numbers into a colorscale, never per-point strings.

    Per-point 'rgb(...)' strings cost plotly about a second of validation per 50k points;
    a number per point and a palette colorscale validate in milliseconds and serialise small.
    """
    if colors is None or not len(points):
        z = points[:, 2]
        low, high = value_range(z)
        return dict(color=z, colorscale=plotly_colorscale(DEFAULT_DEPTH_CMAP, invert),
                    cmin=low, cmax=high, showscale=True,
                    colorbar=dict(title=dict(text="z [m]"), thickness=12, len=0.6))
    indices, palette = _palette(colors)
    if len(palette) == 1:  # a colorscale needs two stops
        palette = np.repeat(palette, 2, axis=0)
    # Stops at exactly index / cmax, the value plotly.js computes for each point.
    stops = np.arange(len(palette)) / (len(palette) - 1)
    colorscale = [[float(stop), f"rgb({r},{g},{b})"] for stop, (r, g, b) in zip(stops, palette.tolist())]
    return dict(color=indices.astype(np.uint8), colorscale=colorscale, cmin=0,
                cmax=len(palette) - 1, showscale=False)


def _scene_view(points: np.ndarray) -> dict:
    """Plotly scene axes, true-to-scale aspect and a camera placed in metres.

    Plotly places its camera in normalised scene units. With explicit axis ranges and an
    aspect ratio proportional to them, a point p sits at (p - mid) / longest_extent in those
    units, so the camera can be set in metres: behind and above the sensor (the origin),
    looking at the cloud's median depth along +z, with -y (OpenCV's up) up on screen.
    """
    if len(points):
        low = np.minimum(points.min(axis=0), 0.0)  # keep the sensor inside the box
        high = np.maximum(points.max(axis=0), 0.0)
        focus = float(np.median(points[:, 2])) if (points[:, 2] > 0).any() else 1.0
    else:
        low, high, focus = np.array([-1.0, -1.0, 0.0]), np.array([1.0, 1.0, 2.0]), 1.0
    margin = 0.02 * float((high - low).max()) + 1e-3
    low, high = low - margin, high + margin
    middle, longest = (low + high) / 2, float((high - low).max())
    focus = max(focus, 1e-3)

    def scene_units(point_m) -> dict:
        return dict(zip("xyz", ((np.asarray(point_m) - middle) / longest).tolist()))

    return dict(
        xaxis=dict(title="x right [m]", range=[low[0], high[0]]),
        yaxis=dict(title="y down [m]", range=[low[1], high[1]]),
        zaxis=dict(title="z forward [m]", range=[low[2], high[2]]),
        aspectmode="manual",
        aspectratio=dict(zip("xyz", ((high - low) / longest).tolist())),
        camera=dict(up=dict(x=0, y=-1, z=0), center=scene_units([0.0, 0.0, focus]),
                    eye=scene_units([0.0, -0.3 * focus, -0.6 * focus])),
    )


def pointcloud_figure(points: np.ndarray, colors: np.ndarray | None = None,
                      max_points: int = FIGURE_MAX_POINTS, point_size: float = 1.5,
                      invert: bool = False, title: str | None = None) -> go.Figure:
    """Interactive 3-D view of a point cloud in OpenCV camera coordinates, true to scale.

    The cloud is downsampled to at most ``max_points`` so the browser stays responsive.
    Without colours, points are coloured by z with the project's depth colour map (``invert``
    as in ``colorize_depth``) and a colour bar in metres.
    The view starts behind and above the sensor looking forward (+z), y down on screen.
    """
    points, colors = downsample_points(points, colors, max_points=max_points)
    trace = go.Scatter3d(x=points[:, 0], y=points[:, 1], z=points[:, 2], mode="markers",
                         marker=dict(size=point_size, line=dict(width=0),
                                     **_marker_colors(points, colors, invert)),
                         hoverinfo="skip")
    scene = _scene_view(points)
    axis_style = dict(backgroundcolor="#111111", gridcolor="#333333", zerolinecolor="#555555",
                      color="#bbbbbb", showbackground=True)
    for axis in ("xaxis", "yaxis", "zaxis"):
        scene[axis].update(axis_style)
    fig = go.Figure(trace)
    fig.update_layout(
        title=title,
        paper_bgcolor="#111111",
        font=dict(color="#dddddd"),
        margin=dict(l=0, r=0, t=40 if title else 0, b=0),
        scene=dict(dragmode="orbit", **scene),
        uirevision="pointcloud",  # keep the user's view when the figure updates
    )
    return fig


def write_ply(path: str | Path, points: np.ndarray, colors: np.ndarray | None = None) -> Path:
    """Write a binary PLY with open3d (colours stored as 8-bit RGB); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not o3d.io.write_point_cloud(str(path), _to_open3d(points, colors), write_ascii=False):
        raise OSError(f"open3d could not write {path}")
    return path
