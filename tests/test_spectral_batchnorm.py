"""Per-spectrum BatchNorm statistics: inference normalises each spectrum as training did."""
import copy

import pytest
import torch
import torch.nn as nn
from timm.layers import BatchNormAct2d

from core.models import AlignFuseConfig, build_model
from core.models.spectral_batchnorm import (SpectralBatchNorm2d, SpectralBatchNormAct2d, SpectralConv2d,
                                            SpectralStatistics, fold_batchnorm, spectrum_statistics,
                                            use_spectral_statistics)
from distinct_statistics import give_distinct_statistics
from train.calibrate import calibrate_statistics

SPECTRA = ("rgb", "nir", "thr")


def spectral_batch(seed=0):
    """A training-like batch whose spectra differ in statistics: thermal offset and narrower."""
    generator = torch.Generator().manual_seed(seed)
    return {"image/rgb": torch.rand(8, 3, 64, 128, generator=generator),
            "image/nir": 0.5 * torch.rand(8, 1, 64, 128, generator=generator),
            "image/thr": 0.6 + 0.2 * torch.rand(8, 1, 64, 128, generator=generator)}


def mean_relative_difference(a, b):
    return ((a - b).abs() / b).mean().item()


def test_every_batchnorm_of_the_shared_network_keeps_one_set_of_statistics_per_spectrum():
    network = build_model(AlignFuseConfig(input_size=(32, 64), fusion=False)).network
    shared = [network.backbone, network.necks, network.decoder]
    norms = [m for part in shared for m in part.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, SpectralStatistics) for m in norms)
    assert all(m.running_mean.shape == (3, m.num_features) for m in norms)
    # The stems each see one spectrum: plain BatchNorm.
    assert not any(isinstance(m, SpectralStatistics) for m in network.stems.modules())


def test_training_updates_only_the_active_spectrums_statistics():
    norm = SpectralBatchNorm2d(nn.BatchNorm2d(2), SPECTRA).train()
    with spectrum_statistics("thr"):
        norm(torch.randn(8, 2, 4, 4) * 3 + 5)
    assert torch.equal(norm.running_mean[0], torch.zeros(2))  # rgb untouched
    assert torch.equal(norm.running_mean[1], torch.zeros(2))  # nir untouched
    assert torch.all(norm.running_mean[2] > 0.2)               # thr moved towards 5


def test_eval_output_equals_plain_batchnorm_with_that_spectrums_statistics():
    source = BatchNormAct2d(3, act_layer=nn.ReLU)
    spectral = SpectralBatchNormAct2d(source, SPECTRA).eval()
    with torch.no_grad():
        spectral.running_mean.copy_(torch.tensor([[0.0, 0, 0], [1, 1, 1], [2, -1, 3]]))
        spectral.running_var.copy_(torch.tensor([[1.0, 1, 1], [4, 4, 4], [0.5, 2, 3]]))
        spectral.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
    x = torch.randn(2, 3, 5, 5)
    for index, spectrum in enumerate(SPECTRA):
        reference = BatchNormAct2d(3, act_layer=nn.ReLU).eval()
        reference.load_state_dict({**spectral.state_dict(), "running_mean": spectral.running_mean[index],
                                   "running_var": spectral.running_var[index]})
        with spectrum_statistics(spectrum):
            torch.testing.assert_close(spectral(x), reference(x))


def test_a_forward_pass_without_a_spectrum_is_refused():
    norm = SpectralBatchNorm2d(nn.BatchNorm2d(2), SPECTRA).eval()
    with pytest.raises(RuntimeError, match="spectrum_statistics"):
        norm(torch.randn(1, 2, 3, 3))


def test_folding_a_spectral_batchnorm_gives_one_convolution_per_spectrum_with_the_same_output():
    torch.manual_seed(0)
    unfolded = give_distinct_statistics(nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False),
        SpectralBatchNormAct2d(BatchNormAct2d(4, act_layer=nn.ReLU), SPECTRA))).eval()
    folded = fold_batchnorm(copy.deepcopy(unfolded))
    assert isinstance(folded[0], SpectralConv2d) and isinstance(folded[1][-1], nn.ReLU)
    x = torch.randn(2, 3, 8, 8)
    outputs = []
    for spectrum in SPECTRA:
        with spectrum_statistics(spectrum), torch.no_grad():
            torch.testing.assert_close(folded(x), unfolded(x), rtol=1e-5, atol=1e-5)
            outputs.append(folded(x))
    assert not torch.allclose(outputs[0], outputs[2])  # each spectrum's own statistics
    with pytest.raises(RuntimeError, match="inside spectrum_statistics"):
        folded(x)


def test_folding_a_plain_batchnorm_gives_a_plain_convolution_and_refuses_training_mode():
    unfolded = give_distinct_statistics(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU()))
    with pytest.raises(ValueError, match="call .eval"):
        fold_batchnorm(unfolded)
    folded = fold_batchnorm(copy.deepcopy(unfolded).eval())
    assert type(folded[0]) is nn.Conv2d and isinstance(folded[1], nn.Identity)
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), unfolded.eval()(x), rtol=1e-5, atol=1e-5)


def test_a_checkpoint_with_one_shared_set_loads_it_into_every_spectrum():
    plain = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    with torch.no_grad():
        plain[1].running_mean.copy_(torch.tensor([0.3, -0.7]))
        plain[1].running_var.copy_(torch.tensor([2.0, 0.5]))
    spectral = use_spectral_statistics(nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)), SPECTRA)
    spectral.load_state_dict(plain.state_dict())
    assert torch.equal(spectral[1].running_mean, torch.tensor([[0.3, -0.7]] * 3))
    assert torch.equal(spectral[1].running_var, torch.tensor([[2.0, 0.5]] * 3))


def test_calibrated_eval_reproduces_training_mode_depth_for_every_spectrum():
    """Calibrated on one batch, eval-mode depth matches train-mode depth on that batch (batch
    statistics = running statistics, but for running_var's unbiased factor N / (N - 1), which
    compounds over the layers); with one set mixed over spectra, no spectrum matches."""
    torch.manual_seed(0)
    model = build_model(AlignFuseConfig(input_size=(64, 128), fusion=False))
    batch = spectral_batch()
    model.train()
    with torch.no_grad():
        training_depth = {s: model.network(batch[f"image/{s}"], s)["depth"] for s in SPECTRA}

    calibrate_statistics(model, [batch], torch.device("cpu"))
    with torch.no_grad():
        calibrated = model.spectral_depth({s: batch[f"image/{s}"] for s in SPECTRA})
    for s in SPECTRA:
        assert mean_relative_difference(calibrated[s], training_depth[s]) < 0.03

    with torch.no_grad():  # one mixed set, as plain BatchNorm keeps
        for norm in (m for m in model.modules() if isinstance(m, SpectralStatistics)):
            norm.running_mean.copy_(norm.running_mean.mean(0, keepdim=True).expand_as(norm.running_mean))
            norm.running_var.copy_(norm.running_var.mean(0, keepdim=True).expand_as(norm.running_var))
        mixed = model.spectral_depth({s: batch[f"image/{s}"] for s in SPECTRA})
    for s in SPECTRA:
        assert mean_relative_difference(mixed[s], training_depth[s]) > 0.2
