"""Point cloud: metric depth as 3-D points in the camera frame (metres), coloured by any spectrum."""
import re

import streamlit as st

from app import streamlit_ui as ui
from core import inference
from core.data.frame import SPECTRUM_LABELS
from core.inference import InputError

st.title("Point cloud")
frame = ui.choose_frame("cloud")
left, middle, right = st.columns(3)
with left:
    model_name = ui.checkpoint_picker("Checkpoint", inference.DEFAULT_CHECKPOINT, "cloud-model")
with middle:
    camera = ui.LABEL_TO_SPECTRUM[st.radio("Depth of", list(ui.LABEL_TO_SPECTRUM), horizontal=True)]
with right:
    colour = ui.LABEL_TO_SPECTRUM[st.radio("Colour by", list(ui.LABEL_TO_SPECTRUM), horizontal=True)]
max_points = st.slider("Points after voxel downsampling (at most)", 5000, 200000, 60000, step=5000)

if frame is not None:
    if camera not in frame.images:
        st.error(f"this input has no {SPECTRUM_LABELS[camera]} image")
        st.stop()
    try:
        with st.spinner("Estimating depth ..."):
            prediction = inference.predict(frame, model_name, "spectral", spectra=[camera])
    except InputError as err:
        st.error(str(err))
        st.stop()
    depth = prediction.depth[camera]
    cloud = inference.point_cloud(frame, depth, camera, colour if colour in frame.images else camera,
                                  max_points=max_points)
    st.plotly_chart(cloud.figure, use_container_width=True)
    stem = re.sub(r"[^A-Za-z0-9]+", "_", f"{frame.name}_{camera}")
    ply = next(p for p in inference.export_depth(depth, cloud, ui.EXPORTS.new("cloud"), stem) if p.suffix == ".ply")
    st.download_button(f"Download {ply.name} ({len(cloud.points):,} points)", ply.read_bytes(), file_name=ply.name)
