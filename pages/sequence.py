"""Sequence: depth for every frame of a drive or a video, a frame slider, per-frame metrics, the
temporal-stability table and the 3-D map along the poses, with the downloads."""
import streamlit as st

from core import inference
from core.inference import AnalysisRequest, InputError
from core.inference.sequence_sources import (MAX_FRAMES, dataset_sequence, gallery_sequence, gallery_sequence_names,
                                             select_frames, upload_sequence)
from core.inference.sequences import DEFAULT_VOXEL_M, SequenceRun, write_map_ply
from core.inference.vocabulary import (LABEL_TO_MODE, LABEL_TO_SPECTRUM, LABEL_TO_VIEW, MAP_COLOURS,
                                       SEQUENCE_SOURCES, SEQUENCE_UPLOAD_TYPES, STABILITY_HEADERS)
from pages import _shared as ui

RUN_KEY = "sequence-run"
OUTPUT_VIEWS = {label: view for label, view in LABEL_TO_VIEW.items() if view != inference.GROUND_TRUTH}

st.title("Sequence")
root = ui.dataset_root()
kinds = {label: kind for kind, label in SEQUENCE_SOURCES.items() if kind != "dataset" or root is not None}
kind = kinds[st.radio("Source", list(kinds), horizontal=True, key="sequence-source")]
if kind == "gallery":
    chosen = st.selectbox("MS-Synth drive (rendered on first use)", gallery_sequence_names(), key="sequence-drive")
elif kind == "dataset":
    chosen = st.selectbox("Dataset test sequence", [s.name for s in ui.dataset_sequences(str(root))],
                          key="sequence-dataset")
else:
    chosen = st.file_uploader("Zip of MS2-layout frames, or an RGB video (≤ 60 s)",
                              type=[t.lstrip(".") for t in SEQUENCE_UPLOAD_TYPES], key="sequence-upload")
left, middle, right = st.columns(3)
with left:
    model_name = ui.checkpoint_picker("Checkpoint", inference.DEFAULT_CHECKPOINT, "sequence-model")
with middle:
    mode = LABEL_TO_MODE[st.radio("Mode", list(LABEL_TO_MODE), horizontal=True, key="sequence-mode")]
with right:
    anchor = LABEL_TO_SPECTRUM[st.radio("Fusion anchor", list(LABEL_TO_SPECTRUM), horizontal=True,
                                        key="sequence-anchor")]
first_column, count_column, stride_column = st.columns(3)
first = first_column.number_input("First frame", 0, 10_000, 0, key="sequence-first")
count = count_column.slider("Frames", 1, MAX_FRAMES, 30, key="sequence-count")
stride = stride_column.number_input("Stride", 1, 100, 1, key="sequence-stride")

if st.button("Run", type="primary", key="sequence-run-button"):   # any widget touched during a run stops it
    folder = ui.EXPORTS.new("sequence")
    try:
        if kind == "gallery":
            source = gallery_sequence(chosen)
        elif kind == "dataset":
            source = dataset_sequence(root, chosen)
        else:
            if chosen is None:
                raise InputError("upload a zip of MS2-layout frames or a video first")
            upload = folder / chosen.name
            upload.write_bytes(chosen.getvalue())
            source = upload_sequence(upload, folder / "upload")
        indices = select_frames(source.count, int(first), min(source.count, int(first) + count * int(stride)),
                                int(stride))
    except InputError as err:
        st.error(str(err))
        st.stop()
    run = SequenceRun.create(folder, source, AnalysisRequest(model_name, mode, anchor))
    st.session_state[RUN_KEY] = str(folder)
    bar, first_depth = st.progress(0.0), st.empty()
    try:
        for done, record in enumerate(run.analyse(source, indices), start=1):
            rate = done / max(record.elapsed_s, 1e-6)
            bar.progress(done / len(indices), text=f"frame {done} / {len(indices)} · {rate:.1f} frames/s · "
                                                   f"{(len(indices) - done) / rate:.0f} s left")
            if done == 1:
                first_depth.image(run.player(0, run.outputs[0])[1], caption="first frame")
    except InputError as err:
        st.error(str(err))
    first_depth.empty()

if RUN_KEY in st.session_state:
    try:
        run = SequenceRun.open(st.session_state[RUN_KEY])
    except InputError as err:
        st.error(str(err))
        st.stop()
    if not run.records:
        st.stop()
    if run.note:
        st.info(run.note)
    views = [label for label, view in OUTPUT_VIEWS.items() if view in run.outputs]
    output = OUTPUT_VIEWS[st.radio("Show", views, horizontal=True, key="sequence-output")]
    invert = st.toggle("Invert colours (near = blue)", key="sequence-invert")
    position = st.slider("Frame", 0, max(len(run.records) - 1, 1), 0, key="sequence-frame") \
        if len(run.records) > 1 else 0
    inputs, panel = run.player(min(position, len(run.records) - 1), output, invert)
    for column, image in zip(st.columns(len(inputs)), inputs):
        column.image(image)
    st.image(panel)
    figure = run.metrics_figure()
    if figure is not None:
        st.plotly_chart(figure, width="stretch")
    rows = run.stability_rows()
    if rows:
        st.dataframe({header: [row[i] for row in rows] for i, header in enumerate(STABILITY_HEADERS)})
    if run.has_poses:
        every_column, voxel_column, colour_column = st.columns(3)
        every = every_column.slider("Map every k-th frame", 1, 30, 5, key="sequence-every")
        voxel = voxel_column.slider("Voxel [m]", 0.05, 1.0, DEFAULT_VOXEL_M, 0.05, key="sequence-voxel")
        colour = MAP_COLOURS[colour_column.radio("Colour the map by", list(MAP_COLOURS), horizontal=True,
                                                 key="sequence-colour")]
        drive = run.map(output, every, voxel, colour)
        st.plotly_chart(drive.figure, width="stretch")
        ply = write_map_ply(drive, run.folder / "map.ply")
        st.download_button(f"Map as PLY ({len(drive.points):,} points)", ply.read_bytes(), file_name=ply.name)
    if st.button("Make the depth PNG zip and the mp4", key="sequence-downloads"):
        archive = run.depth_zip(run.folder / "depth_png_m256.zip")
        video = run.video(run.folder / "depth.mp4", output, invert)
        st.download_button("Depth PNGs (uint16, m x 256) as zip", archive.read_bytes(), file_name=archive.name)
        st.download_button("Inputs | depth as H.264 mp4", video.read_bytes(), file_name=video.name)
        st.video(str(video))
