"""SpectraDepth core library: data, geometry, models, losses, metrics, inference and viz.

Nothing in here imports the UIs (app/, pages/) or the training scripts (train/).
"""
