"""Compare: one scene under every condition (rows) by every camera and fused (columns), for
the teacher and the student; AbsRel against the exact depth in each cell."""
import streamlit as st

from core import inference
from core.data.frame import SPECTRA, SPECTRUM_LABELS
from core.inference import FUSED, AnalysisRequest, InputError, output_title
from pages import _shared as ui

ABS_REL = inference.METRIC_LABELS["abs_rel"]

st.title("Compare")
st.caption("The same MS-Synth scene and moment rendered by day, at night, in fog, in rain and with its "
           "surface textures swapped ('texture'); every cell is metric depth with its AbsRel.")
names = [s.name for s in inference.list_samples()]
scene = st.selectbox("Scene", names, key="compare-scene")
left, middle, right = st.columns(3)
with left:
    teacher = ui.checkpoint_picker("Teacher", inference.DEFAULT_TEACHER, "compare-teacher")
with middle:
    student = ui.checkpoint_picker("Student", inference.DEFAULT_STUDENT, "compare-student")
with right:
    fusion = ui.checkpoint_picker("Fused column from", inference.DEFAULT_CHECKPOINT, "compare-fusion")

frames = ui.sample_under_conditions(scene)
try:
    # The fused column is the same for both rows of models: analysed once per condition.
    fused = {condition: ui.analyse(frame, AnalysisRequest(fusion, "fused", "rgb"))
             for condition, frame in frames.items()}
except InputError as err:
    st.error(str(err))
    st.stop()
for role, model_name in (("teacher", teacher), ("student", student)):
    st.subheader(f"{role}: {model_name}")
    header = st.columns([1, 3, 3, 3, 3])
    header[0].markdown("**condition**")
    labels = [*(SPECTRUM_LABELS[s] for s in SPECTRA), f"{output_title(FUSED, 'rgb')} ({fusion})"]
    for column, label in zip(header[1:], labels):
        column.markdown(f"**{label}**")
    for condition, frame in frames.items():
        try:
            analysis = ui.analyse(frame, AnalysisRequest(model_name, "spectral"))
        except InputError as err:
            st.error(str(err))
            st.stop()
        value_range = fused[condition].value_range   # the RGB camera's ground truth: one scale per row
        cells = [(s, analysis) for s in SPECTRA] + [(FUSED, fused[condition])]
        row = st.columns([1, 3, 3, 3, 3])
        row[0].markdown(f"**{condition}**")
        for column, (output, source) in zip(row[1:], cells):
            abs_rel = source.metrics[output]["abs_rel"]
            column.image(inference.depth_view(source.display_depth(output), value_range=value_range),
                         caption=f"{ABS_REL} {abs_rel:.3f}")
