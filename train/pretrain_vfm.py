"""Stage pretrain-vfm: the built-in offline CLIP and DINO backbones, trained on MS-Synth.

    python -m train pretrain-vfm --config train/configs/builtin-clip.yaml
    python -m train pretrain-vfm --config train/configs/builtin-dino.yaml

CLIP: image-text contrastive learning (open_clip's ``ClipLoss``) on images of every spectrum
paired with captions generated from the frame's classes, depths, condition and spectrum; with
``language`` weights, also dense alignment: every patch embedding (MaskCLIP, as the studio's
prompt map reads it) against the class prompts and the distance words, towards its own.
DINO: self-distillation with multi-crop, each step on the crops of one spectrum drawn at
random, so the backbone learns all three. Both train through the shared ``fit`` loop
(logging, resume, DDP).
"""
from __future__ import annotations

import copy
import math

import open_clip
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from open_clip.loss import ClipLoss
from torchvision.transforms import v2

from core.data.captions import scene_caption
from core.data.msynth.classes import CLASS_NAMES
from core.data.patch_labels import patch_labels
from core.losses.language import patch_text_loss
from core.losses.self_distillation import dino_loss, ema_update, updated_center
from core.models.vfm.base import as_three_channels
from core.models.vfm.builtin import BUILTIN_CLIP_CONFIG, BUILTIN_IMAGE_SIZE, new_builtin_clip, new_builtin_dino
from core.models.vfm.clip import ClipBackbone, load_clip
from core.models.vfm.dino import DinoBackbone
from core.models.vfm.language import class_prompt_embeddings, distance_word_embeddings
from core.settings import REPO_ROOT
from train.align import seed_for_step, step_rng
from train.batching import batch_spectra
from train.config import ClipLanguageConfig, DinoHeadConfig, PretrainStageConfig
from train.engine import Runtime


# --- CLIP --------------------------------------------------------------------------------

class ClipPretrainer(nn.Module):
    """The built-in CLIP in its backbone wrapper (preprocessing, tokenizer) for training;
    ``init_folder``: a saved built-in CLIP to continue from."""

    def __init__(self, init_folder: str | None = None) -> None:
        super().__init__()
        # open_clip's default BPE tokenizer, as a saved built-in's folder config gives it.
        tokenizer = open_clip.get_tokenizer(context_length=BUILTIN_CLIP_CONFIG["text_cfg"]["context_length"])
        model = new_builtin_clip()
        if init_folder:
            model.load_state_dict(load_clip(local_dir=REPO_ROOT / init_folder).model.state_dict())
        self.backbone = ClipBackbone(model, tokenizer, "builtin-clip", "training")

    def forward(self, images: torch.Tensor, captions: list[str]) -> dict[str, torch.Tensor]:
        """Normalised global image and caption embeddings, the patch embeddings (B, N, D), the
        class prompts' and distance words' embeddings, and the logit scale."""
        backbone = self.backbone
        image_features, patch_features = backbone.global_and_dense_embeddings(backbone.preprocess(images))
        return {"images": F.normalize(image_features, dim=-1),
                "captions": F.normalize(backbone.model.encode_text(backbone.tokenize(captions)), dim=-1),
                "patches": patch_features,
                "class_prompts": class_prompt_embeddings(backbone),
                "distance_words": distance_word_embeddings(backbone),
                "logit_scale": backbone.model.logit_scale.exp()}

    def trained_model(self) -> nn.Module:
        return self.backbone.model


def batch_captions(batch: dict, spectrum: str) -> list[str]:
    classes = batch[f"classes/{spectrum}"].cpu().numpy()
    depth = batch[f"depth/{spectrum}"][:, 0].cpu().numpy()
    return [scene_caption(c, d, condition, spectrum) for c, d, condition in zip(classes, depth, batch["condition"])]


def make_clip_losses(language: ClipLanguageConfig, runtime: Runtime):
    caption_loss = ClipLoss(rank=runtime.rank, world_size=runtime.world_size)

    def compute(module: nn.Module, batch: dict, step: int) -> dict[str, torch.Tensor]:
        spectra = batch_spectra(batch)
        images = torch.cat([as_three_channels(batch[f"image/{s}"]) for s in spectra])
        captions = [caption for s in spectra for caption in batch_captions(batch, s)]
        out = module(images, captions)
        scale = out["logit_scale"]
        terms = {"caption": caption_loss(out["images"], out["captions"], scale)}
        backbone = (module.module if hasattr(module, "module") else module).backbone
        labels = patch_labels(torch.cat([batch[f"classes/{s}"] for s in spectra]).to(images.device),
                              torch.cat([batch[f"depth/{s}"][:, 0] for s in spectra]).to(images.device),
                              backbone.image_size, backbone.patch_size, len(CLASS_NAMES), language.min_share)
        terms["patch_class"] = patch_text_loss(out["patches"], out["class_prompts"], labels.classes.flatten(1), scale)
        terms["patch_distance"] = patch_text_loss(out["patches"], out["distance_words"],
                                                  labels.depth_words.flatten(1), scale)
        total = (terms["caption"] + language.w_class * terms["patch_class"]
                 + language.w_distance * terms["patch_distance"])
        return {"loss": total, **{name: value.detach() for name, value in terms.items()},
                "logit_scale": scale.detach()}

    return compute


# --- DINO --------------------------------------------------------------------------------

class DinoHead(nn.Module):
    """DINO's projection head: a 3-layer MLP to a bottleneck, then L2-normalised
    prototypes (weight-normalised linear layer with its norm fixed at 1)."""

    def __init__(self, in_dim: int, hidden_dim: int, bottleneck_dim: int, prototypes: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim),
                                 nn.GELU(), nn.Linear(hidden_dim, bottleneck_dim))
        self.prototypes = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck_dim, prototypes, bias=False))
        self.prototypes.parametrizations.weight.original0.data.fill_(1.0)
        self.prototypes.parametrizations.weight.original0.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prototypes(F.normalize(self.mlp(x), dim=-1))


class DinoPretrainer(nn.Module):
    """Student ViT + head (trained) and their EMA teacher (not trained, kept in the state
    so a resumed run continues exactly), plus the teacher's running centre."""

    def __init__(self, head_cfg: DinoHeadConfig) -> None:
        super().__init__()
        self.student = DinoBackbone(new_builtin_dino(), "builtin-dino", "training", BUILTIN_IMAGE_SIZE)
        self.student_head = DinoHead(self.student.embed_dim, head_cfg.hidden_dim, head_cfg.bottleneck_dim,
                                     head_cfg.prototypes)
        self.teacher = copy.deepcopy(self.student).requires_grad_(False)
        self.teacher_head = copy.deepcopy(self.student_head).requires_grad_(False)
        self.register_buffer("center", torch.zeros(1, head_cfg.prototypes))

    def embed(self, backbone: DinoBackbone, head: DinoHead, crops: torch.Tensor) -> torch.Tensor:
        # normalize, not preprocess: local crops keep their own, smaller size.
        return head(backbone.model(pixel_values=backbone.normalize(crops)).pooler_output)

    def forward(self, global_crops: list[torch.Tensor], local_crops: list[torch.Tensor]):
        student = [self.embed(self.student, self.student_head, crops) for crops in global_crops + local_crops]
        with torch.no_grad():
            teacher = [self.embed(self.teacher, self.teacher_head, crops) for crops in global_crops]
        return student, teacher

    def trained_model(self) -> nn.Module:
        """The teacher's ViT: in DINO the EMA teacher is the better and smoother backbone."""
        return self.teacher.model


def random_crops(images: torch.Tensor, size: tuple[int, int], scale: tuple[float, float],
                 generator: torch.Generator) -> torch.Tensor:
    """One random resized crop per image (B, 3, H, W) -> (B, 3, *size), keeping about the
    cameras' aspect ratio (w / h from 2 to 3)."""
    height, width = images.shape[-2:]
    crops = []
    for image in images:
        area = height * width * float(torch.empty(1).uniform_(*scale, generator=generator))
        ratio = math.exp(float(torch.empty(1).uniform_(math.log(2.0), math.log(3.0), generator=generator)))
        crop_h = min(height, max(8, round(math.sqrt(area / ratio))))
        crop_w = min(width, max(8, round(math.sqrt(area * ratio))))
        top = int(torch.randint(0, height - crop_h + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - crop_w + 1, (1,), generator=generator))
        crops.append(v2.functional.resized_crop(image, top, left, crop_h, crop_w, list(size), antialias=True))
    return torch.stack(crops)


def make_dino_losses(cfg: PretrainStageConfig, runtime: Runtime, model: DinoPretrainer):
    """compute(module, batch, step) -> loss terms; the spectrum and crops come from (seed + rank, step)."""
    dino_cfg = cfg.dino
    seed = cfg.seed + runtime.rank
    # On the host: the crop boxes are Python ints that slice the images, so drawing them on
    # the accelerator would make every crop wait for it.
    generator = torch.Generator()
    local_size = tuple(s // 2 for s in BUILTIN_IMAGE_SIZE)

    def compute(module: nn.Module, batch: dict, step: int) -> dict[str, torch.Tensor]:
        seed_for_step(generator, seed, step)
        # Views of one spectrum: crops across spectra look too unlike each other early on, and
        # the student then settles for the same output everywhere (collapse).
        images = as_three_channels(batch[f"image/{step_rng(seed, step).choice(batch_spectra(batch))}"])
        global_crops = [random_crops(images, BUILTIN_IMAGE_SIZE, tuple(dino_cfg.global_scale), generator)
                        for _ in range(2)]
        local_crops = [random_crops(images, local_size, tuple(dino_cfg.local_scale), generator)
                       for _ in range(dino_cfg.local_crops)]
        student, teacher = module(global_crops, local_crops)
        loss = dino_loss(student, teacher, model.center, dino_cfg.student_temperature,
                         dino_cfg.teacher_temperature)
        center = updated_center(model.center, teacher, dino_cfg.center_momentum)
        if runtime.distributed:
            dist.all_reduce(center)
            center /= runtime.world_size
        model.center.copy_(center)
        # The targets' entropy: near log(prototypes) means uniform collapse, near 0 one-prototype collapse.
        targets = F.softmax((teacher[0] - model.center) / dino_cfg.teacher_temperature, dim=-1)
        entropy = torch.special.entr(targets).sum(-1).mean()
        return {"loss": loss, "target_entropy": entropy.detach()}

    return compute


def make_teacher_update(cfg: PretrainStageConfig, model: DinoPretrainer):
    """After each step: EMA of the student into the teacher, momentum rising from its base
    value to 1 on a cosine over the run."""
    base, steps = cfg.dino.teacher_momentum, cfg.optim.steps

    def update(step: int) -> None:
        momentum = 1.0 - (1.0 - base) * (math.cos(math.pi * step / steps) + 1.0) / 2.0
        ema_update(model.teacher, model.student, momentum)
        ema_update(model.teacher_head, model.student_head, momentum)

    return update


def build_pretrainer(cfg: PretrainStageConfig, runtime: Runtime):
    """(module, compute_losses, after_step) for cfg.backbone 'clip' or 'dino'."""
    kind = cfg.backbone
    if kind == "clip":
        model = ClipPretrainer(cfg.init_checkpoint)
        return model, make_clip_losses(cfg.language, runtime), None
    if kind == "dino":
        model = DinoPretrainer(cfg.dino.head)
        return model, make_dino_losses(cfg, runtime, model), make_teacher_update(cfg, model)
    raise ValueError(f"backbone must be 'clip' or 'dino', got {kind!r}")
