"""VFM-Depth teacher and student, and the distillation losses, with tiny offline backbones."""
import copy
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may wait on the network

import open_clip
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import Dinov2Config, Dinov2Model

from core.data.augment import illumination_change, texture_swap
from core.losses.distillation import (
    affinity_graph,
    bin_distribution_loss,
    depth_imitation_loss,
    feature_imitation_loss,
    isomorphic_graph_loss,
)
from core.models import build_model, load_checkpoint, parameter_report, prepare_for_inference, save_checkpoint
from core.models.bins import DepthBinsHead, log_uniform_bin_centres
from core.models.student import StudentConfig, VFMStudent
from core.models.teacher import DEPTH_WORDS, TeacherConfig, VFMTeacher
from core.models.vfm import ClipBackbone, DinoBackbone
from distinct_statistics import give_distinct_statistics

SIZE = (64, 160)
CHANNELS = {"rgb": 3, "nir": 1, "thr": 1}


def images(spectrum, batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, CHANNELS[spectrum], *SIZE, generator=generator)


@pytest.fixture(scope="module")
def teacher_config(backbone_specs):
    clip, dino = backbone_specs
    return TeacherConfig(input_size=SIZE, clip=clip, dino=dino, dino_image_size=(32, 80), aggregation_width=16,
                         aggregation_heads=2, bin_head_width=16)


@pytest.fixture(scope="module")
def teacher(teacher_config):
    torch.manual_seed(0)
    return build_model(teacher_config).eval()


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return build_model(StudentConfig(input_size=SIZE)).eval()


def open_gates(teacher, value=0.5):
    with torch.no_grad():
        for aggregation in teacher.aggregation:
            aggregation.gate.fill_(value)


# ---------------------------------------------------------------- losses


def test_losses_are_zero_for_identical_outputs_and_positive_otherwise():
    generator = torch.Generator().manual_seed(1)
    depth = 0.5 + 50 * torch.rand(2, 1, 16, 40, generator=generator)
    valid = torch.rand(2, 1, 16, 40, generator=generator) > 0.3
    features = [torch.randn(2, 8, 8, 20, generator=generator), torch.randn(2, 16, 4, 10, generator=generator)]
    logits = torch.randn(2, 7, 8, 20, generator=generator)
    semantic = torch.randn(2, 12, 8, 20, generator=generator)

    assert depth_imitation_loss(depth, depth.clone()) == 0
    assert depth_imitation_loss(depth, depth.clone(), valid) == 0
    assert feature_imitation_loss(features, [f.clone() for f in features]) == 0
    assert bin_distribution_loss(logits, logits.clone()) == 0
    assert bin_distribution_loss(logits, logits.clone(), temperature=2.0) == 0
    assert isomorphic_graph_loss(semantic, semantic.clone()) == 0

    assert depth_imitation_loss(depth * 1.1, depth) > 0
    assert depth_imitation_loss(depth * 1.1, depth, valid) > 0
    assert feature_imitation_loss([f + 0.1 for f in features], features) > 0
    assert bin_distribution_loss(logits.flip(1), logits) > 0
    assert isomorphic_graph_loss(semantic.flip(-1), semantic) > 0
    # Different widths and grids: the student side is resized or pooled to the teacher's.
    coarse = [f[..., ::2, ::2] for f in features]
    assert feature_imitation_loss(coarse, features) > 0
    assert bin_distribution_loss(logits, logits[..., ::2, ::2]) > 0
    assert isomorphic_graph_loss(torch.randn(2, 5, 16, 40, generator=generator), semantic) > 0


def test_kl_losses_are_non_negative():
    generator = torch.Generator().manual_seed(2)
    for temperature in (0.5, 1.0, 4.0):
        for _ in range(5):
            student, teacher = torch.randn(2, 2, 7, 4, 4, generator=generator).mul(3)
            assert bin_distribution_loss(student, teacher, temperature) >= 0
    for _ in range(5):
        student, teacher = torch.randn(2, 1, 6, 8, 8, generator=generator)
        assert isomorphic_graph_loss(student, teacher, regions=(2, 4)) >= 0


def test_depth_imitation_ignores_invalid_pixels_and_empty_masks():
    student, teacher = torch.full((1, 1, 4, 4), 2.0), torch.full((1, 1, 4, 4), 2.0)
    student[..., 0, 0] = float("nan")
    valid = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    valid[..., 0, 0] = False
    assert depth_imitation_loss(student, teacher, valid) == 0
    assert depth_imitation_loss(student, teacher, torch.zeros_like(valid)) == 0


def test_affinity_graph_has_a_node_per_region_and_unit_diagonal():
    features = torch.randn(3, 10, 16, 40, generator=torch.Generator().manual_seed(3))
    graph = affinity_graph(features, regions=(2, 5))
    assert graph.shape == (3, 10, 10)
    torch.testing.assert_close(graph.diagonal(dim1=1, dim2=2), torch.ones(3, 10))
    torch.testing.assert_close(graph, graph.transpose(1, 2))
    assert graph.abs().max() <= 1 + 1e-6

    # A learnable node projection on the student side changes the graph, not its shape.
    projection = nn.Linear(10, 4)
    projected = affinity_graph(features, regions=(2, 5), node_projection=projection)
    assert projected.shape == (3, 10, 10) and not torch.allclose(projected, graph)
    loss = isomorphic_graph_loss(features, torch.randn(3, 6, 8, 20), regions=(2, 5), node_projection=projection)
    loss.backward()
    assert projection.weight.grad is not None and projection.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("augment", [texture_swap, illumination_change])
@pytest.mark.parametrize("channels", [3, 1])
def test_augmentations_keep_shape_and_range_change_the_image_and_repeat(augment, channels):
    batch = torch.rand(2, channels, *SIZE, generator=torch.Generator().manual_seed(4))
    augmented = augment(batch, torch.Generator().manual_seed(5))
    assert augmented.shape == batch.shape and augmented.dtype == batch.dtype
    assert augmented.min() >= 0 and augmented.max() <= 1
    assert (augmented - batch).abs().mean() > 0.01
    torch.testing.assert_close(augment(batch, torch.Generator().manual_seed(5)), augmented, rtol=0, atol=0)
    assert not torch.equal(augment(batch, torch.Generator().manual_seed(6)), augmented)


def test_texture_swap_keeps_the_image_without_swaps_on_one_channel():
    batch = torch.rand(2, 1, *SIZE, generator=torch.Generator().manual_seed(7))
    kept = texture_swap(batch, torch.Generator().manual_seed(0), swap_fraction=0.0)
    torch.testing.assert_close(kept, batch)


def test_texture_swap_gain_removes_or_amplifies_the_texture_and_one_keeps_it_exactly():
    batch = 0.25 + 0.5 * torch.rand(2, 1, *SIZE, generator=torch.Generator().manual_seed(7))
    low = F.avg_pool2d(batch, 9, stride=1, padding=4, count_include_pad=False)
    removed = texture_swap(batch, torch.Generator().manual_seed(0), swap_fraction=0.0, gain_range=(0.0, 0.0))
    torch.testing.assert_close(removed, low)
    doubled = texture_swap(batch, torch.Generator().manual_seed(0), swap_fraction=0.0, gain_range=(2.0, 2.0))
    torch.testing.assert_close(doubled, (low + 2 * (batch - low)).clamp(0, 1))
    # The default draws nothing: the swap repeats what it did before the gain existed.
    swapped = texture_swap(batch, torch.Generator().manual_seed(3))
    torch.testing.assert_close(texture_swap(batch, torch.Generator().manual_seed(3), gain_range=(1.0, 1.0)),
                               swapped, rtol=0, atol=0)
    gains = texture_swap(batch, torch.Generator().manual_seed(3), swap_fraction=0.0, gain_range=(0.0, 3.0)) - low
    ratios = [(gains[i] * (batch[i] - low[i])).sum() / (batch[i] - low[i]).square().sum() for i in range(2)]
    assert all(0 <= r <= 3 for r in ratios) and abs(ratios[0] - ratios[1]) > 1e-3


# ---------------------------------------------------------------- teacher


def test_teacher_runs_for_every_spectrum(teacher, teacher_config):
    for spectrum in CHANNELS:
        with torch.no_grad():
            out = teacher(images(spectrum), spectrum)
        for key in ("depth", "regression_depth", "bin_depth"):
            assert out[key].shape == (2, 1, *SIZE), key
            assert out[key].min() >= teacher_config.min_depth and out[key].max() <= teacher_config.max_depth, key
        assert out["bin_logits"].shape == out["bin_probs"].shape == (2, 7, SIZE[0] // 8, SIZE[1] // 8)
        torch.testing.assert_close(out["bin_probs"].sum(1), torch.ones(2, SIZE[0] // 8, SIZE[1] // 8))
        assert [f.shape[1] for f in out["features"]] == list(teacher_config.level_widths)
        assert out["semantic_features"].shape == (2, 32, 4, 10)  # DINO width, (32, 80) / patch 8
        assert torch.isfinite(out["depth"]).all()


def test_teacher_prompts_and_bins():
    config = TeacherConfig()
    assert config.depth_words == DEPTH_WORDS and config.num_bins == 7
    assert config.prompts()[:2] == [["This scene appears to be very close", "This road appears to be very close"],
                                    ["This scene appears to be close", "This road appears to be close"]]
    centres = log_uniform_bin_centres(0.1, 100.0, 7)
    ratios = centres[1:] / centres[:-1]
    torch.testing.assert_close(ratios, torch.full((6,), 1000 ** (1 / 7)))
    assert 0.1 < centres[0] and centres[-1] < 100.0


def test_bin_depth_upsampled_equals_upsampled_probabilities_and_differs_from_sharp_bins():
    torch.manual_seed(0)
    levels = [torch.randn(2, 8, 8, 20), torch.randn(2, 12, 4, 10)]
    regression = torch.full((2, 1, 32, 80), 5.0)
    heads = {sharp: DepthBinsHead([8, 12], 6, nn.Conv2d(6, 7, 1), 7, 0.1, 100.0, sharp=sharp).eval()
             for sharp in (True, False)}
    heads[False].load_state_dict(heads[True].state_dict())
    with torch.no_grad():
        out = {sharp: head(levels, regression) for sharp, head in heads.items()}
    centres = log_uniform_bin_centres(0.1, 100.0, 7).view(1, -1, 1, 1)
    upsampled_probs = F.interpolate(out[False]["bin_probs"], size=(32, 80), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[False]["bin_depth"], (upsampled_probs * centres).sum(1, keepdim=True))
    torch.testing.assert_close(out[False]["bin_logits"], out[True]["bin_logits"])
    assert not torch.allclose(out[False]["bin_depth"], out[True]["bin_depth"])
    for result in out.values():
        assert 0.1 <= result["depth"].min() and result["depth"].max() <= 100.0


def test_untrained_teacher_is_its_depth_net(teacher_config):
    torch.manual_seed(0)
    teacher = build_model(teacher_config).eval()
    image = images("thr", seed=1)
    with torch.no_grad():
        out = teacher(image, "thr")
        plain = teacher.depth_net(image, "thr")
        assert torch.equal(out["regression_depth"], plain["depth"])
        assert all(torch.equal(a, b) for a, b in zip(out["features"], plain["features"]))
        open_gates(teacher)
        aggregated = teacher(image, "thr")
    assert not torch.allclose(aggregated["regression_depth"], plain["depth"])
    unchanged = set(range(5)) - set(teacher_config.aggregation_levels)
    assert all(torch.equal(aggregated["features"][level], plain["features"][level]) for level in unchanged)


def test_teacher_keeps_its_backbones_frozen_and_out_of_its_state_dict(teacher):
    keys = teacher.state_dict().keys()
    assert not any(key.startswith(("clip.", "dino.")) for key in keys)
    assert "bins.classifier.text_embeddings" in keys
    assert teacher.bins.classifier.text_embeddings.shape == (7, 16)  # tiny CLIP's joint width
    frozen = list(teacher.clip.parameters()) + list(teacher.dino.parameters())
    assert frozen and not any(p.requires_grad for p in frozen)
    trainable = sum(p.numel() for p in teacher.parameters() if p.requires_grad)
    assert trainable == sum(t.numel() for key, t in teacher.state_dict().items()
                            if key in dict(teacher.named_parameters()))
    teacher.train()
    try:
        assert teacher.depth_net.training and not teacher.clip.backbone.training
        assert not any(m.training for m in teacher.dino.modules())
    finally:
        teacher.eval()
    with pytest.raises(ValueError, match="multiple of the DINO patch size"):
        build_model(TeacherConfig(clip=teacher.config.clip, dino=teacher.config.dino, dino_image_size=(30, 80)))


# ---------------------------------------------------------------- student


def test_student_runs_for_every_spectrum(student, teacher):
    for spectrum in CHANNELS:
        with torch.no_grad():
            out = student(images(spectrum), spectrum)
        assert out["depth"].shape == (2, 1, *SIZE)
        assert out["depth"].min() >= 0.1 and out["depth"].max() <= 100.0
        assert out["bin_logits"].shape == (2, 7, SIZE[0] // 8, SIZE[1] // 8)
        torch.testing.assert_close(out["bin_probs"].sum(1), torch.ones(2, SIZE[0] // 8, SIZE[1] // 8))
        assert "projected_features" not in out  # training-only: inference does not pay for them
    torch.testing.assert_close(student.bins.centres, teacher.bins.centres)


@pytest.mark.parametrize("kind", ["teacher", "student"])
def test_prepared_for_inference_gives_the_same_depth_for_every_spectrum(kind, request):
    trained = give_distinct_statistics(copy.deepcopy(request.getfixturevalue(kind)))
    if kind == "teacher":
        open_gates(trained)
    prepared = prepare_for_inference(copy.deepcopy(trained))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in prepared.modules())
    batch = {spectrum: images(spectrum) for spectrum in CHANNELS}
    with torch.no_grad():
        expected, actual = trained.spectral_depth(batch), prepared.spectral_depth(batch)
    for spectrum in CHANNELS:
        torch.testing.assert_close(actual[spectrum], expected[spectrum], rtol=1e-4, atol=1e-4)


def test_a_student_decoding_from_a_coarser_level_upsamples_only_its_final_depth():
    torch.manual_seed(0)
    student = build_model(StudentConfig(input_size=SIZE, decoder_widths=(16, 32, 48),
                                        depth_on_decoder_grid=True)).eval()
    with torch.no_grad():
        out = student(images("thr"), "thr")
    assert out["regression_depth"].shape[-2:] == (SIZE[0] // 4, SIZE[1] // 4)  # level 1: a quarter of the input
    assert out["depth"].shape == (2, 1, *SIZE)
    weight = out["blend_weight"]
    blended = (weight * out["regression_depth"].log() + (1 - weight) * out["bin_depth"].log()).exp()
    torch.testing.assert_close(out["depth"], F.interpolate(blended, size=SIZE, mode="bilinear", align_corners=False),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="decoder_widths needs 1 to 4 widths"):
        build_model(StudentConfig(input_size=SIZE, decoder_widths=(8, 8, 8, 8, 8)))


def test_student_projects_its_levels_to_the_teachers_widths_in_training(teacher):
    student = VFMStudent(StudentConfig(input_size=SIZE, teacher_level_widths=teacher.depth_net.level_widths)).train()
    out = student(images("rgb"), "rgb")
    assert [p.shape[1] for p in out["projected_features"]] == list(teacher.depth_net.level_widths)
    assert [p.shape[-2:] for p in out["projected_features"]] == [f.shape[-2:] for f in out["features"]]


def default_size_teacher() -> VFMTeacher:
    """The default teacher with ViT-B/32 CLIP and dinov2-small sizes, on the meta device: shapes
    and parameter counts without weights or memory."""
    with torch.device("meta"):
        clip_model = open_clip.create_model("ViT-B-32", pretrained=None, pretrained_text=False, device="meta")
        clip = ClipBackbone(clip_model, open_clip.get_tokenizer("ViT-B-32"), "ViT-B-32", "meta device")
        dino_config = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                                   intermediate_size=1536, patch_size=14, image_size=518)
        dino = DinoBackbone(Dinov2Model(dino_config), "dinov2-small", "meta device")
        return VFMTeacher(TeacherConfig(), clip, dino)


def test_student_has_at_most_35_percent_of_the_teachers_parameters(student, teacher):
    assert parameter_report(student)["total"] <= 0.35 * parameter_report(teacher)["total"]
    default_student = build_model(StudentConfig())
    default_teacher = default_size_teacher()
    assert parameter_report(default_student)["total"] <= 0.35 * parameter_report(default_teacher)["total"]
    # Even against the teacher's trainable part alone.
    trainable = sum(p.numel() for p in default_teacher.parameters() if p.requires_grad)
    assert parameter_report(default_student)["total"] <= 0.35 * trainable


# ---------------------------------------------------------------- checkpoints


def test_teacher_checkpoint_round_trips_and_names_its_backbones(teacher, teacher_config, tmp_path):
    open_gates(teacher, 0.3)  # so the aggregation weights matter for the outputs compared
    try:
        folder = save_checkpoint(tmp_path / "teacher", teacher, teacher_config, command="test")
        description = json.loads((folder / "config.json").read_text())
        assert description["architecture"] == "vfm_teacher"
        assert (description["model"]["clip"], description["model"]["dino"]) == (teacher_config.clip,
                                                                                teacher_config.dino)
        weights = load_file(str(folder / "model.safetensors"))
        assert set(weights) == set(teacher.state_dict())
        assert sum(t.numel() for t in weights.values()) < parameter_report(teacher)["total"] / 2
        loaded, _ = load_checkpoint(folder)
        assert isinstance(loaded, VFMTeacher) and loaded.config == teacher_config
        image = images("nir", seed=2)
        with torch.no_grad():
            expected, actual = teacher(image, "nir"), loaded(image, "nir")
        for key in ("depth", "regression_depth", "bin_logits"):
            torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0)
    finally:
        open_gates(teacher, 0.0)


def test_student_checkpoint_round_trips(student, tmp_path):
    folder = save_checkpoint(tmp_path / "student", student, student.config, command="test")
    loaded, description = load_checkpoint(folder)
    assert isinstance(loaded, VFMStudent) and description["architecture"] == "vfm_student"
    image = images("rgb", seed=3)
    with torch.no_grad():
        expected, actual = student(image, "rgb"), loaded(image, "rgb")
    for key in ("depth", "bin_logits"):
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0)


# ---------------------------------------------------------------- distillation


def test_one_distillation_step_updates_only_the_student(teacher):
    torch.manual_seed(1)
    student = VFMStudent(StudentConfig(input_size=SIZE, teacher_level_widths=teacher.depth_net.level_widths)).train()
    teacher.zero_grad(set_to_none=True)
    image = illumination_change(texture_swap(images("rgb", seed=4), torch.Generator().manual_seed(0)),
                                torch.Generator().manual_seed(1))
    # The teacher runs with autograd on (its trainable parts require gradients): the losses
    # themselves must keep gradients away from it.
    teacher_out, student_out = teacher(image, "rgb"), student(image, "rgb")
    loss = (depth_imitation_loss(student_out["depth"], teacher_out["depth"])
            + feature_imitation_loss(student_out["projected_features"], teacher_out["features"])
            + bin_distribution_loss(student_out["bin_logits"], teacher_out["bin_logits"])
            + isomorphic_graph_loss(student_out["features"][-2], teacher_out["semantic_features"], regions=(2, 5)))
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    # Every student part but the stems of the spectra not shown learns (encoder weights may
    # legitimately get exact zeros, e.g. behind a ReLU that is off everywhere).
    unused = ("depth_net.stems.nir.", "depth_net.stems.thr.", "depth_net.backbone.")
    without_gradient = [name for name, p in student.named_parameters()
                        if not name.startswith(unused) and (p.grad is None or not p.grad.any())]
    assert not without_gradient
    assert all(p.grad is None for name, p in student.named_parameters() if name.startswith(unused[:2]))
    assert sum(p.grad.abs().sum() for p in student.depth_net.backbone.parameters() if p.grad is not None) > 0
