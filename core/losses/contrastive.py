"""Geometry-guided contrastive alignment of spectrum-shared features (docs/methods.md, method 1).

Encoder feature maps are split by channels into a spectrum-shared and a
spectrum-specific half; these losses pull the shared halves of different spectra
together where they see the same scene (global) or the same 3-D point (local) and push
them away from the specific halves.

Two flaws of the public reference code are deliberately avoided: features are
L2-normalised over channels (not width), and warped features keep their gradient so
every spectrum's encoder is trained, not only the anchor's.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import torch
import torch.nn.functional as F

from core.geometry import relative_transform, warp_to_camera
from core.geometry.precision import autocast_disabled


def _common_full_precision(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """The tensors in one dtype of at least float32 (float64 inputs keep float64)."""
    dtype = functools.reduce(torch.promote_types, (t.dtype for t in tensors), torch.float32)
    return [t.to(dtype) for t in tensors]


def _info_nce_terms(query: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, temperature: float,
                    negative_valid: torch.Tensor | None = None) -> torch.Tensor:
    """(N, P) InfoNCE of every query and positive (see ``info_nce``), at least float32 with
    autocast off. negative_valid: (M,) bool for a bank (M, C); False negatives take no part."""
    with autocast_disabled(query.device):
        query, positives, negatives = _common_full_precision(query, positives, negatives)
        if positives.dim() == 2:
            positives = positives.unsqueeze(1)
        query = F.normalize(query, dim=-1)
        positives = F.normalize(positives, dim=-1)
        negatives = F.normalize(negatives, dim=-1)
        positive_logits = torch.einsum("nc,npc->np", query, positives) / temperature
        if negatives.dim() == 2:
            negative_logits = query @ negatives.t() / temperature
        else:
            negative_logits = torch.einsum("nc,nmc->nm", query, negatives) / temperature
        if negative_valid is not None:
            # The lowest finite logit rather than -inf: exp() of it is exactly 0 next to any valid
            # negative, and a row without one stays free of NaN (in values and gradients).
            negative_logits = negative_logits.masked_fill(~negative_valid, torch.finfo(negative_logits.dtype).min)
        # -log(e^p / (e^p + sum e^n)) = softplus(logsumexp(n) - p), accurate near 0 in float32.
        return F.softplus(torch.logsumexp(negative_logits, dim=1, keepdim=True) - positive_logits)


def info_nce(query: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor,
             temperature: float = 0.1) -> torch.Tensor:
    """InfoNCE with cosine similarity; scalar mean over queries and their positives.

    query (N, C); positives (N, P, C) or (N, C); negatives (N, M, C) per query or a bank
    (M, C) shared by all queries. Every vector is L2-normalised over its C channels. Each
    positive is scored against the query's negatives:
        -log(exp(q.p / t) / (exp(q.p / t) + sum_m exp(q.n_m / t))),
    so the lower bound is 0, approached when positives align with the query and
    negatives point away from it. Computed in float32 (float64 if an input is) with
    autocast off, so half-precision features under mixed precision keep exact logits.
    """
    return _info_nce_terms(query, positives, negatives, temperature).mean()


def global_contrastive_loss(shared: dict[str, torch.Tensor], specific: dict[str, torch.Tensor],
                            query: str = "rgb", temperature: float = 0.1) -> torch.Tensor:
    """Scene-level InfoNCE on globally average-pooled features.

    shared, specific: spectrum -> (B, C, h, w) halves of one encoder level (spatial sizes
    may differ between spectra). Query: pooled ``query``-shared feature of each scene;
    positives: pooled shared features of the other spectra of the same scene; negatives:
    pooled specific halves of every spectrum and scene in the batch (a bank of B * S).
    """
    others = [s for s in shared if s != query]
    if not others:
        raise ValueError(f"global contrastive loss needs a spectrum besides {query!r}")
    pooled_query = shared[query].mean((2, 3))
    pooled_positives = torch.stack([shared[s].mean((2, 3)) for s in others], dim=1)
    pooled_negatives = torch.cat([features.mean((2, 3)) for features in specific.values()])
    return info_nce(pooled_query, pooled_positives, pooled_negatives, temperature)


class LocalContrastiveResult(NamedTuple):
    """All fields are tensors on the features' device, so reading none of them is needed to
    train (no host-device synchronisation). loss: scalar, a graph-connected zero when
    skipped; skipped: 0-dim bool, too few co-visible pixels; valid_fraction: 0-dim float,
    share of anchor pixels seen by every spectrum; num_samples: 0-dim int64, co-visible
    pixels used (0 when skipped)."""

    loss: torch.Tensor
    skipped: torch.Tensor
    valid_fraction: torch.Tensor
    num_samples: torch.Tensor


def _sample_pixels(valid: torch.Tensor, num_samples: int,
                   generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(index, index_valid): min(num_samples, valid.numel()) flat indices into ``valid`` and
    whether each is valid. Valid pixels come first, drawn uniformly without replacement, so
    all of them are used when there are fewer than num_samples. The shape depends on no
    value: nothing waits for the device."""
    flat_valid = valid.flatten()
    scores = torch.rand(flat_valid.shape, generator=generator, device=flat_valid.device)
    # Scores are in [0, 1): minus 1 puts every invalid pixel below every valid one.
    scores = torch.where(flat_valid, scores, scores - 1.0)
    index = scores.topk(min(num_samples, flat_valid.numel()), sorted=False).indices
    return index, flat_valid[index]


def local_contrastive_loss(shared: dict[str, torch.Tensor], specific: dict[str, torch.Tensor],
                           depth_anchor: torch.Tensor, K: dict[str, torch.Tensor],
                           T_rig_cam: dict[str, torch.Tensor], anchor: str = "thr",
                           query: str = "rgb", num_samples: int = 1024,
                           min_valid_fraction: float = 0.1, temperature: float = 0.1,
                           generator: torch.Generator | None = None) -> LocalContrastiveResult:
    """Pixel-level InfoNCE between spectra at the same 3-D point.

    shared, specific: spectrum -> (B, C, h_s, w_s) halves of one encoder level.
    depth_anchor: (B, 1, H, W) predicted depth of the anchor camera; detached here and
        resized (bilinear) to the anchor's feature resolution.
    K: spectrum -> (B, 3, 3) or (3, 3) intrinsics AT THAT SPECTRUM'S FEATURE RESOLUTION
        (``Camera.resized(h, w).K`` or ``scale_intrinsics``).
    T_rig_cam: spectrum -> (B, 4, 4) or (4, 4) camera pose in the rig frame.
    generator: for reproducibility; on the features' device.

    Every non-anchor spectrum's features are warped into the anchor camera. Among the
    anchor pixels valid in every warp, ``num_samples`` are drawn at random (all of them
    when fewer). Per sampled pixel: query = ``query``-shared feature; positives = the other
    spectra's shared features; negatives = a bank of the specific features of all spectra
    at the sampled pixels, so memory is O(num_samples^2 * S), never (hw)^2. The loss is the
    mean InfoNCE over the sampled pixels. Skipped (zero loss) when fewer than
    ``min_valid_fraction`` of anchor pixels are valid. Shapes never depend on values, so
    the loss runs without synchronising host and device.
    """
    spectra = list(shared)
    if anchor not in shared or query not in shared or len(spectra) < 2:
        raise ValueError(f"local contrastive loss needs {anchor!r}, {query!r} and at least two "
                         f"spectra, got {spectra}")
    B, _, h, w = shared[anchor].shape
    depth = F.interpolate(depth_anchor.detach(), size=(h, w), mode="bilinear", align_corners=False)
    K_anchor = K[anchor].expand(B, 3, 3)

    # Shared and specific halves in the anchor camera; warped together in one pass.
    shared_at_anchor, specific_at_anchor = {}, {}
    valid = depth > 0
    for spectrum in spectra:
        features = torch.cat([shared[spectrum], specific[spectrum]], dim=1)
        if spectrum != anchor:
            T_src_anchor = relative_transform(T_rig_cam[spectrum], T_rig_cam[anchor])
            features, warp_valid = warp_to_camera(features, depth, K_anchor,
                                                  K[spectrum].expand(B, 3, 3),
                                                  T_src_anchor.expand(B, 4, 4))
            valid = valid & warp_valid
        shared_at_anchor[spectrum], specific_at_anchor[spectrum] = features.split(
            [shared[spectrum].shape[1], specific[spectrum].shape[1]], dim=1)

    sampled, sample_valid = _sample_pixels(valid, num_samples, generator)
    batch_index, pixel_index = sampled // (h * w), sampled % (h * w)

    def at_samples(features: torch.Tensor) -> torch.Tensor:  # (B, C, h, w) -> (N, C), zero where invalid
        picked = features.flatten(2)[batch_index, :, pixel_index]
        return torch.where(sample_valid[:, None], picked, torch.zeros_like(picked))

    queries = at_samples(shared_at_anchor[query])
    positives = torch.stack([at_samples(shared_at_anchor[s]) for s in spectra if s != query], dim=1)
    negatives = torch.cat([at_samples(specific_at_anchor[s]) for s in spectra])
    per_query = _info_nce_terms(queries, positives, negatives, temperature,
                                negative_valid=sample_valid.repeat(len(spectra))).mean(dim=1)
    used = sample_valid.sum()
    mean_over_used = (per_query * sample_valid.to(per_query.dtype)).sum() / used.clamp(min=1)

    valid_fraction = valid.float().mean()
    skipped = (valid_fraction < min_valid_fraction) | ~valid.any()
    # A 0/1 factor, not a branch: the skipped loss is a zero still connected to every input,
    # so backward (and distributed training) works, and nothing waits for the device.
    kept = (~skipped).to(per_query.dtype)
    return LocalContrastiveResult(mean_over_used * kept, skipped, valid_fraction, used * ~skipped)
