"""VFM backbones through their real loading paths, offline, with tiny models built here."""
import json
import math
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may wait on the network

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tiny_backbones import TINY_CLIP_CONFIG, save_tiny_clip
from transformers import (
    Dinov2Config,
    Dinov2Model,
    Dinov2WithRegistersConfig,
    Dinov2WithRegistersModel,
)

from core.models.vfm import (
    BackboneUnavailable,
    ClipBackbone,
    DinoBackbone,
    attention_rollout,
    cls_attention,
    download_blocker,
    load_backbone,
    load_clip,
    load_dino,
    prompt_similarity,
    rollout_cls_map,
)
from core.viz.attention import attention_overlay

TINY_CLIP_NAME = "spectradepth-test-tiny-vit"
GRID = (4, 4)
PATCHES = GRID[0] * GRID[1]
HEADS = 2


def _images(batch=2, height=40, width=48, seed=0):
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """(in-memory open_clip model, folder in open_clip's hf-hub layout, bare weights file)."""
    folder = tmp_path_factory.mktemp("tiny-clip")
    model = save_tiny_clip(folder)
    # The same weights as a bare file of an architecture open_clip knows by name.
    bare = tmp_path_factory.mktemp("tiny-clip-bare")
    (bare / f"{TINY_CLIP_NAME}.json").write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(bare / f"{TINY_CLIP_NAME}.json")
    weights = bare / "weights" / "tiny.safetensors"
    weights.parent.mkdir()
    save_file(model.state_dict(), str(weights))
    return model, folder, weights


@pytest.fixture(scope="module")
def clip_backbone(tiny_clip):
    _, folder, _ = tiny_clip
    return load_clip(local_dir=folder)


def _dino_config(registers=0):
    sizes = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
                 patch_size=8)
    return Dinov2WithRegistersConfig(num_register_tokens=registers, **sizes) if registers else Dinov2Config(**sizes)


@pytest.fixture(scope="module")
def tiny_dino(tmp_path_factory):
    torch.manual_seed(0)
    model = Dinov2Model(_dino_config()).eval()
    folder = tmp_path_factory.mktemp("tiny-dinov2")
    model.save_pretrained(folder)
    return model, folder


@pytest.fixture(scope="module")
def dino_backbone(tiny_dino):
    return load_dino(tiny_dino[1], image_size=32)


# ---------------------------------------------------------------- CLIP


def test_clip_folder_loads_the_same_model(tiny_clip, clip_backbone):
    model, folder, _ = tiny_clip
    assert (folder / "open_clip_model.safetensors").is_file() and (folder / "open_clip_config.json").is_file()
    assert clip_backbone.kind == "clip" and str(folder) in clip_backbone.source
    assert (clip_backbone.patch_size, clip_backbone.image_size, clip_backbone.embed_dim) == (8, (32, 32), 32)
    assert (clip_backbone.global_dim, clip_backbone.num_heads, clip_backbone.num_layers) == (16, HEADS, 2)

    pixels = clip_backbone.preprocess(_images())
    assert pixels.shape == (2, 3, 32, 32)
    with torch.no_grad():
        features = clip_backbone.forward_features(pixels, layers=[0, -1])
        expected_global = model.encode_image(pixels)
        expected_tokens = ClipBackbone(model, None, "in memory", "test").forward_features(pixels).patch_tokens
    assert features.patch_tokens.shape == (2, PATCHES, 32) and features.grid == GRID
    assert features.global_embedding.shape == (2, 16) and features.cls_token.shape == (2, 32)
    assert [layer.shape for layer in features.intermediate] == [(2, PATCHES, 32)] * 2
    assert features.patch_map().shape == (2, 32, *GRID)
    torch.testing.assert_close(features.global_embedding, expected_global)
    torch.testing.assert_close(features.patch_tokens, expected_tokens)


def test_clip_preprocess_uses_the_models_normalisation(clip_backbone):
    grey = torch.full((1, 3, 32, 32), 0.5)
    expected = (0.5 - torch.tensor(open_clip.OPENAI_DATASET_MEAN)) / torch.tensor(open_clip.OPENAI_DATASET_STD)
    torch.testing.assert_close(clip_backbone.preprocess(grey)[0, :, 0, 0], expected)
    with pytest.raises(ValueError, match="B, 3, H, W"):
        clip_backbone.preprocess(torch.rand(3, 32, 32))


def test_clip_spec_folder_and_bare_weights_file(tiny_clip, clip_backbone):
    _, folder, weights = tiny_clip
    pixels = clip_backbone.preprocess(_images(seed=1))
    with torch.no_grad():
        expected = clip_backbone.forward_features(pixels).global_embedding
        for backbone in (load_backbone(f"clip:{folder}"),
                         load_clip(TINY_CLIP_NAME, pretrained=weights),
                         load_clip(TINY_CLIP_NAME, local_dir=weights.parent),
                         load_backbone(f"clip:{TINY_CLIP_NAME}/{weights}")):
            assert backbone.kind == "clip"
            torch.testing.assert_close(backbone.forward_features(pixels).global_embedding, expected)
    assert str(weights) in load_clip(TINY_CLIP_NAME, pretrained=weights).source


def test_clip_attention_equals_manual_computation(clip_backbone):
    pixels = clip_backbone.preprocess(_images(seed=2))
    with torch.no_grad():
        attentions = clip_backbone.attention(pixels)
        x = clip_backbone.model.visual._embeds(pixels)
        for block, attention in zip(clip_backbone.blocks, attentions, strict=True):
            assert attention.shape == (2, HEADS, 1 + PATCHES, 1 + PATCHES)
            torch.testing.assert_close(attention.sum(-1), torch.ones(2, HEADS, 1 + PATCHES))
            q, k, _ = F.linear(block.ln_1(x), block.attn.in_proj_weight, block.attn.in_proj_bias).chunk(3, dim=-1)
            q, k = (t.reshape(2, 1 + PATCHES, HEADS, -1).transpose(1, 2) for t in (q, k))
            manual = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
            torch.testing.assert_close(attention, manual, atol=1e-5, rtol=1e-4)
            x = block(x)
        assert len(attentions) == clip_backbone.num_layers
        assert not any(block.attn._forward_hooks or block.attn._forward_pre_hooks for block in clip_backbone.blocks)


def test_concurrent_sessions_each_get_their_own_attention(clip_backbone):
    """The backbone is shared by every session: 3 sessions x 20 calls, each on its own image and
    layer, at once, must each get what the same call gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    inputs = [clip_backbone.preprocess(_images(seed=10 + session)) for session in range(3)]
    with torch.no_grad():
        alone = [clip_backbone.attention(pixels) for pixels in inputs]

    def session(index: int) -> int:
        mismatches = 0
        for call in range(20):
            layer = (index + call) % clip_backbone.num_layers
            with torch.no_grad():
                got = clip_backbone.attention(inputs[index])[layer]
                features = clip_backbone.forward_features(inputs[index])   # another request's kind of call
            mismatches += not torch.equal(got, alone[index][layer])
            mismatches += features.patch_tokens.shape[0] != 2
        return mismatches

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(session, range(3))) == [0, 0, 0]


def test_clip_text_and_prompt_similarity(clip_backbone):
    pixels = clip_backbone.preprocess(_images(seed=3))
    prompts = ["a photo of a road", "a very distant mountain"]
    with torch.no_grad():
        assert clip_backbone.encode_text(prompts).shape == (2, 16)
        similarity = prompt_similarity(clip_backbone, pixels, prompts)
        plain = prompt_similarity(clip_backbone, pixels, prompts, maskclip=False)
        projected = clip_backbone.forward_features(pixels).patch_tokens @ clip_backbone.model.visual.proj
        torch.testing.assert_close(clip_backbone.dense_embeddings(pixels, maskclip=False), projected)
    assert similarity.shape == (2, len(prompts), *GRID) and plain.shape == similarity.shape
    assert similarity.abs().max() <= 1.0 + 1e-5
    assert not torch.allclose(similarity[:, 0], similarity[:, 1])
    assert not torch.allclose(similarity, plain)


# ---------------------------------------------------------------- DINOv2


def test_dino_folder_loads_the_same_model(tiny_dino, dino_backbone):
    model, folder = tiny_dino
    assert (folder / "model.safetensors").is_file()
    assert dino_backbone.kind == "dino" and str(folder) in dino_backbone.source
    assert dino_backbone.model.config._attn_implementation == "eager"
    assert (dino_backbone.patch_size, dino_backbone.embed_dim, dino_backbone.num_prefix_tokens) == (8, 32, 1)
    pixels = dino_backbone.preprocess(_images())
    assert pixels.shape == (2, 3, 32, 32)
    with torch.no_grad():
        features = dino_backbone.forward_features(pixels, layers=[0, 1])
        reference = model(pixel_values=pixels, output_hidden_states=True)
    assert features.patch_tokens.shape == (2, PATCHES, 32) and features.grid == GRID
    assert features.global_embedding.shape == (2, 32) and features.cls_token.shape == (2, 32)
    torch.testing.assert_close(features.patch_tokens, reference.last_hidden_state[:, 1:])
    torch.testing.assert_close(features.global_embedding, reference.pooler_output)
    for index, layer in enumerate(features.intermediate):
        torch.testing.assert_close(layer, reference.hidden_states[index + 1][:, 1:])

    from_spec = load_backbone(f"dino:{folder}")
    assert from_spec.image_size == (224, 224)  # DINOv2's own crop size unless asked otherwise
    with torch.no_grad():
        torch.testing.assert_close(from_spec.forward_features(pixels).patch_tokens, features.patch_tokens)


def test_dino_attention_rows_are_distributions(dino_backbone):
    pixels = dino_backbone.preprocess(_images(seed=4))
    with torch.no_grad():
        attentions = dino_backbone.attention(pixels)
    assert len(attentions) == 2
    for attention in attentions:
        assert attention.shape == (2, HEADS, 1 + PATCHES, 1 + PATCHES)
        torch.testing.assert_close(attention.sum(-1), torch.ones(2, HEADS, 1 + PATCHES))


def test_dino_backbone_switches_an_in_memory_model_to_eager_attention():
    model = Dinov2Model(_dino_config())
    backbone = DinoBackbone(model, "in memory", "built in the test", image_size=32)
    assert model.config._attn_implementation == "eager"
    with torch.no_grad():
        attentions = backbone.attention(backbone.preprocess(_images(batch=1)))
    assert [attention.shape for attention in attentions] == [(1, HEADS, 1 + PATCHES, 1 + PATCHES)] * 2


def test_dino_with_registers_drops_register_tokens(tmp_path):
    torch.manual_seed(0)
    Dinov2WithRegistersModel(_dino_config(registers=2)).save_pretrained(tmp_path)
    backbone = load_dino(tmp_path, image_size=32)
    assert backbone.num_prefix_tokens == 3
    pixels = backbone.preprocess(_images())
    with torch.no_grad():
        features = backbone.forward_features(pixels, layers=[-1])
        last = backbone.attention(pixels)[-1]
    assert features.patch_tokens.shape == (2, PATCHES, 32) and features.intermediate[0].shape == (2, PATCHES, 32)
    assert last.shape == (2, HEADS, 3 + PATCHES, 3 + PATCHES)
    maps = cls_attention(last, features.grid, backbone.num_prefix_tokens)
    torch.testing.assert_close(maps.per_head.sum((-2, -1)), torch.ones(2, HEADS))


# ---------------------------------------------------------------- attention analysis


def test_cls_attention_sums_to_one_per_head(clip_backbone):
    pixels = clip_backbone.preprocess(_images(seed=5))
    with torch.no_grad():
        last = clip_backbone.attention(pixels)[-1]
    maps = cls_attention(last, GRID, num_prefix_tokens=1)
    assert maps.per_head.shape == (2, HEADS, *GRID) and maps.mean.shape == (2, *GRID)
    torch.testing.assert_close(maps.per_head.sum((-2, -1)), torch.ones(2, HEADS))
    torch.testing.assert_close(maps.mean.sum((-2, -1)), torch.ones(2))
    with pytest.raises(ValueError, match="grid"):
        cls_attention(last, (3, 3))


def test_attention_rollout(dino_backbone):
    pixels = dino_backbone.preprocess(_images(seed=6))
    with torch.no_grad():
        attentions = dino_backbone.attention(pixels)
    tokens = 1 + PATCHES
    for fusion in ("mean", "max", "min"):
        for discard in (0.0, 0.5):
            rollout = attention_rollout(attentions, discard_ratio=discard, head_fusion=fusion)
            assert rollout.shape == (2, tokens, tokens)
            torch.testing.assert_close(rollout.sum(-1), torch.ones(2, tokens))
    cls_map = rollout_cls_map(attention_rollout(attentions), GRID)
    assert cls_map.shape == (2, *GRID)
    torch.testing.assert_close(cls_map.sum((-2, -1)), torch.ones(2))

    # One layer: (mean over heads + identity) / 2, as rows of attention sum to 1.
    torch.testing.assert_close(attention_rollout(attentions[:1]),
                               (attentions[0].mean(1) + torch.eye(tokens)) / 2)
    identity = torch.eye(tokens).expand(2, HEADS, tokens, tokens)
    torch.testing.assert_close(attention_rollout([identity] * 3), torch.eye(tokens).expand(2, tokens, tokens))
    with pytest.raises(ValueError, match="head_fusion"):
        attention_rollout(attentions, head_fusion="median")


# ---------------------------------------------------------------- resolution and failures


@pytest.fixture
def local_hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache standing in for ~/.cache/huggingface/hub; returns a function
    that adds a cached snapshot of a repo (as a download would leave it) and gives its folder."""
    from huggingface_hub import constants
    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))

    def add_snapshot(repo_id):
        repo = cache / f"models--{repo_id.replace('/', '--')}"
        commit = "0" * 40
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(commit)
        snapshot = repo / "snapshots" / commit
        snapshot.mkdir(parents=True)
        return snapshot

    return add_snapshot


def test_clip_tag_loads_from_the_local_hf_cache(tiny_clip, clip_backbone, local_hf_cache, monkeypatch):
    model, _, _ = tiny_clip
    # A pretrained tag for the tiny architecture, hosted like open_clip's own tags ('org/repo/').
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY_CLIP_NAME,
                        {"cached": open_clip.pretrained._pcfg(hf_hub="spectradepth/tiny-clip/")})
    with pytest.raises(BackboneUnavailable, match="not in the local Hugging Face cache"):
        load_clip(TINY_CLIP_NAME, "cached")
    save_file(model.state_dict(), str(local_hf_cache("spectradepth/tiny-clip") / "open_clip_model.safetensors"))
    backbone = load_backbone(f"clip:{TINY_CLIP_NAME}/cached")
    assert backbone.source == f"open_clip {TINY_CLIP_NAME} (cached) from the local Hugging Face cache"
    pixels = clip_backbone.preprocess(_images(seed=8))
    with torch.no_grad():
        torch.testing.assert_close(backbone.forward_features(pixels).global_embedding, model.encode_image(pixels))


def test_clip_hub_repo_loads_from_the_local_hf_cache(tiny_clip, clip_backbone, local_hf_cache):
    model, folder, _ = tiny_clip
    with pytest.raises(BackboneUnavailable, match="HF_HUB_OFFLINE"):
        load_backbone("clip:hf-hub:spectradepth/tiny-clip-repo")
    snapshot = local_hf_cache("spectradepth/tiny-clip-repo")
    for name in ("open_clip_config.json", "open_clip_model.safetensors"):
        (snapshot / name).write_bytes((folder / name).read_bytes())
    backbone = load_backbone("clip:hf-hub:spectradepth/tiny-clip-repo")
    assert backbone.source == "open_clip hf-hub:spectradepth/tiny-clip-repo from the local Hugging Face cache"
    pixels = clip_backbone.preprocess(_images(seed=10))
    with torch.no_grad():
        torch.testing.assert_close(backbone.forward_features(pixels).global_embedding, model.encode_image(pixels))
        assert backbone.encode_text(["a road"]).shape == (1, 16)


def test_dino_repo_id_loads_from_the_local_hf_cache(tiny_dino, dino_backbone, local_hf_cache):
    model, _ = tiny_dino
    model.save_pretrained(local_hf_cache("spectradepth/tiny-dinov2"))
    backbone = load_dino("spectradepth/tiny-dinov2", image_size=32)
    assert backbone.source == "spectradepth/tiny-dinov2 from the local Hugging Face cache"
    pixels = dino_backbone.preprocess(_images(seed=9))
    with torch.no_grad():
        torch.testing.assert_close(backbone.forward_features(pixels).patch_tokens,
                                   dino_backbone.forward_features(pixels).patch_tokens)


def _cached(repo_id, *filenames):
    from huggingface_hub import try_to_load_from_cache
    return any(isinstance(try_to_load_from_cache(repo_id, name), str) for name in filenames)


def test_offline_dino_fails_fast_and_says_why(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if _cached("facebook/dinov2-small", "config.json"):
        pytest.skip("facebook/dinov2-small is in the local Hugging Face cache, so it loads offline")
    start = time.perf_counter()
    with pytest.raises(BackboneUnavailable) as failure:
        load_backbone("dino:facebook/dinov2-small")
    assert time.perf_counter() - start < 10
    message = str(failure.value)
    assert "facebook/dinov2-small" in message and "local Hugging Face cache" in message
    assert "HF_HUB_OFFLINE" in message


def test_offline_clip_fails_fast_and_says_why(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if _cached("timm/vit_base_patch32_clip_224.openai", "open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        pytest.skip("CLIP ViT-B-32 (openai) is in the local Hugging Face cache, so it loads offline")
    start = time.perf_counter()
    with pytest.raises(BackboneUnavailable) as failure:
        load_clip("ViT-B-32", "openai")
    assert time.perf_counter() - start < 10
    message = str(failure.value)
    assert "ViT-B-32" in message and "openai" in message and "HF_HUB_OFFLINE" in message


def test_unreachable_hub_fails_fast_without_the_offline_flag(monkeypatch):
    from huggingface_hub import constants
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    assert "127.0.0.1 is not reachable" in download_blocker()
    if _cached("facebook/dinov2-small", "config.json"):
        pytest.skip("facebook/dinov2-small is in the local Hugging Face cache")
    start = time.perf_counter()
    with pytest.raises(BackboneUnavailable, match="not reachable"):
        load_dino("facebook/dinov2-small")
    assert time.perf_counter() - start < 10


def test_bad_specs_say_what_is_expected(tmp_path):
    with pytest.raises(ValueError, match="kind one of builtin, clip, dino"):
        load_backbone("sam:vit-b")
    with pytest.raises(ValueError, match="names no weights"):
        load_backbone("clip:ViT-B-32")
    with pytest.raises(ValueError, match="only open_clip ViT"):  # refused before any weights are fetched
        load_backbone("clip:RN50/openai")
    with pytest.raises(ValueError, match="no pretrained tag"):
        load_clip("ViT-B-32", "no-such-tag")
    with pytest.raises(BackboneUnavailable, match="does not exist"):
        load_backbone(f"dino:{tmp_path / 'missing'}")
    with pytest.raises(BackboneUnavailable, match="neither"):
        load_backbone(f"clip:{tmp_path}")


# ---------------------------------------------------------------- overlay


def test_attention_overlay_matches_the_image_size():
    attention = torch.rand(*GRID, generator=torch.Generator().manual_seed(7))
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    overlay = attention_overlay(rgb, attention)
    assert overlay.shape == (20, 30, 3) and overlay.dtype == np.uint8
    assert not np.array_equal(overlay, rgb)
    np.testing.assert_array_equal(attention_overlay(rgb, attention.numpy(), alpha=0.0), rgb)
    grey = attention_overlay(rgb[..., 0], np.full(GRID, 0.25))  # grey image, constant map
    assert grey.shape == (20, 30, 3) and grey.dtype == np.uint8
    with pytest.raises(ValueError, match="uint8"):
        attention_overlay(rgb.astype(np.float32), attention)
