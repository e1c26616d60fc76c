"""Depth models: the shared multi-spectral depth network, the fusion module, the factory
and self-describing checkpoints."""
from core.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, update_checkpoint
from core.models.depthnet import DepthNet, split_shared_specific
from core.models.factory import (ARCHITECTURES, AlignFuseConfig, AlignFuseModel, build_model, config_from_dict,
                                 count_parameters, parameter_report, prepare_for_inference)
from core.models.fusion import FusionModule, FusionOutput, level_intrinsics, warp_features

__all__ = ["ARCHITECTURES", "AlignFuseConfig", "AlignFuseModel", "CheckpointError", "DepthNet", "FusionModule",
           "FusionOutput", "build_model", "config_from_dict", "count_parameters", "level_intrinsics",
           "load_checkpoint", "parameter_report", "prepare_for_inference", "save_checkpoint", "split_shared_specific",
           "update_checkpoint", "warp_features"]
