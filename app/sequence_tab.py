"""The studio's Sequence tab: depth for every frame of a drive or a video, streamed as it is
computed, with a player, per-frame metrics, the stability table, the 3-D map and downloads.

Named endpoints (gradio_client): ``/sequence_run`` (streams one update a frame), ``/sequence_frame``,
``/sequence_map``, ``/sequence_downloads``. A session keeps one run: its folder (depth and inputs
per frame, on disk) goes when the next run starts or when the session ends.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from app.guard import user_error
from app.studio import (DISPLAY_FORMAT, HEAVY, HEAVY_SLOTS, SEQUENCE_RUNS, SESSION_TTL_S, choice, heavy,
                        holds_heavy_slot, number, sessions)
from core import inference
from core.inference import AnalysisRequest, InputError
from core.inference.sequence_sources import (MAX_FRAMES, dataset_sequence, discard_folder, gallery_sequence,
                                             gallery_sequence_names, scratch_folder, select_frames, upload_sequence)
from core.inference.sequences import DEFAULT_VOXEL_M, SequenceRun, write_map_ply
from core.inference.uploads import return_freed_memory
from core.inference.vocabulary import (LABEL_TO_MODE, LABEL_TO_SPECTRUM, LABEL_TO_VIEW, MAP_COLOURS, NO_RUN,
                                       SEQUENCE_SOURCES, SEQUENCE_UPLOAD_TYPES, STABILITY_HEADERS)

OUTPUT_VIEWS = {label: view for label, view in LABEL_TO_VIEW.items() if view != inference.GROUND_TRUTH}
PLAYER_REFRESH_S = 0.5   # the player redraws at most this often while a run streams (drawing costs a frame's time)


def streaming_refusals(fn):
    """A streaming handler whose InputError reaches the visitor in words (``refusing`` for
    generators); the heap's freed pages are handed back when it ends or is stopped."""
    @functools.wraps(fn)
    def handler(*args, **kwargs):
        try:
            yield from fn(*args, **kwargs)
        except InputError as err:
            raise user_error(str(err)) from None
        finally:
            return_freed_memory()
    return handler


def a_slot_per_frame(records: Iterator) -> Iterator:
    """``records`` computed each while holding a heavy slot, given back before the record goes on:
    between two frames of a run the slot serves whoever waits for it (single-frame visitors)."""
    while True:
        with HEAVY_SLOTS.slot():
            record = next(records, None)
        if record is None:
            return
        yield record


def _whole(value, what: str, low: int, high: int) -> int:
    """``number`` for a count or an index."""
    value = number(value, what, low, high)
    if not value.is_integer():
        raise InputError(f"{what} must be a whole number from {low} to {high}, got {value:g}")
    return int(value)


def kept_run(folder) -> SequenceRun:
    if not isinstance(folder, str) or not folder:
        raise InputError(NO_RUN)
    return SequenceRun.open(folder)


def discard_run(folder) -> None:
    """The session's run folder goes with the session (gr.State's delete_callback)."""
    if isinstance(folder, str) and folder:
        discard_folder(Path(folder))
    return_freed_memory()


class SequenceTab:
    """The tab's handlers over one studio's runs folder and optional MS2 root."""

    def __init__(self, runs_root: Path, data_root: Path | None):
        self.runs_root = Path(runs_root)
        self.data_root = data_root

    def source(self, kind_label: str, gallery_name: str | None, dataset_name: str | None, upload, folder: Path):
        kind = choice(kind_label, {label: kind for kind, label in SEQUENCE_SOURCES.items()}, "source")
        if kind == "gallery":
            return gallery_sequence(gallery_name)
        if kind == "dataset":
            if self.data_root is None:
                raise InputError("this studio was started without a dataset (--data): choose an MS-Synth drive")
            return dataset_sequence(self.data_root, dataset_name)
        if not isinstance(upload, (str, Path)):
            raise InputError(f"upload a zip of MS2-layout frames or a video ({', '.join(SEQUENCE_UPLOAD_TYPES)})")
        return upload_sequence(upload, folder / "upload")

    def run(self, previous, kind_label, gallery_name, dataset_name, upload, model_name, mode_label, anchor_label,
            probe_label, strength, first, count, stride, output_label, invert, progress=gr.Progress()):
        """Depth for every chosen frame, one update a frame: the run's folder, status (frames per
        second, time left), the frame slider, the inputs and depth of the newest frame (at most
        every PLAYER_REFRESH_S), the metrics plot and the stability table."""
        request = AnalysisRequest(inference.check_model_choice(model_name), choice(mode_label, LABEL_TO_MODE, "mode"),
                                  choice(anchor_label, LABEL_TO_SPECTRUM, "fusion camera"),
                                  choice(probe_label, inference.PROBES, "probe"), number(strength, "probe strength", 0, 1))
        output = choice(output_label, OUTPUT_VIEWS, "output to show")
        discard_run(previous)
        folder = scratch_folder(self.runs_root, "sequence-")
        try:
            source = self.source(kind_label, gallery_name, dataset_name, upload, folder)
            first = _whole(first, "first frame", 0, source.count - 1)
            count = _whole(count, "frame count", 1, MAX_FRAMES)
            stride = _whole(stride, "stride", 1, 100)
            indices = select_frames(source.count, first, min(source.count, first + count * stride), stride)
        except BaseException:
            discard_folder(folder)
            raise
        run = SequenceRun.create(folder, source, request)
        shown_at = 0.0
        yield str(folder), f"Starting **{source.name}**: {len(indices)} frames. {source.note}", *[gr.skip()] * 5
        for done, record in enumerate(a_slot_per_frame(run.analyse(source, indices)), start=1):
            rate = done / max(record.elapsed_s, 1e-6)
            left = (len(indices) - done) / rate
            status = (f"**{source.name}** · frame {done} / {len(indices)} · {rate:.1f} frames/s · "
                      f"{left:.0f} s left. {source.note}")
            progress((done, len(indices)), desc=f"{rate:.1f} frames/s, {left:.0f} s left")
            now = time.perf_counter()
            if done == len(indices) or now - shown_at >= PLAYER_REFRESH_S:
                shown_at = now
                shown = output if output in run.outputs else run.outputs[0]
                inputs, panel = run.player(done - 1, shown, bool(invert))
                yield (str(folder), status, gr.Slider(0, max(done - 1, 1), value=done - 1, step=1),
                       inputs, panel, run.metrics_figure(), run.stability_rows())
        yield (str(folder), f"**{source.name}**: {len(run.records)} frames done. {source.note}",
               gr.Slider(0, max(len(run.records) - 1, 1), value=len(run.records) - 1, step=1),
               *[gr.skip()] * 2, run.metrics_figure(), run.stability_rows())

    @staticmethod
    def frame(folder, position, output_label, invert):
        """The player: the inputs and the chosen output's depth of one frame of the kept run."""
        run = kept_run(folder)
        inputs, panel = run.player(_whole(position, "frame", 0, max(len(run.records) - 1, 0)),
                                   choice(output_label, OUTPUT_VIEWS, "output to show"), bool(invert))
        return inputs, panel

    @staticmethod
    def map(folder, output_label, every, voxel_m, colour_label):
        """The map of every k-th frame along the poses, and its PLY."""
        run = kept_run(folder)
        drive = run.map(choice(output_label, OUTPUT_VIEWS, "output to map"), _whole(every, "map every k-th frame", 1,
                                                                                     MAX_FRAMES),
                        number(voxel_m, "voxel size [m]", 0.02, 5.0), choice(colour_label, MAP_COLOURS, "map colour"))
        return drive.figure, str(write_map_ply(drive, run.folder / "map.ply"))

    @staticmethod
    def downloads(folder, output_label, invert):
        """Per-frame 16-bit depth PNGs in a zip and the H.264 video of inputs | depth."""
        run = kept_run(folder)
        output = choice(output_label, OUTPUT_VIEWS, "output for the video")
        return [str(run.depth_zip(run.folder / "depth_png_m256.zip")),
                str(run.video(run.folder / "depth.mp4", output, bool(invert)))]


def sequence_tab(checkpoints: list[tuple[str, str]], default_model: str | None, data_root: Path | None) -> None:
    """The tab's widgets and events; a map or the downloads hold a slot of the studio's heavy pool, a run
    one slot a frame."""
    tab = SequenceTab(sessions().root / "sequences", data_root)
    run_state = gr.State(time_to_live=SESSION_TTL_S, delete_callback=discard_run)
    sources = [label for kind, label in SEQUENCE_SOURCES.items() if kind != "dataset" or data_root is not None]
    gallery_names = gallery_sequence_names()
    with gr.Row():
        kind = gr.Radio(sources, value=sources[0], label="Source")
        gallery_name = gr.Dropdown(gallery_names, value=gallery_names[0] if gallery_names else None,
                                   label="MS-Synth drive (rendered on first use)")
        dataset_name = gr.Dropdown([s.name for s in inference.list_dataset_sequences(data_root)] if data_root else [],
                                   value=None, label="Dataset test sequence", visible=data_root is not None)
        upload = gr.File(label="Zip of MS2-layout frames, or an RGB video (≤ 60 s, ≤ 200 MB)",
                         file_types=SEQUENCE_UPLOAD_TYPES, height=100)
    with gr.Row():
        model_name = gr.Dropdown(checkpoints, value=default_model, allow_custom_value=True, label="Checkpoint")
        mode = gr.Radio(list(LABEL_TO_MODE), value="Spectral-wise", label="Mode")
        anchor = gr.Radio(list(LABEL_TO_SPECTRUM), value="RGB", label="Fusion anchor camera")
        probe = gr.Dropdown(list(inference.PROBES), value="none", label="Probe")
        strength = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Probe strength")
    with gr.Row():
        first = gr.Number(0, precision=0, label="First frame", elem_id="sequence-first")
        count = gr.Slider(1, MAX_FRAMES, value=30, step=1, label="Frames", elem_id="sequence-count")
        stride = gr.Number(1, precision=0, label="Stride")
        output = gr.Radio(list(OUTPUT_VIEWS), value="RGB alone", label="Show")
        invert = gr.Checkbox(label="Invert colours (near = blue)")
        play = gr.Button("Play", variant="primary", elem_id="sequence-play")
        stop = gr.Button("Stop", variant="stop", elem_id="sequence-stop")
    status = gr.Markdown("Pick a drive and press Play.", elem_id="sequence-status")
    position = gr.Slider(0, 1, value=0, step=1, label="Frame", elem_id="sequence-frame")
    with gr.Row():
        inputs = gr.Gallery(label="Inputs", columns=3, height=200, format=DISPLAY_FORMAT, elem_id="sequence-inputs")
        depth = gr.Image(label="Depth [m]", format=DISPLAY_FORMAT, interactive=False, elem_id="sequence-depth")
    with gr.Row():
        metrics = gr.Plot(label="AbsRel and δ1 per frame (where ground truth exists)", elem_id="sequence-metrics")
        stability = gr.Dataframe(headers=STABILITY_HEADERS, label="Temporal stability of static points "
                                 "(warped with the poses; 0 = steady)", interactive=False)
    with gr.Row():
        every = gr.Slider(1, 30, value=5, step=1, label="Map every k-th frame")
        voxel = gr.Slider(0.05, 1.0, value=DEFAULT_VOXEL_M, step=0.05, label="Voxel [m]")
        colour = gr.Radio(list(MAP_COLOURS), value="RGB", label="Colour the map by")
        map_button = gr.Button("Build the 3-D map", elem_id="sequence-map-button")
        files_button = gr.Button("Make downloads (depth PNG zip, mp4)")
    drive_map = gr.Plot(label="3-D map along the poses (metres), camera path in red", elem_id="sequence-map")
    files = gr.File(label="Downloads", file_count="multiple", interactive=False)

    run_event = play.click(streaming_refusals(tab.run),
                           [run_state, kind, gallery_name, dataset_name, upload, model_name, mode, anchor, probe,
                            strength, first, count, stride, output, invert],
                           [run_state, status, position, inputs, depth, metrics, stability],
                           api_name="sequence_run", **SEQUENCE_RUNS)
    stop.click(None, cancels=[run_event], api_visibility="private")
    player = ([run_state, position, output, invert], [inputs, depth])
    position.release(heavy(tab.frame), *player, api_name="sequence_frame")
    for control in (output, invert):
        control.input(heavy(tab.frame), *player, api_visibility="private")
    map_button.click(heavy(holds_heavy_slot(tab.map)), [run_state, output, every, voxel, colour], [drive_map, files],
                     api_name="sequence_map", **HEAVY)
    files_button.click(heavy(holds_heavy_slot(tab.downloads)), [run_state, output, invert], files,
                       api_name="sequence_downloads", **HEAVY)
