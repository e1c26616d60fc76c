"""Vision foundation model (VFM) backbones behind one API, and attention analysis.

    backbone = load_backbone("dino:facebook/dinov2-small")   # or "clip:ViT-B-32/openai", a folder, ...
    pixels = backbone.preprocess(images)                     # float (B, 3, H, W) in [0, 1]
    features = backbone.forward_features(pixels, layers=[2, 5])
    maps = cls_attention(backbone.attention(pixels)[-1], features.grid, backbone.num_prefix_tokens)
"""
from core.models.vfm.attention import (HEAD_FUSIONS, ClsAttention, attention_rollout, cls_attention,
                                       prompt_similarity, rollout_cls_map)
from core.models.vfm.base import (BackboneUnavailable, VFMBackbone, VFMFeatures, as_three_channels,
                                  download_blocker)
from core.models.vfm.builtin import BUILTIN_IMAGE_SIZE, load_builtin
from core.models.vfm.clip import ClipBackbone, load_clip
from core.models.vfm.dino import DinoBackbone, load_dino
from core.models.vfm.registry import BACKBONE_LOADERS, load_backbone, load_backbone_or_builtin

__all__ = ["BACKBONE_LOADERS", "BUILTIN_IMAGE_SIZE", "BackboneUnavailable", "ClipBackbone", "ClsAttention",
           "DinoBackbone", "HEAD_FUSIONS",
           "VFMBackbone", "VFMFeatures", "as_three_channels", "attention_rollout", "cls_attention", "download_blocker",
           "load_backbone", "load_backbone_or_builtin", "load_builtin", "load_clip", "load_dino", "prompt_similarity", "rollout_cls_map"]
