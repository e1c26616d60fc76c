"""SpectraDepth studio: one screen of Gradio over ``core.inference``.

Three steps per frame, each its own event: ``analyse_frame`` runs the network once (model,
mode, anchor, probe), ``show`` draws depth from the kept Analysis (view, invert, colour
range: no network), ``show_cloud`` follows with the point cloud and downloads, so the depth
is on screen before the cloud is made. A display-only control re-runs ``show`` (and the
cloud where it depends on it), never the network.

A session keeps its frame and analysis as small handles (``core.inference.sessions``): the
arrays wait on disk between clicks, so an idle session costs the server next to no memory.
"""
from __future__ import annotations

import atexit
import collections
import contextlib
import functools
import math
import os
import threading
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

import gradio as gr

from app.cache import studio_cache_folder
from app.guard import StudioBlocks, refusing
from core import inference, settings
from core.data.frame import SPECTRA, SPECTRUM_LABELS
from core.inference import FUSED, METRIC_LABELS, AnalysisRequest, DisplayOptions, InputError
from core.inference.vocabulary import (LABEL_TO_MODE, LABEL_TO_SPECTRUM, LABEL_TO_VIEW, NO_ANALYSIS, NO_FRAME,
                                       UPLOAD_LABELS)
from core.inference.uploads import return_freed_memory
from core.inference.sessions import SessionStore, Stored

MODES, VIEWS = LABEL_TO_MODE, LABEL_TO_VIEW
VIEW_CHOICES = list(VIEWS)
INFO_HEADERS = ["spectrum", "size", "format", "values", "GT depth"]
COMPARE_HEADERS = ["role", "checkpoint", "parameters [M]", "time [ms]", "AbsRel"]
METRIC_HEADERS = ["output", *METRIC_LABELS.values()]
EXPORTS = inference.ExportDir()
# Every handler that runs a network or builds a point cloud shares one pool of heavy slots for
# the whole app (not one per handler), so N visitors cannot run 5 x N heavy jobs at once.
# A slot per THREADS_PER_HEAVY_JOB cores, each job's torch on that many threads: on a 2-core
# Space two jobs at once bought 1.2x one job's throughput for twice its peak memory (bench_load).
THREADS_PER_HEAVY_JOB = 2
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
HEAVY_CONCURRENCY = max(1, CORES // THREADS_PER_HEAVY_JOB)
# Single-frame heavy events wait in this Gradio concurrency group (the visitor sees a place in the
# line) and then hold a slot of HEAVY_SLOTS while they run. A sequence run streams in a group of
# its own and holds a slot per frame, so single-frame visitors get the slot between its frames.
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": HEAVY_CONCURRENCY}
SEQUENCE_RUNS = {"concurrency_id": "sequence", "concurrency_limit": HEAVY_CONCURRENCY}
# A session's lifetime without use; the operator (or a benchmark, to see memory come back in
# minutes) may set it in seconds.
SESSION_TTL_S = settings.session_lifetime_s(default=15 * 60)
# Gradio's cache (uploads, panels, downloads) is swept every 5 min of files older than a session's
# lifetime: a saturated studio writes a few MB a visit (bench_load prints it), so the cache stays
# within a few GB of a Space's disk, and nothing outlives the session it was made for by much.
CACHE_SWEEP = (min(300, SESSION_TTL_S), SESSION_TTL_S)

# One line in view (a phone's first screen is for the samples and the result); the rest folds.
INTRO = """# SpectraDepth studio
Metric depth from RGB, near-infrared and thermal cameras, each spectrum alone or fused."""
ABOUT = """The three cameras of one rig each have their own lens and pose, so the images are **not**
pixel-aligned. One network serves every spectrum alone (spectral-wise); its fusion module combines
them in any anchor camera. Pick an MS-Synth sample (our procedural driving world, exact depth) or
upload a real MS2-style trio; probe it with night, fog, rain, noise or texture loss; compare the
foundation-model teacher with its lightweight student, and see where CLIP and DINO look, in the
tabs below."""


class HeavySlots:
    """The app-wide heavy pool: at most ``size`` jobs hold a slot at once, granted first come,
    first served. With a plain semaphore a sequence run that gives its slot back after a frame
    and asks again at once mostly wins it again, and the single-frame visitor waiting for it
    starves; here a freed slot goes straight to the longest waiter."""

    def __init__(self, size: int):
        self.size = size
        self._lock = threading.Lock()
        self._held = 0
        self._waiting: collections.deque[threading.Event] = collections.deque()

    @property
    def held(self) -> int:
        """Slots held now."""
        with self._lock:
            return self._held

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._lock:
            handed_over = None
            if self._held < self.size and not self._waiting:
                self._held += 1
            else:
                handed_over = threading.Event()
                self._waiting.append(handed_over)
        if handed_over is not None:
            handed_over.wait()   # a holder passes its slot on when it is done (the count stays)
        try:
            yield
        finally:
            with self._lock:
                if self._waiting:
                    self._waiting.popleft().set()
                else:
                    self._held -= 1


HEAVY_SLOTS = HeavySlots(HEAVY_CONCURRENCY)


def holds_heavy_slot(fn):
    """``fn`` run while holding a slot of HEAVY_SLOTS (for a handler in the HEAVY group)."""
    @functools.wraps(fn)
    def handler(*args, **kwargs):
        with HEAVY_SLOTS.slot():
            return fn(*args, **kwargs)
    return handler


@functools.cache
def sessions() -> SessionStore:
    """This process's store of session frames and analyses, in the studio's cache folder (swept
    on start, so a killed process leaves nothing behind for long) and removed at exit."""
    store = SessionStore(studio_cache_folder() / f"sessions-{os.getpid()}", SESSION_TTL_S)
    atexit.register(store.clear)
    return store


def session_of(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None)


def kept_frame(stored: Stored | None):
    """The session's frame, or a refusal saying to pick one first."""
    if not isinstance(stored, Stored):
        raise InputError(NO_FRAME)
    return sessions().frame(stored)


def kept_analysis(stored: Stored | None):
    if not isinstance(stored, Stored):
        raise InputError(NO_ANALYSIS)
    return sessions().analysis(stored)


def heavy(fn):
    """A handler that loads arrays: refusals in words, and the heap's freed pages handed back
    when it returns, so what a click read does not stay resident."""
    refused = refusing(fn)

    @functools.wraps(fn)
    def handler(*args, **kwargs):
        try:
            return refused(*args, **kwargs)
        finally:
            return_freed_memory()
    return handler


def when_kept(fn, outputs: tuple[str, ...]):
    """``fn`` for a control's own event: before anything is kept (no frame or analysis yet) the
    control changes nothing, where a call of the named endpoint is told what to do first."""
    @functools.wraps(fn)
    def handler(stored, *args, **kwargs):
        if stored is None:
            return tuple(gr.skip() for _ in outputs)
        return fn(stored, *args, **kwargs)
    return handler


@heavy
def load_sample(name: str, request: gr.Request = None) -> Stored:
    if not isinstance(name, str):
        raise InputError("choose a sample from the gallery")
    frame = inference.load_sample(name)
    return sessions().put_frame(frame, session_of(request), sample=name)


@heavy
def decode_upload(rgb_path, nir_path, thr_path, request: gr.Request = None) -> Stored:
    """The uploaded trio as the session's frame. A refused file stays in Gradio's cache, which
    stores equal bytes at one path that another slot or visitor may hold: the sweep removes it."""
    for path in (rgb_path, nir_path, thr_path):
        if path is not None and not isinstance(path, (str, Path)):
            raise InputError("send each image as a file (PNG, JPEG or TIFF), or nothing for a spectrum you lack")
    frame = inference.load_upload({"rgb": rgb_path, "nir": nir_path, "thr": thr_path})
    return sessions().put_frame(frame, session_of(request))


class DatasetBrowser:
    """The test frames of one MS2 root (``python -m app --data``), by sequence and frame id.

    The root stays on the server: the page and the API only ever see sequence names and frame ids.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.sequences = {s.name: s for s in inference.list_dataset_sequences(self.root)}

    @property
    def name(self) -> str:
        return self.root.name

    @heavy
    def choose_sequence(self, name: str | None, request: gr.Request = None) -> tuple[gr.Dropdown, Stored]:
        """A sequence picked: its frame ids become the frame choices and its first frame is loaded."""
        sequence = self.sequences.get(name) if isinstance(name, str) else None
        if sequence is None:
            raise InputError(f"{self.name} has no test sequence named {str(name)!r}: choose one from the list")
        if not sequence.frame_ids:
            raise InputError(f"{sequence.name} is in {self.name}'s {sequence.condition} test list but has no frames "
                             f"(sync_data/{sequence.name} is missing or empty)")
        first = sequence.frame_ids[0]
        return gr.Dropdown(choices=list(sequence.frame_ids), value=first), self.load_frame(name, first, request)

    @heavy
    def load_frame(self, sequence: str | None, frame_id: str | None, request: gr.Request = None) -> Stored:
        frame = inference.load_dataset_frame(self.root, sequence, frame_id)
        return sessions().put_frame(frame, session_of(request))

    def sequence_choices(self) -> list[tuple[str, str]]:
        return [(s.label, s.name) for s in self.sequences.values()]


# What each step returns, in order (the wiring in build_studio follows these).
# Panels are for looking at: JPEG encodes in ~1 ms where PNG takes ~80 ms per 1224 x 384 panel
# (ten panels a click), and is a fifth of the size; the downloads keep exact PNG / .npy depth.
DISPLAY_FORMAT = "jpeg"
BACKBONE_KINDS = ("CLIP", "DINO")
POINT_RANGE = (1000, 200000)      # the max-points slider's bounds; the raw API is held to them too
DEPTH_RANGE_M = (0.0, 1000.0)


def choice(value, options: Collection, what: str):
    """What a control chose, looked up in ``options`` (a mapping gives its value); a value the
    control does not offer (None, or anything sent through the raw API) is refused in words."""
    if not isinstance(value, str) or value not in options:
        raise InputError(f"choose a {what}: one of {', '.join(map(str, options))}")
    return options[value] if isinstance(options, Mapping) else value


def number(value, what: str, low: float, high: float) -> float:
    """A finite number in [low, high] from a control, or a readable refusal (None, NaN, text)."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(result) or not low <= result <= high:
        raise InputError(f"{what} must be between {low:g} and {high:g}, got {str(value)[:40]}")
    return result


ANALYSE_OUTPUTS = ("analysis", "rgb", "nir", "thr", "info", "status", "notice")
SHOW_OUTPUTS = ("depth_rgb", "depth_nir", "depth_thr", "depth_fused", "metrics", "panel", "slider", "error")
CLOUD_OUTPUTS = ("figure", "downloads")


@heavy
@holds_heavy_slot
def analyse_frame(frame: Stored | None, model_name: str, mode_label: str, anchor_label: str,
                  probe_label: str = "none", strength: float = 0.5, flip_average: bool = False,
                  request: gr.Request = None) -> tuple:
    """The network step: the Analysis to keep, the inputs as analysed, the status line and,
    for input that is not an MS-Synth sample, the notice on training data and calibration."""
    if not isinstance(flip_average, bool):
        raise InputError(f"flip averaging is on or off (true or false), got {str(flip_average)[:40]!r}")
    analysis_request = AnalysisRequest(inference.check_model_choice(model_name), choice(mode_label, MODES, "mode"),
                                       choice(anchor_label, LABEL_TO_SPECTRUM, "fusion camera"),
                                       choice(probe_label, inference.PROBES, "probe"),
                                       number(strength, "probe strength", 0.0, 1.0), flip_average=flip_average)
    analysis = inference.analyse(kept_frame(frame), analysis_request)
    stored = sessions().put_analysis(analysis, session_of(request))
    display = analysis.display
    images = [inference.display_image(display, s) if s in display.images else None for s in SPECTRA]
    notice = analysis.notice
    return (stored, *images, inference.describe(analysis.frame), analysis.summary(),
            gr.update(value=f"**Note.** {notice}" if notice else "", visible=notice is not None))


@refusing
def controls_for_model(model_name: str, mode_label: str, view: str) -> tuple[str, str]:
    """(mode, view) the model can give: a model without a fusion module runs spectral-wise and
    shows the RGB output instead of the fused one; other choices stay as they are."""
    if inference.can_fuse(inference.check_model_choice(model_name)):
        return mode_label, view
    return "Spectral-wise", ("RGB alone" if VIEWS.get(view) == FUSED else view)


def display_options(view: str, invert: bool = False, fixed_range: bool = False, depth_min: float = 0.0,
                    depth_max: float = 80.0, color_label: str | None = None,
                    max_points: int = inference.DEFAULT_MAX_POINTS) -> DisplayOptions:
    view = choice(view, VIEWS, "view")
    value_range = (number(depth_min, "depth min", *DEPTH_RANGE_M), number(depth_max, "depth max", *DEPTH_RANGE_M)) \
        if fixed_range else None
    color = None if color_label is None else choice(color_label, LABEL_TO_SPECTRUM, "colour source")
    points = int(number(max_points, "max points", *POINT_RANGE))
    return DisplayOptions(view, bool(invert), value_range, color, points)


@heavy
def show(analysis: Stored | None, view: str, invert: bool, fixed_range: bool, depth_min: float,
         depth_max: float) -> tuple:
    """The display step, from the kept Analysis (no network): every output's panel in one
    colour range, metrics, the chosen view's panel, slider and error map. Metrics and the
    error map are hidden where there is no ground truth."""
    options = display_options(view, invert, fixed_range, depth_min, depth_max)
    analysis = kept_analysis(analysis)
    panels = inference.output_panels(analysis, options)
    panel = inference.view_panel(analysis, options)
    slider = inference.slider_pair(analysis, options)
    error = inference.error_view(analysis, options)
    rows = analysis.metric_rows()
    return (*(panels.get(output) for output in (*SPECTRA, FUSED)),
            gr.update(value=rows or None, visible=bool(rows)), panel, slider,
            gr.update(value=error, visible=error is not None))


@heavy
@holds_heavy_slot
def show_cloud(analysis: Stored | None, view: str, color_label: str, max_points: int) -> tuple:
    """The follow-up step: the view's point cloud (display size) and its downloads (depth at
    native resolution, PLY of the cloud)."""
    options = display_options(view, color_label=color_label, max_points=max_points)
    analysis = kept_analysis(analysis)
    cloud = inference.point_cloud(analysis, options)
    paths = inference.downloads(analysis, options, EXPORTS.new("result"), cloud)
    return cloud.figure, [str(p) for p in paths]


@heavy
@holds_heavy_slot
def compare(frame: Stored | None, teacher_name: str, student_name: str, spectrum_label: str, invert: bool):
    """Teacher and student on one spectrum of the frame, side by side with their cost."""
    spectrum = choice(spectrum_label, LABEL_TO_SPECTRUM, "spectrum")
    teacher_name, student_name = (inference.check_model_choice(name) for name in (teacher_name, student_name))
    frame = kept_frame(frame)
    if spectrum not in frame.images:
        raise InputError(f"this input has no {spectrum_label} image")
    analyses = [inference.analyse(frame, AnalysisRequest(name, "spectral", spectra=(spectrum,)))
                for name in (teacher_name, student_name)]
    summaries = [inference.model_summary(name) for name in (teacher_name, student_name)]
    options = DisplayOptions(spectrum, bool(invert), analyses[0].value_range)
    panels, rows = [], []
    for role, analysis in zip(("teacher", "student"), analyses):
        panels.append(inference.view_panel(analysis, options))
        abs_rel = analysis.metrics.get(spectrum, {}).get("abs_rel")
        rows.append([role, analysis.model_name, round(analysis.parameters.get("total", 0) / 1e6, 2),
                     round(analysis.timings_ms[spectrum], 1),
                     round(abs_rel, 3) if abs_rel is not None else "no GT"])
    return (*panels, rows, " \n".join(summaries))


@refusing
def attention_controls(kind_label: str) -> tuple[gr.Slider, gr.Dropdown]:
    """The layer slider and head choices sized to the backbone serving ``kind_label``."""
    layers, heads = inference.backbone_shape(choice(kind_label, BACKBONE_KINDS, "backbone").lower())
    return (gr.Slider(0, layers - 1, value=layers - 1, step=1, label=f"Layer (0 - {layers - 1})"),
            gr.Dropdown(["mean", *map(str, range(heads))], value="mean", label=f"Head ({heads})"))


@heavy
@holds_heavy_slot
def show_attention(frame: Stored | None, spectrum_label: str, kind_label: str, layer: int, head: str,
                   rollout: bool):
    spectrum = choice(spectrum_label, LABEL_TO_SPECTRUM, "spectrum")
    kind = choice(kind_label, BACKBONE_KINDS, "backbone").lower()
    layers, heads = inference.backbone_shape(kind)
    layer = int(number(layer, "layer", 0, layers - 1))   # the slider's own range
    head = choice(head, ["mean", *map(str, range(heads))], "head")
    view = inference.attention_view(kept_frame(frame), spectrum, kind, layer, head if head == "mean" else int(head),
                                    bool(rollout))
    return view.overlay, f"{view.caption}. Backbone: {view.backbone_status}"


@heavy
@holds_heavy_slot
def show_prompt(frame: Stored | None, spectrum_label: str, prompt: str):
    spectrum = choice(spectrum_label, LABEL_TO_SPECTRUM, "spectrum")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("type a prompt, e.g. 'This car appears to be very close'")
    view = inference.prompt_view(kept_frame(frame), spectrum, prompt)
    return view.overlay, f"{view.caption}. Backbone: {view.backbone_status}"


@heavy
@holds_heavy_slot
def show_distance_words(frame: Stored | None, spectrum_label: str):
    spectrum = choice(spectrum_label, LABEL_TO_SPECTRUM, "spectrum")
    view = inference.distance_word_view(kept_frame(frame), spectrum)
    return view.overlay, f"{view.caption}. Backbone: {view.backbone_status}"


def build_studio(default_model: str | None = None, data_root: Path | None = None) -> gr.Blocks:
    """The studio; ``default_model`` (a checkpoint name, folder or Hub id) preselects a model;
    ``data_root`` (an MS2 root) adds a browser over its test frames."""
    checkpoints = inference.model_choices()
    names = [name for _, name in checkpoints]
    if default_model is None:
        default_model = inference.DEFAULT_CHECKPOINT if inference.DEFAULT_CHECKPOINT in names else \
            (names[0] if names else None)
    with StudioBlocks(title="SpectraDepth studio", delete_cache=CACHE_SWEEP) as studio:
        gr.Markdown(INTRO)
        with gr.Accordion("About this studio", open=False):
            gr.Markdown(ABOUT)
        with gr.Accordion(f"Backbones: {inference.backbone_names()}", open=False, elem_id="backbones"):
            gr.Markdown(inference.backbone_status())
        # A session's frame and analysis go after SESSION_TTL_S without use, also for API callers,
        # whose sessions never disconnect the way a browser tab does; their files go with them.
        frame_state = gr.State(time_to_live=SESSION_TTL_S, delete_callback=sessions().discard)
        analysis_state = gr.State(time_to_live=SESSION_TTL_S, delete_callback=sessions().discard)
        inputs = input_panel(frame_state, data_root)
        network = network_controls(checkpoints, default_model)
        with gr.Tabs():
            with gr.Tab("Depth and 3-D"):
                depth_tab(frame_state, analysis_state, inputs, network)
            with gr.Tab("Teacher vs student"):
                compare_tab(frame_state, checkpoints)
            with gr.Tab("Attention"):
                attention_tab(frame_state)
            with gr.Tab("Sequence"):
                from app.sequence_tab import sequence_tab   # here: it builds on this module's helpers
                sequence_tab(checkpoints, default_model, data_root)
    return studio


def input_panel(frame_state: gr.State, data_root: Path | None) -> dict:
    """Gallery, dataset browser and uploads beside the result; the events that set a frame."""
    samples = inference.list_samples()
    panel = {}
    with gr.Row():
        with gr.Column(scale=3):
            gallery = gr.Gallery([(str(s.thumbnail), s.name) for s in samples], label="MS-Synth samples",
                                 columns=4, height=260, allow_preview=False)
            sample_name = gr.Dropdown([s.name for s in samples], label="Sample", value=None)
            if data_root is not None:
                browser = DatasetBrowser(data_root)
                sequence, frame_id = dataset_browser(browser)
            with gr.Accordion("Upload your own RGB / NIR / thermal images", open=False):
                rgb_file, nir_file, thr_file = (gr.File(label=UPLOAD_LABELS[s], file_types=["image"], height=120)
                                                for s in SPECTRA)
                upload_button = gr.Button("Run on upload", variant="primary")
        with gr.Column(scale=4):   # the result, beside what was clicked
            panel["status"] = gr.Markdown("Pick a sample or upload images.", label="Status", elem_id="status")
            panel["notice"] = gr.Markdown(visible=False, elem_id="notice")
            panel["depth_image"] = gr.Image(label="Depth [m]", format=DISPLAY_FORMAT, interactive=False,
                                            elem_id="depth-view")
    gallery.select(select_sample_name(samples), None, sample_name, api_visibility="private")
    # Each event that sets a frame; depth_tab chains the analysis to them (the sample's publicly).
    panel["new_frames"] = [(sample_name.change(load_sample, sample_name, frame_state, api_name="load_sample"), True),
                           (upload_button.click(decode_upload, [rgb_file, nir_file, thr_file], frame_state,
                                                api_name="decode_upload"), False)]
    if data_root is not None:
        # The frame choice reacts to the user only (.input): a new sequence sets it and loads its frame itself.
        panel["new_frames"] += [
            (sequence.change(browser.choose_sequence, sequence, [frame_id, frame_state],
                             api_name="choose_dataset_sequence"), False),
            (frame_id.input(browser.load_frame, [sequence, frame_id], frame_state, api_name="load_dataset_frame"),
             False)]
    return panel


def network_controls(checkpoints: list[tuple[str, str]], default_model: str | None) -> dict:
    """What the network step reads: model, mode, anchor, flip averaging, robustness probe."""
    try:
        start_mode, start_view = controls_for_model(default_model, "Both", "Fused") if default_model else \
            ("Both", "Fused")
    except gr.Error:   # a default that does not load says so on first use, not at start
        start_mode, start_view = "Both", "Fused"
    custom = inference.custom_models_allowed()
    with gr.Row():
        # Any value reaches the handlers, which refuse what the operator does not offer
        # (check_model_choice, a short message); Gradio's own check would echo any input back.
        model_name = gr.Dropdown(checkpoints, value=default_model, allow_custom_value=True,
                                 label="Checkpoint" + (" (or a folder / Hub repo id)" if custom else ""))
        mode = gr.Radio(list(MODES), value=start_mode, label="Mode")
        anchor = gr.Radio(list(LABEL_TO_SPECTRUM), value="RGB", label="Fusion anchor camera")
        flip_average = gr.Checkbox(label="Average with the mirrored images (twice the time)")
    with gr.Row():
        probe = gr.Radio(list(inference.PROBES), value="none", label="Probe robustness: degrade the inputs before "
                                                                     "inference")
        strength = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Probe strength")
    return {"controls": [model_name, mode, anchor, probe, strength, flip_average], "start_view": start_view}


def depth_tab(frame_state: gr.State, analysis_state: gr.State, inputs: dict, network: dict) -> None:
    """Depth per output, metrics, slider, point cloud and downloads, and the events that make them."""
    with gr.Row():
        view = gr.Radio(VIEW_CHOICES, value=network["start_view"], label="Show (above, in 3-D and as download)")
        color_label = gr.Radio(list(LABEL_TO_SPECTRUM), value="RGB", label="Colour points by")
        invert = gr.Checkbox(label="Invert colours (near = blue)")
        fixed_range = gr.Checkbox(label="Fixed depth range")
        depth_min = gr.Slider(0, 100, value=0, step=1, label="min [m]")
        depth_max = gr.Slider(1, 150, value=80, step=1, label="max [m]")
        max_points = gr.Slider(5000, POINT_RANGE[1], value=inference.DEFAULT_MAX_POINTS, step=5000,
                               label="max points")
    with gr.Row():
        depth_images = [gr.Image(label=f"Depth, {SPECTRUM_LABELS[s]} alone", format=DISPLAY_FORMAT,
                                 interactive=False, elem_id=f"depth-{s}") for s in SPECTRA]
        depth_images.append(gr.Image(label="Depth, fused", format=DISPLAY_FORMAT, interactive=False,
                                     elem_id="depth-fused"))
    metrics = gr.Dataframe(headers=METRIC_HEADERS, label="Metrics against ground truth (≤ 80 m)", interactive=False,
                           visible=False)
    with gr.Row():
        slider = gr.ImageSlider(label="Input vs depth (drag)", format=DISPLAY_FORMAT, interactive=False,
                                elem_id="input-depth-slider")
        cloud_plot = gr.Plot(label="Point cloud (metres)", elem_id="point-cloud")
    error_image = gr.Image(label="Relative error against ground truth", format=DISPLAY_FORMAT, interactive=False,
                           elem_id="error-map", visible=False)
    downloads = gr.File(label="Downloads: depth PNG (uint16, m x 256), depth .npy (float32 m), at the camera's "
                              "resolution; PLY of the point cloud", file_count="multiple", interactive=False)
    with gr.Accordion("Inputs as analysed", open=True):
        info = gr.Dataframe(headers=INFO_HEADERS, label="Inputs", interactive=False)
        with gr.Row():
            spectrum_images = [gr.Image(label=SPECTRUM_LABELS[s], format=DISPLAY_FORMAT, interactive=False)
                               for s in SPECTRA]
    display_controls = [view, invert, fixed_range, depth_min, depth_max]
    cloud_controls = [view, color_label, max_points]
    steps = {"analyse": ([frame_state, *network["controls"]], [analysis_state, *spectrum_images, info,
                                                                 inputs["status"], inputs["notice"]]),
             "show": ([analysis_state, *display_controls], [*depth_images, metrics, inputs["depth_image"], slider,
                                                            error_image]),
             "cloud": ([analysis_state, *cloud_controls], [cloud_plot, downloads])}
    wire_depth_events(steps, inputs["new_frames"], network["controls"], display_controls, [color_label, max_points],
                      view)


STEPS = ("analyse", "show", "cloud")
STEP_HANDLERS = {"analyse": (analyse_frame, ANALYSE_OUTPUTS, "analyse"), "show": (show, SHOW_OUTPUTS, "show"),
                 "cloud": (show_cloud, CLOUD_OUTPUTS, "point_cloud")}


def wire_depth_events(steps: dict, new_frames: list, network_controls: list, display_controls: list,
                      cloud_only_controls: list, view: gr.Radio) -> None:
    """A new frame runs analyse -> show -> cloud (named endpoints for the sample's chain); a network
    control reruns all three, a display control only show (and the cloud for a new view)."""
    def chain(listen, public: bool, first: str = "analyse", last: str = "cloud") -> None:
        for step in STEPS[STEPS.index(first): STEPS.index(last) + 1]:
            fn, outputs, api_name = STEP_HANDLERS[step]
            named = {"api_name": api_name} if public else {"api_visibility": "private"}
            event = listen(fn if public else when_kept(fn, outputs), *steps[step], **named,
                           **({} if step == "show" else HEAVY))
            listen = event.success

    for event, public in new_frames:
        chain(event.success, public)
    model_name, mode = network_controls[:2]
    # A new model first sets mode and view to what it can give (fused depth or not).
    chain(model_name.input(controls_for_model, [model_name, mode, view], [mode, view],
                           api_visibility="private").success, False)
    for control in network_controls[1:]:
        chain(control.input, False)
    for control in display_controls:   # display only: the kept Analysis is redrawn, the network is not run
        chain(control.input, False, first="show", last="cloud" if control is view else "show")
    for control in cloud_only_controls:
        chain(control.input, False, first="cloud")


def compare_tab(frame_state: gr.State, checkpoints: list[tuple[str, str]]) -> None:
    with gr.Row():
        teacher_name = gr.Dropdown(checkpoints, value=pick(checkpoints, inference.DEFAULT_TEACHER),
                                   allow_custom_value=True, label="Teacher checkpoint")
        student_name = gr.Dropdown(checkpoints, value=pick(checkpoints, inference.DEFAULT_STUDENT),
                                   allow_custom_value=True, label="Student checkpoint")
        spectrum = gr.Radio(list(LABEL_TO_SPECTRUM), value="RGB", label="Spectrum")
        invert = gr.Checkbox(label="Invert colours (near = blue)")
        button = gr.Button("Compare", variant="primary")
    with gr.Row():
        teacher_depth = gr.Image(label="Teacher depth [m]", format=DISPLAY_FORMAT, interactive=False,
                                 elem_id="teacher-depth")
        student_depth = gr.Image(label="Student depth [m]", format=DISPLAY_FORMAT, interactive=False,
                                 elem_id="student-depth")
    comparison = gr.Dataframe(headers=COMPARE_HEADERS, label="Cost and accuracy", interactive=False)
    status = gr.Markdown()
    button.click(compare, [frame_state, teacher_name, student_name, spectrum, invert],
                 [teacher_depth, student_depth, comparison, status], api_name="compare", **HEAVY)


def attention_tab(frame_state: gr.State) -> None:
    layers, heads = inference.backbone_shape("dino")
    with gr.Row():
        spectrum = gr.Radio(list(LABEL_TO_SPECTRUM), value="RGB", label="Spectrum")
        kind = gr.Radio(list(BACKBONE_KINDS), value="DINO", label="Backbone")
        layer = gr.Slider(0, layers - 1, value=layers - 1, step=1, label=f"Layer (0 - {layers - 1})")
        head = gr.Dropdown(["mean", *map(str, range(heads))], value="mean", label=f"Head ({heads})")
        rollout = gr.Checkbox(label="Rollout through all layers")
        button = gr.Button("Show attention", variant="primary")
    with gr.Row():
        prompt = gr.Textbox(value="a car", label="CLIP prompt (class prompts such as \"the road\" are measured)")
        prompt_button = gr.Button("Show prompt similarity")
        words_button = gr.Button("Show distance words")
    image = gr.Image(label="Map over the input, with its colour scale", format=DISPLAY_FORMAT, interactive=False,
                     elem_id="attention")
    caption = gr.Markdown(elem_id="attention-caption")
    kind.input(attention_controls, kind, [layer, head], api_visibility="private")
    button.click(show_attention, [frame_state, spectrum, kind, layer, head, rollout], [image, caption],
                 api_name="attention", **HEAVY)
    prompt_button.click(show_prompt, [frame_state, spectrum, prompt], [image, caption], api_name="prompt_similarity",
                        **HEAVY)
    words_button.click(show_distance_words, [frame_state, spectrum], [image, caption], api_name="distance_words",
                       **HEAVY)


def dataset_browser(browser: DatasetBrowser) -> tuple[gr.Dropdown, gr.Dropdown]:
    """(sequence, frame) choices over the dataset's test split; frames load on demand, no thumbnails
    (a real MS2 test split has thousands)."""
    gr.Markdown(f"**Your dataset `{browser.name}`**: its test frames, each with its sequence's own calibration "
                "and ground-truth depth where it has some.", elem_id="dataset-browser")
    with gr.Row():
        sequence = gr.Dropdown(browser.sequence_choices(), value=None, label=f"{browser.name} test sequence",
                               elem_id="dataset-sequence")
        frame = gr.Dropdown([], value=None, label="Frame id", elem_id="dataset-frame")
    return sequence, frame


def pick(choices: list[tuple[str, str]], preferred: str) -> str | None:
    """``preferred`` where the (label, name) choices offer it, else no preselection."""
    return preferred if preferred in {name for _, name in choices} else None


def select_sample_name(samples):
    def handler(evt: gr.SelectData) -> str:
        return samples[evt.index].name
    return handler
