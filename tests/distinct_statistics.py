"""BatchNorm statistics that differ per channel and per spectrum, so that folding them into
convolutions is tested on more than freshly initialised (zero mean, unit variance) ones."""
import torch
import torch.nn as nn


def give_distinct_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for norm in model.modules():
            if isinstance(norm, nn.BatchNorm2d):
                norm.running_mean.copy_(0.3 * torch.randn(norm.running_mean.shape, generator=generator))
                norm.running_var.copy_(0.5 + torch.rand(norm.running_var.shape, generator=generator))
                norm.weight.copy_(0.5 + torch.rand(norm.weight.shape, generator=generator))
                norm.bias.copy_(0.1 * torch.randn(norm.bias.shape, generator=generator))
    return model
