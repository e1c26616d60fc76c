"""Explore: one frame, spectral-wise or fused, with depth, metrics and downloads."""
import re

import streamlit as st

from app import streamlit_ui as ui
from core import inference
from core.data.frame import SPECTRUM_LABELS
from core.inference import InputError

st.title("Explore")
frame = ui.choose_frame("explore")
left, middle, right = st.columns(3)
with left:
    model_name = ui.checkpoint_picker("Checkpoint", inference.DEFAULT_CHECKPOINT, "explore-model")
with middle:
    mode = st.radio("Mode", ["spectral", "fused", "both"], index=2, horizontal=True)
with right:
    anchor = ui.LABEL_TO_SPECTRUM[st.radio("Anchor camera", list(ui.LABEL_TO_SPECTRUM), horizontal=True)]
invert = st.toggle("Invert colours (near = blue)")

if frame is not None:
    ui.model(model_name)
    try:
        with st.spinner("Estimating depth ..."):
            prediction = inference.predict(frame, model_name, mode, anchor)
    except InputError as err:
        st.error(str(err))
        st.stop()
    st.caption(f"**{frame.name}** ({frame.condition or 'condition unknown'}) · " + " · ".join(
        f"{k} {v:.0f} ms" for k, v in prediction.timings_ms.items()) + " · depth in metres")
    columns = st.columns(len(frame.spectra))
    for column, spectrum in zip(columns, frame.spectra):
        column.image(inference.display_image(frame, spectrum), caption=SPECTRUM_LABELS[spectrum])
    reference_camera = prediction.anchor or next(iter(prediction.depth))
    value_range = inference.common_range(frame.depth.get(reference_camera, next(iter(prediction.depth.values()))))
    outputs = list(prediction.depth)
    columns = st.columns(len(outputs))
    for column, output in zip(columns, outputs):
        title = f"fused, {SPECTRUM_LABELS[prediction.anchor]} camera" if output == "fused" else \
            f"{SPECTRUM_LABELS[output]} alone"
        column.image(inference.depth_view(prediction.depth[output], invert=invert, value_range=value_range,
                                          title=title))
    metrics = inference.prediction_metrics(frame, prediction)
    if metrics:
        st.dataframe([dict(zip(["output", *inference.METRIC_NAMES], row)) for row in metrics], hide_index=True)
    output = st.selectbox("Download", outputs, format_func=lambda o: "fused" if o == "fused" else SPECTRUM_LABELS[o])
    camera = prediction.camera_of(output)
    cloud = inference.point_cloud(frame, prediction.depth[output], camera, camera, max_points=60000)
    stem = re.sub(r"[^A-Za-z0-9]+", "_", f"{frame.name}_{output}")
    for path in inference.export_depth(prediction.depth[output], cloud, ui.EXPORTS.new("explore"), stem):
        st.download_button(f"Download {path.name}", path.read_bytes(), file_name=path.name, key=f"dl-{path.suffix}")
