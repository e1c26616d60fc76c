"""Full precision inside mixed-precision training.

Under bf16 autocast a matmul runs in bf16 even when its inputs were made float32 with
``.float()``: bf16 holds 8 significant bits, so pixel coordinates between 256 and 511 come out
in steps of 2 px. Geometry (back-projection, transforms, projection, warps) and the depth
head's output therefore run with autocast disabled, in float32 (float64 inputs stay float64).
"""
from __future__ import annotations

import contextlib
import functools

import torch

_HALF_TYPES = (torch.float16, torch.bfloat16)


def autocast_disabled(device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast off on ``device`` (nothing to disable where it has none, e.g. meta)."""
    if not torch.amp.is_autocast_available(device.type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, enabled=False)


def at_least_float32(value):
    """A half-precision tensor as float32; anything else unchanged."""
    return value.float() if isinstance(value, torch.Tensor) and value.dtype in _HALF_TYPES else value


def full_precision(function):
    """``function`` run with autocast disabled on its tensors' device and its half-precision
    tensor arguments made float32."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        device = next(a.device for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor))
        with autocast_disabled(device):
            return function(*map(at_least_float32, args), **{k: at_least_float32(v) for k, v in kwargs.items()})
    return wrapper
