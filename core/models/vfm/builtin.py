"""Built-in offline backbones: a small CLIP and a small DINOv2 trained on MS-Synth.

They serve when no real CLIP or DINOv2 can be loaded (no Hub, nothing cached). Each is an
ordinary open_clip ``CLIP`` or transformers ``Dinov2Model``, trained by
``python -m train pretrain-vfm`` and saved in the same folder layouts real weights use
(open_clip's ``open_clip_config.json`` + safetensors; DINOv2's ``save_pretrained``), so they
load through ``load_clip`` / ``load_dino`` and behave exactly like real backbones.

    load_backbone("builtin:clip")                  # checkpoints/builtin-clip
    load_backbone_or_builtin("clip:ViT-B-32/openai")  # the real one, else the built-in
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import open_clip
import torch
from open_clip.model import set_model_preprocess_cfg
from open_clip.push_to_hf_hub import save_config_for_hf
from open_clip.transform import PreprocessCfg
from safetensors.torch import save_file
from transformers import Dinov2Config, Dinov2Model

from core.models.vfm.base import BackboneUnavailable, VFMBackbone
from core.models.vfm.clip import load_clip
from core.models.vfm.dino import load_dino
from core.settings import CHECKPOINTS_DIR

BUILTIN_ROOT = CHECKPOINTS_DIR
BUILTIN_FOLDERS = {"clip": "builtin-clip", "dino": "builtin-dino"}
# Both see the cameras' 2.5 : 1 aspect (a driving scene squeezed into a square loses its
# horizontal detail); 16-pixel patches give a 6 x 15 grid.
BUILTIN_IMAGE_SIZE = (96, 240)
BUILTIN_CLIP_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": list(BUILTIN_IMAGE_SIZE), "patch_size": 16, "width": 128, "layers": 4,
                   "head_width": 32},
    # open_clip's BPE tokenizer (bundled with the package, works offline) needs its full vocabulary.
    "text_cfg": {"context_length": 48, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 3},
}
BUILTIN_DINO_CONFIG = {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4,
                       "intermediate_size": 512, "image_size": 224, "patch_size": 16}
TRAINING_RECORD = "training.json"  # the command, data and log that made a built-in backbone


def new_builtin_clip() -> open_clip.CLIP:
    """An untrained built-in CLIP, preprocessing set to the built-in image size."""
    model = open_clip.CLIP(**BUILTIN_CLIP_CONFIG)
    set_model_preprocess_cfg(model, asdict(PreprocessCfg(size=BUILTIN_IMAGE_SIZE)))
    return model


def new_builtin_dino() -> Dinov2Model:
    return Dinov2Model(Dinov2Config(**BUILTIN_DINO_CONFIG))


def save_clip_folder(model: open_clip.CLIP, config: dict, folder: Path) -> Path:
    """An open_clip model in open_clip's hf-hub folder layout (what ``load_clip`` reads)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    save_config_for_hf(model, folder / "open_clip_config.json", model_config=config)
    return folder


def save_builtin(kind: str, model: torch.nn.Module, folder: Path, record: dict) -> Path:
    """Save a trained built-in backbone (``kind`` 'clip' or 'dino') with its training record."""
    folder = Path(folder)
    if kind == "clip":
        save_clip_folder(model, BUILTIN_CLIP_CONFIG, folder)
    else:
        model.save_pretrained(folder, safe_serialization=True)
    (folder / TRAINING_RECORD).write_text(json.dumps(record, indent=1))
    return folder


def builtin_folder(kind: str, root: Path | None = None) -> Path:
    """Where the built-in backbone of ``kind`` lives (``root`` defaults to BUILTIN_ROOT)."""
    if kind not in BUILTIN_FOLDERS:
        raise ValueError(f"no built-in backbone of kind {kind!r}; there are {', '.join(BUILTIN_FOLDERS)}")
    return Path(root or BUILTIN_ROOT) / BUILTIN_FOLDERS[kind]


def load_builtin(kind: str, device: str | torch.device = "cpu", root: Path | None = None) -> VFMBackbone:
    """The built-in backbone of ``kind`` from ``root`` (default BUILTIN_ROOT);
    BackboneUnavailable if it was never trained."""
    folder = builtin_folder(kind, root)
    if not folder.is_dir():
        raise BackboneUnavailable(f"the built-in {kind} backbone is missing ({folder}); train it with "
                                  f"python -m train pretrain-vfm --config train/configs/{BUILTIN_FOLDERS[kind]}.yaml")
    if kind == "clip":
        backbone = load_clip(local_dir=folder, device=device)
    else:
        backbone = load_dino(folder, image_size=BUILTIN_IMAGE_SIZE, device=device)
    backbone.name = BUILTIN_FOLDERS[kind]
    backbone.source = f"built-in {kind.upper()} trained on MS-Synth ({folder.name})"
    return backbone
