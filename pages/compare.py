"""Compare: one scene under every condition (rows) by every camera and fused (columns), for
the teacher and the student; AbsRel against the exact depth in each cell."""
import streamlit as st

from app import streamlit_ui as ui
from core import inference
from core.data.frame import EVAL_CONDITIONS, SPECTRA, SPECTRUM_LABELS
from core.inference import InputError

st.title("Compare")
st.caption("The same MS-Synth scene and moment rendered by day, at night, in fog, in rain and with its "
           "surface textures swapped ('texture'); every cell is metric depth with its AbsRel.")
names = [s.name for s in inference.list_samples()]
scene = st.selectbox("Scene", names, key="compare-scene")
left, middle, right = st.columns(3)
with left:
    teacher = ui.checkpoint_picker("Teacher", "msynth-teacher", "compare-teacher")
with middle:
    student = ui.checkpoint_picker("Student", "msynth-student", "compare-student")
with right:
    fusion = ui.checkpoint_picker("Fused column from", inference.DEFAULT_CHECKPOINT, "compare-fusion")

frames = ui.sample_under_conditions(scene)
try:
    with st.spinner("Fusing every condition ..."):
        # The fused column is the same for both rows of models: computed once per condition.
        fused = {condition: inference.predict(frame, fusion, "fused", "rgb") for condition, frame in frames.items()}
except InputError as err:
    st.error(str(err))
    st.stop()
for role, model_name in (("teacher", teacher), ("student", student)):
    st.subheader(f"{role}: {model_name}")
    header = st.columns([1, 3, 3, 3, 3])
    header[0].markdown("**condition**")
    for column, label in zip(header[1:], [*(SPECTRUM_LABELS[s] for s in SPECTRA), f"fused ({fusion})"]):
        column.markdown(f"**{label}**")
    for condition in EVAL_CONDITIONS:
        frame = frames[condition]
        try:
            with st.spinner(f"{role}, {condition} ..."):
                prediction = inference.predict(frame, model_name, "spectral")
        except InputError as err:
            st.error(str(err))
            st.stop()
        value_range = inference.common_range(frame.depth["rgb"])
        cells = [(s, prediction, s) for s in SPECTRA] + [("fused", fused[condition], "rgb")]
        row = st.columns([1, 3, 3, 3, 3])
        row[0].markdown(f"**{condition}**")
        for column, (output, source, camera) in zip(row[1:], cells):
            depth = source.depth[output]
            abs_rel = inference.compute_depth_metrics(depth, frame.depth[camera], max_depth=80.0)["abs_rel"]
            column.image(inference.depth_view(depth, value_range=value_range), caption=f"AbsRel {abs_rel:.3f}")
