"""Attention: where CLIP and DINO look in each spectrum, per layer and head or rolled out,
CLIP's patch similarity to any prompt (with what it measured for the class prompts), and the
distance CLIP's words give each patch."""
import streamlit as st

from core import inference
from core.inference import InputError
from core.inference.vocabulary import LABEL_TO_SPECTRUM
from pages import _shared as ui

st.title("Attention")
frame = ui.choose_frame("attention")
left, middle, right = st.columns(3)
with left:
    spectrum = LABEL_TO_SPECTRUM[st.radio("Spectrum", list(LABEL_TO_SPECTRUM), horizontal=True)]
with middle:
    kind = st.radio("Backbone", ["dino", "clip"], horizontal=True, format_func=str.upper)
with right:
    rollout = st.toggle("Rollout through all layers")
try:
    layers, heads = inference.backbone_shape(kind)
except InputError as err:
    st.error(str(err))
    st.stop()
layer = st.slider(f"Layer (0 - {layers - 1})", 0, layers - 1, layers - 1, disabled=rollout, key=f"layer-{kind}")
head = st.selectbox(f"Head ({heads})", ["mean", *map(str, range(heads))], disabled=rollout, key=f"head-{kind}")
prompt = st.text_input("CLIP prompt (the class prompts, e.g. \"the road\" or \"a car\", are measured)", "a car")

if frame is not None:
    try:
        with st.spinner("Running the backbone ..."):
            view = inference.attention_view(frame, spectrum, kind, layer, head if head == "mean" else int(head),
                                            rollout)
            similarity = inference.prompt_view(frame, spectrum, prompt)
            words = inference.distance_word_view(frame, spectrum)
    except InputError as err:
        st.error(str(err))
        st.stop()
    st.info(view.backbone_status)
    st.image(view.overlay, caption=view.caption)
    st.image(similarity.overlay, caption=similarity.caption)
    st.image(words.overlay, caption=words.caption)
