"""Results: what training, evaluation and the benchmarks recorded, as charts; nothing is run or
timed here. Training curves from checkpoints/*/log.csv, sizes from config.json, AbsRel on the
MS-Synth test split from checkpoints/EVAL*.json (`python -m train eval`), on real frames from
checkpoints/EVAL-real.json (`eval-real`), and latency from bench/results.json (`make bench`)."""
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from core import inference
from core.data.frame import EVAL_CONDITIONS, SPECTRA, SPECTRUM_LABELS
from core.reports import RESULTS_FILE, read_results

# Shown at first: the registry's default, teacher, student and the default's network (its first four).
SHIPPED = tuple(name for _, name in inference.model_choices()[:4])
ABS_REL = inference.METRIC_LABELS["abs_rel"]
TEST_REPORTS = ("EVAL", "EVAL-distill")   # `python -m train eval` on the MS-Synth test split
REAL_REPORT = "EVAL-real"
LEGEND_BELOW = dict(orientation="h", y=-0.25)


@st.cache_data(show_spinner="Reading the checkpoints' records ...")
def records() -> list[inference.CheckpointRecord]:
    return inference.checkpoint_records()


@st.cache_data(show_spinner="Reading the evaluation reports ...")
def reports() -> dict[str, dict]:
    return inference.evaluation_reports()


@st.cache_data(show_spinner="Reading the recorded benchmarks ...")
def benchmarks(path: str) -> dict[str, dict]:
    return read_results(Path(path))


def metrics_on_test_split(evaluations: dict[str, dict]) -> dict[str, dict]:
    """Each checkpoint's metric-depth figures on the test split (mode -> spectrum -> condition ->
    metric); where two reports evaluated a checkpoint, the one covering more conditions."""
    def condition_count(metric: dict) -> int:
        return len(next(iter(metric["spectral"].values())))
    chosen: dict[str, dict] = {}
    for stem in TEST_REPORTS:
        for name, result in evaluations.get(stem, {}).items():
            if name not in chosen or condition_count(result["metric"]) > condition_count(chosen[name]):
                chosen[name] = result["metric"]
    return chosen


def mean_abs_rel(metric: dict) -> float:
    """Spectral-wise AbsRel over all conditions, averaged over the cameras."""
    values = [metric["spectral"][s]["all"]["abs_rel"] for s in SPECTRA if s in metric["spectral"]]
    return sum(values) / len(values)


st.title("Results")
st.caption("Recorded figures only: training logs, evaluation reports and `make bench`; nothing is run here.")
all_records = records()
if not all_records:
    st.error("No checkpoints in checkpoints/: train one with python -m train (see the README).")
    st.stop()
names = [r.name for r in all_records]
chosen = st.multiselect("Checkpoints", names, default=[n for n in SHIPPED if n in names] or names[:4])
shown = [r for r in all_records if r.name in chosen]
evaluations = reports()
tested = {name: metric for name, metric in metrics_on_test_split(evaluations).items() if name in chosen}

st.subheader("Training curves")
figure = go.Figure()
for record in shown:
    if "loss" in record.log:
        figure.add_scatter(x=record.log["step"], y=record.log["loss"], mode="lines", name=record.name)
figure.update_layout(xaxis_title="step", yaxis_title="total loss", height=360, margin=dict(t=20),
                     legend=LEGEND_BELOW)
st.plotly_chart(figure, width="stretch")

rows = []
for name, metric in tested.items():
    for mode, by_spectrum in metric.items():
        for spectrum, by_condition in by_spectrum.items():
            rows.append({"checkpoint": name, "mode": inference.MODE_LABELS[mode], "camera": SPECTRUM_LABELS[spectrum],
                         **{c: round(by_condition[c]["abs_rel"], 3) for c in (*EVAL_CONDITIONS, "all")
                            if c in by_condition}})

st.subheader(f"{ABS_REL} per condition (metric depth, MS-Synth test split)")
left, right = st.columns(2)
with left:
    mode = st.radio("Mode", [inference.MODE_LABELS["spectral"], inference.MODE_LABELS["fused"]], horizontal=True)
with right:
    camera = st.radio("Camera", [SPECTRUM_LABELS[s] for s in SPECTRA], horizontal=True)
selected = [r for r in rows if r["mode"] == mode and r["camera"] == camera]
if selected:
    figure = go.Figure()
    for condition in EVAL_CONDITIONS:   # one series per condition, a group per checkpoint: a handful of series
        figure.add_bar(x=[r["checkpoint"] for r in selected], y=[r.get(condition) for r in selected], name=condition)
    figure.update_layout(barmode="group", yaxis_title=ABS_REL, height=420, margin=dict(t=20), legend=LEGEND_BELOW)
    st.plotly_chart(figure, width="stretch")
else:
    st.info(f"None of the chosen checkpoints was evaluated {mode.lower()} in the {camera} camera.")

st.subheader("Size against accuracy")
figure = go.Figure()
for record in shown:   # one named trace per checkpoint: the legend labels them, nothing overlaps
    if record.name in tested:
        figure.add_scatter(x=[record.description.get("parameters", {}).get("total", 0) / 1e6],
                           y=[mean_abs_rel(tested[record.name])], mode="markers", marker=dict(size=12),
                           name=record.name)
figure.update_layout(xaxis_title="parameters [M] (recorded in config.json)",
                     yaxis_title=f"{ABS_REL}, spectral-wise, mean over cameras", height=400, margin=dict(t=20))
st.plotly_chart(figure, width="stretch")

if REAL_REPORT in evaluations:
    real = evaluations[REAL_REPORT]
    st.subheader(f"Real frames ({len(real['frame_ids'])} from {real['frames']}), RGB spectral-wise")
    entries = [name for name in real["results"]["median_scaled"] if name.startswith("floor") or name in chosen]
    figure = go.Figure()
    for scaling, label in (("median_scaled", "median-scaled"), ("metric", "metric")):
        figure.add_bar(x=entries, y=[real["results"][scaling][name]["mean"]["abs_rel"] for name in entries],
                       name=f"{ABS_REL}, {label}")
    figure.update_layout(barmode="group", yaxis_title=f"{ABS_REL}, mean over frames", height=400,
                         margin=dict(t=20), legend=LEGEND_BELOW)
    st.plotly_chart(figure, width="stretch")

st.subheader("Table")
st.dataframe(rows, hide_index=True)
header = ["checkpoint", "mode", "camera", *EVAL_CONDITIONS, "all"]
markdown = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
markdown += ["| " + " | ".join(str(row.get(key, "")) for key in header) + " |" for row in rows]
st.code("\n".join(markdown), language="markdown")

st.subheader("Benchmarks (recorded by `make bench`)")
recorded = benchmarks(str(RESULTS_FILE))
if not recorded:
    st.info(f"No benchmark recorded in {RESULTS_FILE.name} yet: run `make bench`.")
for name, result in recorded.items():
    st.markdown(f"**{name}**, recorded {result['recorded']} in {result['seconds']} s, load average "
                f"{result['load_average'][0]} on {result['cpus']} CPUs")
    for table in result["tables"]:
        if table["unit"] == "ms":   # latency tables as charts; parameter counts read best as the text below
            figure = go.Figure(go.Bar(x=list(table["rows"].values()), y=[row.strip() for row in table["rows"]],
                                      orientation="h", name=table["title"]))
            figure.update_layout(xaxis_title="ms", yaxis=dict(autorange="reversed"), margin=dict(t=20),
                                 height=60 + 30 * len(table["rows"]))
            st.plotly_chart(figure, width="stretch")
    st.code(result["output"], language="text")
