"""The one call both studios make: ``analyse(frame, request) -> Analysis``.

A request names what needs the network (model, mode, anchor, robustness probe); an analysis
keeps its result (depth per output at the model's input size) and makes everything else from
it on demand: depth at each camera's native resolution (downloads, metrics) or at display
size (panels, point clouds), titles, the suggested colour range, metrics against ground truth.
Display-only choices (invert, colour range, colour-by, which output) never reach the network.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from core.data.frame import SPECTRUM_LABELS, Frame
from core.inference.display import at_display_size
from core.inference.gallery import is_msynth_sample
from core.inference.probes import probe
from core.inference.predict import DEFAULT_CHECKPOINT, run_model
from core.metrics import METRIC_NAMES, compute_depth_metrics
from core.models import FUSED
from core.models.interface import resize_depth
from core.viz.colormap import depth_range

Output = Literal["rgb", "nir", "thr", "fused"]   # spectral-wise depth by spectrum, or FUSED
GROUND_TRUTH = "gt"                              # a view beside the outputs: the frame's own depth
MODE_LABELS = {"spectral": "Spectral-wise", "fused": "Fused", "both": "Both"}
# The one vocabulary of metric names for tables and charts, in METRIC_NAMES order.
METRIC_LABELS = {"abs_rel": "AbsRel", "sq_rel": "SqRel", "rmse": "RMSE [m]", "rmse_log": "RMSElog",
                 "a1": "δ < 1.25", "a2": "δ < 1.25²", "a3": "δ < 1.25³"}


@dataclass(frozen=True)
class AnalysisRequest:
    """What needs the network. ``anchor``: the preferred fusion camera (the model's rule picks
    another when it is absent); ``spectra``: the inputs to use (default: all the frame has);
    ``flip_average``: each output averaged with the depth of the mirrored inputs (twice the time)."""

    model: str = DEFAULT_CHECKPOINT
    mode: str = "both"
    anchor: str | None = None
    probe: str = "none"
    strength: float = 0.5
    spectra: tuple[str, ...] | None = None
    flip_average: bool = False


def output_title(output: str, anchor: str | None) -> str:
    """A panel's title: 'RGB alone' or 'fused, Thermal camera'."""
    return f"fused, {SPECTRUM_LABELS[anchor]} camera" if output == FUSED else f"{SPECTRUM_LABELS[output]} alone"


def output_label(output: str, anchor: str | None) -> str:
    """A table row's name: 'RGB alone' or 'fused (Thermal anchor)'."""
    return f"fused ({SPECTRUM_LABELS[anchor]} anchor)" if output == FUSED else f"{SPECTRUM_LABELS[output]} alone"


@dataclass(eq=False)
class Analysis:
    """One frame through one model. ``frame`` is the frame as analysed (probed, native
    resolution); ``model_depth`` the network's output per output (1, 1, h, w) at the model's
    input size, on the CPU; ``description`` the checkpoint's config.json."""

    request: AnalysisRequest
    frame: Frame
    anchor: str | None
    model_depth: dict[Output, torch.Tensor]
    timings_ms: dict[str, float]
    description: dict
    _native: dict[Output, np.ndarray] = field(default_factory=dict, repr=False)
    _display: dict[Output, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def model_name(self) -> str:
        return self.request.model

    @property
    def outputs(self) -> tuple[Output, ...]:
        return tuple(self.model_depth)

    @property
    def parameters(self) -> dict:
        return self.description.get("parameters", {})

    def camera_of(self, output: Output) -> str:
        return self.anchor if output == FUSED else output

    @property
    def titles(self) -> dict[Output, str]:
        return {output: output_title(output, self.anchor) for output in self.outputs}

    def depth(self, output: Output) -> np.ndarray:
        """Metric depth (H, W) float32 at the output camera's native resolution."""
        if output not in self._native:
            size = self.frame.cameras[self.camera_of(output)].size
            self._native[output] = resize_depth(self.model_depth[output], size)[0, 0].numpy()
        return self._native[output]

    @functools.cached_property
    def display(self) -> Frame:
        """The frame at display size (cameras no wider than DISPLAY_MAX_WIDTH)."""
        return at_display_size(self.frame)

    def display_depth(self, output: Output) -> np.ndarray:
        """Metric depth at the output camera's display size (the native depth where that is the same)."""
        size = self.display.cameras[self.camera_of(output)].size
        if size == self.frame.cameras[self.camera_of(output)].size:
            return self.depth(output)
        if output not in self._display:
            self._display[output] = resize_depth(self.model_depth[output], size)[0, 0].numpy()
        return self._display[output]

    @property
    def reference_camera(self) -> str:
        """The camera the suggested colour range is measured in: the anchor, else the first output's."""
        return self.anchor or self.camera_of(self.outputs[0])

    @functools.cached_property
    def value_range(self) -> tuple[float, float]:
        """One colour range for every panel, so near and far read alike across outputs: robust
        percentiles of the reference camera's ground truth, else of its predicted depth."""
        camera = self.reference_camera
        gt = self.display.depth.get(camera)
        if gt is not None and (gt > 0).any():
            return tuple(depth_range(gt))
        output = FUSED if self.anchor else self.outputs[0]
        return tuple(depth_range(self.display_depth(output)))

    @functools.cached_property
    def metrics(self) -> dict[Output, dict[str, float]]:
        """Metrics (METRIC_NAMES, up to core.metrics.MAX_DEPTH) of each output whose camera has
        ground truth, at native resolution; empty without ground truth."""
        metrics = {}
        for output in self.outputs:
            gt = self.frame.depth.get(self.camera_of(output))
            if gt is not None and (gt > 0).any():
                metrics[output] = compute_depth_metrics(self.depth(output), gt)
        return metrics

    def metric_rows(self) -> list[list]:
        """One table row per output with ground truth: its label, then METRIC_NAMES rounded."""
        return [[output_label(output, self.anchor), *(round(values[m], 3) for m in METRIC_NAMES)]
                for output, values in self.metrics.items()]

    @property
    def notice(self) -> str | None:
        """For input that is not an MS-Synth sample: what the weights were trained on and which
        calibration was assumed. None for MS-Synth samples."""
        if is_msynth_sample(self.frame):
            return None
        data = self.description.get("training_data")
        dataset = data.get("dataset", "msynth") if isinstance(data, dict) else "msynth"
        trained_on = {"msynth": "MS-Synth (our synthetic driving world)", "ms2": "MS2"}.get(dataset, dataset)
        text = (f"Not an MS-Synth sample: these weights were trained on {trained_on} only, so depth here is "
                f"an estimate outside their training data.")
        calibration = self.frame.meta.get("calibration")
        if calibration:
            text += f" Calibration assumed: {calibration}."
        return text

    def summary(self) -> str:
        """One line (markdown) on what was analysed, by which model, how fast."""
        frame, parameters = self.frame, self.parameters
        timing = " · ".join(f"{'fused' if k == FUSED else SPECTRUM_LABELS.get(k, k)} {v:.0f} ms"
                            for k, v in self.timings_ms.items())
        text = (f"**{frame.name}** ({frame.condition or 'condition unknown'}) · model `{self.model_name}` "
                f"({parameters.get('total', 0) / 1e6:.2f} M parameters, "
                f"fusion {parameters.get('fusion', 0) / 1e6:.2f} M) · {timing}. Depth is metric, in metres.")
        if self.request.flip_average:
            text += " Each output is the mean of two passes, the images and their mirror."
        if frame.meta.get("calibration"):
            text += f" Calibration: {frame.meta['calibration']}."
        if frame.meta.get("probe"):
            text += f" Inputs probed: {frame.meta['probe']}."
        return text


def analyse(frame: Frame, request: AnalysisRequest = AnalysisRequest()) -> Analysis:
    """The frame (probed as the request says) through the request's model: one network run."""
    probed = probe(frame, request.probe, float(request.strength))
    result, description = run_model(probed, request.model, request.mode, request.anchor, request.spectra,
                                    request.flip_average)
    return Analysis(request, probed, result.anchor, result.depth, result.timings_ms, description)
