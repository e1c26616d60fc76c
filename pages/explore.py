"""Explore: one frame, spectral-wise or fused, with depth, metrics and downloads."""
import streamlit as st

from core import inference
from core.data.frame import SPECTRUM_LABELS
from core.inference import AnalysisRequest, DisplayOptions, InputError
from core.inference.vocabulary import LABEL_TO_SPECTRUM
from pages import _shared as ui

st.title("Explore")
frame = ui.choose_frame("explore")
left, middle, right = st.columns(3)
with left:
    model_name = ui.checkpoint_picker("Checkpoint", inference.DEFAULT_CHECKPOINT, "explore-model")
with middle:
    mode = st.radio("Mode", list(inference.MODE_LABELS), index=2, horizontal=True,
                    format_func=inference.MODE_LABELS.get)
with right:
    anchor = LABEL_TO_SPECTRUM[st.radio("Anchor camera", list(LABEL_TO_SPECTRUM), horizontal=True)]
invert = st.toggle("Invert colours (near = blue)")
flip_average = st.toggle("Average with the mirrored images (twice the time)")

if frame is not None:
    try:
        analysis = ui.analyse(frame, AnalysisRequest(model_name, mode, anchor, flip_average=flip_average))
    except InputError as err:
        st.error(str(err))
        st.stop()
    st.caption(analysis.summary())
    if analysis.notice:
        st.warning(analysis.notice)
    display = analysis.display
    columns = st.columns(len(display.spectra))
    for column, spectrum in zip(columns, display.spectra):
        column.image(inference.display_image(display, spectrum), caption=SPECTRUM_LABELS[spectrum])
    panels = inference.output_panels(analysis, DisplayOptions(invert=invert))
    for column, panel in zip(st.columns(len(panels)), panels.values()):
        column.image(panel)
    rows = analysis.metric_rows()
    if rows:
        st.dataframe([dict(zip(["output", *inference.METRIC_LABELS.values()], row)) for row in rows],
                     hide_index=True)
    output = st.selectbox("Download", analysis.outputs, format_func=analysis.titles.get)
    options = DisplayOptions(view=output)
    cloud = inference.point_cloud(analysis, options)
    for path in inference.downloads(analysis, options, ui.EXPORTS.new("explore"), cloud):
        st.download_button(f"Download {path.name}", path.read_bytes(), file_name=path.name, key=f"dl-{path.suffix}")
