"""Dense language alignment as a plain function of tensors: each labelled patch's embedding
against a set of text embeddings, cross-entropy towards its own (CLIP's logits: cosine
similarity times the logit scale). Unlabelled patches (label -1) take no part."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.data.patch_labels import NO_LABEL


def patch_text_loss(patch_embeddings: torch.Tensor, text_embeddings: torch.Tensor, labels: torch.Tensor,
                    logit_scale: torch.Tensor) -> torch.Tensor:
    """patch_embeddings (B, N, D), text_embeddings (K, D), labels (B, N) in [0, K) or NO_LABEL.
    Zero (with a gradient path) when no patch is labelled."""
    logits = logit_scale * torch.einsum("bnd,kd->bnk", F.normalize(patch_embeddings, dim=-1),
                                        F.normalize(text_embeddings, dim=-1))
    labels = labels.reshape(-1)
    if not bool((labels != NO_LABEL).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels, ignore_index=NO_LABEL)
