"""Teacher-to-student distillation losses and texture-robustness augmentations.

Losses (plain functions of tensors, scalars, exactly 0 when the student reproduces the
teacher; teacher tensors are always detached, so gradients reach only the student):

- VFM-Depth's multi-alignment: ``depth_imitation_loss``, ``feature_imitation_loss`` and
  ``bin_distribution_loss`` (distance-category alignment);
- structure-centric distillation: ``affinity_graph`` and ``isomorphic_graph_loss`` (nodes =
  pooled feature regions, edges = cosine affinities; the two graphs are aligned).

Augmentations (``texture_swap``, ``illumination_change``) change appearance but move no
pixel, so depth targets stay valid; both are deterministic given a ``torch.Generator`` and
run on the images' device. The generator may live on any device; one on the images' device
keeps every draw there too (no copies between host and accelerator).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def _resize_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _kl_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, dim: int) -> torch.Tensor:
    """KL(teacher || student) of the softmaxes over ``dim``, per entry of the other dims."""
    teacher_log_probs = F.log_softmax(teacher_logits.detach(), dim=dim)
    student_log_probs = F.log_softmax(student_logits, dim=dim)
    return (teacher_log_probs.exp() * (teacher_log_probs - student_log_probs)).sum(dim=dim)


def depth_imitation_loss(student_depth: torch.Tensor, teacher_depth: torch.Tensor,
                         valid: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """Mean |log(student) - log(teacher)| over valid pixels: every depth range weighs alike.

    student_depth, teacher_depth (B, 1, H, W) metres; valid (B, 1, H, W) bool or None (all).
    A mask without any valid pixel gives a zero that still belongs to the graph.
    """
    if student_depth.shape != teacher_depth.shape:
        raise ValueError(f"student depth {tuple(student_depth.shape)} and teacher depth "
                         f"{tuple(teacher_depth.shape)} differ in shape")
    error = (student_depth.clamp(min=eps).log() - teacher_depth.detach().clamp(min=eps).log()).abs()
    if valid is None:
        return error.mean()
    valid = valid.expand_as(error)
    # where() rather than multiplication, so NaN at invalid pixels cannot leak in.
    return torch.where(valid, error, torch.zeros_like(error)).sum() / valid.sum().clamp(min=1)


def feature_imitation_loss(student_projected: Sequence[torch.Tensor],
                           teacher_features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over levels of the MSE between student projections and teacher features.

    student_projected[l] (B, C_l, h, w) (already projected to the teacher's width C_l);
    teacher_features[l] (B, C_l, h', w'). A student map on another grid is resized
    (bilinear) to the teacher's.
    """
    if not student_projected or len(student_projected) != len(teacher_features):
        raise ValueError(f"need one student projection per teacher level, got {len(student_projected)} "
                         f"and {len(teacher_features)}")
    losses = [F.mse_loss(_resize_to(student, teacher.shape[-2:]), teacher.detach())
              for student, teacher in zip(student_projected, teacher_features)]
    return torch.stack(losses).mean()


def bin_distribution_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                          temperature: float = 1.0) -> torch.Tensor:
    """Distance-category alignment: KL(teacher || student) of per-pixel bin distributions.

    student_logits (B, K, h, w), teacher_logits (B, K, h', w') over the same K bins; the
    teacher's are resized (bilinear, on logits) to the student's grid when they differ.
    Both are softened by ``temperature``; the mean per-pixel KL is scaled by
    temperature^2 so gradient sizes do not depend on it (Hinton et al.). Non-negative.
    """
    if student_logits.shape[:2] != teacher_logits.shape[:2]:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} differ in batch or bins")
    teacher_logits = _resize_to(teacher_logits.detach(), student_logits.shape[-2:])
    kl = _kl_divergence(student_logits / temperature, teacher_logits / temperature, dim=1)
    return kl.mean() * temperature ** 2


def affinity_graph(features: torch.Tensor, regions: tuple[int, int] = (4, 8),
                   node_projection: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Region graph of a feature map: (B, N, N) cosine affinities, N = r_h * r_w.

    features (B, C, h, w) are average-pooled into ``regions`` (r_h, r_w) nodes (row-major),
    optionally mapped by ``node_projection`` ((B, N, C) -> (B, N, C'), e.g. a learnable
    nn.Linear on the student side), L2-normalised over channels. The diagonal is 1 but for
    all-zero nodes (0).
    """
    nodes = F.adaptive_avg_pool2d(features, regions).flatten(2).transpose(1, 2)
    if node_projection is not None:
        nodes = node_projection(nodes)
    nodes = F.normalize(nodes, dim=-1)
    return nodes @ nodes.transpose(1, 2)


def isomorphic_graph_loss(student_features: torch.Tensor, teacher_features: torch.Tensor,
                          regions: tuple[int, int] = (4, 8), temperature: float = 0.1,
                          node_projection: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Align the student's region graph with the teacher's (semantic structure).

    student_features (B, C_s, h, w), teacher_features (B, C_t, h', w'): widths and grids may
    differ, as both are pooled into the same ``regions``. Each node's affinities to all
    nodes, divided by ``temperature``, are softmaxed into a distribution over neighbours;
    the loss is the mean over nodes of KL(teacher row || student row), so the student
    learns which regions belong together rather than the teacher's absolute feature
    values. ``node_projection``: see ``affinity_graph`` (student side only).
    """
    student_graph = affinity_graph(student_features, regions, node_projection)
    teacher_graph = affinity_graph(teacher_features.detach(), regions)
    return _kl_divergence(student_graph / temperature, teacher_graph / temperature, dim=-1).mean()


def _uniform(shape: Sequence[int], low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(*shape, generator=generator, device=generator.device)


def texture_swap(images: torch.Tensor, generator: torch.Generator, patch_size: int = 16,
                 swap_fraction: float = 0.5, blur_size: int = 9,
                 gain_range: tuple[float, float] = (1.0, 1.0)) -> torch.Tensor:
    """Images whose local texture no longer tells depth: structure stays, texture moves.

    images (B, C, H, W) float in [0, 1]. Each image is split into a low-frequency layer
    (``blur_size`` box blur) and its texture (the residual). On a grid of
    ``patch_size`` patches, a random ``swap_fraction`` of the patches take the texture of
    another random patch of the same image; 3-channel images also get a random channel
    permutation (colour swap). Shape and range are kept; border strips narrower than a
    patch keep their texture. ``gain_range``: each image's texture is then scaled by a gain
    drawn uniformly from it, so texture also goes missing (gain 0) or interferes (gain > 1);
    the default (1, 1) draws nothing and keeps the texture's strength.
    """
    if images.ndim != 4 or blur_size % 2 == 0:
        raise ValueError(f"expected images (B, C, H, W) and an odd blur_size, got {tuple(images.shape)}, {blur_size}")
    batch, channels, height, width = images.shape
    low = F.avg_pool2d(images, blur_size, stride=1, padding=blur_size // 2, count_include_pad=False)
    texture = images - low
    rows, cols = height // patch_size, width // patch_size
    if rows and cols:
        covered = texture[..., :rows * patch_size, :cols * patch_size]
        patches = covered.reshape(batch, channels, rows, patch_size, cols, patch_size).permute(0, 2, 4, 1, 3, 5)
        patches = patches.reshape(batch, rows * cols, channels, patch_size, patch_size)
        count = rows * cols
        donors = torch.rand(batch, count, generator=generator, device=generator.device).argsort(dim=1)
        swapped = torch.rand(batch, count, generator=generator, device=generator.device) < swap_fraction
        source = torch.where(swapped, donors, torch.arange(count, device=generator.device)).to(images.device)
        patches = patches[torch.arange(batch, device=images.device)[:, None], source]
        covered = patches.reshape(batch, rows, cols, channels, patch_size, patch_size).permute(0, 3, 1, 4, 2, 5)
        texture = texture.clone()
        texture[..., :rows * patch_size, :cols * patch_size] = covered.reshape(batch, channels, rows * patch_size,
                                                                               cols * patch_size)
    if tuple(gain_range) != (1.0, 1.0):
        texture = texture * _uniform((batch, 1, 1, 1), *gain_range, generator).to(texture.device, texture.dtype)
    out = low + texture
    if channels == 3:
        order = torch.rand(batch, 3, generator=generator, device=generator.device).argsort(dim=1).to(images.device)
        out = out.gather(1, order[:, :, None, None].expand_as(out))
    return out.clamp(0.0, 1.0)


def illumination_change(images: torch.Tensor, generator: torch.Generator,
                        gamma_range: tuple[float, float] = (0.6, 1.6), gain_range: tuple[float, float] = (0.5, 1.5),
                        field_strength: float = 0.6, field_grid: tuple[int, int] = (3, 5)) -> torch.Tensor:
    """Images under other lighting (Retinex view: image = reflectance x illumination).

    images (B, C, H, W) float in [0, 1]. Per image: a gamma (log-uniform in
    ``gamma_range``), a gain (uniform in ``gain_range``) and a smooth illumination field
    exp(field_strength x noise) bicubically upsampled from a ``field_grid`` of Gaussian
    noise and normalised to mean 1, the same for every channel. Shape and range kept.
    """
    if images.ndim != 4:
        raise ValueError(f"expected images (B, C, H, W), got {tuple(images.shape)}")
    batch = images.shape[0]
    gamma = _uniform((batch, 1, 1, 1), math.log(gamma_range[0]), math.log(gamma_range[1]), generator).exp()
    gain = _uniform((batch, 1, 1, 1), *gain_range, generator)
    # Only the coarse noise may cross devices; the full-resolution field is made where the images are.
    noise = torch.randn(batch, 1, *field_grid, generator=generator, device=generator.device).to(images.device)
    field = F.interpolate((field_strength * noise).exp(), size=images.shape[-2:], mode="bicubic",
                          align_corners=False).clamp(min=1e-3)  # bicubic overshoot must not flip the sign
    field = field / field.mean(dim=(-2, -1), keepdim=True)
    like = {"device": images.device, "dtype": images.dtype}
    relit = gain.to(**like) * images.clamp(0.0, 1.0) ** gamma.to(**like) * field.to(**like)
    return relit.clamp(0.0, 1.0)
