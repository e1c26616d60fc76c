"""Tiny random CLIP (open_clip) and DINOv2 (transformers) models saved in the layouts real
weights use, so tests exercise the real loading path offline."""
from dataclasses import asdict
from pathlib import Path

import open_clip
import torch
from open_clip.model import set_model_preprocess_cfg
from open_clip.transform import PreprocessCfg
from transformers import Dinov2Config, Dinov2Model

from core.models.vfm.builtin import save_clip_folder

TINY_CLIP_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 2, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
TINY_DINO_CONFIG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        image_size=32, patch_size=8)


def save_tiny_clip(folder: Path) -> open_clip.CLIP:
    """A tiny open_clip model saved in open_clip's hf-hub folder layout; returns the model."""
    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY_CLIP_CONFIG).eval()
    set_model_preprocess_cfg(model, asdict(PreprocessCfg(size=32)))
    save_clip_folder(model, TINY_CLIP_CONFIG, folder)
    return model


def save_tiny_dino(folder: Path) -> Dinov2Model:
    torch.manual_seed(0)
    model = Dinov2Model(Dinov2Config(**TINY_DINO_CONFIG)).eval()
    model.save_pretrained(folder)
    return model
