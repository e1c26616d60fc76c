"""Depth colouring, colour bars and point clouds against matplotlib, closed forms and open3d."""
import matplotlib
import numpy as np
import open3d as o3d
import plotly.graph_objects as go
import pytest

from core.viz.colormap import (COLORBAR_HEIGHT, TITLE_HEIGHT, colorbar_image, colorize,
                               colorize_depth, depth_panel, depth_range, plotly_colorscale,
                               value_range)
from core.viz.pointcloud import depth_to_points, downsample_points, pointcloud_figure, write_ply

SPECTRAL = matplotlib.colormaps["Spectral"]
FX, FY, CX, CY = 200.0, 180.0, 31.5, 23.5
K = np.array([[FX, 0, CX], [0, FY, CY], [0, 0, 1]])


def cmap_bytes(cmap, t):
    return np.asarray(cmap(t, bytes=True))[..., :3]


def ramp(vmin=2.0, vmax=50.0, width=300):
    return np.linspace(vmin, vmax, width, dtype=np.float32)[None].repeat(4, axis=0)


# --- ranges -----------------------------------------------------------------------------

def test_fixed_range_is_kept_and_robust_range_ignores_invalid_and_outliers():
    depth = ramp(1.0, 100.0, 1001)
    depth[0, :50] = 0
    depth[1, 0] = 1e6  # a single outlier must not stretch the robust range
    assert depth_range(depth, 3.0, 7.0) == (3.0, 7.0)
    low, high = depth_range(depth)
    valid = depth[depth > 0]
    assert (low, high) == pytest.approx(tuple(np.percentile(valid.astype(np.float64), [2, 98])))
    assert depth_range(depth, vmin=0.5).vmin == 0.5


def test_degenerate_ranges_stay_usable():
    assert depth_range(np.zeros((4, 5), np.float32)) == (0.0, 1.0)
    low, high = depth_range(np.full((4, 5), 5.0, np.float32))
    assert low < 5.0 < high
    low, high = depth_range(np.full((4, 5), 5.0, np.float32), vmin=10.0)
    assert low == 10.0 and high > 10.0
    with pytest.raises(ValueError):
        value_range(np.ones((2, 2)), 3.0, 2.0)
    empty = np.zeros((8, 120), np.float32)
    panel = depth_panel(empty, invalid_color=(5, 6, 7))
    assert panel.shape == (8 + COLORBAR_HEIGHT, 120, 3) and (panel[:8] == (5, 6, 7)).all()


# --- colourising ------------------------------------------------------------------------

def test_invalid_pixels_get_invalid_color():
    depth = ramp()
    depth[1, 10:20] = 0
    depth[2, 5] = np.nan
    rgb = colorize_depth(depth, invalid_color=(1, 2, 3))
    assert rgb.dtype == np.uint8 and rgb.shape == (*depth.shape, 3)
    invalid = ~(depth > 0)
    assert (rgb[invalid] == (1, 2, 3)).all()
    assert not (rgb[~invalid] == (1, 2, 3)).all(axis=-1).any()


def test_near_is_red_end_far_is_blue_end_and_invert_swaps():
    depth = ramp(2.0, 50.0)
    rgb = colorize_depth(depth, vmin=2.0, vmax=50.0)
    near, far = cmap_bytes(SPECTRAL, 0.0), cmap_bytes(SPECTRAL, 1.0)
    assert (rgb[0, 0] == near).all() and (rgb[0, -1] == far).all()
    assert near[0] > near[2] and far[2] > far[0]  # Spectral: warm near, cool far
    inverted = colorize_depth(depth, vmin=2.0, vmax=50.0, invert=True)
    assert (inverted[0, 0] == far).all() and (inverted[0, -1] == near).all()
    # Beyond the range values clip to the end colours.
    clipped = colorize_depth(np.array([[1.0, 99.0]], np.float32), vmin=2.0, vmax=50.0)
    assert (clipped[0, 0] == near).all() and (clipped[0, 1] == far).all()


def test_ramp_walks_monotonically_through_the_colour_map():
    depth = ramp(2.0, 50.0)
    rgb = colorize_depth(depth, vmin=2.0, vmax=50.0)
    t = (depth.astype(np.float64) - 2.0) / 48.0
    assert (rgb == cmap_bytes(SPECTRAL, t)).all()
    # Index of each pixel's colour in the colour map's lookup table never decreases.
    table = cmap_bytes(SPECTRAL, np.arange(SPECTRAL.N)).astype(int)
    index = np.abs(rgb[0, :, None, :].astype(int) - table[None]).sum(-1).argmin(1)
    assert (np.diff(index) >= 0).all() and index[0] == 0 and index[-1] == SPECTRAL.N - 1


def test_generic_colorize_matches_matplotlib_and_uses_robust_range():
    values = np.random.default_rng(0).normal(size=(30, 40))
    values[0, 0] = np.inf
    rgb = colorize(values, -1.0, 1.0, cmap="magma", invalid_color=(9, 9, 9))
    expected = cmap_bytes(matplotlib.colormaps["magma"], np.clip((values + 1) / 2, 0, 1))
    assert (rgb[0, 0] == 9).all()
    assert (rgb.reshape(-1, 3)[1:] == expected.reshape(-1, 3)[1:]).all()
    low, high = value_range(values)
    finite = values[np.isfinite(values)]
    assert (low, high) == pytest.approx(tuple(np.percentile(finite, [2, 98])))


# --- colour bar and panel ---------------------------------------------------------------

def bar_end_colors(image):
    """Colours a few pixels inside the two ends of the bar: the most colourful row's extremes."""
    pixels = image.astype(int)
    colourful = (pixels.max(-1) - pixels.min(-1)) > 40
    row = colourful.sum(1).argmax()
    columns = np.flatnonzero(colourful[row])
    return pixels[row, columns[0] + 3], pixels[row, columns[-1] - 3]


def test_colorbar_is_rgb_of_requested_size_with_the_colour_map_ends():
    bar = colorbar_image(2.0, 50.0, "Spectral", width=500)
    assert bar.dtype == np.uint8 and bar.shape == (COLORBAR_HEIGHT, 500, 3)
    left, right = bar_end_colors(bar)
    near, far = cmap_bytes(SPECTRAL, 0.0), cmap_bytes(SPECTRAL, 1.0)
    assert np.abs(left - near).max() <= 12 and np.abs(right - far).max() <= 12
    left, right = bar_end_colors(colorbar_image(2.0, 50.0, "Spectral", invert=True, width=500))
    assert np.abs(left - far).max() <= 12 and np.abs(right - near).max() <= 12
    # Text (ticks and label) is drawn: dark pixels below the bar.
    assert (bar[COLORBAR_HEIGHT // 2:].max(-1) < 80).sum() > 50


def test_depth_panel_stacks_depth_and_bar_at_the_same_width():
    depth = ramp(2.0, 50.0, 320)
    depth = np.repeat(depth, 30, axis=0)
    panel = depth_panel(depth, vmin=2.0, vmax=50.0)
    assert panel.shape == (depth.shape[0] + COLORBAR_HEIGHT, depth.shape[1], 3)
    assert (panel[:depth.shape[0]] == colorize_depth(depth, 2.0, 50.0)).all()
    titled = depth_panel(depth, title="thermal")
    assert titled.shape[0] == depth.shape[0] + COLORBAR_HEIGHT + TITLE_HEIGHT


# --- point clouds -----------------------------------------------------------------------

def test_fronto_parallel_plane_back_projects_to_the_closed_form():
    H, W = 48, 64
    depth = np.full((H, W), 5.0, np.float32)
    depth[0, :] = 0
    depth[10, 7] = 0
    points, colors = depth_to_points(depth, K)
    assert colors is None
    assert points.dtype == np.float32 and points.shape == ((depth > 0).sum(), 3)
    assert np.allclose(points[:, 2], 5.0)
    valid_pixels = np.argwhere(depth > 0)  # row-major, the order of the points
    for i in (0, 100, len(points) - 1):
        v, u = valid_pixels[i]
        expected = [(u - CX) * 5.0 / FX, (v - CY) * 5.0 / FY, 5.0]
        assert points[i] == pytest.approx(expected, abs=1e-5)


def test_all_invalid_depth_gives_an_empty_cloud_and_figure():
    points, colors = depth_to_points(np.zeros((6, 8), np.float32), K, colors=np.zeros((6, 8, 3), np.uint8))
    assert points.shape == (0, 3) and colors.shape == (0, 3)
    assert len(pointcloud_figure(points, colors).data[0].x) == 0


def test_colours_follow_valid_pixels_and_grey_becomes_grey_rgb():
    depth = np.full((4, 6), 2.0, np.float32)
    depth[1, 2] = 0
    grey = np.arange(24, dtype=np.uint8).reshape(4, 6) * 10
    _, colors = depth_to_points(depth, K, colors=grey)
    expected = grey[depth > 0].astype(np.float32) / 255
    assert colors.shape == (23, 3) and np.allclose(colors, expected[:, None])
    rgb = np.random.default_rng(1).random((4, 6, 3)).astype(np.float32)
    _, colors = depth_to_points(depth, K, colors=rgb)
    assert np.allclose(colors, rgb[depth > 0])
    with pytest.raises(ValueError):
        depth_to_points(depth, K, colors=np.zeros((5, 6, 3), np.uint8))


def test_transform_moves_points_into_another_frame():
    depth = np.full((4, 6), 3.0, np.float32)
    T = np.eye(4)
    T[:3, 3] = (1.0, -2.0, 0.5)
    points, _ = depth_to_points(depth, K)
    moved, _ = depth_to_points(depth, K, T=T)
    assert np.allclose(moved, points + T[:3, 3], atol=1e-6)


def scene_points(H=200, W=320):
    """A slanted plane with a box in front, coloured by row, from the test camera."""
    v, u = np.mgrid[0:H, 0:W]
    depth = (8.0 + 0.02 * v).astype(np.float32)
    depth[60:120, 100:180] = 4.0
    image = np.stack([v / H, u / W, np.full_like(v, 0.5, dtype=float)], -1).astype(np.float32)
    Kscene = np.array([[300.0, 0, W / 2], [0, 300.0, H / 2], [0, 0, 1]])
    return depth_to_points(depth, Kscene, colors=image)


def test_downsample_reaches_the_budget_and_keeps_the_bounding_box():
    points, colors = scene_points()
    down, down_colors = downsample_points(points, colors, max_points=5000)
    assert 0.5 * 5000 <= len(down) <= 5000 and down_colors.shape == down.shape
    assert down.dtype == np.float32 and down_colors.dtype == np.float32
    extent = np.ptp(points, axis=0)
    assert np.allclose(down.min(0), points.min(0), atol=0.05 * extent.max())
    assert np.allclose(down.max(0), points.max(0), atol=0.05 * extent.max())
    assert colors.min() >= 0 and down_colors.max() <= 1
    # Under the budget nothing changes; a fixed voxel grid is used as given.
    same, _ = downsample_points(points, colors, max_points=len(points))
    assert same is points
    coarse, _ = downsample_points(points, None, voxel_size=1.0)
    assert len(coarse) < len(down)


def test_tiny_and_degenerate_clouds_are_strided_deterministically():
    points = np.zeros((500, 3), np.float32)
    down, _ = downsample_points(points, None, max_points=100)
    assert len(down) == 100
    points = np.random.default_rng(2).random((900, 3)).astype(np.float32)
    first, _ = downsample_points(points, None, max_points=300)
    second, _ = downsample_points(points, None, max_points=300)
    assert len(first) == 300 and (first == second).all()


def test_write_ply_round_trips_through_open3d(tmp_path):
    points, colors = scene_points(40, 60)
    path = write_ply(tmp_path / "cloud.ply", points, colors)
    assert path.read_bytes().startswith(b"ply\nformat binary")
    cloud = o3d.io.read_point_cloud(str(path))
    assert len(cloud.points) == len(points) and cloud.has_colors()
    assert np.allclose(np.asarray(cloud.points), points, atol=1e-6)
    assert np.allclose(np.asarray(cloud.colors), colors, atol=1 / 255)


def marker_rgb(trace):
    """Each point's uint8 colour as plotly draws it: its number looked up in the colorscale."""
    table = {stop: color for stop, color in trace.marker.colorscale}
    stops = np.asarray(trace.marker.color, float) / trace.marker.cmax
    rgb = [table[stop][4:-1].split(",") for stop in stops]
    return np.asarray(rgb, int)


def test_pointcloud_figure_has_one_light_scatter3d_trace_within_budget():
    points, colors = scene_points()
    fig = pointcloud_figure(points, colors, max_points=4000)
    assert isinstance(fig, go.Figure) and len(fig.data) == 1
    trace = fig.data[0]
    assert isinstance(trace, go.Scatter3d) and trace.mode == "markers"
    assert 0 < len(trace.x) <= 4000 and len(trace.marker.color) == len(trace.x)
    assert trace.hoverinfo == "skip"
    scene = fig.layout.scene
    axes = (scene.xaxis, scene.yaxis, scene.zaxis)
    assert all("[m]" in axis.title.text for axis in axes)
    # True to scale: the aspect ratio is proportional to the axis ranges, which hold the
    # points and the sensor (origin).
    low, high = np.array([axis.range for axis in axes]).T
    aspect = np.array([scene.aspectratio.x, scene.aspectratio.y, scene.aspectratio.z])
    assert scene.aspectmode == "manual" and np.allclose(aspect, (high - low) / (high - low).max())
    assert (low <= np.minimum(points.min(0), 0)).all() and (high >= np.maximum(points.max(0), 0)).all()
    # The camera, back in metres: behind and above the sensor, looking forward, -y up.
    eye, centre = (np.array([v.x, v.y, v.z]) * (high - low).max() + (low + high) / 2
                   for v in (scene.camera.eye, scene.camera.center))
    assert eye[2] < 0 and eye[1] < 0 and centre[2] > 0 and abs(eye[0]) < 1e-9
    assert (scene.camera.up.x, scene.camera.up.y, scene.camera.up.z) == (0, -1, 0)
    # Many distinct colours are quantised to a 256-colour palette, close to the originals.
    down, down_colors = downsample_points(points, colors, max_points=4000)
    assert np.allclose(np.c_[trace.x, trace.y, trace.z], down)
    assert len(trace.marker.colorscale) <= 256
    assert np.abs(marker_rgb(trace) - 255 * down_colors).mean() < 4


def test_pointcloud_figure_colours_exactly_with_few_colours_and_by_depth_without():
    depth = np.full((30, 40), 6.0, np.float32)
    depth[:, 20:] = 9.0
    grey = np.tile(np.arange(40, dtype=np.uint8) * 6, (30, 1))
    points, colors = depth_to_points(depth, K, colors=grey)
    trace = pointcloud_figure(points, colors).data[0]
    assert np.array_equal(marker_rgb(trace), np.rint(colors * 255))
    one_colour = pointcloud_figure(points, np.full_like(colors, 0.5)).data[0]
    assert (marker_rgb(one_colour) == 128).all()
    by_depth = pointcloud_figure(points).data[0]
    assert np.array_equal(by_depth.marker.color, points[:, 2])
    assert [c for _, c in by_depth.marker.colorscale] == [c for _, c in plotly_colorscale("Spectral")]
    assert by_depth.marker.showscale and "[m]" in by_depth.marker.colorbar.title.text
    assert (by_depth.marker.cmin, by_depth.marker.cmax) == pytest.approx((6.0, 9.0))


def test_wide_panels_draw_their_bar_and_text_larger_to_stay_readable_when_shrunk():
    from core.viz.colormap import colorbar_height, panel_scale
    narrow = colorbar_image(0.0, 80.0, width=640)
    wide = colorbar_image(0.0, 80.0, width=1280)
    assert panel_scale(640) == 1.0 and panel_scale(1280) == 2.0 and panel_scale(120) == 1.0
    assert narrow.shape == (COLORBAR_HEIGHT, 640, 3) and wide.shape == (2 * COLORBAR_HEIGHT, 1280, 3)
    # the same ticks in text twice as tall and wide: several times the ink (unscaled text: ~1x)
    ink = [(bar.max(-1) < 80).sum() for bar in (narrow, wide)]
    assert 2.2 < ink[1] / ink[0] < 5.0
    depth = np.linspace(5.0, 60.0, 20 * 1224, dtype=np.float32).reshape(20, 1224)
    assert depth_panel(depth).shape[0] == 20 + colorbar_height(1224)
