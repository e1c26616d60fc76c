"""Training losses: plain functions of tensors (monodepth2 style)."""
from core.losses.consistency import depth_inconsistency, geometric_consistency_loss
from core.losses.contrastive import (LocalContrastiveResult, global_contrastive_loss, info_nce,
                                     local_contrastive_loss)
from core.losses.distillation import (affinity_graph, bin_distribution_loss, depth_imitation_loss,
                                      feature_imitation_loss, isomorphic_graph_loss)
from core.losses.photometric import (edge_aware_smoothness, photometric_error, reprojection_loss,
                                     ssim)
from core.losses.self_distillation import dino_loss, ema_update, updated_center
from core.losses.supervised import silog_loss, smooth_l1_depth_loss

__all__ = ["affinity_graph", "bin_distribution_loss", "depth_imitation_loss", "feature_imitation_loss",
           "isomorphic_graph_loss",
           "depth_inconsistency", "geometric_consistency_loss", "LocalContrastiveResult",
           "global_contrastive_loss", "info_nce", "local_contrastive_loss",
           "edge_aware_smoothness", "photometric_error", "reprojection_loss", "ssim",
           "dino_loss", "ema_update", "updated_center", "silog_loss", "smooth_l1_depth_loss"]
