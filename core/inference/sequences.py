"""Sequences: depth for every frame through ``analyse``, the temporal-stability figure, one 3-D
map along the poses, and the downloads (map PLY, depth PNGs in a zip, H.264 video).

    source = gallery_sequence(gallery_sequence_names()[0])          # or dataset/zip/video sources
    run = SequenceRun.create(folder, source, AnalysisRequest(mode="spectral", spectra=("rgb",)))
    for record in run.analyse(source, select_frames(source.count, stride=2)):
        ...                                                          # one record a frame, as it is done
    figure = run.map(output="rgb", every=5).figure

A run keeps nothing large in memory: each frame (inputs, cameras, pose) and its depth per output
go to one .npz in the run's folder at most RUN_MAX_WIDTH wide, written as the session store writes
its frames (``sessions.frame_arrays``), and run.json holds the per-frame records; players, maps
and videos read the frames back one at a time.
"""
from __future__ import annotations

import dataclasses
import json
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F

from core.data import ms2
from core.data.frame import Frame
from core.data.imageio import write_png
from core.data.msynth.classes import PERSON, SKY, VEHICLE
from core.geometry import Camera, backproject, relative_transform, transform_points, warp_to_camera
from core.inference.analysis import AnalysisRequest, analyse, output_title
from core.inference.display import at_display_size, display_image
from core.inference.errors import InputError
from core.inference.sequence_sources import SequenceSource
from core.inference.sessions import frame_arrays, frame_from_arrays, read_npz, write_npz
from core.inference.uploads import return_freed_memory
from core.inference.views import colors_in_camera, depth_view
from core.models import FUSED
from core.models.interface import resize_depth
from core.viz.colormap import get_cmap
from core.viz.pointcloud import depth_to_points, downsample_points, pointcloud_figure, write_ply

RUN_MAX_WIDTH = 640
# Temporal stability: a point's depth may change by this share between two frames before it
# counts as occluded, disoccluded or moving rather than flickering.
OCCLUSION_CHANGE = 0.3
# Previous-frame pixels are sampled only where their 3 x 3 neighbourhood is one smooth surface
# (inverse depths within this ratio): bilinear sampling across a depth edge is no measurement.
SMOOTH_RATIO = 1.2
MOVING_CLASSES = (SKY, VEHICLE, PERSON)
DEFAULT_VOXEL_M = 0.2
MAP_MAX_DEPTH_M = 40.0     # farther depth is too coarse to place in a map
MAP_MAX_POINTS = 80_000    # what the map's figure shows; the PLY keeps every voxel
TIME_CMAP = "viridis"
CONDITION_SHADES = {"day": "#fff3b0", "night": "#1d2b53", "fog": "#b8c4cc", "rain": "#7fb3d5"}
VIDEO_CRF = 23


@dataclass
class FrameRecord:
    """One analysed frame: per output its AbsRel and δ1 (where ground truth exists) and its
    relative depth change since the previous frame of the run (where both have poses)."""

    index: int
    time_s: float
    condition: str | None
    metrics: dict[str, dict[str, float]]
    stability: dict[str, float]
    elapsed_s: float


@dataclass
class SequenceRun:
    """A run's records and what its frames were analysed with, kept in ``folder``."""

    folder: Path
    name: str
    request: AnalysisRequest
    fps: float
    has_poses: bool
    note: str
    outputs: list[str] = field(default_factory=list)
    anchor: str | None = None
    value_range: tuple[float, float] | None = None
    records: list[FrameRecord] = field(default_factory=list)

    @classmethod
    def create(cls, folder: Path, source: SequenceSource, request: AnalysisRequest) -> "SequenceRun":
        Path(folder).mkdir(parents=True, exist_ok=True)
        return cls(Path(folder), source.name, request, source.fps, source.has_poses, source.note)

    @classmethod
    def open(cls, folder: str | Path) -> "SequenceRun":
        try:
            content = json.loads((Path(folder) / "run.json").read_text())
        except (OSError, ValueError):
            raise InputError("this sequence run is no longer kept on the server: run it again") from None
        request = content.pop("request")
        request["spectra"] = tuple(request["spectra"]) if request["spectra"] is not None else None
        records = [FrameRecord(**r) for r in content.pop("records")]
        value_range = content.pop("value_range")
        content.pop("folder")   # where it is now, not where it was written
        return cls(Path(folder), request=AnalysisRequest(**request), records=records,
                   value_range=tuple(value_range) if value_range else None, **content)

    def save(self) -> None:
        content = dataclasses.asdict(self)
        content["folder"] = str(self.folder)
        partial = self.folder / "run.json.partial"
        partial.write_text(json.dumps(content))
        partial.replace(self.folder / "run.json")

    def camera_of(self, output: str) -> str:
        return self.anchor if output == FUSED else output

    def _frame_file(self, index: int) -> Path:
        return self.folder / f"frame-{index:06d}.npz"

    # --- running ---------------------------------------------------------------------------

    def analyse(self, source: SequenceSource, indices: Sequence[int]) -> Iterator[FrameRecord]:
        """Depth for each of ``indices`` through ``analyse``, yielding each frame's record when it
        is stored; the records, poses and stability follow the frames in order."""
        start = time.perf_counter()
        previous = None
        for index, frame in source.frames(indices):
            analysis = analyse(frame, self.request)
            shown = at_display_size(analysis.frame, RUN_MAX_WIDTH)
            if not self.outputs:
                self.outputs, self.anchor = list(analysis.outputs), analysis.anchor
                self.value_range = tuple(float(v) for v in analysis.value_range)
            depth = {output: resize_depth(analysis.model_depth[output], shown.cameras[self.camera_of(output)].size)
                     [0, 0].numpy() for output in self.outputs}
            stability = {output: relative_depth_change(previous[1][output], depth[output],
                                                       *self._pair_geometry(previous[0], shown, output))
                         for output in self.outputs} if previous and _posed(previous[0], shown) else {}
            record = FrameRecord(index, float(frame.meta.get("time_s", index / self.fps)), frame.condition,
                                 {o: {"abs_rel": m["abs_rel"], "a1": m["a1"]} for o, m in analysis.metrics.items()},
                                 stability, time.perf_counter() - start)
            # The inputs, cameras and pose as analysed (ground truth has served the metrics), stored
            # uncompressed: deflating a frame of four outputs took 50 ms here, most of a student frame's time.
            arrays, header = frame_arrays(dataclasses.replace(shown, depth={}, classes={}))
            arrays.update({f"depth.{o}": d for o, d in depth.items()})
            write_npz(self._frame_file(index), arrays, header, compress=False)
            self.records.append(record)
            self.save()
            previous = (shown, depth)
            yield record
        return_freed_memory()

    def _pair_geometry(self, before: Frame, after: Frame, output: str):
        camera = self.camera_of(output)
        return (before.cameras[camera], after.cameras[camera], before.pose, after.pose,
                _static(before, camera), _static(after, camera))

    # --- reading back ---------------------------------------------------------------------

    def frame(self, position: int) -> tuple[Frame, dict[str, np.ndarray]]:
        """The run's ``position``-th frame (inputs at run size) and its depth per output."""
        if not 0 <= position < len(self.records):
            raise InputError(f"frame {position} is not in this run ({len(self.records)} frames analysed)")
        arrays, header = read_npz(self._frame_file(self.records[position].index))
        return frame_from_arrays(arrays, header), {o: arrays[f"depth.{o}"] for o in self.outputs}

    def check_output(self, output: str) -> str:
        if output not in self.outputs:
            shown = ", ".join(output_title(o, self.anchor) for o in self.outputs) or "none yet"
            raise InputError(f"this run has no {output!r} depth; it computed: {shown}")
        return output

    def player(self, position: int, output: str, invert: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
        """(every input at display size, the output's depth panel with its colour bar in metres)."""
        frame, depth = self.frame(position)
        output = self.check_output(output)
        panel = depth_view(depth[output], invert=invert, value_range=self.value_range,
                           title=output_title(output, self.anchor))
        return [display_image(frame, s) for s in frame.spectra], panel

    def metric_series(self) -> dict[str, dict[str, list[float]]]:
        """Per output, 'time', 'abs_rel' and 'a1' of the frames with ground truth."""
        series = {}
        for record in self.records:
            for output, values in record.metrics.items():
                line = series.setdefault(output, {"time": [], "abs_rel": [], "a1": []})
                line["time"].append(record.time_s)
                line["abs_rel"].append(values["abs_rel"])
                line["a1"].append(values["a1"])
        return series

    def metrics_figure(self) -> go.Figure | None:
        """AbsRel (solid) and δ1 (dotted, right axis) against time per output, each condition's
        stretch of the drive shaded and named; None without ground truth."""
        series = self.metric_series()
        if not series:
            return None
        figure = go.Figure()
        for output, line in series.items():
            title = output_title(output, self.anchor)
            figure.add_trace(go.Scatter(x=line["time"], y=line["abs_rel"], mode="lines+markers", name=f"AbsRel, {title}"))
            figure.add_trace(go.Scatter(x=line["time"], y=line["a1"], mode="lines", line=dict(dash="dot"),
                                        name=f"δ1, {title}", yaxis="y2"))
        for condition, start, end in self.condition_stretches():
            figure.add_vrect(x0=start, x1=end, fillcolor=CONDITION_SHADES.get(condition, "#eeeeee"), opacity=0.25,
                             line_width=0, annotation_text=condition or "unknown", annotation_position="top left")
        figure.update_layout(xaxis_title="time [s]", yaxis_title="AbsRel (lower is better)",
                             yaxis2=dict(title="δ < 1.25", overlaying="y", side="right", range=[0, 1]),
                             margin=dict(l=40, r=40, t=30, b=40), legend=dict(orientation="h"))
        return figure

    def condition_stretches(self) -> list[tuple[str | None, float, float]]:
        """(condition, first time, last time) of each run of frames under one condition."""
        stretches = []
        for record in self.records:
            if stretches and stretches[-1][0] == record.condition:
                stretches[-1] = (record.condition, stretches[-1][1], record.time_s)
            else:
                stretches.append((record.condition, record.time_s, record.time_s))
        return stretches

    def stability(self) -> dict[str, float]:
        """Per output, the mean over frame pairs of the mean relative depth change of static
        points (0: steady; missing without poses)."""
        values = {}
        for record in self.records:
            for output, change in record.stability.items():
                if np.isfinite(change):
                    values.setdefault(output, []).append(change)
        return {output: float(np.mean(changes)) for output, changes in values.items()}

    def stability_rows(self) -> list[list]:
        return [[output_title(o, self.anchor), round(100 * v, 2)] for o, v in self.stability().items()]

    def map(self, output: str, every: int = 5, voxel_m: float = DEFAULT_VOXEL_M,
            color_by: str | None = None) -> "DriveMap":
        """The 3-D map of every ``every``-th frame's ``output`` depth, coloured by a spectrum
        (None: the output's own camera) or by time ('time')."""
        output = self.check_output(output)
        if not self.has_poses:
            raise InputError("this sequence has no poses, so there is no 3-D map: the depth of every frame is "
                             "in the player and the downloads")
        if not isinstance(every, int) or every < 1:
            raise InputError("map every k-th frame: k is a whole number, 1 or more")
        if not (isinstance(voxel_m, (int, float)) and 0.02 <= voxel_m <= 5.0):
            raise InputError("the map's voxel size must be between 0.02 and 5 m")
        camera = self.camera_of(output)
        positions = list(range(0, len(self.records), every))
        depths, cameras, poses, colors = [], [], [], []
        times = np.array([self.records[p].time_s for p in positions])
        span = max(times.max() - times.min(), 1e-6) if len(times) else 1.0
        for position, moment in zip(positions, times):
            frame, depth = self.frame(position)
            if color_by == "time":
                shade = get_cmap(TIME_CMAP)((moment - times.min()) / span)[:3]
                colour = np.broadcast_to(np.asarray(shade, np.float32), (*depth[output].shape, 3))
            else:
                spectrum = color_by if color_by in frame.images else camera
                colour = colors_in_camera(frame, depth[output], camera, spectrum)
            depths.append(depth[output])
            cameras.append(frame.cameras[camera])
            poses.append(frame.pose)
            colors.append(colour)
        return drive_map(depths, cameras, poses, colors, voxel_m,
                         title=f"{output_title(output, self.anchor)}, every {every}. frame, {voxel_m:g} m voxels")

    # --- downloads ---------------------------------------------------------------------------

    def depth_zip(self, path: Path) -> Path:
        """Every frame's depth per output as 16-bit PNG (metres x 256, as the single-frame
        downloads), at the run's size, in one zip."""
        scratch = path.with_suffix(".png.partial")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:   # PNG is compressed already
            for position, record in enumerate(self.records):
                _, depth = self.frame(position)
                for output, values in depth.items():
                    write_png(scratch, ms2.depth_to_uint16(values))
                    archive.write(scratch, f"{record.index:06d}_{output}_depth_m256.png")
        scratch.unlink(missing_ok=True)
        return path

    def video(self, path: Path, output: str, invert: bool = False) -> Path:
        """H.264 mp4 (yuv420p, plays in browsers) of each frame: the output camera's input beside
        its depth with the colour bar, at the run's frame rate."""
        output = self.check_output(output)
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(VIDEO_CRF), "preset": "veryfast"}
            for position in range(len(self.records)):
                image = video_frame(*self._video_parts(position, output, invert))
                if position == 0:
                    stream.height, stream.width = image.shape[:2]
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(stream.encode())
        return path

    def _video_parts(self, position: int, output: str, invert: bool) -> tuple[np.ndarray, np.ndarray]:
        frame, depth = self.frame(position)
        image = display_image(frame, self.camera_of(output))
        panel = depth_view(depth[output], invert=invert, value_range=self.value_range)
        return (np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image), panel


def video_frame(image: np.ndarray, panel: np.ndarray) -> np.ndarray:
    """Input | depth panel on white, padded to even sides (yuv420p halves both)."""
    height = max(image.shape[0], panel.shape[0])
    width = image.shape[1] + panel.shape[1]
    canvas = np.full((height + height % 2, width + width % 2, 3), 255, np.uint8)
    canvas[:image.shape[0], :image.shape[1]] = image
    canvas[:panel.shape[0], image.shape[1]:width] = panel
    return canvas


def _posed(before: Frame, after: Frame) -> bool:
    return before.pose is not None and after.pose is not None


def _static(frame: Frame, camera: str) -> np.ndarray | None:
    """Pixels of surfaces that do not move (MS-Synth's classes), None where the frame has no classes."""
    classes = frame.classes.get(camera)
    return None if classes is None else ~np.isin(classes, MOVING_CLASSES)


def camera_pose(pose: np.ndarray, camera: Camera) -> torch.Tensor:
    """T_world_cam (1, 4, 4) float64 of a camera of the rig posed at T_world_rig."""
    return torch.from_numpy(np.asarray(pose, np.float64) @ camera.T_rig_cam)[None]


def relative_depth_change(depth_before: np.ndarray, depth_after: np.ndarray, camera_before: Camera,
                          camera_after: Camera, pose_before: np.ndarray, pose_after: np.ndarray,
                          static_before: np.ndarray | None = None, static_after: np.ndarray | None = None) -> float:
    """The mean relative change of depth of static points from one frame to the next: each pixel
    of ``depth_after`` is moved with the poses into the earlier camera, where its depth z is
    compared with the earlier depth map d sampled there (bilinear in inverse depth, exact on
    planes): |1 - z / d|. Points on moving classes, beside depth edges, or changing by more than
    OCCLUSION_CHANGE (occlusions) are left out. NaN where no point is seen in both frames."""
    before = torch.from_numpy(np.asarray(depth_before, np.float32))[None, None]
    after = torch.from_numpy(np.asarray(depth_after, np.float32))[None, None]
    inverse = torch.where(before > 0, 1.0 / before.clamp(min=1e-6), torch.zeros_like(before))
    valid = (before > 0).float()
    highest = F.max_pool2d(inverse, 3, 1, 1)
    lowest = -F.max_pool2d(-torch.where(before > 0, inverse, torch.full_like(inverse, np.inf)), 3, 1, 1)
    clean = (-F.max_pool2d(-valid, 3, 1, 1) > 0) & (highest <= SMOOTH_RATIO * lowest)
    if static_before is not None:
        clean &= torch.from_numpy(static_before)[None, None]
    K_before = torch.from_numpy(camera_before.K)[None]
    K_after = torch.from_numpy(camera_after.K)[None]
    T_before_after = relative_transform(camera_pose(pose_before, camera_before), camera_pose(pose_after, camera_after))
    sampled, inside = warp_to_camera(torch.cat([inverse, clean.float()], 1), after, K_after, K_before, T_before_after)
    z = transform_points(T_before_after, backproject(after.double(), K_after))[:, 2:3].float()
    keep = inside & (sampled[:, 1:2] > 1 - 1e-4) & (sampled[:, 0:1] > 0)
    if static_after is not None:
        keep &= torch.from_numpy(static_after)[None, None]
    change = (1 - z * sampled[:, 0:1]).abs()
    keep &= change < OCCLUSION_CHANGE
    return float(change[keep].mean()) if keep.any() else float("nan")


@dataclass
class DriveMap:
    points: np.ndarray       # (N, 3) world metres, voxel-downsampled
    colors: np.ndarray       # (N, 3) float [0, 1]
    trajectory: np.ndarray   # (F, 3) the depth camera's centre per mapped frame
    voxel_m: float
    figure: go.Figure


def frame_points_in_world(depth: np.ndarray, camera: Camera, pose: np.ndarray,
                          colors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A depth map's points (up to MAP_MAX_DEPTH_M) moved into the world with T_world_rig @ T_rig_cam."""
    near = np.where(depth <= MAP_MAX_DEPTH_M, depth, 0.0)
    return depth_to_points(near, camera.K, colors, T=np.asarray(pose, np.float64) @ camera.T_rig_cam)


def drive_map(depths: Sequence[np.ndarray], cameras: Sequence[Camera], poses: Sequence[np.ndarray],
              colors: Sequence[np.ndarray], voxel_m: float = DEFAULT_VOXEL_M, title: str | None = None) -> DriveMap:
    """Depth maps back-projected, moved into one world frame with their poses and voxel-
    downsampled with open3d, with the camera's trajectory drawn through the map."""
    # Each frame is voxelised on its own first: the merged cloud stays a fraction of the raw points
    # (a 100-frame map would otherwise hold some 12 M points, ~0.5 GB, before its one downsampling).
    parts = [downsample_points(*frame_points_in_world(d, c, p, colour), voxel_size=voxel_m)
             for d, c, p, colour in zip(depths, cameras, poses, colors)]
    points = np.concatenate([p for p, _ in parts]) if parts else np.zeros((0, 3), np.float32)
    point_colors = np.concatenate([c for _, c in parts]) if parts else np.zeros((0, 3), np.float32)
    points, point_colors = downsample_points(points, point_colors, voxel_size=voxel_m)
    trajectory = np.array([(np.asarray(p) @ c.T_rig_cam)[:3, 3] for p, c in zip(poses, cameras)], np.float32)
    # The map is already on an even voxel grid, so every k-th voxel is an even sample to draw; the
    # figure's own voxel-size search would voxelise the merged map several times over.
    stride = max(1, -(-len(points) // MAP_MAX_POINTS))
    figure = pointcloud_figure(points[::stride], point_colors[::stride], max_points=MAP_MAX_POINTS, title=title)
    figure.add_trace(go.Scatter3d(x=trajectory[:, 0], y=trajectory[:, 1], z=trajectory[:, 2], mode="lines+markers",
                                  line=dict(color="#ff3b3b", width=5), marker=dict(size=3, color="#ff3b3b"),
                                  name="camera path", hoverinfo="skip"))
    return DriveMap(points, point_colors, trajectory, voxel_m, figure)


def write_map_ply(drive: DriveMap, path: Path) -> Path:
    return write_ply(path, drive.points, drive.colors)
