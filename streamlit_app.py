"""SpectraDepth workbench (Streamlit): `streamlit run streamlit_app.py`.

The reviewer's side of the studio; every page calls ``core.inference`` and reads what the
training core writes (checkpoints/*/metrics.json and log.csv).

`streamlit run streamlit_app.py -- --data <MS2 root>` (or SPECTRADEPTH_DATA=<MS2 root>) lets the
pages that take a frame pick one of that dataset's test frames (test_day/night/rain_list.txt) too,
by sequence and frame id, beside the MS-Synth samples and uploads.
"""
import streamlit as st

from pages import _shared as ui

st.set_page_config(page_title="SpectraDepth workbench", layout="wide")
ui.dataset_root()   # a --data folder that is not an MS2 root: say so on every page, before anything else
st.navigation([
    st.Page("pages/explore.py", title="Explore", default=True),
    st.Page("pages/compare.py", title="Compare"),
    st.Page("pages/attention.py", title="Attention"),
    st.Page("pages/point_cloud.py", title="Point cloud"),
    st.Page("pages/sequence.py", title="Sequence"),
    st.Page("pages/results.py", title="Results"),
]).run()
