"""The words and limits both studios show, defined once: control labels, what each upload slot
takes, the upload size limit, and the messages for calls made too early."""
from __future__ import annotations

from core.data.frame import SPECTRUM_LABELS
from core.inference.analysis import GROUND_TRUTH, MODE_LABELS
from core.models import FUSED

LABEL_TO_SPECTRUM = {label: s for s, label in SPECTRUM_LABELS.items()}
LABEL_TO_MODE = {label: mode for mode, label in MODE_LABELS.items()}
LABEL_TO_VIEW = {"Fused": FUSED, **{f"{label} alone": s for s, label in SPECTRUM_LABELS.items()},
                 "Ground truth": GROUND_TRUTH}
# What each upload slot takes; thermal only as the raw 16-bit file (8-bit copies lost the temperatures).
UPLOAD_LABELS = {"rgb": "RGB (8-bit PNG/JPEG)", "nir": "NIR (8-bit PNG)", "thr": "Thermal (16-bit raw PNG)"}
UPLOAD_TYPES = ["png", "jpg", "jpeg", "tif", "tiff"]
# Per image file (load_upload refuses larger ones); sequence uploads take more (MAX_SEQUENCE_UPLOAD_MB),
# so the servers' own limits are theirs.
MAX_UPLOAD_MB = 50
NO_FRAME = "pick a sample or upload images first"
NO_ANALYSIS = "run an analysis first: pick a sample or upload images"
# Sequences: where a drive comes from, what colours its map, and what the uploads take.
SEQUENCE_SOURCES = {"gallery": "MS-Synth drive", "dataset": "Dataset test sequence", "upload": "Upload (zip or video)"}
MAP_COLOURS = {**{label: s for s, label in SPECTRUM_LABELS.items()}, "Time": "time"}
SEQUENCE_UPLOAD_TYPES = [".zip", ".mp4", ".webm", ".mov"]
STABILITY_HEADERS = ["output", "mean depth change between frames [%]"]
NO_RUN = "run a sequence first"
