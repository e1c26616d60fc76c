"""MS-Synth: a procedural multi-spectral (RGB, NIR, thermal) driving world with exact depth.

Scenes of analytic primitives are ray cast into a three-camera rig modelled on MS2; every
frame carries images, cameras, metric depth, classes and the rig pose. See ``world.py``.
"""
from core.data.msynth.classes import CLASS_NAMES
from core.data.msynth.conditions import Conditions, condition_params
from core.data.msynth.raycast import MAX_DEPTH
from core.data.msynth.rig import RIG_HEIGHT, make_rig
from core.data.msynth.scene import RoadLayout, Scene, build_scene
from core.data.msynth.thermal_model import celsius_to_raw, raw_to_celsius
from core.data.msynth.trajectory import FPS, SEQUENCE_LENGTH, SPEED_RANGE, EgoPath
from core.data.msynth.world import (RENDER_VERSION, SPLITS, MSynthSource, msynth_sequence_meta, render_frame,
                                    sequence_condition, split_of, split_seeds)

__all__ = ["CLASS_NAMES", "Conditions", "condition_params", "MAX_DEPTH", "RIG_HEIGHT",
           "make_rig", "RoadLayout", "Scene", "build_scene", "celsius_to_raw", "raw_to_celsius",
           "FPS", "SEQUENCE_LENGTH", "SPEED_RANGE", "EgoPath", "RENDER_VERSION", "SPLITS", "MSynthSource",
           "msynth_sequence_meta", "render_frame", "sequence_condition", "split_of", "split_seeds"]
