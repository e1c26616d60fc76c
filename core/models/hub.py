"""Hugging Face Hub settings shared by checkpoint and backbone loading."""
from __future__ import annotations

from core import settings


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub read it at import, or as set since."""
    from huggingface_hub import constants
    return constants.HF_HUB_OFFLINE or settings.hub_offline_requested()
