"""Geometry and the depth head stay float32 under bf16 autocast: CPU autocast shows what CUDA
training sees (a matmul runs in bf16 there even on float32 inputs)."""
from __future__ import annotations

import contextlib

import pytest
import torch

from core.geometry import make_transform, pixel_grid, rotation_xyz
from core.losses import geometric_consistency_loss
from core.losses.contrastive import local_contrastive_loss
from core.models.depthnet import DepthDecoder
from core.models.fusion import warp_features
from core.settings import TRAIN_CONFIGS_DIR
from train.config import ConfigError, load_config
from train.engine import autocast

H, W = 256, 640  # MS2's thermal camera: pixel columns up to 639, where bf16 steps by 4 px
K = torch.tensor([[[410.0, 0.0, 321.3], [0.0, 412.0, 128.7], [0.0, 0.0, 1.0]]])
T_SRC_DST = torch.from_numpy(make_transform(rotation_xyz(0.01, -0.02, 0.005), [0.12, -0.03, 0.05])).float()[None]


def bf16_autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def scene_depth(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 5.0 + 35.0 * torch.rand(1, 1, H, W, generator=generator)


def test_fusion_warp_lands_within_a_hundredth_of_a_pixel_of_fp32():
    """Warping the source's own pixel coordinates (bilinear sampling of a linear ramp returns
    the sampled position) shows where every destination pixel samples."""
    coordinates = pixel_grid(H, W)[:2][None]
    depth = scene_depth()
    full = warp_features(coordinates, (H, W), K, depth, (H, W), K, T_SRC_DST)
    with bf16_autocast():
        mixed = warp_features(coordinates, (H, W), K, depth, (H, W), K, T_SRC_DST)
    assert mixed[0].dtype == torch.float32
    valid = full[1] & mixed[1]
    assert valid.float().mean() > 0.5
    error = (mixed[0] - full[0]).abs().amax(dim=1, keepdim=True)[valid]
    assert error.max() < 0.01, f"warped positions differ by up to {error.max():.3f} px"


def test_local_contrastive_loss_under_autocast_equals_fp32():
    generator = torch.Generator().manual_seed(1)
    h, w = 64, 160
    shared = {s: torch.randn(1, 8, h, w, generator=generator) for s in ("rgb", "nir", "thr")}
    specific = {s: torch.randn(1, 8, h, w, generator=generator) for s in ("rgb", "nir", "thr")}
    K_level = K.clone()
    K_level[:, :2] *= 0.25
    T_rig = {"thr": torch.eye(4)[None], "nir": T_SRC_DST, "rgb": T_SRC_DST @ T_SRC_DST}
    K_all = {s: K_level for s in shared}

    def loss() -> torch.Tensor:
        return local_contrastive_loss(shared, specific, scene_depth(2), K_all, T_rig, num_samples=256,
                                      generator=torch.Generator().manual_seed(3)).loss

    full = loss()
    with bf16_autocast():
        mixed = loss()
    assert mixed.dtype == torch.float32
    assert torch.allclose(mixed, full, rtol=1e-5, atol=1e-6), (mixed.item(), full.item())


def test_consistency_loss_under_autocast_equals_fp32():
    depth_dst, depth_src = scene_depth(4), scene_depth(5)
    full = geometric_consistency_loss(depth_src, depth_dst, K, K, torch.linalg.inv(T_SRC_DST))
    with bf16_autocast():
        mixed = geometric_consistency_loss(depth_src, depth_dst, K, K, torch.linalg.inv(T_SRC_DST))
    assert torch.allclose(mixed, full, rtol=1e-5, atol=1e-7), (mixed.item(), full.item())


def test_the_depth_head_runs_in_float32_under_autocast():
    torch.manual_seed(0)
    decoder = DepthDecoder([16, 32, 64], [16, 32], 0.5, 100.0).eval()
    features = [torch.randn(1, 16, 32, 80), torch.randn(1, 32, 16, 40), torch.randn(1, 64, 8, 20)]
    logits_dtypes = []
    decoder.head[-1].register_forward_hook(lambda module, inputs, output: logits_dtypes.append(output.dtype))
    with torch.no_grad(), bf16_autocast():
        depth = decoder(features, (64, 160))
    assert logits_dtypes == [torch.float32] and depth.dtype == torch.float32


def test_precision_is_chosen_in_the_config():
    config = str(TRAIN_CONFIGS_DIR / "ms2-align.yaml")
    assert load_config(config, ["precision=fp32"], stage="align").precision == "fp32"
    assert load_config(config, [], stage="align").precision == "bf16"
    with pytest.raises(ConfigError, match="precision must be one of bf16, fp32, got 'fp16'"):
        load_config(config, ["precision=fp16"], stage="align")
    cuda = torch.device("cuda", 0)
    assert isinstance(autocast(cuda, "fp32"), contextlib.nullcontext)
    assert isinstance(autocast(torch.device("cpu"), "bf16"), contextlib.nullcontext)
