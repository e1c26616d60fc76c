"""One metric depth network shared by every spectrum (stage 1 of align-and-fuse).

Per-spectrum stems map rgb (3 channels), nir (1) and thr (1) to a common width; everything
after them (a timm encoder, 1x1 level necks and a U-Net decoder) is shared, but for its
BatchNorm running statistics, which are kept per spectrum (``spectral_batchnorm``). Each encoder
level's channels split into a spectrum-shared first half and a spectrum-specific second
half (``split_shared_specific``), which the contrastive losses and the fusion module use.

Inputs are float images in [0, 1] (B, C, H, W), as ``core.data.thermal.spectrum_to_float``
makes them; the output is metric depth in metres at the input resolution.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

from core.data.frame import IMAGE_FORMATS, SPECTRA
from core.geometry.precision import autocast_disabled
from core.models.spectral_batchnorm import spectrum_statistics, use_spectral_statistics

SPECTRUM_CHANNELS = {spectrum: channels for spectrum, (_, channels) in IMAGE_FORMATS.items()}


@dataclass(frozen=True)
class DepthNetConfig:
    """The depth network settings every depth model config extends (defaults: the
    align-and-fuse network). Subclasses add an ``architecture`` field and call
    ``normalise`` from ``__post_init__``."""

    encoder: str = "lcnet_100"
    spectra: tuple[str, ...] = SPECTRA
    stem_width: int = 16
    level_widths: tuple[int, ...] | None = (32, 64, 96, 128, 128)
    decoder_widths: tuple[int, ...] = (16, 32, 64, 96)
    min_depth: float = 0.1
    max_depth: float = 100.0
    input_size: tuple[int, int] = (256, 640)

    def normalise(self, architecture: str, tuple_fields: Sequence[str] = ()) -> None:
        """Checks shared by the configs. JSON lists become tuples, so configs compare equal
        and stay hashable."""
        if self.architecture != architecture:
            raise ValueError(f"{type(self).__name__} is for architecture {architecture!r}, "
                             f"not {self.architecture!r}")
        for name in ("spectra", "level_widths", "decoder_widths", "input_size", *tuple_fields):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if not self.spectra or set(self.spectra) - set(SPECTRA):
            raise ValueError(f"spectra must be a non-empty subset of {SPECTRA}, got {list(self.spectra)}")
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f"need 0 < min_depth < max_depth, got {self.min_depth}, {self.max_depth}")

    def build_depth_net(self) -> "DepthNet":
        return DepthNet(self.encoder, self.spectra, self.stem_width, self.level_widths, self.decoder_widths,
                        self.min_depth, self.max_depth)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def split_shared_specific(feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(shared, specific): the first and second halves of a feature map's channels (dim 1)."""
    half = feature.shape[1] // 2
    return feature[:, :half], feature[:, half:]


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class UpsampleConcatConv2d(nn.Conv2d):
    """1 x 1 convolution of [coarse upsampled to the skip's size, skip], channels concatenated.

    Computed as upsample(W_coarse * coarse) + W_skip * skip + bias, which is the same map:
    bilinear upsampling is a per-channel weighted mean, so it commutes with a 1 x 1
    convolution. The narrower convolved map is upsampled instead of the input, and no
    concatenated copy is made; the weights are those of the concatenated form.
    """

    def __init__(self, coarse_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__(coarse_channels + skip_channels, out_channels, 1, bias=False)
        self.coarse_channels = coarse_channels

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        weight_coarse, weight_skip = self.weight.split(
            [self.coarse_channels, self.in_channels - self.coarse_channels], dim=1)
        upsampled = F.interpolate(F.conv2d(coarse, weight_coarse), size=skip.shape[-2:], mode="bilinear",
                                  align_corners=False)
        return F.conv2d(skip, weight_skip, self.bias) + upsampled


class DecoderBlock(nn.Sequential):
    """One decoder step: [upsampled coarse, skip] -> 1x1 conv, BN, ReLU -> 3x3 conv, BN, ReLU.
    (Its layers are numbered as the nn.Sequential of concatenated inputs it replaces, so
    checkpoints keep their keys.)"""

    def __init__(self, coarse_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__(nn.Sequential(UpsampleConcatConv2d(coarse_channels, skip_channels, out_channels),
                                       nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)),
                         conv_bn_relu(out_channels, out_channels, 3))

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        merge, refine = self
        conv, *norm_and_activation = merge
        x = conv(coarse, skip)
        for layer in norm_and_activation:
            x = layer(x)
        return refine(x)


class DepthDecoder(nn.Module):
    """U-Net decoder from multi-level features to bounded metric depth.

    From the deepest level up, each block upsamples, concatenates the next shallower level
    and applies a 1x1 then a 3x3 convolution (``DecoderBlock``). The head runs at the
    shallowest level's resolution (1/2 of the input for timm encoders) and its logits are
    upsampled to the output size: full-resolution convolutions would cost more than the
    whole encoder.

    Depth is log-uniform in [min_depth, max_depth]: depth = min * (max / min) ** sigmoid(x),
    so every depth decade gets the same output resolution and the range is a hard bound.
    """

    def __init__(self, level_widths: Sequence[int], decoder_widths: Sequence[int],
                 min_depth: float, max_depth: float) -> None:
        super().__init__()
        if len(decoder_widths) != len(level_widths) - 1:
            raise ValueError(f"need one decoder width per level except the deepest: "
                             f"{len(level_widths) - 1}, got {len(decoder_widths)}")
        if not 0 < min_depth < max_depth:
            raise ValueError(f"need 0 < min_depth < max_depth, got {min_depth}, {max_depth}")
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        blocks = []
        below = level_widths[-1]
        for level in reversed(range(len(decoder_widths))):
            blocks.append(DecoderBlock(below, level_widths[level], decoder_widths[level]))
            below = decoder_widths[level]
        self.blocks = nn.ModuleList(blocks)  # deepest first
        self.head = nn.Sequential(conv_bn_relu(below, below, 3), nn.Conv2d(below, 1, 3, padding=1))

    def forward(self, features: Sequence[torch.Tensor], out_size: tuple[int, int]) -> torch.Tensor:
        x = features[-1]
        for block, skip in zip(self.blocks, reversed(features[:-1])):
            x = block(x, skip)
        # The head in float32 under autocast too: on bf16 logits the sigmoid steps depth by ~2.7 %.
        with autocast_disabled(x.device):
            logits = F.interpolate(self.head(x.float()), size=tuple(out_size), mode="bilinear", align_corners=False)
            return self.min_depth * (self.max_depth / self.min_depth) ** torch.sigmoid(logits)


class DepthNet(nn.Module):
    """Per-spectrum stems, then one shared encoder and decoder.

    ``level_widths`` sets every level's width C_l (even, so it splits into halves); by
    default each timm level's width rounded up to even. Every level gets a linear 1x1
    neck (conv + BN, no activation) to that width: signed features give cosine
    similarities the full [-1, 1] range the contrastive losses and fusion weights rely on.
    The decoder uses the deepest ``len(decoder_widths) + 1`` levels; with fewer widths, the
    finest levels serve only the encoder (and the losses on features).
    """

    def __init__(self, encoder: str = "lcnet_100", spectra: Sequence[str] = SPECTRA, stem_width: int = 16,
                 level_widths: Sequence[int] | None = None, decoder_widths: Sequence[int] = (16, 32, 64, 96),
                 min_depth: float = 0.1, max_depth: float = 100.0) -> None:
        super().__init__()
        unknown = set(spectra) - set(SPECTRUM_CHANNELS)
        if unknown or not spectra:
            raise ValueError(f"spectra must be a non-empty subset of {SPECTRA}, got {list(spectra)}")
        self.spectra = tuple(s for s in SPECTRA if s in spectra)
        self.stems = nn.ModuleDict({s: conv_bn_relu(SPECTRUM_CHANNELS[s], stem_width, 3) for s in self.spectra})
        # pretrained=False: weights come from our own checkpoints, never from a download.
        self.backbone = timm.create_model(encoder, features_only=True, pretrained=False, in_chans=stem_width)
        backbone_widths = self.backbone.feature_info.channels()
        if level_widths is None:
            level_widths = [width + width % 2 for width in backbone_widths]
        if len(level_widths) != len(backbone_widths) or any(w <= 0 or w % 2 for w in level_widths):
            raise ValueError(f"level_widths must be {len(backbone_widths)} positive even widths "
                             f"(encoder {encoder!r} has levels {backbone_widths}), got {list(level_widths)}")
        self.level_widths = tuple(int(w) for w in level_widths)
        self.necks = nn.ModuleList(nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
                                   for c_in, c_out in zip(backbone_widths, self.level_widths))
        if not 1 <= len(decoder_widths) < len(self.level_widths):
            raise ValueError(f"decoder_widths needs 1 to {len(self.level_widths) - 1} widths (one per decoder level "
                             f"but the deepest), got {list(decoder_widths)}")
        self.decoder_levels = len(decoder_widths) + 1
        self.decoder = DepthDecoder(self.level_widths[-self.decoder_levels:], decoder_widths, min_depth, max_depth)
        for shared in (self.backbone, self.necks, self.decoder):
            use_spectral_statistics(shared, self.spectra)

    @property
    def min_depth(self) -> float:
        return self.decoder.min_depth

    @property
    def max_depth(self) -> float:
        return self.decoder.max_depth

    def encode(self, image: torch.Tensor, spectrum: str) -> list[torch.Tensor]:
        """Multi-level features [(B, C_l, h_l, w_l)], shallowest first, of one spectrum's image."""
        if spectrum not in self.stems:
            raise ValueError(f"this network has no stem for spectrum {spectrum!r}; it has {self.spectra}")
        if image.ndim != 4 or image.shape[1] != SPECTRUM_CHANNELS[spectrum]:
            raise ValueError(f"{spectrum} images must be (B, {SPECTRUM_CHANNELS[spectrum]}, H, W), "
                             f"got {tuple(image.shape)}")
        with spectrum_statistics(spectrum):
            levels = self.backbone(self.stems[spectrum](image))
            return [neck(level) for neck, level in zip(self.necks, levels)]

    def decode(self, features: Sequence[torch.Tensor], out_size: tuple[int, int], spectrum: str) -> torch.Tensor:
        """Depth (B, 1, *out_size) in metres, within [min_depth, max_depth], from the levels of
        ``spectrum`` (fused levels decode with their anchor's statistics)."""
        with spectrum_statistics(spectrum):
            return self.decoder(features[-self.decoder_levels:], out_size)

    def forward(self, image: torch.Tensor, spectrum: str) -> dict:
        features = self.encode(image, spectrum)
        return {"depth": self.decode(features, image.shape[-2:], spectrum), "features": features}
