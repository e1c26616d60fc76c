"""What an Analysis looks like: depth panels with colour bars, the input/depth slider pair, the
error map, point clouds. All at display size, all from the kept Analysis: none of this runs a
network, so display-only choices (``DisplayOptions``) re-render in a fraction of a second."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.data.frame import SPECTRUM_LABELS, Frame
from core.geometry import relative_pose, warp_to_camera
from core.inference.analysis import GROUND_TRUTH, Analysis, output_title
from core.inference.errors import InputError
from core.inference.display import display_image
from core.models import FUSED
from core.viz.colormap import colorize_depth, depth_panel, error_panel
from core.viz.pointcloud import depth_to_points, downsample_points, pointcloud_figure

DEFAULT_MAX_POINTS = 15000


@dataclass(frozen=True)
class DisplayOptions:
    """Display-only choices. ``view``: an output of the analysis or GROUND_TRUTH (in the
    reference camera); ``value_range``: fixed colour range in metres, None for the
    analysis's suggested one; ``color_by``: the spectrum colouring the point cloud (None or
    absent: the view's own camera)."""

    view: str = FUSED
    invert: bool = False
    value_range: tuple[float, float] | None = None
    color_by: str | None = None
    max_points: int = DEFAULT_MAX_POINTS

    def __post_init__(self) -> None:
        if self.value_range is not None and not self.value_range[1] > self.value_range[0]:
            raise InputError("the fixed depth range needs max > min")


def depth_view(depth: np.ndarray, *, invert: bool = False, value_range: tuple[float, float] | None = None,
               title: str | None = None) -> np.ndarray:
    """Colourised depth with its colour bar labelled in metres."""
    vmin, vmax = value_range if value_range else (None, None)
    return depth_panel(depth, vmin=vmin, vmax=vmax, invert=invert, title=title)


def view_camera(analysis: Analysis, view: str) -> str:
    """The camera of a view, or InputError saying why it cannot be shown."""
    if view == GROUND_TRUTH:
        camera = analysis.reference_camera
        if camera not in analysis.frame.depth:
            raise InputError("this input has no ground-truth depth; pick a predicted output to view")
        return camera
    if view not in analysis.outputs:
        available = ", ".join(output_title(o, analysis.anchor) for o in analysis.outputs)
        raise InputError(f"'{view_title(analysis, view)}' was not computed in this mode; available: {available}")
    return analysis.camera_of(view)


def view_title(analysis: Analysis, view: str) -> str:
    if view == GROUND_TRUTH:
        return "ground truth"
    if view == FUSED:
        return "fused"
    return f"{SPECTRUM_LABELS[view]} alone"


def view_depth(analysis: Analysis, view: str, native: bool = False) -> tuple[np.ndarray, str]:
    """(depth in metres, camera) of a view, at display size or, with ``native``, at the
    camera's native resolution."""
    camera = view_camera(analysis, view)
    if view == GROUND_TRUTH:
        return (analysis.frame if native else analysis.display).depth[camera], camera
    return (analysis.depth(view) if native else analysis.display_depth(view)), camera


def colour_range(analysis: Analysis, options: DisplayOptions) -> tuple[float, float]:
    return options.value_range or analysis.value_range


def output_panels(analysis: Analysis, options: DisplayOptions) -> dict[str, np.ndarray]:
    """Every output's depth panel (title, colour bar), all in one colour range."""
    value_range = colour_range(analysis, options)
    return {output: depth_view(analysis.display_depth(output), invert=options.invert, value_range=value_range,
                               title=title) for output, title in analysis.titles.items()}


def view_panel(analysis: Analysis, options: DisplayOptions) -> np.ndarray:
    depth, camera = view_depth(analysis, options.view)
    return depth_view(depth, invert=options.invert, value_range=colour_range(analysis, options),
                      title=f"{view_title(analysis, options.view)}, {SPECTRUM_LABELS[camera]} camera")


def slider_pair(analysis: Analysis, options: DisplayOptions) -> tuple[np.ndarray, np.ndarray]:
    """(input, colourised depth) of the view's camera, both uint8 RGB at display size, for an
    image slider."""
    depth, camera = view_depth(analysis, options.view)
    image = display_image(analysis.display, camera)
    image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    low, high = colour_range(analysis, options)
    return image, colorize_depth(depth, low, high, invert=options.invert)


def error_view(analysis: Analysis, options: DisplayOptions) -> np.ndarray | None:
    """Relative error of the view against ground truth with its colour bar; None for the
    ground-truth view itself or a camera without ground truth."""
    depth, camera = view_depth(analysis, options.view)
    gt = analysis.display.depth.get(camera)
    if options.view == GROUND_TRUTH or gt is None:
        return None
    return error_panel(depth, gt, title=f"{view_title(analysis, options.view)} vs ground truth")


@dataclass
class PointCloud:
    points: np.ndarray
    colors: np.ndarray | None
    figure: object


def point_cloud(analysis: Analysis, options: DisplayOptions) -> PointCloud:
    """The view's depth as 3-D points in its camera (metres), at display size, coloured by any
    spectrum (one from another camera is first warped into it with that depth) and voxel
    downsampled to ``options.max_points``."""
    depth, camera = view_depth(analysis, options.view)
    color_by = options.color_by if options.color_by in analysis.display.images else camera
    colors = colors_in_camera(analysis.display, depth, camera, color_by)
    points, point_colors = depth_to_points(depth, analysis.display.cameras[camera].K, colors)
    points, point_colors = downsample_points(points, point_colors, max_points=options.max_points)
    return PointCloud(points, point_colors, pointcloud_figure(points, point_colors, max_points=options.max_points))


def colors_in_camera(frame: Frame, depth: np.ndarray, depth_spectrum: str, color_spectrum: str) -> np.ndarray:
    """The display image of ``color_spectrum`` as seen from ``depth_spectrum``'s camera."""
    image = display_image(frame, color_spectrum)
    if color_spectrum == depth_spectrum:
        return image
    src = torch.from_numpy(np.atleast_3d(image).astype(np.float32)).permute(2, 0, 1)[None]
    cam_dst, cam_src = frame.cameras[depth_spectrum], frame.cameras[color_spectrum]
    warped, valid = warp_to_camera(src, torch.from_numpy(depth)[None, None],
                                   torch.from_numpy(cam_dst.K)[None], torch.from_numpy(cam_src.K)[None],
                                   torch.from_numpy(relative_pose(cam_src, cam_dst))[None])
    warped = (warped * valid)[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    return warped[..., 0] if image.ndim == 2 else warped
