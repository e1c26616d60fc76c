"""The one place that turns depth (and any other scalar map) into colour.

Depth is metric metres, float32, 0 = invalid. With the default 'Spectral' map near is warm
(red) and far is cool (blue); ``invert`` swaps them. Images and colour bars share one range
so what a colour bar says is what the pixels show.

Rendering uses matplotlib's Agg canvas on private ``Figure`` objects: no pyplot, no global
backend switch, nothing left open.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

DEFAULT_DEPTH_CMAP = "Spectral"
ROBUST_PERCENTILES = (2.0, 98.0)
COLORBAR_HEIGHT = 56
TITLE_HEIGHT = 26
_DPI = 100
_FONT_SIZE = 9
_REFERENCE_WIDTH = 640   # panels wider than this get proportionally larger bars and text, so a
                         # 1224-wide panel shrunk to a phone's width stays readable


def panel_scale(width: int) -> float:
    """How much larger than the reference a panel of ``width`` pixels draws its bar and text."""
    return max(1.0, width / _REFERENCE_WIDTH)


def colorbar_height(width: int) -> int:
    """The colour bar's height under a panel of ``width`` pixels."""
    return round(COLORBAR_HEIGHT * panel_scale(width))


def title_height(width: int) -> int:
    return round(TITLE_HEIGHT * panel_scale(width))


class DepthRange(NamedTuple):
    """The values that map to the two ends of a colour map (metres for depth)."""

    vmin: float
    vmax: float


def value_range(values: np.ndarray, vmin: float | None = None, vmax: float | None = None,
                valid: np.ndarray | None = None,
                percentiles: tuple[float, float] = ROBUST_PERCENTILES) -> DepthRange:
    """Colour range of a scalar map: fixed ends where given, robust percentiles otherwise.

    Only finite values (and, if given, those where ``valid`` is true) are measured. A map
    with nothing to measure gets the unit range [0, 1]; a constant map gets a small range
    around its value so it still has a usable colour bar.
    """
    if vmin is not None and vmax is not None:
        if not vmax > vmin:
            raise ValueError(f"need vmax > vmin, got vmin={vmin}, vmax={vmax}")
        return DepthRange(float(vmin), float(vmax))
    values = np.asarray(values, dtype=np.float64)
    measured = np.isfinite(values) if valid is None else np.asarray(valid, bool) & np.isfinite(values)
    samples = values[measured]
    low, high = np.percentile(samples, percentiles) if samples.size else (0.0, 1.0)
    low = float(low if vmin is None else vmin)
    high = float(high if vmax is None else vmax)
    if high <= low:
        # Constant map, or a one-sided bound beyond the data: widen on the free side(s).
        pad = max(0.1 * abs(high if vmin is not None else low), 1e-3)
        if vmin is not None:
            high = low + pad
        elif vmax is not None:
            low = high - pad
        else:
            low, high = low - pad / 2, high + pad / 2
    return DepthRange(low, high)


def depth_range(depth: np.ndarray, vmin: float | None = None, vmax: float | None = None,
                percentiles: tuple[float, float] = ROBUST_PERCENTILES) -> DepthRange:
    """Depth colour range in metres: fixed ends where given, else percentiles of valid pixels."""
    depth = np.asarray(depth)
    return value_range(depth, vmin, vmax, valid=depth > 0, percentiles=percentiles)


def get_cmap(cmap: str | Colormap) -> Colormap:
    """A matplotlib colour map by name (or the map itself)."""
    return cmap if isinstance(cmap, Colormap) else matplotlib.colormaps[cmap]


def colorize(values: np.ndarray, vmin: float | None = None, vmax: float | None = None,
             cmap: str | Colormap = "viridis", invert: bool = False,
             invalid_color: tuple[int, int, int] = (0, 0, 0),
             valid: np.ndarray | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) of any scalar map (error maps, attention, depth, ...).

    Values map linearly from [vmin, vmax] to the ends of ``cmap`` (clipped outside);
    missing ends come from ``value_range``. Non-finite values and pixels where ``valid`` is
    false get ``invalid_color``. ``invert`` walks the colour map the other way.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {values.shape}")
    shown = np.isfinite(values) if valid is None else np.asarray(valid, bool) & np.isfinite(values)
    low, high = value_range(values, vmin, vmax, valid=shown)
    t = np.clip((np.where(shown, values, low) - low) / (high - low), 0.0, 1.0)
    if invert:
        t = 1.0 - t
    rgb = get_cmap(cmap)(t, bytes=True)[..., :3]
    rgb[~shown] = np.asarray(invalid_color, dtype=np.uint8)
    return rgb


def colorize_depth(depth: np.ndarray, vmin: float | None = None, vmax: float | None = None,
                   cmap: str | Colormap = DEFAULT_DEPTH_CMAP, invert: bool = False,
                   invalid_color: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """uint8 RGB (H, W, 3) of a metric depth map; 0 (invalid) pixels get ``invalid_color``.

    With 'Spectral', near (vmin) is red and far (vmax) is blue; ``invert`` swaps them.
    Without vmin/vmax the range is the 2nd-98th percentile of valid depths.
    """
    depth = np.asarray(depth)
    return colorize(depth, vmin, vmax, cmap, invert, invalid_color, valid=depth > 0)


def plotly_colorscale(cmap: str | Colormap = DEFAULT_DEPTH_CMAP, invert: bool = False,
                      levels: int = 256) -> list[list]:
    """The colour map as a plotly colorscale, so 3-D views colour exactly like images do."""
    stops = np.linspace(0.0, 1.0, levels)
    rgb = get_cmap(cmap)(1.0 - stops if invert else stops, bytes=True)[:, :3]
    return [[float(stop), f"rgb({r},{g},{b})"] for stop, (r, g, b) in zip(stops, rgb.tolist())]


def _read_only(image: np.ndarray) -> np.ndarray:
    image.setflags(write=False)
    return image


def _render(fig: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


# Bars and titles depend only on their arguments and cost a matplotlib render each (~30 ms): a
# sequence draws the same bar for every frame, so they are kept, read-only (callers concatenate).
@functools.lru_cache(maxsize=64)
def colorbar_image(vmin: float, vmax: float, cmap: str | Colormap = DEFAULT_DEPTH_CMAP,
                   invert: bool = False, width: int = 640, height: int | None = None,
                   label: str | None = "depth [m]", unit: str = "m") -> np.ndarray:
    """uint8 RGB (height, width, 3): a horizontal colour bar with ticks labelled in ``unit``.

    vmin sits at the left end, vmax at the right; ``invert`` reverses the colours exactly
    as it does in ``colorize``/``colorize_depth``. Pass ``unit=''`` for unitless maps.
    ``height`` defaults to ``colorbar_height(width)``; bar and text scale with the width.
    """
    scale = panel_scale(width)
    height = colorbar_height(width) if height is None else height
    if not vmax > vmin:
        raise ValueError(f"need vmax > vmin, got vmin={vmin}, vmax={vmax}")
    colour_map = get_cmap(cmap)
    if invert:
        colour_map = colour_map.reversed()
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
    # Bar geometry in pixels, so fonts keep their size whatever the image size:
    # side margins leave room for the end tick labels, the rest holds ticks and label.
    side, top, bar = round(28 * scale), round(4 * scale), round(14 * scale)
    ax = fig.add_axes((side / width, 1 - (top + bar) / height, 1 - 2 * side / width, bar / height))
    colorbar = fig.colorbar(ScalarMappable(norm=Normalize(vmin, vmax), cmap=colour_map),
                            cax=ax, orientation="horizontal")
    suffix = f" {unit}" if unit else ""
    # About one tick per 90 reference px keeps labels such as "12.5 m" from touching.
    colorbar.locator = MaxNLocator(nbins=max(2, round(width / scale) // 90))
    colorbar.formatter = FuncFormatter(lambda value, _: f"{value:g}{suffix}")
    colorbar.update_ticks()
    ax.tick_params(labelsize=_FONT_SIZE * scale, length=3 * scale, pad=2 * scale)
    if label:
        colorbar.set_label(label, fontsize=_FONT_SIZE * scale, labelpad=scale)
    return _read_only(_render(fig))


@functools.lru_cache(maxsize=64)
def title_image(text: str, width: int, height: int | None = None) -> np.ndarray:
    """uint8 RGB (height, width, 3) strip with ``text`` centred, to sit above a panel; its
    height defaults to ``title_height(width)`` and the text scales with the width."""
    height = title_height(width) if height is None else height
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=(_FONT_SIZE + 2) * panel_scale(width))
    return _read_only(_render(fig))


def depth_panel(depth: np.ndarray, vmin: float | None = None, vmax: float | None = None,
                cmap: str | Colormap = DEFAULT_DEPTH_CMAP, invert: bool = False,
                invalid_color: tuple[int, int, int] = (0, 0, 0), title: str | None = None,
                bar_height: int | None = None, label: str = "depth [m]") -> np.ndarray:
    """One uint8 RGB image: [title strip,] colourised depth, and its labelled colour bar.

    The bar has the depth map's width and the same range as its pixels. The panel is
    depth height + ``bar_height`` (default ``colorbar_height(width)``) tall, + the title
    strip's ``title_height(width)`` with a title.
    """
    low, high = depth_range(depth, vmin, vmax)
    image = colorize_depth(depth, low, high, cmap, invert, invalid_color)
    width = image.shape[1]
    rows = [image, colorbar_image(low, high, cmap, invert, width, bar_height, label)]
    if title:
        rows.insert(0, title_image(title, width))
    return np.concatenate(rows, axis=0)


ERROR_CMAP = "magma"


def error_panel(depth: np.ndarray, gt: np.ndarray, max_error: float = 0.5, title: str | None = None,
                bar_height: int | None = None) -> np.ndarray:
    """Relative error |depth - gt| / gt per pixel with ground truth (others black), coloured
    from 0 to ``max_error`` (and beyond, saturated), with its labelled colour bar."""
    valid = gt > 0
    error = np.where(valid, np.abs(depth - gt) / np.where(valid, gt, 1.0), 0.0)
    image = colorize(error, 0.0, max_error, ERROR_CMAP, valid=valid)
    width = image.shape[1]
    rows = [image, colorbar_image(0.0, max_error, ERROR_CMAP, False, width, bar_height,
                                  "relative error |d - gt| / gt", unit="")]
    if title:
        rows.insert(0, title_image(title, width))
    return np.concatenate(rows, axis=0)
