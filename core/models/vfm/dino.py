"""DINOv2 image backbones through transformers (with or without register tokens).

transformers 5 returns no attention weights under SDPA, so the model always runs the eager
attention implementation; ``output_attentions`` then gives each layer's probabilities and
``output_hidden_states`` the block outputs (embeddings first, then one per block).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn
from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from core.models.vfm.base import (BackboneUnavailable, VFMBackbone, VFMFeatures, block_index, download_blocker,
                                  existing_path, looks_like_path)

DINO_MODEL_TYPES = ("dinov2", "dinov2_with_registers")
# The official DINOv2 preprocessing crops 224 x 224; the model interpolates its position
# embeddings, so any multiple of the patch size works.
DEFAULT_DINO_IMAGE_SIZE = 224


class DinoBackbone(VFMBackbone):
    """A transformers DINOv2 model (``Dinov2Model`` or ``Dinov2WithRegistersModel``)."""

    kind = "dino"

    def __init__(self, model: nn.Module, name: str, source: str,
                 image_size: int | tuple[int, int] = DEFAULT_DINO_IMAGE_SIZE):
        config = model.config
        if config.model_type not in DINO_MODEL_TYPES:
            raise ValueError(f"{name!r} is a {config.model_type!r} model, not DINOv2 ({', '.join(DINO_MODEL_TYPES)})")
        super().__init__(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
        if config._attn_implementation != "eager":
            model.set_attn_implementation("eager")
        self.model = model.eval()
        self.name = name
        self.source = source
        self.patch_size = int(config.patch_size)
        self.image_size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if any(side % self.patch_size for side in self.image_size):
            raise ValueError(f"image size {self.image_size} is not a multiple of the patch size {self.patch_size}")
        self.embed_dim = self.global_dim = config.hidden_size
        self.num_prefix_tokens = 1 + getattr(config, "num_register_tokens", 0)
        self.num_layers = config.num_hidden_layers
        self.num_heads = config.num_attention_heads

    def forward_features(self, pixel_values: torch.Tensor, layers: Sequence[int] = ()) -> VFMFeatures:
        indices = [block_index(layer, self.num_layers) for layer in layers]
        outputs = self.model(pixel_values=pixel_values, output_hidden_states=bool(indices))
        prefix = self.num_prefix_tokens
        return VFMFeatures(patch_tokens=outputs.last_hidden_state[:, prefix:], grid=self.grid_for(pixel_values),
                           global_embedding=outputs.pooler_output, cls_token=outputs.last_hidden_state[:, 0],
                           intermediate=[outputs.hidden_states[index + 1][:, prefix:] for index in indices])

    def attention(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        return list(self.model(pixel_values=pixel_values, output_attentions=True).attentions)


def load_dino(name_or_path: str | os.PathLike = "facebook/dinov2-small", *,
              image_size: int | tuple[int, int] = DEFAULT_DINO_IMAGE_SIZE,
              device: str | torch.device = "cpu") -> DinoBackbone:
    """A DINOv2 backbone from a local folder (``save_pretrained`` layout), else the local
    Hugging Face cache, else the Hub. Raises BackboneUnavailable when none has it now."""
    from transformers import AutoModel

    def from_pretrained(target: str, **kwargs) -> nn.Module:
        return AutoModel.from_pretrained(target, attn_implementation="eager", **kwargs)

    name_or_path = str(name_or_path)
    folder = existing_path(name_or_path)
    if folder is not None:
        try:
            model = from_pretrained(str(folder))
        except (OSError, ValueError) as err:
            raise BackboneUnavailable(f"DINOv2 folder {folder} could not be loaded: {err}") from err
        name, source = folder.name, f"DINOv2 {folder.name} from {folder}"
    elif looks_like_path(name_or_path):
        raise BackboneUnavailable(f"DINOv2 folder {Path(name_or_path).expanduser()} does not exist")
    else:
        name = name_or_path
        try:
            model = from_pretrained(name, local_files_only=True)
            source = f"{name} from the local Hugging Face cache"
        except OSError:
            blocker = download_blocker()
            if blocker:
                raise BackboneUnavailable(f"DINOv2 {name!r} is not in the local Hugging Face cache "
                                          f"and {blocker}") from None
            try:
                model = from_pretrained(name)
            except OSError as err:
                raise BackboneUnavailable(f"DINOv2 {name!r} could not be downloaded from the Hub: {err}") from err
            source = f"{name} from the Hugging Face Hub"
    return DinoBackbone(model, name, source, image_size).to(device)
