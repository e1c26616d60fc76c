"""Built-in offline backbones: captions, the DINO loss, the pretrain-vfm stage, loading and fallback."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.data.captions import DEPTH_WORDS, depth_word, scene_caption
from core.data.msynth.classes import BUILDING, ROAD, SKY, VEHICLE
from core.losses import dino_loss, ema_update, updated_center
from core.models.vfm import load_backbone, load_backbone_or_builtin, load_builtin
from core.models.vfm import builtin as builtin_module
from train.__main__ import main as train_main

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "train" / "configs"


def test_depth_words_follow_distance():
    assert [depth_word(d) for d in (1.0, 6.0, 10.0, 18.0, 30.0, 45.0, 90.0)] == list(DEPTH_WORDS)


def test_caption_names_objects_by_area_at_their_median_depth():
    classes = np.full((10, 20), SKY)
    depth = np.zeros((10, 20), np.float32)
    classes[5:, :] = ROAD                      # roads are not named
    depth[5:, :] = 12.0
    classes[2:8, 0:10] = BUILDING              # 60 pixels at 40 m
    depth[2:8, 0:10] = 40.0
    classes[6:9, 12:16] = VEHICLE              # 12 pixels at 3 m
    depth[6:9, 12:16] = 3.0
    caption = scene_caption(classes, depth, "night", "thr")
    assert caption == ("A Thermal image at night. This building appears to be distant. "
                       "This car appears to be very close.")
    assert scene_caption(classes, depth, "unknown", "rgb").startswith("A RGB image. ")


def test_dino_loss_is_the_teachers_entropy_when_the_student_predicts_it_exactly():
    torch.manual_seed(0)
    logits = torch.randn(8, 32)
    teacher, center = [logits, logits], torch.zeros(1, 32)
    exact = [logits * (0.1 / 0.04)] * 3          # student logits / 0.1 == teacher logits / 0.04
    entropy = torch.special.entr(F.softmax(logits / 0.04, -1)).sum(-1).mean()
    assert torch.allclose(dino_loss(exact, teacher, center), entropy, atol=1e-5)
    wrong = [logits.roll(1, dims=0) * 2.5] * 3    # every image predicts another image's target
    assert dino_loss(wrong, teacher, center) > entropy + 1.0
    with pytest.raises(ValueError):
        dino_loss(exact[:1], teacher, center)


def test_dino_loss_has_no_gradient_through_the_teacher():
    teacher = [torch.randn(4, 16, requires_grad=True) for _ in range(2)]
    student = [torch.randn(4, 16, requires_grad=True) for _ in range(3)]
    dino_loss(student, teacher, torch.zeros(1, 16)).backward()
    assert all(t.grad is None for t in teacher) and all(s.grad is not None for s in student)


def test_center_and_ema_updates_have_their_closed_forms():
    center = torch.ones(1, 3)
    logits = [torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])]
    assert torch.allclose(updated_center(center, logits, 0.9), torch.tensor([[1.1, 1.1, 1.1]]))
    teacher, student = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    expected = 0.75 * teacher.weight.detach() + 0.25 * student.weight.detach()
    ema_update(teacher, student, 0.75)
    assert torch.allclose(teacher.weight, expected)


def tiny_pretrain(tmp_path: Path, kind: str) -> list[str]:
    return ["pretrain-vfm", "--config", str(CONFIGS / f"builtin-{kind}.yaml"),
            "--set", "optim.steps=3", "--set", "optim.batch_size=2", "--set", "log_every=1",
            "--set", "num_workers=0", "--set", "data.train.n_sequences=4", "--set", "data.train.frames_per_sequence=1",
            "--set", "data.scale=0.25", "--set", "data.size=[64,160]",
            "--set", f"data.cache_root={tmp_path / 'cache'}",
            "--set", f"out={tmp_path / 'builtins' / f'builtin-{kind}'}", "--set", f"run_dir={tmp_path / 'runs' / kind}"]


@pytest.fixture(scope="module")
def builtins(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("builtins")
    for kind in ("clip", "dino"):
        train_main(tiny_pretrain(tmp_path, kind))
    return tmp_path / "builtins"


@pytest.mark.slow   # trains, as every test on the builtins fixture does
@pytest.mark.parametrize("kind", ["clip", "dino"])
def test_pretrain_vfm_saves_a_backbone_that_loads_like_real_weights(builtins, kind):
    folder = builtins / f"builtin-{kind}"
    record = json.loads((folder / "training.json").read_text())
    assert record["command"].startswith("python -m train pretrain-vfm --config") and record["stage"] == "pretrain-vfm"
    assert (folder / "log.csv").read_text().startswith("step,")
    backbone = load_builtin(kind, root=builtins)
    assert backbone.kind == kind and "built-in" in backbone.source
    pixels = backbone.preprocess(torch.rand(2, 3, 64, 160))
    features = backbone.forward_features(pixels)
    assert features.grid == (6, 15) and features.patch_tokens.shape == (2, 90, backbone.embed_dim)
    attention = backbone.attention(pixels)
    assert len(attention) == backbone.num_layers
    assert torch.allclose(attention[-1].sum(-1), torch.ones(2, backbone.num_heads, 91), atol=1e-5)


@pytest.mark.slow
def test_builtin_clip_embeds_prompts(builtins):
    clip = load_builtin("clip", root=builtins)
    text = clip.encode_text(["This car appears to be close", "This car appears to be distant"])
    assert text.shape == (2, clip.global_dim) and not torch.allclose(text[0], text[1])


def test_missing_builtin_says_how_to_train_it(tmp_path):
    with pytest.raises(Exception, match="python -m train pretrain-vfm --config train/configs/builtin-dino.yaml"):
        load_builtin("dino", root=tmp_path)


@pytest.mark.slow
def test_unavailable_real_backbone_falls_back_to_the_builtin_and_says_so(builtins, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(builtin_module, "BUILTIN_ROOT", builtins)
    backbone, status = load_backbone_or_builtin("dino:no-such-org/dinov2-nowhere")
    assert backbone.name == "builtin-dino"
    assert "no-such-org/dinov2-nowhere could not be loaded" in status and "HF_HUB_OFFLINE" in status
    assert "serving the built-in DINO" in status
    assert load_backbone("builtin:clip").name == "builtin-clip"
