"""`python -m train eval-language`: does CLIP's language find what it names, patch by patch?

On MS-Synth frames, which know every pixel's class and depth, per spectrum and condition:
  - class prompts: for each class, the AUROC of the prompt map (each patch's cosine similarity
    to the class prompt, as the studio draws it) against the class mask (the patches whose
    majority class it is); a class with no patch, or only its patches, in a group is not scored;
  - distance words: the share of patches whose most similar distance word is their own (from
    the patch's median depth), and the Spearman correlation of the expected distance
    (``core.models.vfm.language.expected_distance``) with that depth;
  - caption retrieval: per spectrum, the share of images whose most similar caption, among the
    split's distinct captions, is their own (recall at 1 and 5).
Ambiguous patches (no majority class, too little valid depth) are left out, as in training.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import mannwhitneyu, spearmanr
from torch.utils.data import DataLoader
from tqdm import tqdm

from core.data.captions import CLASS_PROMPTS
from core.data.dataset import collate_frames
from core.data.frame import EVAL_CONDITIONS, SPECTRA, SPECTRUM_LABELS
from core.data.msynth.classes import CLASS_NAMES
from core.data.patch_labels import NO_LABEL, patch_labels
from core.models.vfm import as_three_channels, load_backbone
from core.models.vfm.language import (class_prompt_embeddings, distance_word_embeddings, expected_distance,
                                      patch_similarity)
from train.batching import batch_spectra
from train.config import LanguageEvalConfig
from train.data import build_dataset
from train.pretrain_vfm import batch_captions

ALL = "all"
RECALL_AT = (1, 5)


def auroc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half), None without both positives and negatives."""
    positives, negatives = scores[positive], scores[~positive]
    if not len(positives) or not len(negatives):
        return None
    return float(mannwhitneyu(positives, negatives).statistic / (len(positives) * len(negatives)))


class GroupPatches:
    """The scored patches of one (spectrum, condition): similarities and their labels."""

    def __init__(self) -> None:
        self.class_similarity, self.classes, self.word_similarity, self.words, self.depth, self.distance = (
            [], [], [], [], [], [])

    def add(self, class_similarity, classes, word_similarity, words, depth, distance) -> None:
        self.class_similarity.append(class_similarity)
        self.classes.append(classes)
        self.word_similarity.append(word_similarity)
        self.words.append(words)
        self.depth.append(depth)
        self.distance.append(distance)

    def extend(self, other: GroupPatches) -> None:
        for name in vars(self):
            getattr(self, name).extend(getattr(other, name))

    def figures(self) -> dict:
        classes = np.concatenate(self.classes)
        labelled = classes != NO_LABEL
        class_similarity = np.concatenate(self.class_similarity)[labelled]
        classes = classes[labelled]
        per_class = {CLASS_NAMES[c]: auroc(class_similarity[:, c], classes == c) for c in sorted(CLASS_PROMPTS)}
        scored = [value for value in per_class.values() if value is not None]
        words = np.concatenate(self.words)
        with_depth = words != NO_LABEL
        word_similarity = np.concatenate(self.word_similarity)[with_depth]
        depth, distance = np.concatenate(self.depth)[with_depth], np.concatenate(self.distance)[with_depth]
        return {"auroc": per_class, "mean_auroc": float(np.mean(scored)) if scored else None,
                "class_patches": int(labelled.sum()),
                "word_top1": float((word_similarity.argmax(axis=1) == words[with_depth]).mean())
                if with_depth.any() else None,
                "spearman": float(spearmanr(distance, depth).statistic) if with_depth.sum() > 1 else None,
                "depth_patches": int(with_depth.sum())}


def evaluate_language(spec: str, cfg: LanguageEvalConfig, device: torch.device, show_progress: bool = True) -> dict:
    """{"groups": {spectrum: {condition | 'all': figures}}, "retrieval": {spectrum: {"r@k": share}}}."""
    backbone = load_backbone(spec, device=device)
    if backbone.kind != "clip":
        raise ValueError(f"eval-language reads a CLIP backbone; {spec} is a {backbone.kind}")
    dataset = build_dataset(cfg.data, cfg.split, augment=False, show_progress=show_progress)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, collate_fn=collate_frames)
    groups: dict[tuple[str, str], GroupPatches] = defaultdict(GroupPatches)
    images, captions = defaultdict(list), defaultdict(list)
    with torch.inference_mode():
        class_texts = class_prompt_embeddings(backbone)
        word_texts = distance_word_embeddings(backbone)
        scale = float(backbone.model.logit_scale.exp())
        for batch in tqdm(loader, desc=f"language ({spec})", disable=not show_progress):
            for spectrum in batch_spectra(batch):
                pixels = backbone.preprocess(as_three_channels(batch[f"image/{spectrum}"].to(device)))
                image_embeddings, patches = backbone.global_and_dense_embeddings(pixels)
                labels = patch_labels(batch[f"classes/{spectrum}"].to(device), batch[f"depth/{spectrum}"][:, 0].to(device),
                                      backbone.image_size, backbone.patch_size, len(CLASS_NAMES), cfg.min_share)
                class_similarity = patch_similarity(patches, class_texts).transpose(1, 2).cpu().numpy()
                word_similarity = patch_similarity(patches, word_texts)
                distance = expected_distance(word_similarity, scale).cpu().numpy()
                word_similarity = word_similarity.transpose(1, 2).cpu().numpy()
                for index, condition in enumerate(batch["condition"]):
                    groups[spectrum, condition].add(class_similarity[index], labels.classes[index].flatten().cpu().numpy(),
                                                    word_similarity[index], labels.depth_words[index].flatten().cpu().numpy(),
                                                    labels.depth[index].flatten().cpu().numpy(), distance[index].flatten())
                images[spectrum].append(F.normalize(image_embeddings.float(), dim=-1).cpu())
                captions[spectrum].extend(batch_captions(batch, spectrum))
        retrieval = {spectrum: caption_recall(backbone, torch.cat(images[spectrum]), captions[spectrum])
                     for spectrum in images}
    pooled: dict[str, GroupPatches] = defaultdict(GroupPatches)
    for (spectrum, _), patches in groups.items():
        pooled[spectrum].extend(patches)
    order = {condition: index for index, condition in enumerate(EVAL_CONDITIONS)}
    figures: dict = {spectrum: {} for spectrum in SPECTRA if spectrum in pooled}
    for (spectrum, condition), patches in sorted(groups.items(), key=lambda item: order.get(item[0][1], len(order))):
        figures[spectrum][condition] = patches.figures()
    for spectrum, patches in pooled.items():
        figures[spectrum][ALL] = patches.figures()
    return {"groups": figures, "retrieval": {s: retrieval[s] for s in figures}, "name": backbone.name,
            "source": backbone.source}


def caption_recall(backbone, image_embeddings: torch.Tensor, captions: list[str]) -> dict[str, float]:
    """Recall at k of image-to-caption retrieval among the distinct captions."""
    distinct = sorted(set(captions))
    texts = F.normalize(backbone.encode_text(distinct).float(), dim=-1).cpu()
    own = torch.tensor([distinct.index(caption) for caption in captions])
    ranked = (image_embeddings @ texts.T).argsort(dim=1, descending=True)
    return {f"r@{k}": float((ranked[:, :k] == own[:, None]).any(dim=1).float().mean()) for k in RECALL_AT}


def _figure(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f} %" if percent else f"{value:.3f}"


def language_report(results: dict[str, dict], header: str) -> str:
    """Markdown: per backbone a spectrum x condition table, per-class AUROC, caption retrieval."""
    lines = [header]
    for label, result in results.items():
        lines += [f"\n## {label}\n", f"Backbone: {result['spec']} ({result['source']})\n",
                  "| spectrum | condition | mean class AUROC | distance word top-1 | Spearman (expected distance, depth) |",
                  "|---|---|---|---|---|"]
        for spectrum, by_condition in result["groups"].items():
            for condition, figures in by_condition.items():
                lines.append(f"| {SPECTRUM_LABELS[spectrum]} | {condition} | {_figure(figures['mean_auroc'])} | "
                             f"{_figure(figures['word_top1'], True)} | {_figure(figures['spearman'])} |")
        names = [CLASS_NAMES[c] for c in sorted(CLASS_PROMPTS)]
        lines += ["\nPer class prompt, AUROC over every condition:\n",
                  "| spectrum | " + " | ".join(f"{name} (\"{CLASS_PROMPTS[c]}\")"
                                                for c, name in zip(sorted(CLASS_PROMPTS), names)) + " |",
                  "|---|" + "---|" * len(names)]
        for spectrum, by_condition in result["groups"].items():
            lines.append(f"| {SPECTRUM_LABELS[spectrum]} | "
                         + " | ".join(_figure(by_condition[ALL]["auroc"][name]) for name in names) + " |")
        lines += ["\nCaption retrieval (image to its own caption among the split's distinct captions):\n",
                  "| spectrum | " + " | ".join(f"recall@{k}" for k in RECALL_AT) + " |",
                  "|---|" + "---|" * len(RECALL_AT)]
        for spectrum, recall in result["retrieval"].items():
            lines.append(f"| {SPECTRUM_LABELS[spectrum]} | "
                         + " | ".join(_figure(recall[f"r@{k}"], True) for k in RECALL_AT) + " |")
    return "\n".join(lines)


def mean_recall(result: dict, k: int = 1) -> float:
    return float(np.mean([recall[f"r@{k}"] for recall in result["retrieval"].values()]))


def spectra_mean(result: dict, figure: str) -> float:
    """A figure of every spectrum's pooled group, averaged over the spectra."""
    return float(np.mean([by_condition[ALL][figure] for by_condition in result["groups"].values()]))


def target_lines(results: dict[str, dict], targets: dict) -> list[str]:
    """Issue 43's targets, read on ``targets['model']`` (a label) against ``targets['before']``."""
    model, before = results[targets["model"]], results.get(targets.get("before", ""))

    def line(what: str, value, before_value, target: str, ok: bool) -> str:
        against = "" if before is None else f" against {before_value} before"
        return f"- {what}: {value}{against} (target {target}): {'met' if ok else 'NOT met'}"

    def auroc(result: dict, spectrum: str, condition: str) -> float:
        return result["groups"][spectrum][condition]["mean_auroc"]

    b = before or model
    lines = [line("class prompts, RGB by day, mean AUROC", f"{auroc(model, 'rgb', 'day'):.3f}",
                  f"{auroc(b, 'rgb', 'day'):.3f}", ">= 0.85", auroc(model, "rgb", "day") >= 0.85),
             line("class prompts, thermal at night, mean AUROC", f"{auroc(model, 'thr', 'night'):.3f}",
                  f"{auroc(b, 'thr', 'night'):.3f}", ">= 0.80", auroc(model, "thr", "night") >= 0.80),
             line("own distance word most similar, share of patches (mean over spectra)",
                  f"{100 * spectra_mean(model, 'word_top1'):.1f} %", f"{100 * spectra_mean(b, 'word_top1'):.1f} %",
                  ">= 45 %", spectra_mean(model, "word_top1") >= 0.45),
             line("Spearman of expected distance with depth (mean over spectra)",
                  f"{spectra_mean(model, 'spearman'):.3f}", f"{spectra_mean(b, 'spearman'):.3f}", ">= 0.7",
                  spectra_mean(model, "spearman") >= 0.7)]
    if before is not None:
        drop = 100 * (mean_recall(before) - mean_recall(model))
        lines.append(line("caption retrieval recall@1 (mean over spectra)", f"{100 * mean_recall(model):.1f} %",
                          f"{100 * mean_recall(before):.1f} %", "a fall of at most 5 points", drop <= 5.0))
    return lines


def run_eval_language(cfg: LanguageEvalConfig, repo_root: Path, device: torch.device | None = None) -> str:
    """Evaluate every configured backbone, write the report (.md) and the figures (.json)."""
    if cfg.data.dataset != "msynth":
        raise ValueError("eval-language scores against per-pixel classes, which only MS-Synth has "
                         f"(data.dataset: msynth, not {cfg.data.dataset})")
    device = device or torch.device("cpu")
    results = {label: {"spec": spec, **evaluate_language(spec, cfg, device)} for label, spec in cfg.backbones.items()}
    return write_language_report(results, cfg, repo_root)


def write_language_report(results: dict[str, dict], cfg: LanguageEvalConfig, repo_root: Path) -> str:
    """The report (.md) and the figures (.json) of ``results``, as ``run_eval_language`` writes them."""
    split = getattr(cfg.data, cfg.split)
    header = (f"# CLIP's language against MS-Synth's truth\n\nMS-Synth {cfg.split} split ({split.n_sequences} "
              f"sequences x {split.frames_per_sequence} frames, scale {cfg.data.scale:g}); a patch is scored where "
              f"one class holds more than {cfg.min_share:.0%} of its pixels (class prompts) or at least "
              f"{cfg.min_share:.0%} of its pixels have depth (distance words). 'all' pools every condition.\n\n"
              f"Printed by `python -m train eval-language --config train/configs/language-eval.yaml`.")
    text = language_report(results, header)
    if cfg.targets:
        text += "\n\n## Targets\n\n" + "\n".join(target_lines(results, cfg.targets))
    out = repo_root / cfg.report
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    return text
