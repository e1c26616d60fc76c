"""Where the vision foundation models look: CLIP / DINO CLS attention per layer and head or
rolled out, and CLIP's patch similarity to a prompt, as overlays on the input."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np
import torch

from core import settings
from core.data.captions import CLASS_PROMPTS, DEPTH_WORD_CENTRES_M, DEPTH_WORDS, class_for_prompt
from core.data.frame import SPECTRUM_LABELS, Frame
from core.data.msynth.classes import CLASS_NAMES
from core.data.thermal import spectrum_to_float
from core.inference.errors import InputError
from core.inference.display import at_display_size, display_image
from core.inference.predict import device
from core.models.vfm import (VFMBackbone, as_three_channels, attention_rollout, cls_attention,
                             load_backbone_or_builtin, prompt_similarity, rollout_cls_map)
from core.models.vfm.language import distance_word_embeddings, expected_distance, patch_similarity
from core.viz.attention import attention_overlay
from core.viz.colormap import colorbar_image, depth_panel

# What a user online gets; offline, the built-in backbones stand in (the status says so).
# SPECTRADEPTH_CLIP / SPECTRADEPTH_DINO name others (any load_backbone spec).
DEFAULT_VFM_SPECS = {"clip": "clip:ViT-B-32/openai", "dino": "dino:facebook/dinov2-small"}
ATTENTION_CMAP = "inferno"
LANGUAGE_REPORT = settings.CHECKPOINTS_DIR / "EVAL-language.json"   # python -m train eval-language


@functools.lru_cache(maxsize=4)
def load_vfm(kind: str, spec: str | None = None) -> tuple[VFMBackbone, str]:
    """(backbone, status line): the CLIP or DINO named by ``spec`` (default: the environment's
    SPECTRADEPTH_<KIND>, else DEFAULT_VFM_SPECS), or the built-in one when it cannot be loaded."""
    if kind not in DEFAULT_VFM_SPECS:
        raise InputError(f"unknown backbone kind {kind!r}: use 'clip' or 'dino'")
    spec = spec or settings.vfm_spec(kind) or DEFAULT_VFM_SPECS[kind]
    try:
        return load_backbone_or_builtin(spec, device())
    except (ValueError, RuntimeError) as err:
        raise InputError(f"no {kind.upper()} backbone can be loaded: {err}") from err


def backbone_status() -> str:
    """Which CLIP and DINO serve (real or built-in, and why), one line for the UIs."""
    lines = []
    for kind in DEFAULT_VFM_SPECS:
        try:
            lines.append(load_vfm(kind)[1])
        except InputError as err:
            lines.append(str(err))
    return " · ".join(lines)


def backbone_names() -> str:
    """Which CLIP and DINO serve, in a few words ('CLIP: builtin-clip · DINO: builtin-dino');
    ``backbone_status`` says why."""
    names = []
    for kind in DEFAULT_VFM_SPECS:
        try:
            names.append(f"{kind.upper()}: {load_vfm(kind)[0].name}")
        except InputError:
            names.append(f"{kind.upper()}: none")
    return " · ".join(names)


def backbone_shape(kind: str) -> tuple[int, int]:
    """(layers, heads) of the backbone serving ``kind``, to size the attention controls."""
    backbone, _ = load_vfm(kind)
    return backbone.num_layers, backbone.num_heads


def _vfm_pixels(frame: Frame, spectrum: str, backbone: VFMBackbone) -> torch.Tensor:
    if spectrum not in frame.images:
        raise InputError(f"this input has no {SPECTRUM_LABELS.get(spectrum, spectrum)} image")
    image = torch.from_numpy(spectrum_to_float(frame.images[spectrum], spectrum))
    image = image.permute(2, 0, 1) if image.ndim == 3 else image[None]
    return backbone.preprocess(as_three_channels(image[None]))


@dataclass
class AttentionView:
    """An overlay on the input (uint8 RGB, display size) and what it shows, in words."""

    overlay: np.ndarray
    caption: str
    backbone_status: str


def _overlay(frame: Frame, spectrum: str, heat: torch.Tensor, legend: str) -> np.ndarray:
    """The map over the image at display size, with its colour bar (the map's own range) below."""
    overlay = attention_overlay(display_image(at_display_size(frame), spectrum), heat, cmap=ATTENTION_CMAP)
    low, high = float(heat.min()), float(heat.max())
    bar = colorbar_image(low, max(high, low + 1e-6), ATTENTION_CMAP, width=overlay.shape[1], label=legend, unit="")
    return np.concatenate([overlay, bar], axis=0)


def attention_view(frame: Frame, spectrum: str, kind: str, layer: int = -1, head: str | int = "mean",
                   rollout: bool = False, spec: str | None = None) -> AttentionView:
    """Where the CLS token of CLIP or DINO looks in one spectrum's image: one layer's
    attention (negative: from the last) for one head or their mean, or the rollout through
    all layers."""
    backbone, status = load_vfm(kind, spec)
    pixels = _vfm_pixels(frame, spectrum, backbone)
    with torch.inference_mode():
        attentions = backbone.attention(pixels)
    grid = backbone.grid_for(pixels)
    if rollout:
        heat = rollout_cls_map(attention_rollout(attentions), grid, backbone.num_prefix_tokens)[0]
        caption = f"{kind.upper()} attention rollout over {len(attentions)} layers"
    else:
        if not -len(attentions) <= layer < len(attentions):
            raise InputError(f"layer {layer} out of range: {backbone.name} has {len(attentions)} layers")
        maps = cls_attention(attentions[layer], grid, backbone.num_prefix_tokens)
        if head == "mean":
            heat = maps.mean[0]
        elif 0 <= int(head) < maps.per_head.shape[1]:
            heat = maps.per_head[0, int(head)]
        else:
            raise InputError(f"head {head} out of range: {backbone.name} has {maps.per_head.shape[1]} heads")
        caption = f"{kind.upper()} CLS attention, layer {layer % len(attentions)}, head {head}"
    return AttentionView(_overlay(frame, spectrum, heat, "CLS attention"), caption, status)


PROMPT_PRECUT_CHARS = 2000   # far beyond any text encoder's context; spares tokenising a huge paste


def _what_clip_reads(backbone: VFMBackbone, prompt: str) -> tuple[str, int]:
    """(the longest leading part of ``prompt``, in whole words, that fits CLIP's text context
    with its end token, the prompt's word count). CLIP would silently drop the rest."""
    words = prompt.split()
    kept = prompt[:PROMPT_PRECUT_CHARS].split()[:len(words)]

    def fits(count: int) -> bool:
        tokens = backbone.tokenize([" ".join(kept[:count])])[0]
        return bool(tokens[-1] == 0)   # a free last slot: nothing was truncated

    if fits(len(kept)) and len(kept) == len(words):
        return prompt, len(words)
    low, high = 1, len(kept)          # the largest count that fits, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return " ".join(kept[:low]), len(words)


def prompt_view(frame: Frame, spectrum: str, prompt: str, spec: str | None = None) -> AttentionView:
    """CLIP's patch-to-text similarity for a prompt ("a very close car"), over the image."""
    prompt = prompt.strip()
    if not prompt:
        raise InputError("type a prompt, e.g. 'a very close car'")
    backbone, status = load_vfm("clip", spec)
    read, words = _what_clip_reads(backbone, prompt)
    pixels = _vfm_pixels(frame, spectrum, backbone)
    with torch.inference_mode():
        similarity = prompt_similarity(backbone, pixels, [read])[0, 0]
    cut = "" if read == prompt else f"; CLIP reads only the first {len(read.split())} of {words} words"
    caption = (f"CLIP similarity to \"{read}\" ({float(similarity.min()):.2f} to {float(similarity.max()):.2f})"
               f"{cut}. {prompt_worth(backbone, spectrum, read)}")
    return AttentionView(_overlay(frame, spectrum, similarity, "cosine similarity to the prompt"), caption, status)


@functools.lru_cache(maxsize=1)
def measured_language() -> dict[tuple[str, str], dict]:
    """The language evaluation's figures per backbone (name, source): the same weights loaded the
    same way, not another folder of the same name; {} where it was never run."""
    if not LANGUAGE_REPORT.is_file():
        return {}
    return {(entry["name"], entry["source"]): entry for entry in json.loads(LANGUAGE_REPORT.read_text()).values()}


def prompt_worth(backbone: VFMBackbone, spectrum: str, prompt: str) -> str:
    """What a prompt map is worth, in words: the measured AUROC of its class on MS-Synth's test
    frames of this spectrum, or why there is none."""
    class_id = class_for_prompt(prompt)
    if class_id is None:
        measured = ", ".join(f'"{text}"' for text in CLASS_PROMPTS.values())
        return f"Not measured: a free prompt (measured prompts: {measured})"
    entry = measured_language().get((backbone.name, backbone.source))
    if entry is None:
        return f"Not measured for {backbone.name} (python -m train eval-language measures a CLIP)"
    auroc = entry["groups"].get(spectrum, {}).get("all", {}).get("auroc", {}).get(CLASS_NAMES[class_id])
    label = SPECTRUM_LABELS[spectrum]
    if auroc is None:
        return f"Not measured: no {label} test patch is mostly {CLASS_NAMES[class_id]}"
    return (f"Measured on MS-Synth {label} test frames: AUROC {auroc:.2f} against the true "
            f"{CLASS_NAMES[class_id]} patches (0.5 is chance, 1 a perfect map)")


def distance_word_view(frame: Frame, spectrum: str, spec: str | None = None) -> AttentionView:
    """The distance CLIP's words give each patch: the similarity-weighted mean of the distance
    words' metres ("very close" 2 m ... "very distant" 70 m), coloured as depth is."""
    backbone, status = load_vfm("clip", spec)
    pixels = _vfm_pixels(frame, spectrum, backbone)
    with torch.inference_mode():
        similarity = patch_similarity(backbone.dense_embeddings(pixels), distance_word_embeddings(backbone))
        metres = expected_distance(similarity, float(backbone.model.logit_scale.exp()))[0]
    metres = metres.reshape(backbone.grid_for(pixels)).float()
    shown_frame = at_display_size(frame)
    height, width = display_image(shown_frame, spectrum).shape[:2]
    shown = torch.nn.functional.interpolate(metres[None, None], size=(height, width), mode="nearest")[0, 0].numpy()
    truth = shown_frame.depth.get(spectrum)
    # Beside the true depth where the frame has it, in one colour range: the words' map read against the truth.
    side_by_side = shown if truth is None or truth.shape != shown.shape else np.concatenate([shown, truth], axis=1)
    panel = depth_panel(side_by_side, DEPTH_WORD_CENTRES_M[0], DEPTH_WORD_CENTRES_M[-1],
                        label="distance [m]")
    entry = measured_language().get((backbone.name, backbone.source))
    spearman = entry["groups"].get(spectrum, {}).get("all", {}).get("spearman") if entry else None
    worth = (f"Measured on MS-Synth {SPECTRUM_LABELS[spectrum]} test frames: Spearman {spearman:.2f} with the true "
             f"depth" if spearman is not None else f"Not measured for {backbone.name}")
    beside = "" if side_by_side is shown else " Right: the true depth."
    caption = (f"Distance from CLIP's {len(DEPTH_WORDS)} distance words, per patch: {float(metres.min()):.0f} to "
               f"{float(metres.max()):.0f} m.{beside} {worth}")
    return AttentionView(panel, caption, status)
