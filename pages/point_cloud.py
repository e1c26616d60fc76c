"""Point cloud: metric depth as 3-D points in the camera frame (metres), coloured by any spectrum."""
import streamlit as st

from core import inference
from core.data.frame import SPECTRUM_LABELS
from core.inference import AnalysisRequest, DisplayOptions, InputError
from core.inference.vocabulary import LABEL_TO_SPECTRUM
from pages import _shared as ui

st.title("Point cloud")
frame = ui.choose_frame("cloud")
left, middle, right = st.columns(3)
with left:
    model_name = ui.checkpoint_picker("Checkpoint", inference.DEFAULT_CHECKPOINT, "cloud-model")
with middle:
    camera = LABEL_TO_SPECTRUM[st.radio("Depth of", list(LABEL_TO_SPECTRUM), horizontal=True)]
with right:
    colour = LABEL_TO_SPECTRUM[st.radio("Colour by", list(LABEL_TO_SPECTRUM), horizontal=True)]
max_points = st.slider("Points after voxel downsampling (at most)", 5000, 200000, inference.DEFAULT_MAX_POINTS,
                       step=5000)

if frame is not None:
    if camera not in frame.images:
        st.error(f"this input has no {SPECTRUM_LABELS[camera]} image")
        st.stop()
    try:
        analysis = ui.analyse(frame, AnalysisRequest(model_name, "spectral", spectra=(camera,)))
    except InputError as err:
        st.error(str(err))
        st.stop()
    if analysis.notice:
        st.warning(analysis.notice)
    options = DisplayOptions(view=camera, color_by=colour, max_points=max_points)
    cloud = inference.point_cloud(analysis, options)
    st.plotly_chart(cloud.figure, width="stretch")
    ply = next(p for p in inference.downloads(analysis, options, ui.EXPORTS.new("cloud"), cloud) if p.suffix == ".ply")
    st.download_button(f"Download {ply.name} ({len(cloud.points):,} points)", ply.read_bytes(), file_name=ply.name)
