"""BatchNorm with one affine transform for all spectra and running statistics per spectrum.

The shared network is trained one spectrum per forward pass, so in training every BatchNorm
normalises with the statistics of a batch of ONE spectrum. Plain running statistics then
average RGB, NIR and thermal batches, and at inference thermal features (whose statistics
differ most) were normalised with the wrong mean and variance: thermal depth came out
~17 % too far on average. Here each spectrum keeps its own running statistics, so
inference normalises exactly as training did; the learned weights stay shared.

The spectrum is set for a forward pass with ``spectrum_statistics(spectrum)``; it is a
context variable, so concurrent requests in different threads do not see each other's.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import BatchNormAct2d
from torch.nn.utils.fusion import fuse_conv_bn_weights

_ACTIVE_SPECTRUM: ContextVar[str | None] = ContextVar("active_spectrum", default=None)


@contextmanager
def spectrum_statistics(spectrum: str) -> Iterator[None]:
    """Spectral BatchNorms inside this block use (and in training update) ``spectrum``'s statistics."""
    token = _ACTIVE_SPECTRUM.set(spectrum)
    try:
        yield
    finally:
        _ACTIVE_SPECTRUM.reset(token)


def active_spectrum_index(spectra: tuple[str, ...], kind: str) -> int:
    """Index in ``spectra`` of the spectrum set by ``spectrum_statistics``."""
    spectrum = _ACTIVE_SPECTRUM.get()
    if spectrum not in spectra:
        raise RuntimeError(f"a spectral {kind} needs the spectrum of its input, one of {spectra}: "
                           f"run it inside spectrum_statistics(...) (active: {spectrum!r})")
    return spectra.index(spectrum)


class SpectralStatistics:
    """running_mean / running_var of shape (n_spectra, C) instead of (C,)."""

    spectra: tuple[str, ...]

    def _init_spectral(self, source: nn.BatchNorm2d, spectra: Sequence[str]) -> None:
        self.spectra = tuple(spectra)
        self.register_buffer("running_mean", torch.zeros(len(self.spectra), self.num_features))
        self.register_buffer("running_var", torch.ones(len(self.spectra), self.num_features))
        self.load_state_dict(source.state_dict())  # affine weights; statistics broadcast to every spectrum

    def _spectral_batch_norm(self, x: torch.Tensor) -> torch.Tensor:
        index = active_spectrum_index(self.spectra, "BatchNorm")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average, as nn.BatchNorm2d (used by calibration)
                momentum = 1.0 / float(self.num_batches_tracked)
        # Rows of a contiguous (S, C) buffer are contiguous views: F.batch_norm updates them in place.
        return F.batch_norm(x, self.running_mean[index], self.running_var[index], self.weight, self.bias,
                            self.training, momentum, self.eps)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        # Checkpoints written before per-spectrum statistics hold one (C,) set: every spectrum starts from it.
        for name in ("running_mean", "running_var"):
            key = prefix + name
            if key in state_dict and state_dict[key].dim() == 1:
                state_dict[key] = state_dict[key].unsqueeze(0).expand(len(self.spectra), -1).clone()
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)


class SpectralBatchNorm2d(SpectralStatistics, nn.BatchNorm2d):
    def __init__(self, source: nn.BatchNorm2d, spectra: Sequence[str]) -> None:
        nn.BatchNorm2d.__init__(self, source.num_features, source.eps, source.momentum)
        self._init_spectral(source, spectra)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._spectral_batch_norm(x)


class SpectralBatchNormAct2d(SpectralStatistics, BatchNormAct2d):
    """timm's BatchNorm + activation (what timm encoders are built of), statistics per spectrum."""

    def __init__(self, source: BatchNormAct2d, spectra: Sequence[str]) -> None:
        BatchNormAct2d.__init__(self, source.num_features, source.eps, source.momentum)
        self.drop, self.act = source.drop, source.act
        self._init_spectral(source, spectra)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(self._spectral_batch_norm(x)))


def use_spectral_statistics(module: nn.Module, spectra: Sequence[str]) -> nn.Module:
    """Replace, in place, every BatchNorm of ``module`` by its per-spectrum twin; returns ``module``."""
    for name, child in module.named_children():
        if isinstance(child, SpectralStatistics):
            continue
        if isinstance(child, BatchNormAct2d):
            setattr(module, name, SpectralBatchNormAct2d(child, spectra))
        elif type(child) is nn.BatchNorm2d:
            setattr(module, name, SpectralBatchNorm2d(child, spectra))
        else:
            use_spectral_statistics(child, spectra)
    return module


class SpectralConv2d(nn.Module):
    """One convolution per spectrum, run for the active one: what a convolution followed by a
    spectral BatchNorm becomes when ``fold_batchnorm`` folds the statistics into it."""

    def __init__(self, convolutions: Mapping[str, nn.Conv2d]) -> None:
        super().__init__()
        self.spectra = tuple(convolutions)
        self.per_spectrum = nn.ModuleDict(convolutions)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.per_spectrum[self.spectra[active_spectrum_index(self.spectra, "convolution")]](*inputs)


def _conv_with_statistics(conv: nn.Conv2d, norm: nn.BatchNorm2d, mean: torch.Tensor,
                          var: torch.Tensor) -> nn.Conv2d:
    folded = copy.deepcopy(conv)
    folded.weight, folded.bias = fuse_conv_bn_weights(conv.weight, conv.bias, mean, var, norm.eps, norm.weight,
                                                      norm.bias)
    return folded


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm that follows a convolution into it, in place; for inference only.

    In eval mode a BatchNorm is a per-channel affine map, so convolution + BatchNorm is one
    convolution with rescaled weights and a bias, and the pass over the feature map between
    them goes. For the small student that pass was a quarter of its CPU time. A spectral
    BatchNorm folds into one convolution per spectrum (``SpectralConv2d``); a timm
    BatchNormAct2d leaves its activation behind.

    A pair is a Conv2d and a BatchNorm registered one after the other in the same parent, as
    our ``conv_bn_relu`` and timm's blocks build them (the tests check that outputs do not
    change for every architecture).
    """
    if module.training:
        raise ValueError("fold_batchnorm is for inference: call .eval() first (training updates the statistics "
                         "it would fold away)")
    return _fold_children(module).eval()  # eval again: the modules put in place are new


def _fold_children(module: nn.Module) -> nn.Module:
    children = list(module.named_children())
    for (conv_name, conv), (norm_name, norm) in zip(children, children[1:]):
        if not isinstance(conv, nn.Conv2d) or not isinstance(norm, nn.BatchNorm2d) or norm.running_mean is None:
            continue
        if isinstance(norm, SpectralStatistics):
            folded = SpectralConv2d({spectrum: _conv_with_statistics(conv, norm, norm.running_mean[index],
                                                                     norm.running_var[index])
                                     for index, spectrum in enumerate(norm.spectra)})
        else:
            folded = _conv_with_statistics(conv, norm, norm.running_mean, norm.running_var)
        setattr(module, conv_name, folded)
        setattr(module, norm_name, nn.Sequential(norm.drop, norm.act) if isinstance(norm, BatchNormAct2d)
                else nn.Identity())
    for child in module.children():
        _fold_children(child)
    return module
