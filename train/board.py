"""TensorBoard for the training loop (``tensorboard --logdir runs``): rank 0 writes event files
into the run folder beside log.csv, which stays the record checkpoints carry."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from core.inference import infer_batch
from core.viz.colormap import colorize_depth
from train.batching import batch_spectra

# The validation figures drawn per output: the error, the scale and the accuracy.
BOARD_METRICS = ("abs_rel", "rmse", "a1")


class Board:
    """Writes nothing on ranks other than 0 (``enabled`` False), so every rank can call it."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.writer = SummaryWriter(str(run_dir)) if enabled else None

    def training(self, step: int, losses: dict[str, float], lr: float, frames_per_second: float) -> None:
        if self.writer is None:
            return
        for name, value in losses.items():
            self.writer.add_scalar(f"loss/{name}", value, step)
        self.writer.add_scalar("optim/lr", lr, step)
        self.writer.add_scalar("throughput/frames_per_second", frames_per_second, step)

    def validation(self, step: int, score: float, results: dict, model: torch.nn.Module, batch: dict) -> None:
        """The score, each output's mean metrics over the conditions, and the first frame of
        ``batch`` (a training batch) with the depth the model now predicts from each spectrum."""
        if self.writer is None:
            return
        self.writer.add_scalar("val/score", score, step)
        for scaling, by_mode in results.items():
            for mode, by_spectrum in by_mode.items():
                for spectrum, by_condition in by_spectrum.items():
                    for name in BOARD_METRICS:
                        self.writer.add_scalar(f"val_{scaling}/{mode}_{spectrum}/{name}",
                                               by_condition["all"][name], step)
        first = {key: value[:1] for key, value in batch.items()}
        spectra = batch_spectra(first)
        depth = infer_batch(model, first, spectra, "spectral").depth
        for spectrum in spectra:
            image = first[f"image/{spectrum}"][0].float()
            image = (image - image.min()) / (image.max() - image.min()).clamp(min=1e-6)
            self.writer.add_image(f"input/{spectrum}", image.cpu(), step)
            coloured = colorize_depth(depth[spectrum][0, 0].cpu().numpy())
            self.writer.add_image(f"depth/{spectrum}", np.ascontiguousarray(coloured), step, dataformats="HWC")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
