"""SpectraDepth studio: one screen of Gradio over ``core.inference``."""
from __future__ import annotations

import gradio as gr
import numpy as np

from core import inference
from core.data.frame import SPECTRA, SPECTRUM_LABELS
from core.inference import InputError

LABEL_TO_SPECTRUM = {label: s for s, label in SPECTRUM_LABELS.items()}
INFO_HEADERS = ["spectrum", "size", "format", "values", "GT depth"]
EXPORTS = inference.ExportDir()

INTRO = """# SpectraDepth studio
Multi-spectral depth: RGB, near-infrared and thermal cameras of one rig, each with its own
lens and pose, so the three images are **not** pixel-aligned. Pick an MS-Synth sample (our
procedural driving world with exact metric depth) or upload a real MS2-style trio.
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


def render(frame, depth_label: str, color_label: str, invert: bool, fixed_range: bool,
           depth_min: float, depth_max: float, max_points: int):
    """Everything the page shows for one frame and one set of view controls."""
    if frame is None:
        raise gr.Error("pick a sample or upload images first")
    images = [inference.display_image(frame, s) if s in frame.images else None for s in SPECTRA]
    info = inference.describe(frame)
    depth_spectrum = LABEL_TO_SPECTRUM[depth_label]
    depth = frame.depth.get(depth_spectrum)
    if depth is None:
        status = (f"**{frame.name}**: decoded {', '.join(SPECTRUM_LABELS[s] for s in frame.spectra)}. "
                  f"No ground-truth depth for the {depth_label} camera; depth models arrive in the next release.")
        if frame.meta.get("calibration"):
            status += f" Calibration: {frame.meta['calibration']}."
        return (*images, info, None, None, None, status)
    if fixed_range and depth_max <= depth_min:
        raise gr.Error("the fixed depth range needs max > min")
    color_spectrum = LABEL_TO_SPECTRUM[color_label]
    if color_spectrum not in frame.images:
        color_spectrum = depth_spectrum
    panel = inference.depth_view(depth, invert=invert,
                                 value_range=(depth_min, depth_max) if fixed_range else None,
                                 title=f"{depth_label} camera, ground truth")
    cloud = inference.point_cloud(frame, depth, depth_spectrum, color_spectrum, max_points=int(max_points))
    stem = frame.name.replace(" ", "_").replace("·", "").replace("__", "_")
    downloads = [str(p) for p in inference.export_depth(depth, cloud, EXPORTS.new(stem), f"{stem}_{depth_spectrum}")]
    status = (f"**{frame.name}** ({frame.condition or 'unknown condition'}): ground-truth depth of the "
              f"{depth_label} camera, {len(cloud.points):,} points shown.")
    return (*images, info, panel, cloud.figure, downloads, status)


def build_studio() -> gr.Blocks:
    samples = inference.list_samples()
    with gr.Blocks(title="SpectraDepth studio", delete_cache=(1800, 3600)) as studio:
        gr.Markdown(INTRO)
        frame_state = gr.State()
        with gr.Row():
            with gr.Column(scale=3):
                gallery = gr.Gallery([(str(s.thumbnail), s.name) for s in samples], label="MS-Synth samples",
                                     columns=4, height=260, allow_preview=False)
                sample_name = gr.Dropdown([s.name for s in samples], label="Sample", value=None)
            with gr.Column(scale=2):
                rgb_file = gr.File(label="RGB (8-bit PNG/JPEG)", file_types=["image"])
                nir_file = gr.File(label="NIR (8-bit PNG)", file_types=["image"])
                thr_file = gr.File(label="Thermal (16-bit raw PNG)", file_types=["image"])
                upload_button = gr.Button("Decode upload", variant="primary")
        status = gr.Markdown("Pick a sample or upload images.")
        info = gr.Dataframe(headers=INFO_HEADERS, label="Inputs", interactive=False)
        with gr.Row():
            spectrum_images = [gr.Image(label=SPECTRUM_LABELS[s], format="png", interactive=False) for s in SPECTRA]
        with gr.Row():
            depth_label = gr.Radio(list(LABEL_TO_SPECTRUM), value="Thermal", label="Depth of camera")
            color_label = gr.Radio(list(LABEL_TO_SPECTRUM), value="RGB", label="Colour points by")
            invert = gr.Checkbox(label="Invert colours (near = blue)")
            fixed_range = gr.Checkbox(label="Fixed depth range")
            depth_min = gr.Slider(0, 100, value=0, step=1, label="min [m]")
            depth_max = gr.Slider(1, 150, value=80, step=1, label="max [m]")
            max_points = gr.Slider(5000, 200000, value=60000, step=5000, label="max points")
        with gr.Row():
            depth_image = gr.Image(label="Depth [m]", format="png", interactive=False)
            cloud_plot = gr.Plot(label="Point cloud (metres)")
        downloads = gr.File(label="Downloads: depth PNG (uint16, m x 256), depth .npy (float32 m), PLY",
                            file_count="multiple", interactive=False)

        view_controls = [depth_label, color_label, invert, fixed_range, depth_min, depth_max, max_points]
        outputs = [*spectrum_images, info, depth_image, cloud_plot, downloads, status]
        gallery.select(select_sample_name(samples), None, sample_name, api_visibility="private")
        sample_name.change(load_sample, sample_name, frame_state, api_name="load_sample").success(
            render, [frame_state, *view_controls], outputs, api_name="render")
        upload_button.click(decode_upload, [rgb_file, nir_file, thr_file], frame_state,
                            api_name="decode_upload").success(render, [frame_state, *view_controls], outputs,
                                                              api_visibility="private")
        for control in view_controls:
            control.change(render, [frame_state, *view_controls], outputs, api_visibility="private")
    return studio


def select_sample_name(samples):
    def handler(evt: gr.SelectData) -> str:
        return samples[evt.index].name
    return handler
