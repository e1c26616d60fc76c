"""Training losses draw their randomness from (seed, step) alone: a resumed run computes at step
k exactly what an uninterrupted one does, and the augmentations run on the images' device."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the tiny teacher's backbones are local folders

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.data.augment import illumination_change, texture_swap
from core.geometry import make_transform
from core.models import AlignFuseConfig, build_model
from core.models.teacher import TeacherConfig
from train.align import make_align_losses
from train.config import AlignLoss, DistillLoss, FuseLoss, PretrainStageConfig, TeacherLoss, filled
from train.distill import make_distill_losses, student_for_teacher
from train.engine import Runtime
from train.fuse import make_fuse_losses
from train.pretrain_vfm import DinoPretrainer, make_dino_losses
from train.teacher import make_teacher_losses

SIZE = (64, 160)
CHANNELS = {"rgb": 3, "nir": 1, "thr": 1}
BASELINE = {"rgb": 0.2, "nir": -0.2, "thr": 0.0}  # metres along x in the rig
CPU = torch.device("cpu")
SEED = 7
RESUME_STEP = 2

ALIGN_LOSS = filled(AlignLoss(), {"supervised": "silog", "w_supervised": 1.0, "w_photometric": 0.1, "w_smoothness": 1e-3,
              "w_contrastive": 0.01, "w_global": 0.5, "w_local": 0.5, "local_level": 2, "local_samples": 16,
              "anchor": "thr", "query": "rgb", "w_consistency": 0.5,
              "p_texture_swap": 0.5, "texture_gain_range": [0.0, 3.0]})  # the swaps draw from (seed, step) too
FUSE_LOSS = filled(FuseLoss(), {"supervised": "silog", "drop_probability": 0.5})
TEACHER_LOSS = filled(TeacherLoss(), {"supervised": "silog", "w_regression": 0.5, "w_bins": 0.5,
                                      "p_texture_swap": 0.5, "texture_gain_range": [0.0, 3.0]})
DISTILL_LOSS = filled(DistillLoss(), {"supervised": "silog", "w_supervised": 0.5, "w_depth": 1.0, "w_feature": 0.1, "w_bins": 0.5,
                "w_graph": 1.0, "graph_regions": [2, 4], "graph_temperature": 0.1, "p_texture_robust": 1.0,
                "texture_gain_range": [0.0, 3.0]})  # the gain draws from (seed, step) too


def translation(x: float) -> torch.Tensor:
    return torch.from_numpy(make_transform(np.eye(3), [x, 0.0, 0.0]).astype(np.float32))


def synthetic_batch(batch_size: int = 2) -> dict:
    """Random images of every spectrum on a 64 x 160 rig seeing a plane at 10 m, with a previous
    frame 0.3 m behind (for the photometric loss), as collate_frames lays a batch out."""
    generator = torch.Generator().manual_seed(0)
    height, width = SIZE
    K = torch.tensor([[100.0, 0, (width - 1) / 2], [0, 100.0, (height - 1) / 2], [0, 0, 1]])
    pose = torch.eye(4).expand(batch_size, 4, 4)
    previous = pose.clone()
    previous[:, 2, 3] = -0.3
    batch = {"pose": pose.clone(), "pose@-1": previous}
    for spectrum, channels in CHANNELS.items():
        batch[f"image/{spectrum}"] = torch.rand(batch_size, channels, *SIZE, generator=generator)
        batch[f"image/{spectrum}@-1"] = torch.rand(batch_size, channels, *SIZE, generator=generator)
        batch[f"K/{spectrum}"] = K.expand(batch_size, 3, 3).clone()
        batch[f"T_rig_cam/{spectrum}"] = translation(BASELINE[spectrum]).expand(batch_size, 4, 4).clone()
        batch[f"depth/{spectrum}"] = torch.full((batch_size, 1, *SIZE), 10.0)
        batch[f"valid/{spectrum}"] = torch.ones(batch_size, 1, *SIZE, dtype=torch.bool)
    return batch


@pytest.fixture(scope="module")
def tiny_teacher(backbone_specs):
    clip, dino = backbone_specs
    torch.manual_seed(0)
    config = TeacherConfig(input_size=SIZE, clip=clip, dino=dino, dino_image_size=(32, 80), aggregation_width=16,
                           aggregation_heads=2, bin_head_width=16)
    return build_model(config).eval()


@pytest.fixture
def stage(request, tiny_teacher):
    """(make_losses(seed), module) of the stage named by the test's parameter."""
    torch.manual_seed(0)
    name = request.param
    if name == "align":
        return (lambda seed: make_align_losses(ALIGN_LOSS, seed, CPU),
                build_model(AlignFuseConfig(input_size=SIZE)).eval())
    if name == "fuse":
        return (lambda seed: make_fuse_losses(FUSE_LOSS, seed, CPU),
                build_model(AlignFuseConfig(input_size=SIZE, fusion=True)).eval())
    if name == "teacher":
        return lambda seed: make_teacher_losses(TEACHER_LOSS, seed, CPU), tiny_teacher
    student = student_for_teacher(tiny_teacher, {}).train()  # training mode: projected features
    return lambda seed: make_distill_losses(DISTILL_LOSS, tiny_teacher, seed, CPU), student


def detached(terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: value.detach() for name, value in terms.items()}


@pytest.mark.parametrize("stage", ["align", "fuse", "teacher", "distill"], indirect=True)
@torch.no_grad()  # the values are compared, not their gradients
def test_a_resumed_run_computes_the_terms_of_an_uninterrupted_one(stage):
    make_losses, module = stage
    batch = synthetic_batch()
    uninterrupted = make_losses(SEED)
    expected = [detached(uninterrupted(module, batch, step)) for step in range(RESUME_STEP + 2)]
    resumed = make_losses(SEED)  # a fresh closure, as after a restart
    for step in (RESUME_STEP, RESUME_STEP + 1):
        terms = detached(resumed(module, batch, step))
        assert terms.keys() == expected[step].keys()
        for name, value in terms.items():
            assert torch.equal(value, expected[step][name]), (step, name)
    # The draws do change from step to step (same module, same batch, other numbers).
    assert len({terms["loss"].item() for terms in expected}) > 1


@pytest.mark.parametrize("stage", ["align"], indirect=True)
@torch.no_grad()
def test_the_same_step_draws_differently_under_another_seed(stage):
    make_losses, module = stage
    batch = synthetic_batch()
    first, other = make_losses(SEED)(module, batch, 0), make_losses(SEED + 1)(module, batch, 0)
    assert not torch.equal(first["local"], other["local"])


@torch.no_grad()
def test_dino_pretraining_draws_its_spectrum_and_crops_from_seed_and_step():
    torch.manual_seed(0)
    cfg = filled(PretrainStageConfig(), {
        "seed": SEED, "dino": {"head": {"hidden_dim": 32, "bottleneck_dim": 16, "prototypes": 32},
                               "global_scale": [0.35, 1.0], "local_scale": [0.08, 0.35], "local_crops": 2,
                               "student_temperature": 0.1, "teacher_temperature": 0.04, "center_momentum": 0.9}})
    model = DinoPretrainer(cfg.dino.head).eval()
    runtime = Runtime(device=CPU, rank=0, world_size=1)
    batch = synthetic_batch()

    def loss_at(compute, step: int) -> torch.Tensor:
        model.center.zero_()  # the running centre is model state (saved with it), not a draw
        return compute(model, batch, step)["loss"]

    uninterrupted = make_dino_losses(cfg, runtime, model)
    expected = [loss_at(uninterrupted, step) for step in range(RESUME_STEP + 1)]
    assert torch.equal(loss_at(make_dino_losses(cfg, runtime, model), RESUME_STEP), expected[-1])
    assert len({value.item() for value in expected}) > 1


def devices() -> list[torch.device]:
    return [CPU, *([torch.device("cuda")] if torch.cuda.is_available() else [])]


@pytest.mark.parametrize("augment", [texture_swap, illumination_change])
@pytest.mark.parametrize("device", devices(), ids=str)
@pytest.mark.parametrize("generator_device", devices(), ids=str)
def test_augmentations_run_on_the_images_device_with_a_generator_on_any_device(augment, device,
                                                                                 generator_device):
    images = torch.rand(2, 3, *SIZE, generator=torch.Generator().manual_seed(1)).to(device)

    def augmented() -> torch.Tensor:
        return augment(images, torch.Generator(device=generator_device).manual_seed(5))

    out = augmented()
    assert out.device == images.device and out.shape == images.shape and out.dtype == images.dtype
    assert 0 <= out.min() and out.max() <= 1 and (out - images).abs().mean() > 0.01
    assert torch.equal(augmented(), out)


def expected_input(image: torch.Tensor, texture_removed: bool) -> torch.Tensor:
    """What a network is fed when a gain-0 texture swap removed the texture: the low-frequency layer."""
    return F.avg_pool2d(image, 9, stride=1, padding=4, count_include_pad=False) if texture_removed else image


@pytest.mark.parametrize("p_texture_swap, texture_removed", [(0.0, False), (1.0, True)])
@torch.no_grad()
def test_align_feeds_the_network_texture_swapped_inputs_only_when_asked(p_texture_swap, texture_removed):
    """With gain 0 a texture swap leaves exactly the low-frequency layer (RGB's channels permuted);
    with probability 0 the network sees the batch's images themselves."""
    torch.manual_seed(0)
    module = build_model(AlignFuseConfig(input_size=SIZE)).eval()
    seen = {}
    module.register_forward_pre_hook(lambda _, args: seen.update(args[0]))
    batch = synthetic_batch()
    loss_cfg = filled(ALIGN_LOSS, {"w_photometric": 0.0, "p_texture_swap": p_texture_swap,
                                   "texture_gain_range": [0.0, 0.0]})
    make_align_losses(loss_cfg, SEED, CPU)(module, batch, 0)
    for spectrum in CHANNELS:
        expected = expected_input(batch[f"image/{spectrum}"], texture_removed)
        assert torch.allclose(seen[spectrum].sort(dim=1).values, expected.sort(dim=1).values, atol=1e-6), spectrum


@pytest.mark.parametrize("p_texture_swap, texture_removed", [(0.0, False), (1.0, True)])
@torch.no_grad()
def test_teacher_feeds_its_drawn_spectrum_texture_swapped_only_when_asked(tiny_teacher, p_texture_swap,
                                                                          texture_removed):
    seen = []
    hook = tiny_teacher.register_forward_pre_hook(lambda _, args: seen.append(args))
    batch = synthetic_batch()
    loss_cfg = filled(TEACHER_LOSS, {"p_texture_swap": p_texture_swap, "texture_gain_range": [0.0, 0.0]})
    try:
        for step in range(3):
            make_teacher_losses(loss_cfg, SEED, CPU)(tiny_teacher, batch, step)
    finally:
        hook.remove()
    assert len({spectrum for _, spectrum in seen}) > 1  # the spectrum is drawn, not fixed
    for image_seen, spectrum in seen:
        expected = expected_input(batch[f"image/{spectrum}"], texture_removed)
        assert torch.allclose(image_seen.sort(dim=1).values, expected.sort(dim=1).values, atol=1e-6), spectrum
