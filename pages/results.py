"""Results: training curves, AbsRel per condition and camera, and size against accuracy, read
from the files the training core writes (checkpoints/*/config.json, metrics.json, log.csv).
Nothing is timed at page load; a button times the checkpoints on this machine on request."""
import plotly.graph_objects as go
import streamlit as st

from core import inference
from core.data.frame import EVAL_CONDITIONS, SPECTRA, SPECTRUM_LABELS

SHIPPED = ("msynth-align", "msynth-fuse", "msynth-teacher", "msynth-student")
ABS_REL = inference.METRIC_LABELS["abs_rel"]


@st.cache_data(show_spinner="Reading the checkpoints' records ...")
def records() -> list[inference.CheckpointRecord]:
    return inference.checkpoint_records()


@st.cache_data(show_spinner="Timing every checkpoint ...")
def latency_ms(name: str) -> float:
    return inference.spectral_latency_ms(name)


def mean_abs_rel(record: inference.CheckpointRecord) -> float | None:
    """Spectral-wise AbsRel over all conditions, averaged over the cameras."""
    spectral = record.metrics["metric"].get("spectral", {})
    values = [spectral[s]["all"]["abs_rel"] for s in SPECTRA if s in spectral]
    return sum(values) / len(values) if values else None


st.title("Results")
all_records = records()
if not all_records:
    st.error("No checkpoints in checkpoints/: train one with python -m train (see the README).")
    st.stop()
names = [r.name for r in all_records]
chosen = st.multiselect("Checkpoints", names, default=[n for n in SHIPPED if n in names] or names[:4])
shown = [r for r in all_records if r.name in chosen]

st.subheader("Training curves")
figure = go.Figure()
for record in shown:
    if "loss" in record.log:
        figure.add_scatter(x=record.log["step"], y=record.log["loss"], mode="lines", name=record.name)
figure.update_layout(xaxis_title="step", yaxis_title="total loss", height=360, margin=dict(t=20),
                     legend=dict(orientation="h", y=-0.25))
st.plotly_chart(figure, use_container_width=True)

evaluated = [r for r in shown if r.metrics]
rows = []
for record in evaluated:
    for mode, by_spectrum in record.metrics["metric"].items():
        for spectrum, by_condition in by_spectrum.items():
            rows.append({"checkpoint": record.name, "mode": inference.MODE_LABELS.get(mode, mode),
                         "camera": SPECTRUM_LABELS[spectrum],
                         **{c: round(by_condition[c]["abs_rel"], 3) for c in (*EVAL_CONDITIONS, "all")
                            if c in by_condition}})

st.subheader(f"{ABS_REL} per condition (metric, MS-Synth test split)")
left, right = st.columns(2)
with left:
    mode = st.radio("Mode", ["Spectral-wise", "Fused"], horizontal=True)
with right:
    camera = st.radio("Camera", [SPECTRUM_LABELS[s] for s in SPECTRA], horizontal=True)
selected = [r for r in rows if r["mode"] == mode and r["camera"] == camera]
figure = go.Figure()
for condition in EVAL_CONDITIONS:   # one series per condition, a group per checkpoint: a handful of series
    figure.add_bar(x=[r["checkpoint"] for r in selected], y=[r.get(condition) for r in selected], name=condition)
figure.update_layout(barmode="group", yaxis_title=ABS_REL, height=420, margin=dict(t=20),
                     legend=dict(orientation="h", y=-0.2))
st.plotly_chart(figure, use_container_width=True)

st.subheader("Size against accuracy")
points = [(r.name, r.description.get("parameters", {}).get("total", 0) / 1e6, mean_abs_rel(r)) for r in evaluated]
points = [p for p in points if p[2] is not None]
figure = go.Figure()
for name, parameters, abs_rel in points:   # one named trace per checkpoint: the legend labels them, nothing overlaps
    figure.add_scatter(x=[parameters], y=[abs_rel], mode="markers", marker=dict(size=12), name=name)
figure.update_layout(xaxis_title="parameters [M] (recorded in config.json)",
                     yaxis_title=f"{ABS_REL}, spectral-wise, mean over cameras", height=400, margin=dict(t=20))
st.plotly_chart(figure, use_container_width=True)
if st.button("Time a spectral-wise pass of each on this machine"):
    st.dataframe([{"checkpoint": name, "ms (every camera, one pass each)": round(latency_ms(name), 1),
                   ABS_REL: round(abs_rel, 3)} for name, _, abs_rel in points], hide_index=True)

st.subheader("Table")
st.dataframe(rows, hide_index=True)
header = ["checkpoint", "mode", "camera", *EVAL_CONDITIONS, "all"]
markdown = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
markdown += ["| " + " | ".join(str(row.get(key, "")) for key in header) + " |" for row in rows]
st.code("\n".join(markdown), language="markdown")
