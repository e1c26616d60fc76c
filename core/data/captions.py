"""Captions of MS-Synth images from what the world knows: objects, their distance, condition, spectrum.

They are the text side of the built-in CLIP's contrastive training, written in the teacher's
prompt form ("This car appears to be close"), so the language-guided depth bins query
words the built-in text tower has seen next to images of things at those distances.
"""
from __future__ import annotations

import numpy as np

from core.data.frame import SPECTRUM_LABELS
from core.data.msynth.classes import BUILDING, PERSON, POLE, VEGETATION, VEHICLE

DEPTH_WORDS = ("very close", "close", "somewhat close", "moderate", "somewhat distant", "distant", "very distant")
PROMPT_TEMPLATE = "This {object} appears to be {depth_word}"
# Upper edges (metres) of the first six depth words; beyond the last is "very distant".
DEPTH_WORD_EDGES_M = (4.0, 8.0, 14.0, 22.0, 35.0, 55.0)
OBJECT_WORDS = {VEHICLE: "car", PERSON: "person", POLE: "pole", VEGETATION: "tree", BUILDING: "building"}
CONDITION_PHRASES = {"day": "by day", "night": "at night", "fog": "in fog", "rain": "in rain",
                     "texture": "by day", "clear": "by day"}


def depth_word(depth_m: float) -> str:
    """The depth word for a distance in metres."""
    return DEPTH_WORDS[int(np.searchsorted(DEPTH_WORD_EDGES_M, depth_m, side="right"))]


def scene_caption(classes: np.ndarray, depth: np.ndarray, condition: str, spectrum: str,
                  max_objects: int = 3, min_fraction: float = 0.005) -> str:
    """"A Thermal image at night. This car appears to be close. This building appears to be ..."

    classes, depth: (H, W) per-pixel class ids and metres (0 = invalid) of one image. Objects
    are named by area, largest first, at most ``max_objects``, each at the median depth
    of its valid pixels; those under ``min_fraction`` of the image are left out.
    """
    classes, depth = np.asarray(classes), np.asarray(depth)
    phrase = CONDITION_PHRASES.get(condition)
    sentences = [f"A {SPECTRUM_LABELS[spectrum]} image{' ' + phrase if phrase else ''}."]
    found = []
    for class_id, word in OBJECT_WORDS.items():
        pixels = (classes == class_id) & (depth > 0)
        if pixels.mean() >= min_fraction:
            found.append((int(pixels.sum()), word, float(np.median(depth[pixels]))))
    for _, word, distance in sorted(found, reverse=True)[:max_objects]:
        sentences.append(PROMPT_TEMPLATE.format(object=word, depth_word=depth_word(distance)) + ".")
    return " ".join(sentences)
