"""The VFM-Depth teacher: a depth network aided by frozen CLIP and DINO, with language-guided bins.

Two published ideas on top of the shared ``DepthNet``:

- Geometric-semantic aggregation (VFM-Depth): at the deeper encoder levels the depth
  network's feature tokens (queries) cross-attend to DINO patch tokens (local detail),
  CLIP patch tokens and CLIP's global embedding (scene semantics), all projected to one
  width. The result is added back to the level through a per-channel gate initialised at
  0, so an untrained teacher computes exactly its plain DepthNet.
- Language-guided depth bins (Hybrid-depth): prompts "This {object} appears to be
  {depth_word}" for 7 depth words, embedded once by CLIP's text tower; every pixel's
  features are projected into CLIP's joint space, logits = cosine / temperature, softmax
  over the bins, bin depth = sum of probability x bin centre (log-uniform over the depth
  range). The final depth blends the regression head and the bin depth per pixel.

Checkpoints hold what the teacher trains (depth network, aggregation, bins head) and the
prompts' text embeddings, never the frozen VFMs (``FrozenBackbone`` keeps them out of
``state_dict``): the config's ``clip`` and ``dino`` fields are ``load_backbone`` specs, so
config.json (under "model") names the backbones and ``load_checkpoint`` rebuilds them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.data.captions import DEPTH_WORDS, DISTANCE_PROMPT_OBJECTS, PROMPT_TEMPLATE
from core.models.bins import BinsOutput, DepthBinsHead, check_levels
from core.models.depthnet import DepthNetConfig
from core.models.interface import DepthModel
from core.models.spectral_batchnorm import spectrum_statistics, use_spectral_statistics
from core.models.vfm import VFMBackbone, VFMFeatures, as_three_channels, load_backbone
from core.models.vfm.language import mean_prompt_embeddings


class TeacherOutput(BinsOutput):
    """``VFMTeacher.forward``: the bins head's outputs plus regression_depth (B, 1, H, W),
    features [(B, C_l, h_l, w_l)] and semantic_features (B, C_dino, h_d, w_d)."""

    regression_depth: torch.Tensor
    features: list[torch.Tensor]
    semantic_features: torch.Tensor


@dataclass(frozen=True)
class TeacherConfig(DepthNetConfig):
    """The VFM teacher. The depth network's settings default to AlignFuseConfig's, so a
    stage-1 align-and-fuse network can initialise ``VFMTeacher.depth_net``.

    clip, dino: ``load_backbone`` specs of the frozen backbones ('clip:ViT-B-32/openai',
        'dino:/path/to/folder', ...). The CLIP one must be an open_clip model (its text tower
        embeds the prompts). ``dino_image_size`` (H, W), multiples of the patch size, is the
        DINO input size (DINOv2 interpolates its position embeddings, so it keeps the
        camera's aspect ratio; None = the backbone's own); CLIP always sees its fixed size.
    aggregation_levels: encoder levels (0 = shallowest) that cross-attend to the VFM tokens.
    depth_words, prompt_template, prompt_objects: one bin per depth word, its text embedding
        the normalised mean over the objects of the template's prompts.
    bin_temperature: the cosine logits' temperature; CLIP's own (1 / logit scale 100), as
        the prompts' embeddings lie close together and a softer one could not give
        confident bins.
    bin_head_levels, bin_head_width: the levels merged (at the first one's resolution) into
        the per-pixel features the bins and the blend weight are predicted from.
    """

    architecture: str = "vfm_teacher"
    clip: str = "clip:ViT-B-32/openai"
    dino: str = "dino:facebook/dinov2-small"
    dino_image_size: tuple[int, int] | None = (224, 560)
    aggregation_levels: tuple[int, ...] = (3, 4)
    aggregation_width: int = 64
    aggregation_heads: int = 4
    depth_words: tuple[str, ...] = DEPTH_WORDS
    prompt_template: str = PROMPT_TEMPLATE
    prompt_objects: tuple[str, ...] = DISTANCE_PROMPT_OBJECTS
    bin_temperature: float = 0.01
    bin_head_levels: tuple[int, ...] = (2, 3, 4)
    bin_head_width: int = 64

    def __post_init__(self) -> None:
        self.normalise("vfm_teacher", ("dino_image_size", "aggregation_levels", "depth_words", "prompt_objects",
                                       "bin_head_levels"))
        if len(self.depth_words) < 2 or not self.prompt_objects:
            raise ValueError("need at least two depth words and one prompt object")
        if "{depth_word}" not in self.prompt_template:
            raise ValueError(f"prompt_template must contain '{{depth_word}}', got {self.prompt_template!r}")
        if self.aggregation_width % 4 or self.aggregation_width % self.aggregation_heads:
            raise ValueError(f"aggregation_width must be a multiple of 4 and of aggregation_heads, "
                             f"got {self.aggregation_width} and {self.aggregation_heads}")
        if self.bin_temperature <= 0:
            raise ValueError(f"bin_temperature must be positive, got {self.bin_temperature}")

    @property
    def num_bins(self) -> int:
        return len(self.depth_words)

    def prompts(self) -> list[list[str]]:
        """Per depth word, its prompts: one per object."""
        return [[self.prompt_template.format(object=obj, depth_word=word) for obj in self.prompt_objects]
                for word in self.depth_words]


def grid_position_code(grid: tuple[int, int], width: int, device=None, dtype=None) -> torch.Tensor:
    """Sine-cosine code (h * w, width) of each cell centre's (y, x) normalised to [0, 1].

    Normalised coordinates put grids of any size over the same image (encoder levels,
    DINO's and CLIP's patch grids, even after CLIP's square resize) in one frame, so a
    query finds the VFM tokens of its own image region. Frequencies run from 1/2 to 32
    cycles per image side.
    """
    height, width_cells = grid
    frequencies = math.pi * 2.0 ** torch.linspace(0.0, 6.0, width // 4, dtype=torch.float64)
    ys = (torch.arange(height, dtype=torch.float64) + 0.5) / height
    xs = (torch.arange(width_cells, dtype=torch.float64) + 0.5) / width_cells
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    angles_y, angles_x = y.reshape(-1, 1) * frequencies, x.reshape(-1, 1) * frequencies
    code = torch.cat([angles_y.sin(), angles_y.cos(), angles_x.sin(), angles_x.cos()], dim=1)
    return code.to(device=device, dtype=dtype or torch.float32)


def _drop_own_entries(module: nn.Module, state_dict: dict, prefix: str, local_metadata) -> None:
    for key in [key for key in state_dict if key.startswith(prefix)]:
        del state_dict[key]


def _keep_own_weights(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    # Loading "restores" the weights the backbone already has, so a strict load of a
    # state dict without them neither reports them missing nor changes them.
    for key, value in module.backbone.state_dict(prefix=prefix + "backbone.", keep_vars=True).items():
        state_dict.setdefault(key, value)


class FrozenBackbone(nn.Module):
    """A VFM backbone that never trains and is never saved with its owner.

    Its parameters do not require gradients, it stays in eval mode whatever its owner's
    mode, its forward runs without autograd, and its weights stay out of ``state_dict()``
    (``load_state_dict`` keeps the ones it has). It still counts in ``parameters()`` and
    moves with ``.to()``. The owner's config must name it (a ``load_backbone`` spec).
    """

    def __init__(self, backbone: VFMBackbone) -> None:
        super().__init__()
        self.backbone = backbone.requires_grad_(False).eval()
        self.register_state_dict_post_hook(_drop_own_entries)
        self.register_load_state_dict_pre_hook(_keep_own_weights)

    def train(self, mode: bool = True) -> "FrozenBackbone":
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> VFMFeatures:
        """Features of float images (B, 3, H, W) in [0, 1], resized as the backbone needs."""
        return self.backbone.forward_features(self.backbone.preprocess(images))


class SemanticContext(nn.Module):
    """The aggregation's keys and values: DINO patch tokens, CLIP patch tokens and CLIP's
    global embedding, each LayerNorm + Linear to ``width`` plus a learned source
    embedding, as tokens (B, T, width) with position codes (1, T, width) (zero for the
    global token, which belongs to no image region)."""

    def __init__(self, dino_width: int, clip_width: int, clip_global_dim: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.dino_tokens = nn.Sequential(nn.LayerNorm(dino_width), nn.Linear(dino_width, width))
        self.clip_tokens = nn.Sequential(nn.LayerNorm(clip_width), nn.Linear(clip_width, width))
        self.clip_global = nn.Sequential(nn.LayerNorm(clip_global_dim), nn.Linear(clip_global_dim, width))
        self.source_embeddings = nn.Parameter(0.02 * torch.randn(3, width))

    def forward(self, clip: VFMFeatures, dino: VFMFeatures) -> tuple[torch.Tensor, torch.Tensor]:
        dino_tokens = self.dino_tokens(dino.patch_tokens) + self.source_embeddings[0]
        clip_tokens = self.clip_tokens(clip.patch_tokens) + self.source_embeddings[1]
        global_token = self.clip_global(clip.global_embedding)[:, None] + self.source_embeddings[2]
        tokens = torch.cat([dino_tokens, clip_tokens, global_token], dim=1)
        like = {"device": tokens.device, "dtype": tokens.dtype}
        positions = torch.cat([grid_position_code(dino.grid, self.width, **like),
                               grid_position_code(clip.grid, self.width, **like),
                               tokens.new_zeros(1, self.width)])
        return tokens, positions[None]


class GeometricSemanticAggregation(nn.Module):
    """One encoder level's cross-attention from its feature tokens to the semantic context,
    added back through a per-channel gate initialised at 0 (positions go into queries and
    keys only, DETR-style, so the values carry semantics, not coordinates)."""

    def __init__(self, level_width: int, width: int, heads: int) -> None:
        super().__init__()
        self.width = width
        self.query = nn.Sequential(nn.LayerNorm(level_width), nn.Linear(level_width, width))
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.output = nn.Linear(width, level_width)
        self.gate = nn.Parameter(torch.zeros(level_width))

    def forward(self, features: torch.Tensor, context: torch.Tensor, context_positions: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = features.shape
        tokens = features.flatten(2).transpose(1, 2)
        positions = grid_position_code((height, width), self.width, device=features.device, dtype=features.dtype)
        attended, _ = self.attention(self.query(tokens) + positions, context + context_positions, context,
                                     need_weights=False)
        update = self.output(attended).transpose(1, 2).reshape(batch, channels, height, width)
        return features + self.gate.view(1, -1, 1, 1) * update


class TextBinClassifier(nn.Module):
    """Per-pixel bin logits (B, n_bins, h, w) = cosine(projected pixel, bin text embedding) / T.

    ``text_embeddings`` (n_bins, D) is a persistent buffer: a checkpoint keeps the anchors
    its pixel projection was trained against, and inference needs no text tower.
    """

    def __init__(self, width: int, text_embeddings: torch.Tensor, temperature: float) -> None:
        super().__init__()
        self.projection = nn.Conv2d(width, text_embeddings.shape[1], 1)
        self.register_buffer("text_embeddings", F.normalize(text_embeddings.detach().float(), dim=-1))
        self.temperature = temperature

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        pixels = F.normalize(self.projection(hidden), dim=1)
        return torch.einsum("bdhw,nd->bnhw", pixels, self.text_embeddings.to(pixels.dtype)) / self.temperature


@torch.no_grad()
def prompt_text_embeddings(clip: VFMBackbone, config: TeacherConfig) -> torch.Tensor:
    """(n_bins, D): per depth word, the normalised mean of its prompts' normalised embeddings
    (as the built-in CLIP's dense training and the studio's distance-word map embed them)."""
    return mean_prompt_embeddings(clip, config.prompts())


class VFMTeacher(DepthModel):
    """DepthNet + frozen CLIP and DINO + geometric-semantic aggregation + language-guided bins.

    ``clip`` and ``dino`` are VFM backbones (``core.models.vfm``), loaded beforehand from the
    config's specs by ``load_dependencies`` (what ``build_model`` and ``load_checkpoint``
    do). They must be what those specs name, since a checkpoint records only the specs. The
    DINO backbone is set to run at ``config.dino_image_size``.
    """

    def __init__(self, config: TeacherConfig, clip: VFMBackbone, dino: VFMBackbone) -> None:
        super().__init__()
        if clip.kind != "clip" or dino.kind != "dino":
            raise ValueError(f"need a CLIP and a DINO backbone, got kinds {clip.kind!r} and {dino.kind!r}")
        if config.dino_image_size is not None:
            if any(side % dino.patch_size for side in config.dino_image_size):
                raise ValueError(f"dino_image_size {config.dino_image_size} is not a multiple of the DINO patch "
                                 f"size {dino.patch_size}")
            dino.image_size = config.dino_image_size
        self.config = config
        self.depth_net = config.build_depth_net()
        level_widths = self.depth_net.level_widths
        check_levels("aggregation_levels", config.aggregation_levels, len(level_widths))
        check_levels("bin_head_levels", config.bin_head_levels, len(level_widths))
        self.clip = FrozenBackbone(clip)
        self.dino = FrozenBackbone(dino)
        self.context = SemanticContext(dino.embed_dim, clip.embed_dim, clip.global_dim, config.aggregation_width)
        self.aggregation = nn.ModuleList(
            GeometricSemanticAggregation(level_widths[level], config.aggregation_width, config.aggregation_heads)
            for level in config.aggregation_levels)
        classifier = TextBinClassifier(config.bin_head_width, prompt_text_embeddings(clip, config),
                                       config.bin_temperature)
        self.bins = use_spectral_statistics(
            DepthBinsHead([level_widths[level] for level in config.bin_head_levels], config.bin_head_width,
                          classifier, config.num_bins, config.min_depth, config.max_depth), self.depth_net.spectra)

    @classmethod
    def load_dependencies(cls, config: TeacherConfig) -> dict[str, VFMBackbone]:
        """The frozen backbones the config names (from a folder, the Hub cache or the Hub)."""
        return {"clip": load_backbone(config.clip), "dino": load_backbone(config.dino)}

    def frozen_backbones(self) -> dict[str, VFMBackbone]:
        return {"clip": self.clip.backbone, "dino": self.dino.backbone}

    def forward(self, image: torch.Tensor, spectrum: str) -> TeacherOutput:
        """image: float (B, C, H, W) in [0, 1] of one spectrum (C = 3 for rgb, 1 for nir/thr).

        Returns
          depth:              (B, 1, H, W) metres, the blend of regression and bins
          regression_depth:   (B, 1, H, W) the DepthNet decoder's output on aggregated features
          bin_depth, blend_weight: (B, 1, H, W)
          bin_logits, bin_probs:   (B, n_bins, h, w) at the first bin-head level's resolution
          features:           [(B, C_l, h_l, w_l)] encoder levels after aggregation
          semantic_features:  (B, C_dino, h_d, w_d) DINO patch tokens as a map (for
                              structure distillation; no gradient)
        """
        features = self.depth_net.encode(image, spectrum)
        rgb = as_three_channels(image)
        clip_features, dino_features = self.clip(rgb), self.dino(rgb)
        context, context_positions = self.context(clip_features, dino_features)
        for level, aggregation in zip(self.config.aggregation_levels, self.aggregation):
            features[level] = aggregation(features[level], context, context_positions)
        regression_depth = self.depth_net.decode(features, image.shape[-2:], spectrum)
        with spectrum_statistics(spectrum):
            out = self.bins([features[level] for level in self.config.bin_head_levels], regression_depth)
        out.update(regression_depth=regression_depth, features=features,
                   semantic_features=dino_features.patch_map())
        return out
