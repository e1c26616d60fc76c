"""The declared depth-model interface: every architecture keeps the same contract, and
building a model does no I/O."""
import pytest
import torch

from core.models import (FUSED, AlignFuseConfig, DepthModel, FusionUnsupported, build_model, choose_anchor,
                         load_checkpoint)
from core.models import teacher as teacher_module
from core.models.interface import mirrored_inputs
from core.models.student import StudentConfig
from core.models.teacher import TeacherConfig, VFMTeacher
from core.models.vfm import load_backbone

SIZE = (64, 160)
CHANNELS = {"rgb": 3, "nir": 1, "thr": 1}


def inputs(batch=1, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = {s: torch.rand(batch, c, *SIZE, generator=generator) for s, c in CHANNELS.items()}
    K = {s: torch.tensor([[160.0, 0, 79.5], [0, 160.0, 31.5], [0, 0, 1]]).expand(batch, 3, 3) for s in CHANNELS}
    T = {s: torch.eye(4).expand(batch, 4, 4).clone() for s in CHANNELS}
    for offset, spectrum in zip((0.0, -0.2, 0.15), CHANNELS):
        T[spectrum][:, 0, 3] = offset
    return images, K, T


@pytest.fixture(scope="module")
def models(backbone_specs):
    clip, dino = backbone_specs
    torch.manual_seed(0)
    configs = {"align_fuse": AlignFuseConfig(input_size=SIZE),
               "vfm_teacher": TeacherConfig(input_size=SIZE, clip=clip, dino=dino, dino_image_size=(32, 80),
                                            aggregation_width=16, aggregation_heads=2, bin_head_width=16),
               "vfm_student": StudentConfig(input_size=SIZE)}
    return {name: build_model(config).eval() for name, config in configs.items()}


def test_every_architecture_is_a_depth_model_with_its_input_size_and_spectra(models):
    for model in models.values():
        assert isinstance(model, DepthModel)
        assert model.input_size == SIZE
        assert model.spectra == ("rgb", "nir", "thr")
    assert [name for name, model in models.items() if model.supports_fusion] == ["align_fuse"]


def test_infer_gives_spectral_depth_and_its_timings(models):
    images, K, T = inputs()
    for name, model in models.items():
        with torch.no_grad():
            expected = model.spectral_depth(images)
        result = model.infer(images, K, T, mode="spectral")
        assert set(result.depth) == set(CHANNELS) and result.anchor is None, name
        assert set(result.timings_ms) == set(CHANNELS) and all(t >= 0 for t in result.timings_ms.values())
        for spectrum, depth in result.depth.items():
            assert depth.shape == (1, 1, *SIZE) and depth.dtype == torch.float32
            assert torch.equal(depth, expected[spectrum].float()), (name, spectrum)


def test_fused_depth_is_in_the_chosen_anchor_and_only_from_fusion_models(models):
    images, K, T = inputs()
    model = models["align_fuse"]
    result = model.infer(images, K, T, mode="both", anchor="nir")
    assert result.anchor == "nir" and result.depth[FUSED].shape[-2:] == images["nir"].shape[-2:]
    assert torch.allclose(result.depth[FUSED], model(images, K, T, anchor="nir")["fused_depth"], atol=1e-6)
    # An anchor that is not among the inputs: the model's default anchor (thermal), by the one rule.
    without_rgb = {s: images[s] for s in ("nir", "thr")}
    assert model.infer(without_rgb, K, T, mode="fused", anchor="rgb").anchor == "thr"
    for name in ("vfm_teacher", "vfm_student"):
        with pytest.raises(FusionUnsupported):
            models[name].infer(images, K, T, mode="fused")
    with pytest.raises(ValueError, match="unknown mode"):
        model.infer(images, K, T, mode="fuse")


def test_the_anchor_rule_prefers_the_request_then_the_default_then_canonical_order():
    assert choose_anchor({"rgb", "thr"}, "rgb", "thr") == "rgb"
    assert choose_anchor({"rgb", "thr"}, "nir", "thr") == "thr"
    assert choose_anchor({"nir", "thr"}, None, "rgb") == "nir"
    with pytest.raises(ValueError):
        choose_anchor(set(), "rgb")


def test_building_a_teacher_from_backbones_loads_nothing(backbone_specs, monkeypatch):
    clip, dino = (load_backbone(spec) for spec in backbone_specs)
    config = TeacherConfig(input_size=SIZE, clip=backbone_specs[0], dino=backbone_specs[1],
                           dino_image_size=(32, 80), aggregation_width=16, aggregation_heads=2, bin_head_width=16)

    def refuse(spec):
        raise AssertionError(f"the constructor loaded {spec}")
    monkeypatch.setattr(teacher_module, "load_backbone", refuse)
    teacher = VFMTeacher(config, clip, dino)
    assert teacher.clip.backbone is clip and teacher.dino.backbone is dino
    with pytest.raises(AssertionError, match="loaded"):
        VFMTeacher.load_dependencies(config)


def test_a_checkpoint_loads_to_the_same_numbers_as_the_model_saved(models, tmp_path):
    from core.models import save_checkpoint
    images, K, T = inputs()
    for name, model in models.items():
        save_checkpoint(tmp_path / name, model, model.config, command="test")
        loaded, _ = load_checkpoint(tmp_path / name)
        assert list(loaded.state_dict()) == list(model.state_dict())
        mode = "both" if model.supports_fusion else "spectral"
        expected, actual = model.infer(images, K, T, mode=mode), loaded.infer(images, K, T, mode=mode)
        assert all(torch.equal(expected.depth[o], actual.depth[o]) for o in expected.depth), name


class ColumnRamp(DepthModel):
    """Depth 1 + the pixel's column, whatever the image: position, not content."""

    def __init__(self):
        super().__init__()
        self.config = AlignFuseConfig(input_size=SIZE)

    def depth_of(self, image, spectrum):
        columns = 1.0 + torch.arange(image.shape[-1], dtype=torch.float32)
        return columns.expand(image.shape[0], 1, image.shape[-2], -1)


def test_flip_average_of_a_column_ramp_is_its_mean_everywhere():
    images, K, T = inputs()
    model = ColumnRamp()
    single = model.infer(images, K, T).depth["rgb"]
    assert torch.equal(single[0, 0, 0], 1.0 + torch.arange(SIZE[1], dtype=torch.float32))
    averaged = model.infer(images, K, T, flip_average=True).depth["rgb"]
    # (1 + u + 1 + (W - 1 - u)) / 2 = (W + 1) / 2 at every pixel.
    assert torch.equal(averaged, torch.full_like(averaged, (SIZE[1] + 1) / 2))


@pytest.mark.parametrize("name, mode", [("align_fuse", "both"), ("vfm_student", "spectral")])
def test_flip_averaged_depth_of_mirrored_inputs_is_the_mirrored_depth(models, name, mode):
    images, K, T = inputs()
    mirrored = mirrored_inputs(images, K, T)
    model = models[name]

    def depth(inputs_, flip_average):
        return model.infer(*inputs_, mode=mode, anchor="nir", flip_average=flip_average).depth

    direct, of_mirror = depth((images, K, T), True), depth(mirrored, True)
    for output, value in direct.items():
        assert torch.allclose(of_mirror[output].flip(-1), value, atol=1e-5), output
    # One pass is not mirror-symmetric, so the check above can fail.
    assert not torch.allclose(depth(mirrored, False)["rgb"].flip(-1), depth((images, K, T), False)["rgb"], atol=1e-3)
