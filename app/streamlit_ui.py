"""What the Streamlit pages share: cached models and frames, the input chooser, error display.

Pages call ``core.inference`` for everything they show; this module only adapts it to
Streamlit (caching, widgets, messages).
"""
from __future__ import annotations

import streamlit as st

from core import inference
from core.data.frame import SPECTRUM_LABELS, Frame
from core.inference import InputError

UPLOAD_TYPES = ["png", "jpg", "jpeg", "tif", "tiff"]
MAX_UPLOAD_MB = 50
LABEL_TO_SPECTRUM = {label: s for s, label in SPECTRUM_LABELS.items()}
EXPORTS = inference.ExportDir()   # downloads' scratch files, one per process, removed at exit


@st.cache_resource(show_spinner="Loading the model ...")
def model(name: str):
    """(model, config.json), loaded once per process for every session."""
    return inference.load_model(name)


@st.cache_data(show_spinner="Loading the sample ...", max_entries=16)
def sample(name: str) -> Frame:
    return inference.load_sample(name)


@st.cache_data(show_spinner="Rendering the scene under every condition ...", max_entries=4)
def sample_under_conditions(name: str) -> dict[str, Frame]:
    return inference.sample_under_conditions(name)


def checkpoint_picker(label: str, preferred: str, key: str) -> str:
    names = inference.list_checkpoints()
    if not names:
        st.error("No checkpoints in checkpoints/: train one with python -m train (see the README).")
        st.stop()
    return st.selectbox(label, names, index=names.index(preferred) if preferred in names else 0, key=key)


def upload_frame(key: str) -> Frame | None:
    """A frame from uploaded files (any subset of spectra), or None with the reason shown."""
    columns = st.columns(3)
    files = {}
    for column, (spectrum, label) in zip(columns, SPECTRUM_LABELS.items()):
        kind = "16-bit raw PNG" if spectrum == "thr" else "8-bit"
        files[spectrum] = column.file_uploader(f"{label} ({kind})", type=UPLOAD_TYPES, key=f"{key}-{spectrum}")
    if not any(files.values()):
        st.info("Upload RGB, NIR and/or thermal images of one capture.")
        return None
    too_big = [f.name for f in files.values() if f is not None and f.size > MAX_UPLOAD_MB * 2**20]
    if too_big:
        st.error(f"{', '.join(too_big)}: larger than {MAX_UPLOAD_MB} MB")
        return None
    try:
        return inference.load_upload({s: f.getvalue() for s, f in files.items() if f is not None})
    except InputError as err:
        st.error(str(err))
        return None


def choose_frame(key: str) -> Frame | None:
    """The input: a gallery sample or an upload."""
    source = st.radio("Input", ["Sample", "Upload"], horizontal=True, key=f"{key}-source")
    if source == "Sample":
        names = [s.name for s in inference.list_samples()]
        return sample(st.selectbox("Sample (MS-Synth test split)", names, key=f"{key}-sample"))
    return upload_frame(key)
