"""Tiny random CLIP (open_clip) and DINOv2 (transformers) models saved in the layouts real
weights use, so tests exercise the real loading path offline."""
from dataclasses import asdict
from pathlib import Path

import open_clip
import torch
from open_clip.model import set_model_preprocess_cfg
from open_clip.push_to_hf_hub import save_config_for_hf
from open_clip.transform import PreprocessCfg
from safetensors.torch import save_file
from transformers import Dinov2Config, Dinov2Model

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
    save_file(model.state_dict(), str(folder / "open_clip_model.safetensors"))
    save_config_for_hf(model, folder / "open_clip_config.json", model_config=TINY_CLIP_CONFIG)
    return model


def save_tiny_dino(folder: Path) -> Dinov2Model:
    torch.manual_seed(0)
    model = Dinov2Model(Dinov2Config(**TINY_DINO_CONFIG)).eval()
    model.save_pretrained(folder)
    return model
