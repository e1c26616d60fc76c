"""The shared depth network, the fusion module, the factory and checkpoints, at small sizes."""
import copy
import itertools
import json
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.geometry import make_transform, rotation_xyz, scale_intrinsics
from core.models import (AlignFuseConfig, CheckpointError, build_model, level_intrinsics, load_checkpoint,
                         parameter_report, prepare_for_inference, save_checkpoint, split_shared_specific,
                         warp_features)
from core.models.depthnet import UpsampleConcatConv2d
from core.models.fusion import FusionModule, PooledAttention, token_grid
from distinct_statistics import give_distinct_statistics

# Spectra at different sizes, as unaligned cameras give them.
SIZES = {"rgb": (64, 160), "nir": (56, 168), "thr": (64, 128)}
CHANNELS = {"rgb": 3, "nir": 1, "thr": 1}
# A small rig: nir 0.2 m left of rgb, thr 0.15 m right, slightly rotated.
OFFSETS = {"rgb": (0.0, 0.0), "nir": (-0.2, 0.0), "thr": (0.15, 0.02)}


def intrinsics(height, width, focal_scale=1.0):
    return torch.tensor([[width * focal_scale, 0, (width - 1) / 2], [0, width * focal_scale, (height - 1) / 2],
                         [0, 0, 1]], dtype=torch.float32)


def make_inputs(spectra, batch=1, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = {s: torch.rand(batch, CHANNELS[s], *SIZES[s], generator=generator) for s in spectra}
    K = {s: intrinsics(*SIZES[s]).expand(batch, 3, 3) for s in spectra}
    T = {s: torch.from_numpy(make_transform(np.eye(3), [*OFFSETS[s], 0.0])).float().expand(batch, 4, 4)
         for s in spectra}
    return images, K, T


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = build_model(AlignFuseConfig(input_size=(64, 160))).eval()
    with torch.no_grad():  # open the gates so fusion actually changes the features
        for level in model.fusion.levels:
            level.gate.fill_(0.5)
    return model


def test_depth_is_bounded_and_at_input_size_for_every_spectrum(model):
    images, _, _ = make_inputs(SIZES, batch=2)
    with torch.no_grad():
        for spectrum, image in images.items():
            depth = model.network(image, spectrum)["depth"]
            assert depth.shape == (2, 1, *SIZES[spectrum])
            assert depth.min() >= model.config.min_depth and depth.max() <= model.config.max_depth


def test_decoder_merge_equals_the_convolution_of_the_concatenated_upsampled_features():
    torch.manual_seed(0)
    conv = UpsampleConcatConv2d(6, 4, 5)
    coarse, skip = torch.randn(2, 6, 7, 9), torch.randn(2, 4, 14, 17)  # odd sizes: not an exact 2x
    upsampled = F.interpolate(coarse, size=(14, 17), mode="bilinear", align_corners=False)
    expected = F.conv2d(torch.cat([upsampled, skip], dim=1), conv.weight)
    torch.testing.assert_close(conv(coarse, skip), expected, rtol=1e-5, atol=1e-5)


def test_depth_saturates_at_the_range_bounds(model):
    image = torch.rand(1, 1, 64, 160)
    head_bias = model.network.decoder.head[-1].bias
    original = head_bias.clone()
    try:
        with torch.no_grad():
            for bias, bound in ((1e4, model.config.max_depth), (-1e4, model.config.min_depth)):
                head_bias.fill_(bias)
                depth = model.network(image, "thr")["depth"]
                assert torch.allclose(depth, torch.full_like(depth, bound), rtol=1e-5)
    finally:
        with torch.no_grad():
            head_bias.copy_(original)


def test_features_split_into_shared_and_specific_halves(model):
    features = model.network.encode(torch.rand(2, 3, 64, 160), "rgb")
    assert [f.shape[1] for f in features] == list(model.network.level_widths)
    for feature, reduction in zip(features, (2, 4, 8, 16, 32)):
        shared, specific = split_shared_specific(feature)
        half = feature.shape[1] // 2
        assert shared.shape == specific.shape == (2, half, 64 // reduction, 160 // reduction)
        assert torch.equal(torch.cat([shared, specific], dim=1), feature)


def test_level_intrinsics_match_scale_intrinsics_per_sample():
    K = torch.stack([intrinsics(64, 160), intrinsics(64, 160, 0.7)])
    scaled = level_intrinsics(K, (64, 160), (8, 20))
    for k, expected in zip(K, scaled):
        assert torch.allclose(torch.from_numpy(scale_intrinsics(k.numpy(), 20 / 160, 8 / 64)).float(), expected)


def test_warp_features_between_identical_cameras_is_identity():
    feature = torch.rand(1, 6, 8, 20)
    K = intrinsics(64, 160)[None]
    depth = torch.full((1, 1, 64, 160), 12.0)
    warped, valid = warp_features(feature, (64, 160), K, depth, (8, 20), K, torch.eye(4)[None])
    assert valid.all()
    assert torch.allclose(warped, feature, atol=1e-5)


def test_warp_features_shifts_a_plane_by_the_disparity_at_level_resolution():
    # Plane at 10 m, baseline 0.5 m, f = 160 px at 64 x 160: 8 px of disparity, 1 px at 1/8 scale.
    feature = torch.rand(1, 4, 8, 20)
    K = intrinsics(64, 160)[None]
    depth = torch.full((1, 1, 64, 160), 10.0)
    T_src_dst = torch.from_numpy(make_transform(np.eye(3), [-0.5, 0, 0])).float()[None]
    warped, valid = warp_features(feature, (64, 160), K, depth, (8, 20), K, T_src_dst)
    assert torch.allclose(warped[..., 1:], feature[..., :-1], atol=1e-5)
    assert not valid[..., 0].any() and valid[..., 1:].all()
    assert (warped[..., 0] == 0).all()


@pytest.mark.parametrize("subset", [c for n in (1, 2, 3) for c in itertools.combinations(SIZES, n)],
                         ids="+".join)
def test_fusion_runs_for_every_subset_and_anchor(model, subset):
    images, K, T = make_inputs(subset, batch=2)
    with torch.no_grad():
        for anchor in subset:
            out = model(images, K, T, anchor=anchor)
            fused = out["fused_depth"]
            assert out["anchor"] == anchor and fused.shape == (2, 1, *SIZES[anchor])
            assert fused.min() >= model.config.min_depth and fused.max() <= model.config.max_depth
            assert set(out["fusion_weights"]) == set(subset)
            assert all((w == 1).all() for w in out["fusion_weights"][anchor])  # the anchor is the reference
            for spectrum in subset:
                assert all(((w >= 0) & (w <= 1 + 1e-6)).all() for w in out["fusion_weights"][spectrum])
            if len(subset) == 1:  # spectral-wise: the module is skipped
                assert torch.equal(fused, out["depth"][anchor])
            else:
                assert not torch.equal(fused, out["depth"][anchor])
            assert torch.allclose(model.fused_depth(images, K, T, anchor=anchor), fused, atol=1e-6)


def test_a_camera_that_sees_none_of_the_anchor_view_gets_zero_weight(model):
    images, K, T = make_inputs(("rgb", "nir"))
    T["nir"] = torch.from_numpy(make_transform(rotation_xyz(0, np.pi, 0), [0, 0, 0])).float()[None]
    with torch.no_grad():
        weights = model(images, K, T, anchor="rgb")["fusion_weights"]["nir"]
    assert all((w == 0).all() for w in weights)


def level_with_shared(*directions):
    """A (1, 8, 2, 2) level whose shared half (first 4 channels) is the unit vector e_d in each
    column d of ``directions`` (one per column), and whose specific half is ones."""
    level = torch.zeros(1, 8, 2, len(directions))
    for column, direction in enumerate(directions):
        level[0, direction, :, column] = 1.0
    level[:, 4:] = 1.0
    return [level]


def fuse_untrained(features, anchor, reference, base="anchor"):
    module = FusionModule([8], use_geometry=False, reference=reference, base=base)
    return module(features, anchor, None, {}, {}, {s: f[0].shape[-2:] for s, f in features.items()})


def fusion_weights(reference, features, anchor):
    return {s: w[0][0, 0] for s, w in fuse_untrained(features, anchor, reference).weights.items()}


def test_thermal_reference_weighs_a_dissimilar_anchor_down_instead_of_thermal():
    # Thermal and NIR agree everywhere; RGB agrees with them in column 1 only (a dark RGB
    # image in column 0, say).
    features = {"rgb": level_with_shared(1, 0), "nir": level_with_shared(0, 0), "thr": level_with_shared(0, 0)}
    by_thermal = fusion_weights("thr", features, anchor="rgb")
    assert (by_thermal["thr"] == 1).all() and torch.allclose(by_thermal["nir"], torch.ones(2, 2))
    assert torch.allclose(by_thermal["rgb"], torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
    by_anchor = fusion_weights(None, features, anchor="rgb")
    assert (by_anchor["rgb"] == 1).all()
    assert torch.allclose(by_anchor["thr"], torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
    # Without thermal the anchor is the reference again.
    del features["thr"]
    assert all(torch.equal(fusion_weights("thr", features, "rgb")[s], fusion_weights(None, features, "rgb")[s])
               for s in features)


def test_an_untrained_module_returns_its_base_the_anchor_or_the_weighted_mean():
    features = {"rgb": level_with_shared(1, 0), "nir": level_with_shared(0, 0), "thr": level_with_shared(0, 0)}
    on_anchor = fuse_untrained(features, "rgb", "thr", base="anchor").features[0]
    assert torch.equal(on_anchor, features["rgb"][0])
    # RGB weighs 0 in column 0 and 1 in column 1, where it equals NIR and thermal: the weighted
    # mean is thermal's features everywhere.
    on_mean = fuse_untrained(features, "rgb", "thr", base="weighted").features[0]
    assert torch.allclose(on_mean, features["thr"][0])
    with pytest.raises(ValueError, match="fusion base"):
        FusionModule([8], base="median")


def test_where_thermal_is_out_of_view_the_anchor_is_the_reference():
    torch.manual_seed(0)
    model = build_model(AlignFuseConfig(input_size=(64, 160), fusion_reference="thr")).eval()
    images, K, T = make_inputs(SIZES)
    T["thr"] = torch.from_numpy(make_transform(rotation_xyz(0, np.pi, 0), [0, 0, 0])).float()[None]
    with torch.no_grad():
        weights = model(images, K, T, anchor="rgb")["fusion_weights"]
    assert all((w == 0).all() for w in weights["thr"]) and all((w == 1).all() for w in weights["rgb"])
    with pytest.raises(ValueError, match="fusion_reference"):
        AlignFuseConfig(fusion_reference="uv")
    with pytest.raises(ValueError, match="fusion_base"):  # refused even where no module is built
        AlignFuseConfig(fusion=False, fusion_base="median")


def test_attention_tokens_are_bounded_at_every_level():
    assert token_grid(8, 20, 640) == (8, 20)
    assert token_grid(128, 320, 640) == (16, 40)
    assert all(h * w <= 100 for h, w in (token_grid(*size, 100) for size in ((7, 300), (1, 5000), (64, 64))))
    attention = PooledAttention(dim=64, max_tokens=100)
    x = torch.rand(1, 64, 64, 160)
    assert attention(x).shape == x.shape


def test_default_anchor_is_thermal_then_canonical_order(model):
    images, K, T = make_inputs(SIZES)
    with torch.no_grad():
        assert model(images, K, T)["anchor"] == "thr"
        del images["thr"]
        assert model(images, K, T)["anchor"] == "rgb"


def test_fusion_without_geometry_needs_no_cameras(model):
    images, _, _ = make_inputs(SIZES)
    model.fusion.use_geometry = False
    try:
        with torch.no_grad():
            out = model(images, anchor="nir")
        assert out["fused_depth"].shape == (1, 1, *SIZES["nir"])
        assert all(w.shape[-2:] == f.shape[-2:] for w, f in zip(out["fusion_weights"]["rgb"], out["fused_features"]))
    finally:
        model.fusion.use_geometry = True


def test_a_model_without_fusion_module_still_serves_single_spectra():
    model = build_model(AlignFuseConfig(fusion=False)).eval()
    images, K, T = make_inputs(("nir",))
    with torch.no_grad():
        out = model(images, K, T)
    assert out["anchor"] == "nir" and torch.equal(out["fused_depth"], out["depth"]["nir"])
    images, K, T = make_inputs(SIZES)
    with pytest.raises(ValueError, match="without the fusion module"):
        model(images, K, T)


def test_untrained_fusion_returns_the_anchor_features():
    model = build_model(AlignFuseConfig()).eval()
    images, K, T = make_inputs(SIZES)
    with torch.no_grad():
        out = model(images, K, T, anchor="rgb")
    assert all(torch.equal(a, b) for a, b in zip(out["fused_features"], out["features"]["rgb"]))


def test_stage_two_trains_only_the_fusion_module():
    model = build_model(AlignFuseConfig())
    model.freeze_network()
    model.train()
    assert not model.network.training and model.fusion.training
    images, K, T = make_inputs(SIZES)
    for level in model.fusion.levels:  # past the zero-initialised gate, so every weight gets a gradient
        torch.nn.init.constant_(level.gate, 0.1)
    model(images, K, T, anchor="thr")["fused_depth"].mean().backward()
    assert all(p.grad is None for p in model.network.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.fusion.parameters())


def test_shared_network_plus_fusion_is_within_1_15_of_one_spectral_network(model):
    # Both sides include stems: ours carries all three, the one spectral network its largest.
    report = parameter_report(model)
    assert report["network"] + report["fusion"] <= 1.15 * report["one_spectral_network"]
    assert report["three_separate_networks"] > 2.99 * report["one_spectral_network"]
    assert report["total"] == report["network"] + report["fusion"]


def test_checkpoint_round_trip_is_bit_identical(model, tmp_path):
    images, K, T = make_inputs(SIZES)
    model.train()
    with torch.no_grad():  # move BatchNorm running statistics away from their defaults
        model(images, K, T)
    model.eval()
    folder = save_checkpoint(tmp_path / "ckpt", model, model.config, metrics={"abs_rel": 0.1},
                             command="python -m train align --config x.yaml", extra={"training_data": "unit test"})
    loaded, description = load_checkpoint(folder)
    assert loaded.config == model.config
    assert description["command"] == "python -m train align --config x.yaml"
    assert description["training_data"] == "unit test" and description["spectra"] == ["rgb", "nir", "thr"]
    assert description["input_size"] == [64, 160]
    assert json.loads((folder / "metrics.json").read_text()) == {"abs_rel": 0.1}
    with torch.no_grad():
        expected, actual = model(images, K, T), loaded(images, K, T)
    assert torch.equal(expected["fused_depth"], actual["fused_depth"])
    assert all(torch.equal(expected["depth"][s], actual["depth"][s]) for s in SIZES)
    assert load_checkpoint(folder / "model.safetensors")[0].config == model.config


def test_corrupt_weights_give_a_clear_error(model, tmp_path):
    folder = save_checkpoint(tmp_path / "ckpt", model, model.config, command="test")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="model.safetensors is corrupt or truncated"):
        load_checkpoint(folder)


def test_config_mismatch_gives_a_clear_error(model, tmp_path):
    folder = save_checkpoint(tmp_path / "ckpt", model, model.config, command="test")
    description = json.loads((folder / "config.json").read_text())
    description["model"]["decoder_widths"] = [8, 16, 32, 48]
    (folder / "config.json").write_text(json.dumps(description))
    with pytest.raises(CheckpointError, match="does not match the architecture in .*config.json"):
        load_checkpoint(folder)


def test_missing_checkpoint_offline_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in (tmp_path / "nowhere", "spectradepth/not-a-real-checkpoint"):
        start = time.monotonic()
        with pytest.raises(CheckpointError, match="no checkpoint folder at"):
            load_checkpoint(name)
        assert time.monotonic() - start < 5


@pytest.mark.slow   # a training run
def test_a_tiny_batch_overfits():
    torch.manual_seed(0)
    model = build_model(AlignFuseConfig(fusion=False)).train()
    image = torch.rand(1, 1, 64, 160)
    v, u = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 160), indexing="ij")
    target = (5 + 20 * v + 5 * u)[None, None]
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(150):
        loss = F.smooth_l1_loss(model.network(image, "thr")["depth"], target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


def test_prepare_for_inference_changes_speed_not_results(model):
    images, K, T = make_inputs(SIZES)
    trained = give_distinct_statistics(copy.deepcopy(model))
    fast = prepare_for_inference(copy.deepcopy(trained))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    with pytest.raises(ValueError, match="count the parameters of the trained model"):
        parameter_report(fast)  # folded per-spectrum copies would inflate the counts
    convolutions = [m for m in fast.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convolutions)
    with torch.no_grad():
        expected, actual = trained(images, K, T), fast(images, K, T)
    torch.testing.assert_close(actual["fused_depth"], expected["fused_depth"], rtol=1e-4, atol=1e-4)
    for s in SIZES:
        torch.testing.assert_close(actual["depth"][s], expected["depth"][s], rtol=1e-4, atol=1e-4)
