"""SpectraDepth studio: one screen of Gradio over ``core.inference``."""
from __future__ import annotations

import re
from pathlib import Path

import gradio as gr

from core import inference
from core.data.frame import SPECTRA, SPECTRUM_LABELS, Frame
from core.inference import InputError

LABEL_TO_SPECTRUM = {label: s for s, label in SPECTRUM_LABELS.items()}
MODES = {"Spectral-wise": "spectral", "Fused": "fused", "Both": "both"}
GROUND_TRUTH = "Ground truth"
VIEW_CHOICES = ["Fused", *(f"{label} alone" for label in LABEL_TO_SPECTRUM), GROUND_TRUTH]
INFO_HEADERS = ["spectrum", "size", "format", "values", "GT depth"]
COMPARE_HEADERS = ["role", "checkpoint", "parameters [M]", "time [ms]", "AbsRel"]
METRIC_HEADERS = ["output", "AbsRel", "SqRel", "RMSE [m]", "RMSElog", "δ<1.25", "δ<1.25²", "δ<1.25³"]
EXPORTS = inference.ExportDir()

INTRO = """# SpectraDepth studio
Multi-spectral metric depth: RGB, near-infrared and thermal cameras of one rig, each with its
own lens and pose, so the three images are **not** pixel-aligned. One network serves every
spectrum alone (spectral-wise); its fusion module combines them in any anchor camera. Pick an
MS-Synth sample (our procedural driving world, exact depth) or upload a real MS2-style trio;
probe it with night, fog, rain, noise or texture loss; compare the foundation-model teacher with
its lightweight student, and see where CLIP and DINO look, in the tabs below.
"""


def load_sample(name: str):
    try:
        return inference.load_sample(name)
    except InputError as err:
        raise gr.Error(str(err)) from err


def decode_upload(rgb_path, nir_path, thr_path):
    try:
        return inference.load_upload({"rgb": rgb_path, "nir": nir_path, "thr": thr_path})
    except InputError as err:
        raise gr.Error(str(err)) from err


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

    def choose_sequence(self, name: str | None) -> tuple[gr.Dropdown, Frame]:
        """A sequence picked: its frame ids become the frame choices and its first frame is loaded."""
        sequence = self.sequences.get(name)
        if sequence is None:
            raise gr.Error(f"{self.name} has no test sequence named {name!r}")
        if not sequence.frame_ids:
            raise gr.Error(f"{sequence.name} is in {self.name}'s {sequence.condition} test list but has no frames "
                           f"(sync_data/{sequence.name} is missing or empty)")
        first = sequence.frame_ids[0]
        return gr.Dropdown(choices=list(sequence.frame_ids), value=first), self.load_frame(name, first)

    def load_frame(self, sequence: str | None, frame_id: str | None) -> Frame:
        try:
            return inference.load_dataset_frame(self.root, sequence, frame_id)
        except InputError as err:
            raise gr.Error(str(err)) from err

    def sequence_choices(self) -> list[tuple[str, str]]:
        return [(s.label, s.name) for s in self.sequences.values()]


def chosen_output(view: str, prediction) -> tuple[str, str]:
    """(output key, camera) of the view choice; the key is 'gt' for ground truth."""
    if view == GROUND_TRUTH:
        return "gt", prediction.anchor or next(iter(prediction.depth))
    if view == "Fused":
        return "fused", prediction.anchor
    spectrum = LABEL_TO_SPECTRUM[view.removesuffix(" alone")]
    return spectrum, spectrum


def render(frame, model_name: str, mode_label: str, anchor_label: str, view: str, color_label: str,
           invert: bool, fixed_range: bool, depth_min: float, depth_max: float, max_points: int,
           probe_label: str = "none", strength: float = 0.5):
    """Everything the page shows for one frame and one set of controls."""
    if frame is None:
        raise gr.Error("pick a sample or upload images first")
    if fixed_range and depth_max <= depth_min:
        raise gr.Error("the fixed depth range needs max > min")
    try:
        frame = inference.probe(frame, probe_label, float(strength))
        prediction = inference.predict(frame, model_name, MODES[mode_label], LABEL_TO_SPECTRUM[anchor_label])
    except InputError as err:
        raise gr.Error(str(err)) from err

    output, camera = chosen_output(view, prediction)
    if output == "gt" and camera not in frame.depth:
        raise gr.Error("this input has no ground-truth depth; pick a predicted output to view")
    if output not in prediction.depth and output != "gt":
        available = ", ".join("Fused" if o == "fused" else f"{SPECTRUM_LABELS[o]} alone" for o in prediction.depth)
        raise gr.Error(f"'{view}' was not computed in this mode; available: {available}")
    depth = frame.depth[camera] if output == "gt" else prediction.depth[output]

    # One colour range for every panel, so near and far read the same across outputs.
    reference = frame.depth.get(camera, depth)
    value_range = (depth_min, depth_max) if fixed_range else inference.common_range(reference)
    panels = {o: inference.depth_view(d, invert=invert, value_range=value_range,
                                      title=("fused, " + SPECTRUM_LABELS[prediction.anchor] + " camera")
                                      if o == "fused" else f"{SPECTRUM_LABELS[o]} alone")
              for o, d in prediction.depth.items()}
    main_panel = inference.depth_view(depth, invert=invert, value_range=value_range,
                                      title=f"{view}, {SPECTRUM_LABELS[camera]} camera")
    color_spectrum = LABEL_TO_SPECTRUM[color_label]
    if color_spectrum not in frame.images:
        color_spectrum = camera
    cloud = inference.point_cloud(frame, depth, camera, color_spectrum, max_points=int(max_points))
    stem = re.sub(r"[^A-Za-z0-9]+", "_", f"{frame.name}_{output}_{camera}")
    downloads = [str(p) for p in inference.export_depth(depth, cloud, EXPORTS.new("result"), stem)]
    metrics = inference.prediction_metrics(frame, prediction)
    slider = inference.slider_pair(frame, depth, camera, invert=invert, value_range=value_range)
    gt = frame.depth.get(camera)
    error = inference.error_view(depth, gt, title=f"{view} vs ground truth") if output != "gt" and gt is not None \
        else None
    timing = " · ".join(f"{'fused' if k == 'fused' else SPECTRUM_LABELS.get(k, k)} {v:.0f} ms"
                        for k, v in prediction.timings_ms.items())
    params = prediction.parameters
    status = (f"**{frame.name}** ({frame.condition or 'condition unknown'}) · model `{prediction.model_name}` "
              f"({params.get('total', 0) / 1e6:.2f} M parameters, fusion {params.get('fusion', 0) / 1e6:.2f} M) · "
              f"{timing}. Depth is metric, in metres.")
    if frame.meta.get("calibration"):
        status += f" Calibration: {frame.meta['calibration']}."
    if frame.meta.get("probe"):
        status += f" Inputs probed: {frame.meta['probe']}."
    images = [inference.display_image(frame, s) if s in frame.images else None for s in SPECTRA]
    depth_images = [panels.get(o) for o in (*SPECTRA, "fused")]
    return (*images, inference.describe(frame), *depth_images, metrics or None, main_panel, cloud.figure,
            downloads, status, slider, error)


def compare(frame, teacher_name: str, student_name: str, spectrum_label: str, invert: bool):
    """Teacher and student on one spectrum of the frame, side by side with their cost."""
    if frame is None:
        raise gr.Error("pick a sample or upload images first")
    spectrum = LABEL_TO_SPECTRUM[spectrum_label]
    if spectrum not in frame.images:
        raise gr.Error(f"this input has no {spectrum_label} image")
    panels, rows = [], []
    try:
        predictions = [inference.predict(frame, name, "spectral", spectra=[spectrum])
                       for name in (teacher_name, student_name)]
        summaries = [inference.model_summary(name) for name in (teacher_name, student_name)]
    except InputError as err:
        raise gr.Error(str(err)) from err
    reference = frame.depth.get(spectrum, predictions[0].depth[spectrum])
    value_range = inference.common_range(reference)
    for role, prediction in zip(("teacher", "student"), predictions):
        panels.append(inference.depth_view(prediction.depth[spectrum], invert=invert, value_range=value_range,
                                           title=f"{role}: {prediction.model_name}, {spectrum_label}"))
        metrics = {row[0]: row[1] for row in inference.prediction_metrics(frame, prediction)}
        rows.append([role, prediction.model_name, round(prediction.parameters.get("total", 0) / 1e6, 2),
                     round(prediction.timings_ms[spectrum], 1),
                     metrics.get(f"{spectrum_label} alone", "no GT")])
    return (*panels, rows, " \n".join(summaries))


def show_attention(frame, spectrum_label: str, kind_label: str, layer: int, head: str, rollout: bool):
    if frame is None:
        raise gr.Error("pick a sample or upload images first")
    try:
        view = inference.attention_view(frame, LABEL_TO_SPECTRUM[spectrum_label], kind_label.lower(), int(layer),
                                        head if head == "mean" else int(head), rollout)
    except InputError as err:
        raise gr.Error(str(err)) from err
    return view.overlay, f"{view.caption}. Backbone: {view.backbone_status}"


def show_prompt(frame, spectrum_label: str, prompt: str):
    if frame is None:
        raise gr.Error("pick a sample or upload images first")
    try:
        view = inference.prompt_view(frame, LABEL_TO_SPECTRUM[spectrum_label], prompt)
    except InputError as err:
        raise gr.Error(str(err)) from err
    return view.overlay, f"{view.caption}. Backbone: {view.backbone_status}"


def rerender(frame, *controls):
    """A control changed: redraw the current frame, or nothing before one is chosen."""
    if frame is None:
        return tuple(gr.skip() for _ in range(RENDER_OUTPUTS))
    return render(frame, *controls)


# What render returns: 3 inputs, info, 4 depths, metrics, panel, cloud, downloads, status, slider, error.
RENDER_OUTPUTS = 15


def build_studio(default_model: str | None = None, data_root: Path | None = None) -> gr.Blocks:
    """The studio; ``default_model`` (a checkpoint name, folder or Hub id) preselects a model;
    ``data_root`` (an MS2 root) adds a browser over its test frames."""
    samples = inference.list_samples()
    browser = DatasetBrowser(data_root) if data_root is not None else None
    checkpoints = inference.list_checkpoints()
    if default_model is None:
        default_model = inference.DEFAULT_CHECKPOINT if inference.DEFAULT_CHECKPOINT in checkpoints else \
            (checkpoints[0] if checkpoints else None)
    with gr.Blocks(title="SpectraDepth studio", delete_cache=(1800, 3600)) as studio:
        gr.Markdown(INTRO)
        gr.Markdown(f"**Backbones.** {inference.backbone_status()}", elem_id="backbones")
        frame_state = gr.State()
        with gr.Row():
            with gr.Column(scale=3):
                gallery = gr.Gallery([(str(s.thumbnail), s.name) for s in samples], label="MS-Synth samples",
                                     columns=4, height=260, allow_preview=False)
                sample_name = gr.Dropdown([s.name for s in samples], label="Sample", value=None)
                if browser is not None:
                    dataset_sequence, dataset_frame = dataset_browser(browser)
            with gr.Column(scale=2):
                rgb_file = gr.File(label="RGB (8-bit PNG/JPEG)", file_types=["image"], height=120)
                nir_file = gr.File(label="NIR (8-bit PNG)", file_types=["image"], height=120)
                thr_file = gr.File(label="Thermal (16-bit raw PNG)", file_types=["image"], height=120)
                upload_button = gr.Button("Run on upload", variant="primary")
        with gr.Row():
            model_name = gr.Dropdown(checkpoints, value=default_model, allow_custom_value=True,
                                     label="Checkpoint (folder in checkpoints/ or a Hub repo id)")
            mode = gr.Radio(list(MODES), value="Both", label="Mode")
            anchor = gr.Radio(list(LABEL_TO_SPECTRUM), value="RGB", label="Fusion anchor camera")
        with gr.Row():
            probe = gr.Radio(list(inference.PROBES), value="none",
                             label="Probe robustness: degrade the inputs before inference")
            strength = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Probe strength")
        status = gr.Markdown("Pick a sample or upload images.", label="Status", elem_id="status")
        info = gr.Dataframe(headers=INFO_HEADERS, label="Inputs", interactive=False)
        with gr.Row():
            spectrum_images = [gr.Image(label=SPECTRUM_LABELS[s], format="png", interactive=False) for s in SPECTRA]
        with gr.Tabs():
            with gr.Tab("Depth and 3-D"):
                with gr.Row():
                    depth_images = [gr.Image(label=f"Depth, {SPECTRUM_LABELS[s]} alone", format="png",
                                             interactive=False, elem_id=f"depth-{s}") for s in SPECTRA]
                    depth_images.append(gr.Image(label="Depth, fused", format="png", interactive=False,
                                                 elem_id="depth-fused"))
                metrics = gr.Dataframe(headers=METRIC_HEADERS, label="Metrics against ground truth (≤ 80 m)",
                                       interactive=False)
                with gr.Row():
                    view = gr.Radio(VIEW_CHOICES, value="Fused", label="Show in 3-D and download")
                    color_label = gr.Radio(list(LABEL_TO_SPECTRUM), value="RGB", label="Colour points by")
                    invert = gr.Checkbox(label="Invert colours (near = blue)")
                    fixed_range = gr.Checkbox(label="Fixed depth range")
                    depth_min = gr.Slider(0, 100, value=0, step=1, label="min [m]")
                    depth_max = gr.Slider(1, 150, value=80, step=1, label="max [m]")
                    max_points = gr.Slider(5000, 200000, value=60000, step=5000, label="max points")
                with gr.Row():
                    depth_image = gr.Image(label="Depth [m]", format="png", interactive=False)
                    cloud_plot = gr.Plot(label="Point cloud (metres)", elem_id="point-cloud")
                with gr.Row():
                    slider = gr.ImageSlider(label="Input vs depth (drag)", format="png", interactive=False,
                                            elem_id="input-depth-slider")
                    error_image = gr.Image(label="Relative error against ground truth", format="png",
                                           interactive=False, elem_id="error-map")
                downloads = gr.File(label="Downloads: depth PNG (uint16, m x 256), depth .npy (float32 m), PLY",
                                    file_count="multiple", interactive=False)
            with gr.Tab("Teacher vs student"):
                with gr.Row():
                    teacher_name = gr.Dropdown(checkpoints, value=pick(checkpoints, "msynth-teacher"),
                                               allow_custom_value=True, label="Teacher checkpoint")
                    student_name = gr.Dropdown(checkpoints, value=pick(checkpoints, "msynth-student"),
                                               allow_custom_value=True, label="Student checkpoint")
                    compare_spectrum = gr.Radio(list(LABEL_TO_SPECTRUM), value="RGB", label="Spectrum")
                    compare_button = gr.Button("Compare", variant="primary")
                with gr.Row():
                    teacher_depth = gr.Image(label="Teacher depth [m]", format="png", interactive=False,
                                             elem_id="teacher-depth")
                    student_depth = gr.Image(label="Student depth [m]", format="png", interactive=False,
                                             elem_id="student-depth")
                comparison = gr.Dataframe(headers=COMPARE_HEADERS, label="Cost and accuracy", interactive=False)
                compare_status = gr.Markdown()
            with gr.Tab("Attention"):
                with gr.Row():
                    attention_spectrum = gr.Radio(list(LABEL_TO_SPECTRUM), value="RGB", label="Spectrum")
                    attention_kind = gr.Radio(["CLIP", "DINO"], value="DINO", label="Backbone")
                    attention_layer = gr.Slider(-12, 11, value=-1, step=1, label="Layer (negative: from the last)")
                    attention_head = gr.Dropdown(["mean", *map(str, range(16))], value="mean", label="Head")
                    attention_rollout = gr.Checkbox(label="Rollout through all layers")
                    attention_button = gr.Button("Show attention", variant="primary")
                with gr.Row():
                    prompt = gr.Textbox(value="a very close car", label="CLIP prompt")
                    prompt_button = gr.Button("Show prompt similarity")
                attention_image = gr.Image(label="Map over the input", format="png", interactive=False,
                                           elem_id="attention")
                attention_caption = gr.Markdown(elem_id="attention-caption")

        controls = [model_name, mode, anchor, view, color_label, invert, fixed_range, depth_min, depth_max,
                    max_points, probe, strength]
        outputs = [*spectrum_images, info, *depth_images, metrics, depth_image, cloud_plot, downloads, status,
                   slider, error_image]
        gallery.select(select_sample_name(samples), None, sample_name, api_visibility="private")
        sample_name.change(load_sample, sample_name, frame_state, api_name="load_sample").success(
            render, [frame_state, *controls], outputs, api_name="render")
        upload_button.click(decode_upload, [rgb_file, nir_file, thr_file], frame_state,
                            api_name="decode_upload").success(render, [frame_state, *controls], outputs,
                                                              api_visibility="private")
        if browser is not None:  # after the sample chain, whose render keeps the API name /render
            # The frame choice reacts to the user only (.input): a new sequence sets it and loads its frame itself.
            dataset_sequence.change(browser.choose_sequence, dataset_sequence, [dataset_frame, frame_state],
                                    api_name="choose_dataset_sequence").success(
                render, [frame_state, *controls], outputs, api_visibility="private")
            dataset_frame.input(browser.load_frame, [dataset_sequence, dataset_frame], frame_state,
                                api_name="load_dataset_frame").success(
                render, [frame_state, *controls], outputs, api_visibility="private")
        for control in controls:
            control.change(rerender, [frame_state, *controls], outputs, api_visibility="private")
        compare_button.click(compare, [frame_state, teacher_name, student_name, compare_spectrum, invert],
                             [teacher_depth, student_depth, comparison, compare_status], api_name="compare")
        attention_button.click(show_attention, [frame_state, attention_spectrum, attention_kind, attention_layer,
                                                attention_head, attention_rollout],
                               [attention_image, attention_caption], api_name="attention")
        prompt_button.click(show_prompt, [frame_state, attention_spectrum, prompt],
                            [attention_image, attention_caption], api_name="prompt_similarity")
    return studio


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


def pick(choices: list[str], preferred: str) -> str | None:
    return preferred if preferred in choices else None


def select_sample_name(samples):
    def handler(evt: gr.SelectData) -> str:
        return samples[evt.index].name
    return handler
