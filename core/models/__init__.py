"""Depth models behind one interface (``DepthModel``): the align-and-fuse model, the VFM
teacher and student, the factory and self-describing checkpoints."""
from core.models.align_fuse import AlignFuseConfig, AlignFuseModel
from core.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, update_checkpoint
from core.models.depthnet import DepthNet, split_shared_specific
from core.models.factory import (ARCHITECTURES, build_model, config_from_dict, count_parameters, parameter_report,
                                 prepare_for_inference)
from core.models.fusion import FusionModule, FusionOutput, level_intrinsics, warp_features
from core.models.interface import FUSED, MODES, DepthInference, DepthModel, FusionUnsupported, choose_anchor

__all__ = ["ARCHITECTURES", "AlignFuseConfig", "AlignFuseModel", "CheckpointError", "DepthInference", "DepthModel",
           "DepthNet", "FUSED", "FusionModule", "FusionOutput", "FusionUnsupported", "MODES", "build_model",
           "choose_anchor", "config_from_dict", "count_parameters", "level_intrinsics", "load_checkpoint",
           "parameter_report", "prepare_for_inference", "save_checkpoint", "split_shared_specific",
           "update_checkpoint", "warp_features"]
