"""The text side of CLIP's dense language: class prompts and distance words as embeddings,
and a patch map's expected distance in metres.

Training (train/pretrain_vfm.py), the language evaluation (train/evaluate_language.py), the
teacher's language-guided bins and the studio's distance-word map all embed the words here,
so what is trained is what is measured and shown.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from core.data.captions import CLASS_PROMPTS, DEPTH_WORD_CENTRES_M, DEPTH_WORDS, distance_prompts
from core.models.vfm.clip import ClipBackbone


def mean_prompt_embeddings(backbone: ClipBackbone, prompt_groups: Sequence[Sequence[str]]) -> torch.Tensor:
    """(len(prompt_groups), D): per group, the normalised mean of its prompts' normalised embeddings."""
    flat = [prompt for group in prompt_groups for prompt in group]
    embeddings = F.normalize(backbone.encode_text(flat).float(), dim=-1)
    sizes = [len(group) for group in prompt_groups]
    return F.normalize(torch.stack([chunk.mean(dim=0) for chunk in embeddings.split(sizes)]), dim=-1)


def class_prompt_embeddings(backbone: ClipBackbone) -> torch.Tensor:
    """(len(CLASS_PROMPTS), D), in CLASS_PROMPTS' order (class ids 0, 1, ...)."""
    return mean_prompt_embeddings(backbone, [[CLASS_PROMPTS[class_id]] for class_id in sorted(CLASS_PROMPTS)])


def distance_word_embeddings(backbone: ClipBackbone) -> torch.Tensor:
    """(len(DEPTH_WORDS), D), nearest word first."""
    return mean_prompt_embeddings(backbone, [distance_prompts(word) for word in DEPTH_WORDS])


def patch_similarity(patch_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
    """Cosine similarity (B, K, N) of patches (B, N, D) to texts (K, D)."""
    return torch.einsum("bnd,kd->bkn", F.normalize(patch_embeddings, dim=-1), F.normalize(text_embeddings, dim=-1))


def expected_distance(word_similarity: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """Metres per patch: the distance words' centres weighted by the softmax of their similarity
    (B, len(DEPTH_WORDS), ...) at CLIP's own logit scale."""
    centres = torch.tensor(DEPTH_WORD_CENTRES_M, dtype=word_similarity.dtype, device=word_similarity.device)
    weights = torch.softmax(word_similarity * logit_scale, dim=1)
    return torch.einsum("bk...,k->b...", weights, centres)
