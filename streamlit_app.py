"""SpectraDepth workbench (Streamlit): `streamlit run streamlit_app.py`.

The reviewer's side of the studio; every page calls ``core.inference`` and reads what the
training core writes (checkpoints/*/metrics.json and log.csv).
"""
import streamlit as st

st.set_page_config(page_title="SpectraDepth workbench", layout="wide")
st.navigation([
    st.Page("pages/explore.py", title="Explore", default=True),
    st.Page("pages/compare.py", title="Compare"),
    st.Page("pages/attention.py", title="Attention"),
    st.Page("pages/point_cloud.py", title="Point cloud"),
    st.Page("pages/results.py", title="Results"),
]).run()
