"""Losses on synthetic scenes with exact geometry: planes seen from known camera poses."""
import math

import numpy as np
import pytest
import torch

import core.losses.contrastive as contrastive
from core.geometry import make_transform, rotation_xyz, warp_to_camera
from core.losses import (edge_aware_smoothness, geometric_consistency_loss, global_contrastive_loss,
                         info_nce, local_contrastive_loss, photometric_error, reprojection_loss,
                         silog_loss, smooth_l1_depth_loss, ssim)

H, W = 24, 32
K = torch.tensor([[40.0, 0, 15.5], [0, 40.0, 11.5], [0, 0, 1]], dtype=torch.float64)


def translation(x=0.0, y=0.0, z=0.0) -> torch.Tensor:
    return torch.from_numpy(make_transform(np.eye(3), [x, y, z]))


def plane_depth(K: torch.Tensor, height: int, width: int, T_plane_cam: np.ndarray,
                normal, offset: float) -> torch.Tensor:
    """Closed-form z-depth (1, 1, H, W) of the plane normal . X = offset (given in the frame
    T_plane_cam maps the camera into), seen by that camera."""
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    rays = np.linalg.inv(K.numpy()) @ np.stack([u, v, np.ones_like(u)]).reshape(3, -1)
    R, t = T_plane_cam[:3, :3], T_plane_cam[:3, 3]
    normal = np.asarray(normal, dtype=np.float64)
    z = (offset - normal @ t) / (normal @ (R @ rays))
    return torch.from_numpy(z.reshape(1, 1, height, width))


# ----------------------------------------------------------------------------- supervised

def test_supervised_losses_are_zero_for_a_perfect_prediction():
    gt = torch.rand(2, 1, 6, 8, dtype=torch.float64) * 20 + 1
    valid = torch.rand(2, 1, 6, 8) > 0.5
    assert silog_loss(gt, gt, valid) == pytest.approx(0, abs=1e-5)
    assert smooth_l1_depth_loss(gt, gt, valid) == 0


def test_silog_ignores_global_scale_only_with_full_variance_focus():
    gt = torch.rand(1, 1, 6, 8, dtype=torch.float64) * 20 + 1
    valid = torch.ones_like(gt, dtype=torch.bool)
    assert silog_loss(gt * 2, gt, valid, variance_focus=1.0) == pytest.approx(0, abs=1e-5)
    # variance_focus 0.85: 10 * sqrt((1 - 0.85) * log(2)^2)
    assert silog_loss(gt * 2, gt, valid) == pytest.approx(10 * math.sqrt(0.15) * math.log(2), rel=1e-9)


def test_smooth_l1_hand_values_and_per_image_averaging():
    gt = torch.full((2, 1, 2, 2), 10.0)
    pred = gt.clone()
    pred[0, 0, 0, 0] = 10.5  # 0.5 * 0.5^2 = 0.125
    pred[1, 0, 0, 0] = 12.0  # 2 - 0.5 = 1.5
    valid = torch.zeros_like(gt, dtype=torch.bool)
    valid[0, 0, 0, :] = True  # image 0: two valid pixels, mean 0.0625
    valid[1, 0, 0, 0] = True  # image 1: one valid pixel, 1.5
    assert smooth_l1_depth_loss(pred, gt, valid) == pytest.approx((0.0625 + 1.5) / 2)


@pytest.mark.parametrize("loss_fn", [silog_loss, smooth_l1_depth_loss])
def test_images_without_ground_truth_give_no_nan(loss_fn):
    pred = (torch.rand(2, 1, 6, 8) * 10 + 1).requires_grad_()
    gt = torch.rand(2, 1, 6, 8) * 10 + 1
    gt[1] = 0  # no ground truth in image 1
    valid = gt > 0
    loss = loss_fn(pred, gt, valid)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    assert pred.grad[1].abs().sum() == 0
    assert loss.item() == pytest.approx(loss_fn(pred[:1], gt[:1], valid[:1]).item(), rel=1e-6)

    empty = loss_fn(pred, gt, torch.zeros_like(valid))
    empty.backward()
    assert empty.item() == 0 and torch.isfinite(pred.grad).all()


# ----------------------------------------------------------------------------- photometric

def test_photometric_error_of_an_image_with_itself_is_zero():
    image = torch.rand(2, 3, H, W, dtype=torch.float64)
    assert torch.allclose(ssim(image, image), torch.ones_like(image))
    error = photometric_error(image, image)
    assert error.shape == (2, 1, H, W)
    assert error.abs().max() < 1e-12
    assert photometric_error(image, torch.rand_like(image)).mean() > 0.1


def _two_view_scene():
    """A textured fronto-parallel plane at 10 m; source cameras 0.5 m left and right of the
    target (exactly 2 px of parallax), rendered by warping the target with the true depth."""
    torch.manual_seed(0)
    target = torch.rand(1, 3, H, W, dtype=torch.float64)
    depth = torch.full((1, 1, H, W), 10.0, dtype=torch.float64)
    T_source_target = [translation(x=-0.5)[None], translation(x=0.5)[None]]
    sources = [warp_to_camera(target, depth, K[None], K[None], torch.linalg.inv(T))[0]
               for T in T_source_target]
    return target, sources, depth, T_source_target


def test_true_depth_gives_a_lower_reprojection_loss_than_a_wrong_one():
    target, sources, depth, T_source_target = _two_view_scene()
    generator = torch.Generator().manual_seed(0)
    correct, counted = reprojection_loss(target, sources, depth, K, T_source_target, generator=generator)
    wrong, _ = reprojection_loss(target, sources, depth * 2, K, T_source_target, generator=generator)
    # Each target pixel is seen exactly by one of the two sources (the other's warp is
    # invalid at the image border and must be ignored), so the true depth is exact.
    assert correct < 1e-9
    assert wrong > 0.05
    assert counted.float().mean() > 0.95


def test_automasking_drops_pixels_that_move_with_the_camera():
    # The source equals the target although the camera moved: a static (or co-moving)
    # scene, where the identity reprojection beats any warp.
    target, _, depth, T_source_target = _two_view_scene()
    loss, counted = reprojection_loss(target, [target.clone()], depth, K, T_source_target[:1],
                                      generator=torch.Generator().manual_seed(0))
    assert counted.float().mean() < 0.05
    _, unmasked = reprojection_loss(target, [target.clone()], depth, K, T_source_target[:1],
                                    automask=False)
    assert unmasked.float().mean() > 0.9  # everything but the invalid border column


def test_reprojection_loss_sends_gradient_to_depth():
    target, sources, depth, T_source_target = _two_view_scene()
    depth = (depth * 1.3).requires_grad_()
    loss, _ = reprojection_loss(target, sources, depth, K, T_source_target)
    loss.backward()
    assert torch.isfinite(depth.grad).all() and depth.grad.abs().sum() > 0


def test_smoothness_is_zero_for_constant_disparity():
    image = torch.rand(2, 3, H, W)
    assert edge_aware_smoothness(torch.full((2, 1, H, W), 0.3), image) == 0
    assert edge_aware_smoothness(torch.rand(2, 1, H, W), image) > 0
    # Mean-normalised: rescaling the disparity does not change the loss.
    disp = torch.rand(2, 1, H, W, dtype=torch.float64) + 0.1
    assert edge_aware_smoothness(disp * 5, image) == pytest.approx(edge_aware_smoothness(disp, image).item())


# ----------------------------------------------------------------------------- contrastive

def test_info_nce_hand_value():
    # cos(q, p) = 1, cos(q, n) = 0: -log(e^10 / (e^10 + e^0))
    loss = info_nce(torch.tensor([[2.0, 0.0]]), torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 5.0]]))
    assert loss.item() == pytest.approx(math.log1p(math.exp(-10)), rel=1e-5)


def test_info_nce_is_near_its_lower_bound_for_aligned_features_and_grows_when_shuffled():
    torch.manual_seed(0)
    N, C = 32, 64
    query = torch.randn(N, C)
    positives = torch.stack([query * 2, query * 0.5], dim=1)  # (N, P=2, C), aligned
    negative_bank = torch.randn(64, C)
    aligned = info_nce(query, positives, negative_bank)
    shuffled = info_nce(query, positives[torch.randperm(N)], negative_bank)
    assert aligned < 0.02  # lower bound 0
    assert shuffled > aligned + 2
    # Per-query negatives pointing away from the query: the bound log(1 + e^-20).
    opposite = info_nce(query, positives, -query.unsqueeze(1))
    assert opposite.item() == pytest.approx(math.log1p(math.exp(-20)), rel=1e-3)


def test_info_nce_normalises_each_vector_over_channels():
    torch.manual_seed(1)
    query, positives, negatives = torch.randn(8, 16), torch.randn(8, 3, 16), torch.randn(8, 5, 16)
    rescaled = info_nce(query * torch.rand(8, 1) * 10, positives * torch.rand(8, 3, 1) * 10,
                        negatives * torch.rand(8, 5, 1) * 10)
    assert rescaled.item() == pytest.approx(info_nce(query, positives, negatives).item(), rel=1e-5)


def test_info_nce_computes_in_float32_under_autocast():
    torch.manual_seed(5)
    # bfloat16-representable values: autocast's casts lose nothing, so only its arithmetic could differ.
    query, positives, negatives = (torch.randn(*shape).bfloat16() for shape in ((16, 32), (16, 2, 32), (48, 32)))
    exact = info_nce(query.float(), positives.float(), negatives.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        from_float32 = info_nce(query.float(), positives.float(), negatives.float())
        from_bfloat16 = info_nce(query, positives, negatives)
    for value in (from_float32, from_bfloat16):
        assert value.dtype == torch.float32
        assert value.item() == pytest.approx(exact.item(), abs=1e-6)


def _features(B, C, h, w):
    """Random per-spectrum features, leaves with gradients."""
    return {s: torch.randn(B, C, h, w, dtype=torch.float64, requires_grad=True)
            for s in ("rgb", "nir", "thr")}


def test_global_contrastive_loss_prefers_shared_features_that_agree_across_spectra():
    torch.manual_seed(2)
    B, C = 4, 16
    specific = _features(B, C, 3, 4)
    scene = torch.randn(B, C, 1, 1, dtype=torch.float64)
    # Spatial sizes differ between spectra, as the cameras do.
    aligned = {s: (scene + 0.01 * torch.randn(B, C, h, w, dtype=torch.float64)).requires_grad_()
               for s, (h, w) in {"rgb": (3, 4), "nir": (3, 5), "thr": (2, 4)}.items()}
    loss = global_contrastive_loss(aligned, specific)
    assert loss < global_contrastive_loss(_features(B, C, 3, 4), specific) - 1
    loss.backward()
    for features in [*aligned.values(), *specific.values()]:
        assert features.grad.abs().sum() > 0


# A rig at feature resolution 12 x 16: thermal anchor at the origin, RGB 0.5 m to its
# right, NIR 0.5 m to its left; with f = 16 and a plane at 8 m the parallax is 1 px.
FH, FW, PLANE_Z = 12, 16, 8.0
K_FEAT = torch.tensor([[16.0, 0, 7.5], [0, 16.0, 5.5], [0, 0, 1]], dtype=torch.float64)
RIG = {"thr": translation(), "rgb": translation(x=0.5), "nir": translation(x=-0.5)}
K_RIG = {s: K_FEAT for s in RIG}


def _rig_features(B=2, C=32):
    """Shared features rendered from one thermal-frame field (each spectrum sees the same
    3-D points), independent random specific features; all leaves with gradients."""
    torch.manual_seed(3)
    field = torch.randn(B, C, FH, FW, dtype=torch.float64)
    depth = torch.full((B, 1, FH, FW), PLANE_Z, dtype=torch.float64)
    shared = {}
    for spectrum, T_rig_cam in RIG.items():
        T_thr_cam = torch.linalg.inv(RIG["thr"]) @ T_rig_cam
        rendered, _ = warp_to_camera(field, depth, K_FEAT.expand(B, 3, 3), K_FEAT.expand(B, 3, 3),
                                     T_thr_cam.expand(B, 4, 4))
        shared[spectrum] = rendered.requires_grad_()
    return shared, _features(B, C, FH, FW)


def test_local_loss_is_low_with_the_true_depth_and_reaches_every_spectrum():
    shared, specific = _rig_features()
    # Depth at twice the feature resolution: resized inside.
    depth = torch.full((2, 1, 2 * FH, 2 * FW), PLANE_Z, dtype=torch.float64)
    result = local_contrastive_loss(shared, specific, depth, K_RIG, RIG, num_samples=64,
                                    generator=torch.Generator().manual_seed(0))
    assert not result.skipped.item() and result.num_samples.item() == 64
    assert result.valid_fraction.item() == pytest.approx((FW - 2) / FW)  # 1 px lost on each side
    wrong = local_contrastive_loss(shared, specific, depth / 3, K_RIG, RIG, num_samples=64,
                                   generator=torch.Generator().manual_seed(0))
    assert result.loss < 0.2 and wrong.loss > result.loss + 2

    result.loss.backward()
    for name, features in [*shared.items(), *specific.items()]:
        assert features.grad is not None and features.grad.abs().sum() > 0, name


def test_local_loss_is_skipped_without_a_valid_warp():
    shared, specific = _rig_features()
    result = local_contrastive_loss(shared, specific, torch.zeros(2, 1, FH, FW, dtype=torch.float64),
                                    K_RIG, RIG)
    assert result.skipped.item() and result.valid_fraction.item() == 0 and result.num_samples.item() == 0
    assert result.loss.item() == 0 and result.loss.requires_grad
    result.loss.backward()  # a graph-connected zero: backward works and changes nothing
    assert all(f.grad.abs().sum() == 0 for f in [*shared.values(), *specific.values()])

    # A baseline so wide that under 10 % of the anchor pixels are co-visible: the skip is a
    # 0/1 factor, so every input still gets a (zero) gradient.
    far_rig = {**RIG, "rgb": translation(x=7.0)}
    depth = torch.full((2, 1, FH, FW), PLANE_Z, dtype=torch.float64)
    far = local_contrastive_loss(shared, specific, depth, K_RIG, far_rig)
    assert far.skipped.item() and 0 < far.valid_fraction.item() < 0.1 and far.num_samples.item() == 0
    assert far.loss.item() == 0
    for features in [*shared.values(), *specific.values()]:
        features.grad = None
    far.loss.backward()
    assert all(f.grad is not None and f.grad.abs().sum() == 0 for f in [*shared.values(), *specific.values()])


def test_local_loss_result_is_tensors_that_need_no_host_read():
    shared, specific = _rig_features(C=8)
    depth = torch.full((2, 1, FH, FW), PLANE_Z, dtype=torch.float64)
    result = local_contrastive_loss(shared, specific, depth, K_RIG, RIG, num_samples=20)
    assert result.loss.shape == ()
    assert result.skipped.shape == () and result.skipped.dtype == torch.bool
    assert result.valid_fraction.shape == () and result.valid_fraction.is_floating_point()
    assert result.num_samples.shape == () and result.num_samples.dtype == torch.int64
    # On the meta device no value exists: any .item(), Python `if` on a tensor or
    # data-dependent shape (nonzero) would raise.
    on_meta = local_contrastive_loss({s: f.detach().to("meta") for s, f in shared.items()},
                                     {s: f.detach().to("meta") for s, f in specific.items()},
                                     depth.to("meta"), {s: k.to("meta") for s, k in K_RIG.items()},
                                     {s: t.to("meta") for s, t in RIG.items()}, num_samples=20)
    assert all(field.device.type == "meta" for field in on_meta)


def test_local_loss_samples_a_bounded_pixel_set(monkeypatch):
    shapes = []

    def recording_terms(query, positives, negatives, temperature, negative_valid):
        shapes.append((query.shape, positives.shape, negatives.shape))
        return info_nce_terms(query, positives, negatives, temperature, negative_valid)

    info_nce_terms = contrastive._info_nce_terms
    monkeypatch.setattr(contrastive, "_info_nce_terms", recording_terms)
    shared, specific = _rig_features(C=8)
    depth = torch.full((2, 1, FH, FW), PLANE_Z, dtype=torch.float64)
    local_contrastive_loss(shared, specific, depth, K_RIG, RIG, num_samples=20)
    # 20 queries, 2 positives each, a bank of 3 spectra x 20 specific features.
    assert shapes == [((20, 8), (20, 2, 8), (60, 8))]
    # More samples asked than co-visible pixels: every co-visible pixel is used, and the
    # shapes stop at the feature map's pixel count whatever the validity.
    co_visible = 2 * FH * (FW - 2)
    result = local_contrastive_loss(shared, specific, depth, K_RIG, RIG, num_samples=10_000)
    assert result.num_samples.item() == co_visible
    assert shapes[-1][2] == (3 * 2 * FH * FW, 8)


def _at_anchor(shared, specific, depth):
    """Every spectrum's shared and specific features warped into the thermal anchor camera,
    and the anchor pixels valid in every warp (the local loss's geometry, written out)."""
    B = depth.shape[0]
    valid = depth > 0
    shared_at, specific_at = {}, {}
    for s in RIG:
        if s == "thr":
            shared_at[s], specific_at[s] = shared[s], specific[s]
            continue
        T_src_anchor = torch.linalg.inv(RIG[s]) @ RIG["thr"]
        warped, ok = warp_to_camera(torch.cat([shared[s], specific[s]], 1), depth, K_FEAT.expand(B, 3, 3),
                                    K_FEAT.expand(B, 3, 3), T_src_anchor.expand(B, 4, 4))
        shared_at[s], specific_at[s] = warped.split([shared[s].shape[1], specific[s].shape[1]], 1)
        valid = valid & ok
    return shared_at, specific_at, valid


def _mean_info_nce_at(pixels, shared_at, specific_at):
    """The mean InfoNCE over flat pixel indices (the rgb query, nir and thr positives, a bank
    of every spectrum's specific features at those pixels)."""
    def at(features):
        return features.flatten(2).transpose(1, 2).flatten(0, 1)[pixels]

    positives = torch.stack([at(shared_at["nir"]), at(shared_at["thr"])], dim=1)
    negatives = torch.cat([at(specific_at[s]) for s in RIG])
    return info_nce(at(shared_at["rgb"]), positives, negatives)


@pytest.mark.parametrize("num_samples", [40, 10_000])
def test_local_loss_is_the_mean_info_nce_over_the_sampled_co_visible_pixels(monkeypatch, num_samples):
    torch.manual_seed(4)
    shared, specific = _rig_features(C=8)
    shared = {s: (f + 0.5 * torch.randn_like(f)).detach().requires_grad_() for s, f in shared.items()}
    # A depth edge: half of one image at 2 m, whose 4 px parallax leaves more pixels invalid.
    depth = torch.full((2, 1, FH, FW), PLANE_Z, dtype=torch.float64)
    depth[1, :, :, :FW // 2] = 2.0
    drawn = []

    def recording_sampler(valid, count, generator):
        index, index_valid = sample_pixels(valid, count, generator)
        drawn.append(index)
        return index, index_valid

    sample_pixels = contrastive._sample_pixels
    monkeypatch.setattr(contrastive, "_sample_pixels", recording_sampler)
    result = local_contrastive_loss(shared, specific, depth, K_RIG, RIG, num_samples=num_samples,
                                    generator=torch.Generator().manual_seed(5))
    shared_at, specific_at, valid = _at_anchor(shared, specific, depth)
    co_visible = valid.flatten()
    used = drawn[0][co_visible[drawn[0]]]
    # num_samples co-visible pixels, or all of them when there are fewer.
    assert len(used) == min(num_samples, int(co_visible.sum())) == result.num_samples.item()
    assert len(used.unique()) == len(used)
    expected = _mean_info_nce_at(used, shared_at, specific_at)
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-12)


# ----------------------------------------------------------------------------- consistency

def test_consistency_is_zero_for_a_plane_seen_from_a_camera_moved_along_its_axis():
    # Fronto-parallel plane at 12 m; the source camera is 2 m closer, elsewhere in x/y,
    # with other intrinsics and resolution. Raw depths differ (12 vs 10): only a same-frame
    # comparison sees them as consistent.
    K_src = torch.tensor([[30.0, 0, 9.5], [0, 30.0, 7.5], [0, 0, 1]], dtype=torch.float64)
    depth_dst = torch.full((1, 1, H, W), 12.0, dtype=torch.float64)
    depth_src = torch.full((1, 1, 16, 20), 10.0, dtype=torch.float64)
    T_dst_src = translation(0.3, -0.2, 2.0)[None]
    loss = geometric_consistency_loss(depth_src, depth_dst, K_src, K, T_dst_src)
    assert loss.item() == pytest.approx(0, abs=1e-12)
    scaled = geometric_consistency_loss(depth_src * 2, depth_dst, K_src, K, T_dst_src)
    assert scaled.item() == pytest.approx(1 / 3, rel=1e-9)  # |10 - 20| / (10 + 20)


def test_consistency_of_a_tilted_plane_under_rotation():
    normal, offset = [0.1, -0.2, 1.0], 12.0  # plane in the destination frame
    T_dst_src = make_transform(rotation_xyz(0.02, -0.03, 0.01), [0.4, -0.1, 0.3])
    depth_dst = plane_depth(K, H, W, np.eye(4), normal, offset).requires_grad_()
    depth_src = plane_depth(K, H, W, T_dst_src, normal, offset).requires_grad_()
    T = torch.from_numpy(T_dst_src)
    loss = geometric_consistency_loss(depth_src, depth_dst, K, K, T)
    # Not exactly 0: bilinear interpolation of depth, which is not linear across a tilted plane.
    assert loss.item() < 1e-5
    scaled = geometric_consistency_loss(depth_src * 1.2, depth_dst, K, K, T)
    assert scaled.item() == pytest.approx(0.2 / 2.2, rel=1e-3)
    assert geometric_consistency_loss(depth_src, depth_dst * 1.2, K, K, T) > 0.05
    scaled.backward()
    assert depth_src.grad.abs().sum() > 0 and depth_dst.grad.abs().sum() > 0


def test_consistency_without_co_visible_pixels_is_a_finite_zero():
    depth_src = torch.full((1, 1, H, W), 5.0, requires_grad=True)
    loss = geometric_consistency_loss(depth_src, torch.zeros(1, 1, H, W), K, K, translation()[None])
    loss.backward()
    assert loss.item() == 0 and torch.isfinite(depth_src.grad).all()
