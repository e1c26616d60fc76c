"""CLIP image (and text) backbones through open_clip.

open_clip 3.3's ViT image tower (``open_clip.transformer.VisionTransformer``) runs
``ResidualAttentionBlock``s whose ``attn`` is a ``torch.nn.MultiheadAttention`` called with
``need_weights=False`` (fused scaled-dot-product attention, no probabilities). To read
attention we walk the blocks ourselves, calling each block's ``attn`` with
``need_weights=True, average_attn_weights=False`` and otherwise doing what the block does.
No hook is ever put on the module: it is shared by every session of the studio, and a hook
one request registers would fire inside another's. open_clip's other block
type (``CustomResidualAttentionBlock`` with its own ``Attention``, chosen by qk-norm /
scaled-cosine configs, none of the built-in ones) and timm image towers are refused with a
clear message rather than half supported.

Weights resolve like they would for a user online: a local folder or file if given, else
the local Hugging Face cache (or open_clip's URL cache, ~/.cache/clip), else a download,
unless HF_HUB_OFFLINE is set or the host is unreachable: then ``BackboneUnavailable``.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import open_clip
import torch
import torch.nn as nn
import torch.nn.functional as F
from open_clip.constants import HF_CONFIG_NAME, HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
from open_clip.transformer import ResidualAttentionBlock, VisionTransformer

from core.models.vfm.base import (BackboneUnavailable, VFMBackbone, VFMFeatures, block_index, download_blocker,
                                  existing_path, looks_like_path)

HF_HUB_PREFIX = "hf-hub:"
# A bare folder of weights: open_clip's own file names first, then common ones.
_PREFERRED_WEIGHT_FILES = (HF_SAFE_WEIGHTS_NAME, "open_clip_pytorch_model.safetensors", "model.safetensors",
                           HF_WEIGHTS_NAME, "pytorch_model.bin")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
# Vision config flags that make open_clip build its custom attention blocks.
_CUSTOM_BLOCK_FLAGS = ("qk_norm", "scaled_cosine_attn", "scale_heads", "scale_attn_inner", "scale_attn", "scale_fc")
_URL_CACHE = Path("~/.cache/clip")  # where open_clip keeps weights it fetched from plain URLs


class ClipBackbone(VFMBackbone):
    """An open_clip CLIP model: ViT image features, attention, text embeddings.

    ``model`` is the whole open_clip model (image and text towers); ``tokenizer`` turns
    prompts into the token ids ``model.encode_text`` takes.
    """

    kind = "clip"

    def __init__(self, model: nn.Module, tokenizer, name: str, source: str):
        visual = _supported_visual(model, name)
        preprocess_cfg = getattr(visual, "preprocess_cfg", {})
        super().__init__(preprocess_cfg.get("mean", open_clip.OPENAI_DATASET_MEAN),
                         preprocess_cfg.get("std", open_clip.OPENAI_DATASET_STD))
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.source = source
        self.patch_size = visual.patch_size[0]
        self.image_size = tuple(visual.image_size)
        self.embed_dim = visual.transformer.width
        self.global_dim = visual.output_dim
        self.num_prefix_tokens = 1
        self.num_layers = len(visual.transformer.resblocks)
        self.num_heads = visual.transformer.resblocks[0].attn.num_heads

    @property
    def blocks(self) -> nn.ModuleList:
        return self.model.visual.transformer.resblocks

    def _run_blocks(self, pixel_values: torch.Tensor, blocks: Sequence[nn.Module],
                    keep: Sequence[int] = ()) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        # open_clip has no public call giving tokens, pooled embedding and chosen block
        # outputs from one pass, so walk its tower: _embeds (patchify + CLS + positions +
        # ln_pre), the blocks, and later _pool / ln_post / proj.
        x = self.model.visual._embeds(pixel_values)
        kept = {}
        for index, block in enumerate(blocks):
            x = block(x)
            if index in keep:
                kept[index] = x
        return x, kept

    def forward_features(self, pixel_values: torch.Tensor, layers: Sequence[int] = ()) -> VFMFeatures:
        visual = self.model.visual
        indices = [block_index(layer, self.num_layers) for layer in layers]
        x, kept = self._run_blocks(pixel_values, self.blocks, keep=indices)
        pooled, _ = visual._pool(x)
        global_embedding = pooled @ visual.proj if visual.proj is not None else pooled
        normed = visual.ln_post(x)
        return VFMFeatures(patch_tokens=normed[:, 1:], grid=self.grid_for(pixel_values),
                           global_embedding=global_embedding, cls_token=normed[:, 0],
                           intermediate=[kept[index][:, 1:] for index in indices])

    def attention(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        """Per-head attention weights (B, heads, tokens, tokens) of every block, from this call
        alone (the residual block's own forward, with the weights asked for)."""
        x = self.model.visual._embeds(pixel_values)
        weights = []
        for block in self.blocks:
            normed = block.ln_1(x)
            out, block_weights = block.attn(normed, normed, normed, need_weights=True, average_attn_weights=False)
            weights.append(block_weights)
            x = x + block.ls_1(out)
            x = x + block.ls_2(block.mlp(block.ln_2(x)))
        return weights

    def dense_embeddings(self, pixel_values: torch.Tensor, maskclip: bool = True) -> torch.Tensor:
        """Per-patch embeddings (B, N, D) in the joint image-text space.

        With ``maskclip`` (MaskCLIP, Zhou et al. 2022) the last block lets every token attend
        only to itself (value and output projections, residual and MLP kept), which keeps
        patch embeddings local; then the final LayerNorm and the visual projection, as for
        the global embedding. Without it, the final patch tokens are projected as they are.
        """
        if not maskclip:
            return self.forward_features(pixel_values).patch_tokens @ self.model.visual.proj
        x, _ = self._run_blocks(pixel_values, self.blocks[:-1])
        return self._maskclip_patches(x)

    def global_and_dense_embeddings(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the global image embedding (B, D) as ``encode_image`` gives it, the MaskCLIP patch
        embeddings (B, N, D) as ``dense_embeddings`` gives them), from one pass through the
        blocks they share: what training both at once costs."""
        visual = self.model.visual
        x, _ = self._run_blocks(pixel_values, self.blocks[:-1])
        pooled, _ = visual._pool(self.blocks[-1](x))
        return pooled @ visual.proj, self._maskclip_patches(x)

    def _maskclip_patches(self, x: torch.Tensor) -> torch.Tensor:
        last = self.blocks[-1]
        width = self.embed_dim
        bias = last.attn.in_proj_bias
        values = F.linear(last.ln_1(x), last.attn.in_proj_weight[2 * width:],
                          None if bias is None else bias[2 * width:])
        x = x + last.ls_1(last.attn.out_proj(values))
        x = x + last.ls_2(last.mlp(last.ln_2(x)))
        return self.model.visual.ln_post(x[:, 1:]) @ self.model.visual.proj

    def tokenize(self, prompts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(prompts)).to(self.pixel_mean.device)

    def encode_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """Text embeddings (len(prompts), D) in the joint space (not normalised)."""
        return self.model.encode_text(self.tokenize(prompts))


def _check_architecture(model_name: str) -> None:
    """Refuse unsupported built-in architectures before any weights are fetched."""
    vision = open_clip.get_model_config(model_name)["vision_cfg"]
    if vision.get("timm_model_name") or not isinstance(vision.get("layers", 12), int) \
            or vision.get("attentional_pool") or vision.get("block_type") == "custom" \
            or any(vision.get(flag) for flag in _CUSTOM_BLOCK_FLAGS):
        raise ValueError(f"CLIP {model_name!r}: only open_clip ViT image towers with standard attention blocks "
                         f"are supported (not ResNet, timm or attentional-pool towers, nor custom blocks)")


def _supported_visual(model: nn.Module, name: str) -> VisionTransformer:
    visual = getattr(model, "visual", None)
    if not isinstance(visual, VisionTransformer) or visual.attn_pool is not None:
        raise ValueError(f"CLIP {name!r}: only open_clip ViT image towers without attentional pooling are supported, "
                         f"this one is {type(visual).__name__}")
    if not visual.transformer.batch_first or not all(isinstance(block, ResidualAttentionBlock)
                                                     for block in visual.transformer.resblocks):
        raise ValueError(f"CLIP {name!r}: only open_clip's standard batch-first ResidualAttentionBlock "
                         f"(nn.MultiheadAttention) is supported, not its custom attention blocks")
    return visual


def load_clip(model_name: str = "ViT-B-32", pretrained: str | os.PathLike | None = "openai", *,
              local_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> ClipBackbone:
    """A CLIP backbone from open_clip.

    model_name: a built-in open_clip architecture ('ViT-B-32', ...), a folder, or
        'hf-hub:org/repo' (open_clip's Hub layout).
    pretrained: an open_clip tag ('openai', 'laion2b_s34b_b79k', ...), a weights file or a
        folder, or None for random weights.
    local_dir: a folder holding open_clip_config.json + open_clip_model.safetensors (the
        layout of open_clip's ``hf-hub:`` loader and ``push_to_hf_hub``), or just a weights
        file for ``model_name``. Takes precedence over ``pretrained``.
    Raises BackboneUnavailable when the weights are neither local nor downloadable now.
    """
    if local_dir is None and existing_path(model_name) is not None:
        local_dir = model_name
    if local_dir is not None:
        return _load_folder(Path(local_dir).expanduser(), model_name, device)
    if model_name.startswith(HF_HUB_PREFIX):
        return _load_hub_repo(model_name[len(HF_HUB_PREFIX):], device)
    if model_name not in open_clip.list_models():
        raise ValueError(f"open_clip has no architecture {model_name!r} (see open_clip.list_models())")
    _check_architecture(model_name)
    if pretrained is None:
        # pretrained_text=False: random means random, no text-tower download either.
        model = _create(model_name, device, pretrained_text=False)
        return ClipBackbone(model, open_clip.get_tokenizer(model_name), model_name,
                            f"open_clip {model_name} (random weights)")
    path = existing_path(pretrained)
    if path is not None and path.is_dir():
        return _load_folder(path, model_name, device)
    if path is not None:
        model = _create(model_name, device, pretrained=str(path))
        return ClipBackbone(model, open_clip.get_tokenizer(model_name), model_name,
                            f"open_clip {model_name} from {path}")
    if looks_like_path(str(pretrained)):
        raise BackboneUnavailable(f"CLIP weights {pretrained} do not exist")
    return _load_tag(model_name, str(pretrained), device)


def _create(model_name: str, device, **kwargs) -> nn.Module:
    try:
        return open_clip.create_model(model_name, device=device, **kwargs)
    except (RuntimeError, OSError, ValueError) as err:
        raise BackboneUnavailable(f"open_clip could not build {model_name!r}: {err}") from err


def _load_folder(folder: Path, model_name: str, device) -> ClipBackbone:
    if not folder.is_dir():
        raise BackboneUnavailable(f"CLIP folder {folder} does not exist")
    if (folder / HF_CONFIG_NAME).is_file():
        spec = f"local-dir:{folder}"
        model = _create(spec, device)
        return ClipBackbone(model, open_clip.get_tokenizer(spec), folder.name, f"open_clip {folder.name} from {folder}")
    weights = _weights_in(folder)
    if weights is None:
        raise BackboneUnavailable(f"CLIP folder {folder} holds neither {HF_CONFIG_NAME} nor a weights file "
                                  f"({', '.join(_WEIGHT_SUFFIXES)})")
    if model_name not in open_clip.list_models():
        raise ValueError(f"CLIP folder {folder} has no {HF_CONFIG_NAME}, so its architecture must be a built-in "
                         f"open_clip name, not {model_name!r}")
    model = _create(model_name, device, pretrained=str(weights))
    return ClipBackbone(model, open_clip.get_tokenizer(model_name), model_name, f"open_clip {model_name} from {weights}")


def _weights_in(folder: Path) -> Path | None:
    for name in _PREFERRED_WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    candidates = sorted(path for path in folder.iterdir() if path.suffix in _WEIGHT_SUFFIXES and path.is_file())
    # safetensors first: nothing needs unpickling.
    candidates.sort(key=lambda path: path.suffix != ".safetensors")
    return candidates[0] if candidates else None


def _load_hub_repo(repo_id: str, device) -> ClipBackbone:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    patterns = [HF_CONFIG_NAME, HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME, "tokenizer*", "*.txt", "*.json"]
    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
        where = "the local Hugging Face cache"
    except LocalEntryNotFoundError:
        blocker = download_blocker()
        if blocker:
            raise BackboneUnavailable(f"CLIP Hub repo {repo_id!r} is not in the local Hugging Face cache "
                                      f"and {blocker}") from None
        try:
            folder = Path(snapshot_download(repo_id, allow_patterns=patterns))
        except Exception as err:  # not found, gated, HTTP errors: all mean "not available"
            raise BackboneUnavailable(f"CLIP Hub repo {repo_id!r} could not be downloaded: {err}") from err
        where = "the Hugging Face Hub"
    backbone = _load_folder(folder, repo_id, device)
    backbone.name, backbone.source = repo_id, f"open_clip {HF_HUB_PREFIX}{repo_id} from {where}"
    return backbone


def _load_tag(model_name: str, tag: str, device) -> ClipBackbone:
    tag_cfg = open_clip.get_pretrained_cfg(model_name, tag)
    if not tag_cfg:
        raise ValueError(f"open_clip has no pretrained tag {tag!r} for {model_name}; known tags: "
                         f"{', '.join(open_clip.list_pretrained_tags_by_model(model_name)) or 'none'}")
    what = f"CLIP {model_name} ({tag})"
    cached, cache_name, url = _cached_tag_weights(tag_cfg)
    tokenizer = open_clip.get_tokenizer(model_name)
    if cached is not None:
        # Load the cached file directly (a tag would make open_clip ask the network first),
        # with the activation and preprocessing the tag prescribes.
        preprocess = {key: value for key, value in tag_cfg.items() if key != "size"}
        model = _create(model_name, device, pretrained=str(cached),
                        force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)), force_preprocess_cfg=preprocess)
        return ClipBackbone(model, tokenizer, model_name, f"open_clip {model_name} ({tag}) from {cache_name}")
    blocker = download_blocker(url)
    if blocker:
        raise BackboneUnavailable(f"{what} is not in {cache_name} and {blocker}")
    model = _create(model_name, device, pretrained=tag)
    return ClipBackbone(model, tokenizer, model_name, f"open_clip {model_name} ({tag}) downloaded from {url or 'the Hub'}")


def _cached_tag_weights(tag_cfg: dict) -> tuple[Path | None, str, str | None]:
    """(cached weights file or None, the cache in words, the URL a download would use; None = the Hub)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if tag_cfg.get("hf_hub"):
        # open_clip's convention: 'org/repo/' (default file name) or 'org/repo/file'.
        repo_id, filename = os.path.split(tag_cfg["hf_hub"])
        filename = filename or HF_WEIGHTS_NAME
        safe_name = HF_SAFE_WEIGHTS_NAME if filename == HF_WEIGHTS_NAME else str(Path(filename).with_suffix(".safetensors"))
        for candidate in dict.fromkeys((safe_name, filename)):
            try:
                return Path(hf_hub_download(repo_id, candidate, local_files_only=True)), \
                    "the local Hugging Face cache", None
            except LocalEntryNotFoundError:
                continue
        return None, f"the local Hugging Face cache (repo {repo_id})", None
    url = tag_cfg["url"]
    cached = _URL_CACHE.expanduser() / os.path.basename(url)
    return (cached if cached.is_file() else None), str(_URL_CACHE), url

