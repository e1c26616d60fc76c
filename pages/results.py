"""Results: every checkpoint's training curves, AbsRel per condition and spectrum, and
latency against accuracy, read from the files the training core writes."""
import math

import plotly.graph_objects as go
import streamlit as st

from core import inference
from core.data.frame import EVAL_CONDITIONS, SPECTRA, SPECTRUM_LABELS

LOSS_SKIP = {"step", "epoch", "lr", "seconds"}


@st.cache_data(show_spinner="Timing every checkpoint ...")
def latency_ms(name: str) -> float:
    return inference.spectral_latency_ms(name)


st.title("Results")
records = inference.checkpoint_records()
if not records:
    st.error("No checkpoints in checkpoints/: train one with python -m train (see the README).")
    st.stop()

st.subheader("Training curves")
figure = go.Figure()
for record in records:
    if "loss" in record.log:
        figure.add_scatter(x=record.log["step"], y=record.log["loss"], mode="lines", name=record.name)
figure.update_layout(xaxis_title="step", yaxis_title="total loss", height=360, margin=dict(t=20))
st.plotly_chart(figure, use_container_width=True)

evaluated = [r for r in records if r.metrics]
rows = []
for record in evaluated:
    for mode, by_spectrum in record.metrics["metric"].items():
        for spectrum, by_condition in by_spectrum.items():
            rows.append({"checkpoint": record.name, "mode": mode, "camera": SPECTRUM_LABELS[spectrum],
                         **{c: round(by_condition[c]["abs_rel"], 3) for c in (*EVAL_CONDITIONS, "all")
                            if c in by_condition}})

st.subheader("AbsRel per condition and spectrum (metric, MS-Synth test split)")
mode = st.radio("Mode", ["spectral", "fused"], horizontal=True)
figure = go.Figure()
for row in (r for r in rows if r["mode"] == mode):
    conditions = [c for c in EVAL_CONDITIONS if c in row]
    figure.add_bar(x=conditions, y=[row[c] for c in conditions], name=f"{row['checkpoint']} · {row['camera']}")
figure.update_layout(barmode="group", yaxis_title="AbsRel", height=420, margin=dict(t=20))
st.plotly_chart(figure, use_container_width=True)

st.subheader("Latency against accuracy")
points = []
for record in evaluated:
    spectral = record.metrics["metric"].get("spectral", {})
    abs_rel = [spectral[s]["all"]["abs_rel"] for s in SPECTRA if s in spectral]
    if abs_rel:
        points.append((record.name, latency_ms(record.name), sum(abs_rel) / len(abs_rel),
                       record.description.get("parameters", {}).get("total", 0)))
figure = go.Figure(go.Scatter(x=[p[1] for p in points], y=[p[2] for p in points], mode="markers+text",
                              text=[p[0] for p in points], textposition="top center",
                              marker=dict(size=[8 + 4 * math.log10(max(p[3], 1) / 1e5 + 1) for p in points])))
figure.update_layout(xaxis_title="spectral-wise pass of every spectrum on this machine [ms]",
                     yaxis_title="AbsRel, mean over spectra", height=400, margin=dict(t=20))
st.plotly_chart(figure, use_container_width=True)

st.subheader("Table")
st.dataframe(rows, hide_index=True)
header = ["checkpoint", "mode", "camera", *EVAL_CONDITIONS, "all"]
markdown = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
markdown += ["| " + " | ".join(str(row.get(key, "")) for key in header) + " |" for row in rows]
st.code("\n".join(markdown), language="markdown")
