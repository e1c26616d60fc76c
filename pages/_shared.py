"""What the Streamlit pages share: cached models and frames, the input chooser, error display.

Pages call ``core.inference`` for everything they show; this module only adapts it to
Streamlit (caching, widgets, messages). It is no page: streamlit_app.py names the pages with
``st.navigation``, so Streamlit does not list pages/ itself.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import streamlit as st

from core import inference
from core.data.frame import Frame
from core.inference import InputError
from core.inference.vocabulary import UPLOAD_LABELS, UPLOAD_TYPES

EXPORTS = inference.ExportDir()   # downloads' scratch files, one per process, removed at exit


# Compare alone keeps 15 analyses (5 conditions x teacher, student, fused) and the other pages a
# few more: 16 entries evicted Compare's on every visit round the pages; 48 hold a full round.
@st.cache_resource(show_spinner="Estimating depth ...", max_entries=48)
def _analysis(_frame: Frame, fingerprint: str, request: inference.AnalysisRequest) -> inference.Analysis:
    return inference.analyse(_frame, request)


def analyse(frame: Frame, request: inference.AnalysisRequest) -> inference.Analysis:
    """``inference.analyse``, once per frame and request: a rerun for a display-only widget
    (invert, output shown) redraws from the kept Analysis. Models are cached by core.inference."""
    return _analysis(frame, inference.frame_fingerprint(frame), request)


@st.cache_data(show_spinner="Loading the sample ...", max_entries=16)
def sample(name: str) -> Frame:
    return inference.load_sample(name)


@st.cache_data(show_spinner="Rendering the scene under every condition ...", max_entries=4)
def sample_under_conditions(name: str) -> dict[str, Frame]:
    return inference.sample_under_conditions(name)


@st.cache_data(show_spinner="Listing the dataset's test sequences ...")
def dataset_sequences(root: str) -> list[inference.DatasetSequence]:
    return inference.list_dataset_sequences(root)


@st.cache_data(show_spinner="Loading the frame ...", max_entries=16)
def dataset_frame(root: str, sequence: str, frame_id: str) -> Frame:
    return inference.load_dataset_frame(root, sequence, frame_id)


def data_argument(argv: list[str]) -> str | None:
    """``--data`` of `streamlit run streamlit_app.py -- --data <MS2 root>`, None without it."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--data")
    # Known arguments only: under a test runner argv holds the runner's own options.
    return parser.parse_known_args(argv)[0].data


def dataset_root() -> Path | None:
    """The MS2 root given with --data or $SPECTRADEPTH_DATA, None without one; a folder that is
    not an MS2 root stops the page with the reason."""
    try:
        return inference.dataset_root_from(data_argument(sys.argv[1:]))
    except InputError as err:
        st.error(f"The dataset given with --data or ${inference.DATASET_ENV} cannot be used: {err}")
        st.stop()


def checkpoint_picker(label: str, preferred: str, key: str) -> str:
    """A model from the registry's labelled choices (the default first), ``preferred`` preselected."""
    labels = {name: label for label, name in inference.model_choices()}
    names = list(labels)
    if not names:
        st.error("No checkpoints in checkpoints/: train one with python -m train (see the README).")
        st.stop()
    return st.selectbox(label, names, index=names.index(preferred) if preferred in names else 0,
                        format_func=labels.get, key=key)


def upload_frame(key: str) -> Frame | None:
    """A frame from uploaded files (any subset of spectra), or None with the reason shown."""
    columns = st.columns(3)
    files = {}
    for column, (spectrum, label) in zip(columns, UPLOAD_LABELS.items()):
        files[spectrum] = column.file_uploader(label, type=UPLOAD_TYPES, key=f"{key}-{spectrum}")
    if not any(files.values()):
        st.info("Upload RGB, NIR and/or thermal images of one capture.")
        return None
    try:
        return inference.load_upload({s: f.getvalue() for s, f in files.items() if f is not None})
    except InputError as err:
        st.error(str(err))
        return None


def dataset_frame_picker(root: Path, key: str) -> Frame | None:
    """A test frame of the dataset, chosen by sequence then frame id (loaded on demand), or None
    with the reason shown."""
    sequences = {s.name: s for s in dataset_sequences(str(root))}
    if not sequences:
        st.error(f"{root.name}'s test lists name no sequences.")
        return None
    name = st.selectbox(f"{root.name} test sequence", list(sequences), format_func=lambda n: sequences[n].label,
                        key=f"{key}-sequence")
    frame_ids = sequences[name].frame_ids
    if not frame_ids:
        st.error(f"{name} is in {root.name}'s test lists but has no frames (sync_data/{name} is missing or empty).")
        return None
    # One frame choice per sequence: a frame id of another sequence means nothing here.
    frame_id = st.selectbox("Frame id", frame_ids, key=f"{key}-frame-{name}")
    try:
        return dataset_frame(str(root), name, frame_id)
    except InputError as err:
        st.error(str(err))
        return None


def choose_frame(key: str) -> Frame | None:
    """The input: a gallery sample, a test frame of the dataset given at launch, or an upload."""
    root = dataset_root()
    sources = ["Sample", "Dataset", "Upload"] if root else ["Sample", "Upload"]
    source = st.radio("Input", sources, horizontal=True, key=f"{key}-source")
    if source == "Sample":
        names = [s.name for s in inference.list_samples()]
        return sample(st.selectbox("Sample (MS-Synth test split)", names, key=f"{key}-sample"))
    if source == "Dataset":
        return dataset_frame_picker(root, key)
    return upload_frame(key)
