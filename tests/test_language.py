"""Dense language: patch labels from exact truth, the patch-text loss, and a tiny CLIP whose dense
loss teaches a frame that is half road, half sky which half is which."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from core.data.captions import (CLASS_PROMPTS, DEPTH_WORD_CENTRES_M, DEPTH_WORDS, class_for_prompt, depth_word,
                                distance_prompts)
from core.data.msynth.classes import CLASS_NAMES, ROAD, SKY, VEHICLE
from core.data.patch_labels import NO_LABEL, depth_word_indices, patch_labels
from core.losses.language import patch_text_loss
from core.models.vfm.language import class_prompt_embeddings, expected_distance, patch_similarity
from train.config import ClipLanguageConfig
from train.engine import Runtime
from train.pretrain_vfm import ClipPretrainer, make_clip_losses

GRID = (6, 15)        # the built-in CLIP's 96 x 240 input in 16-pixel patches
ROAD_DEPTH_M = 6.0    # "close"


def road_and_sky(sky_on_top: bool = True, height: int = 96, width: int = 240) -> dict[str, torch.Tensor]:
    """A frame whose upper (or lower) half is sky over no depth and the other half road at 6 m."""
    classes = torch.full((height, width), ROAD, dtype=torch.long)
    depth = torch.full((height, width), ROAD_DEPTH_M)
    image = torch.empty(3, height, width)
    image[:] = torch.tensor([0.35, 0.35, 0.35])[:, None, None]
    sky = slice(0, height // 2) if sky_on_top else slice(height // 2, height)
    classes[sky], depth[sky] = SKY, 0.0
    image[:, sky] = torch.tensor([0.45, 0.65, 0.95])[:, None, None]
    return {"image": image, "classes": classes, "depth": depth}


def test_patch_labels_are_the_majority_class_and_median_depth_of_the_pixels_each_patch_sees():
    frame = road_and_sky()
    classes, depth = frame["classes"].clone(), frame["depth"].clone()
    classes[48:64, 0:16] = VEHICLE        # the whole first road patch of row 3 is a car ...
    depth[48:64, 0:16] = 3.0              # ... at 3 m ("very close")
    classes[64:73, 16:32] = VEHICLE       # 9 of the 16 rows of a patch of row 4: a majority
    classes[64:72, 32:48] = VEHICLE       # 8 of 16, a tie with road: no majority
    labels = patch_labels(classes[None], depth[None], (96, 240), 16, len(CLASS_NAMES))
    assert labels.classes.shape == (1, *GRID)
    assert (labels.classes[0, :3] == SKY).all() and (labels.depth[0, :3] == 0).all()
    assert (labels.depth_words[0, :3] == NO_LABEL).all()
    assert labels.classes[0, 3, 0] == VEHICLE and labels.depth[0, 3, 0] == 3.0
    assert labels.depth_words[0, 3, 0] == DEPTH_WORDS.index("very close")
    assert labels.classes[0, 4, 1] == VEHICLE and labels.classes[0, 4, 2] == NO_LABEL
    assert labels.classes[0, 4, 3] == ROAD
    assert (labels.depth_words[0, 3:, 1:] == DEPTH_WORDS.index("close")).all()


def test_a_patch_with_no_majority_takes_no_part():
    classes = torch.zeros(1, 32, 32, dtype=torch.long)
    classes[0, :, 8:16], classes[0, :, 16:24], classes[0, :, 24:] = 1, 2, 3   # four classes, a quarter each
    labels = patch_labels(classes, torch.ones(1, 32, 32), (32, 32), 32, 4)
    assert labels.classes.item() == NO_LABEL
    sparse_depth = torch.zeros(1, 32, 32)
    sparse_depth[0, :10] = 5.0                                                  # under half the pixels valid
    assert patch_labels(classes, sparse_depth, (32, 32), 32, 4).depth.item() == 0.0


def test_depth_word_indices_agree_with_the_caption_words_at_every_edge():
    distances = [0.5, 3.999, 4.0, 7.9, 8.0, 13.0, 14.0, 21.0, 22.0, 34.0, 35.0, 54.0, 55.0, 200.0]
    indices = depth_word_indices(torch.tensor(distances))
    assert [DEPTH_WORDS[i] for i in indices] == [depth_word(d) for d in distances]
    assert depth_word_indices(torch.tensor([0.0])).item() == NO_LABEL
    assert [depth_word(c) for c in DEPTH_WORD_CENTRES_M] == list(DEPTH_WORDS)


def test_class_prompts_are_found_by_their_text_and_distance_words_by_the_teachers_phrasing():
    assert class_for_prompt("  The   Road. ") == ROAD and class_for_prompt("a car") == VEHICLE
    assert class_for_prompt("a red car") is None
    assert set(CLASS_PROMPTS) == set(range(len(CLASS_NAMES)))
    assert distance_prompts("close") == ["This scene appears to be close", "This road appears to be close"]


def test_patch_text_loss_is_zero_without_labels_and_falls_as_patches_meet_their_text():
    texts = torch.eye(3, 4)
    labels = torch.tensor([[0, 1, 2, NO_LABEL]])
    aligned = torch.eye(4)[None, :4].clone()
    aligned[0, 3] = torch.tensor([1.0, 1.0, 1.0, 0.0])
    misaligned = aligned[:, [1, 2, 0, 3]]
    scale = torch.tensor(10.0)
    assert patch_text_loss(aligned, texts, torch.full_like(labels, NO_LABEL), scale).item() == 0.0
    assert patch_text_loss(aligned, texts, labels, scale) < 0.01 < 5.0 < patch_text_loss(misaligned, texts, labels,
                                                                                           scale)


def test_expected_distance_is_the_word_centre_a_confident_similarity_points_at():
    similarity = torch.full((1, len(DEPTH_WORDS), 2), -1.0)
    similarity[0, 2, 0], similarity[0, 5, 1] = 1.0, 1.0
    assert torch.allclose(expected_distance(similarity, 100.0)[0],
                          torch.tensor([DEPTH_WORD_CENTRES_M[2], DEPTH_WORD_CENTRES_M[5]]))


def patch_class_error(pretrainer: ClipPretrainer, frames: list[dict]) -> float:
    """Share of the frames' road and sky patches whose most similar class prompt is not their class."""
    backbone = pretrainer.backbone
    with torch.no_grad():
        pixels = backbone.preprocess(torch.stack([f["image"] for f in frames]))
        patches = backbone.dense_embeddings(pixels)
        predicted = patch_similarity(patches, class_prompt_embeddings(backbone)).argmax(dim=1)
    truth = patch_labels(torch.stack([f["classes"] for f in frames]), torch.stack([f["depth"] for f in frames]),
                         backbone.image_size, backbone.patch_size, len(CLASS_NAMES)).classes.flatten(1)
    return float((predicted != truth).float().mean())


def train_tiny_clip(language: ClipLanguageConfig, frames: list[dict], steps: int) -> ClipPretrainer:
    torch.manual_seed(0)
    pretrainer = ClipPretrainer()
    compute = make_clip_losses(language, Runtime(torch.device("cpu"), 0, 1))
    batch = {"image/rgb": torch.stack([f["image"] for f in frames]),
             "classes/rgb": torch.stack([f["classes"] for f in frames]),
             "depth/rgb": torch.stack([f["depth"] for f in frames])[:, None],
             "condition": ["day"] * len(frames)}
    optimiser = torch.optim.AdamW(pretrainer.parameters(), lr=1e-3)
    pretrainer.train()
    for step in range(steps):
        optimiser.zero_grad()
        compute(pretrainer, batch, step)["loss"].backward()
        optimiser.step()
    return pretrainer.eval()


def test_the_dense_loss_teaches_a_tiny_clip_which_half_is_road_and_which_is_sky():
    # Sky on top in one frame and below in the other: only what a patch shows can tell them apart.
    frames = [road_and_sky(sky_on_top=True), road_and_sky(sky_on_top=False)]
    captions_only = train_tiny_clip(ClipLanguageConfig(), frames, steps=8)
    dense = train_tiny_clip(ClipLanguageConfig(w_class=1.0, w_distance=1.0), frames, steps=8)
    assert patch_class_error(dense, frames) == 0.0
    assert patch_class_error(captions_only, frames) >= 0.25
    assert patch_class_error(dense, frames) < patch_class_error(captions_only, frames)


def test_auroc_is_the_share_of_positive_negative_pairs_ranked_right_ties_half():
    from train.evaluate_language import auroc
    scores = np.array([0.9, 0.8, 0.3, 0.1])
    assert auroc(scores, np.array([True, True, False, False])) == 1.0
    assert auroc(scores, np.array([False, False, True, True])) == 0.0
    assert auroc(np.array([0.5, 0.5, 0.2]), np.array([True, False, False])) == 0.75   # one tie, one win
    assert auroc(scores, np.ones(4, bool)) is None


def test_the_language_targets_read_the_shipped_clip_against_the_one_before():
    from train.evaluate_language import target_lines

    def result(auroc_value: float, words: float, spearman: float, recall: float) -> dict:
        pooled = {"all": {"word_top1": words, "spearman": spearman}}
        return {"groups": {"rgb": {"day": {"mean_auroc": auroc_value}, **pooled},
                           "thr": {"night": {"mean_auroc": auroc_value}, **pooled}},
                "retrieval": {"rgb": {"r@1": recall}, "thr": {"r@1": recall}}}

    lines = target_lines({"new": result(0.9, 0.5, 0.75, 0.30), "old": result(0.5, 0.1, 0.0, 0.40)},
                         {"model": "new", "before": "old"})
    assert [line.endswith(": met") for line in lines] == [True, True, True, True, False]
    assert "0.900 against 0.500 before" in lines[0] and "30.0 % against 40.0 % before" in lines[4]


def test_eval_language_scores_a_clip_per_spectrum_and_condition_and_writes_its_report(tmp_path, backbone_specs):
    from train.__main__ import main as train_main
    clip, _ = backbone_specs
    report = tmp_path / "EVAL-language.md"
    config = Path(__file__).resolve().parents[1] / "train" / "configs" / "language-eval.yaml"
    train_main(["eval-language", "--config", str(config), "--set", f"backbones={{tiny: '{clip}'}}",
                "--set", "targets=null", "--set", "data.test.n_sequences=2", "--set", "data.test.frames_per_sequence=2",
                "--set", "data.test.conditions=[day,night]", "--set", "data.size=[64,160]", "--set", "data.scale=0.25",
                "--set", f"data.cache_root={tmp_path / 'cache'}", "--set", f"report={report}"])
    figures = json.loads(report.with_suffix(".json").read_text())["tiny"]
    assert list(figures["groups"]) == ["rgb", "nir", "thr"]
    assert list(figures["groups"]["rgb"]) == ["day", "night", "all"]
    pooled = figures["groups"]["thr"]["all"]
    assert pooled["class_patches"] == sum(figures["groups"]["thr"][c]["class_patches"] for c in ("day", "night")) > 0
    scored = [value for value in pooled["auroc"].values() if value is not None]
    assert scored and all(0.0 <= value <= 1.0 for value in scored)
    assert 0.0 <= pooled["word_top1"] <= 1.0 and -1.0 <= pooled["spearman"] <= 1.0
    assert set(figures["retrieval"]["rgb"]) == {"r@1", "r@5"}
    text = report.read_text()
    assert f"| Thermal | all | {pooled['mean_auroc']:.3f} | {100 * pooled['word_top1']:.1f} % |" in text
