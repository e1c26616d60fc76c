"""Words for MS-Synth images from what the world knows: objects, their distance, condition, spectrum.

Captions are the text side of the built-in CLIP's contrastive training, written in the teacher's
prompt form ("This car appears to be close"), so the language-guided depth bins query
words the built-in text tower has seen next to images of things at those distances. The class
prompts and distance words are the text side of its patch-level alignment: what a patch of
each class, and a patch at each distance, should be most similar to.
"""
from __future__ import annotations

import numpy as np

from core.data.frame import SPECTRUM_LABELS
from core.data.msynth.classes import (BUILDING, PERSON, POLE, ROAD, SIDEWALK, SKY, TERRAIN, VEGETATION,
                                     VEHICLE)

DEPTH_WORDS = ("very close", "close", "somewhat close", "moderate", "somewhat distant", "distant", "very distant")
PROMPT_TEMPLATE = "This {object} appears to be {depth_word}"
# Upper edges (metres) of the first six depth words; beyond the last is "very distant".
DEPTH_WORD_EDGES_M = (4.0, 8.0, 14.0, 22.0, 35.0, 55.0)
# A representative distance (metres) per depth word: the middle of its range; "very distant"
# at 70 m, between its lower edge and the 80 m the evaluations count depth to.
DEPTH_WORD_CENTRES_M = (2.0, 6.0, 11.0, 18.0, 28.5, 45.0, 70.0)
# The objects the distance words are said of, as the teacher's language-guided bins say them.
DISTANCE_PROMPT_OBJECTS = ("scene", "road")
# What a patch of each class should be most similar to (the prompt a user would type).
CLASS_PROMPTS = {SKY: "the sky", ROAD: "the road", SIDEWALK: "the sidewalk", BUILDING: "a building",
                 VEHICLE: "a car", PERSON: "a person", POLE: "a pole", VEGETATION: "a tree", TERRAIN: "grass"}
OBJECT_WORDS = {VEHICLE: "car", PERSON: "person", POLE: "pole", VEGETATION: "tree", BUILDING: "building"}
CONDITION_PHRASES = {"day": "by day", "night": "at night", "fog": "in fog", "rain": "in rain",
                     "texture": "by day", "clear": "by day"}


def distance_prompts(word: str) -> list[str]:
    """The prompts whose mean embedding stands for a depth word ("This scene appears to be close", ...)."""
    return [PROMPT_TEMPLATE.format(object=obj, depth_word=word) for obj in DISTANCE_PROMPT_OBJECTS]


def class_for_prompt(prompt: str) -> int | None:
    """The class a prompt names when it is one of CLASS_PROMPTS (case and spaces aside), else None."""
    wanted = " ".join(prompt.lower().split()).rstrip(".")
    return next((class_id for class_id, text in CLASS_PROMPTS.items() if text == wanted), None)


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
