"""Semantic classes of MS-Synth: the per-pixel ids in ``Frame.classes``."""

CLASS_NAMES = ("sky", "road", "sidewalk", "building", "vehicle", "person", "pole", "vegetation",
               "terrain")
SKY, ROAD, SIDEWALK, BUILDING, VEHICLE, PERSON, POLE, VEGETATION, TERRAIN = range(len(CLASS_NAMES))
