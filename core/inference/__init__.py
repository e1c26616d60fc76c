"""The one service both studios, the benchmarks and the evaluation scripts call.

    frame = load_sample(name)                      # or load_upload / load_dataset_frame
    analysis = analyse(frame, AnalysisRequest(model=DEFAULT_CHECKPOINT, mode="both", anchor="rgb"))
    panels = output_panels(analysis, DisplayOptions(invert=True))   # no network: display only

Sub-modules by job: ``gallery`` (MS-Synth samples), ``dataset_browser`` (an MS2 root's test
frames), ``uploads`` (decoding uploads, returning their memory), ``probes`` (robustness probes),
``display`` (8-bit images, summaries, display size), ``predict`` (checkpoints, the one network
call), ``analysis`` (``analyse`` and ``Analysis``), ``views`` (panels, slider, error map, point
clouds), ``export`` (downloads), ``attention`` (CLIP / DINO maps), ``records`` (what training
wrote), ``sequence_sources`` and ``sequences`` (drives and videos: depth per frame, stability, map). Results are plain: uint8 images, float32 metres,
plotly figures, file paths; the UIs never touch torch modules.
"""
from core.inference.analysis import (GROUND_TRUTH, METRIC_LABELS, MODE_LABELS, Analysis, AnalysisRequest, Output,
                                     analyse, output_label, output_title)
from core.inference.attention import (DEFAULT_VFM_SPECS, AttentionView, attention_view, backbone_names,
                                      backbone_shape, backbone_status, distance_word_view, load_vfm,
                                      prompt_view)
from core.inference.dataset_browser import (DATASET_ENV, TEST_LISTS, DatasetSequence, check_dataset_root,
                                           dataset_root_from, list_dataset_sequences, load_dataset_frame)
from core.inference.display import DISPLAY_MAX_WIDTH, at_display_size, describe, display_image, frame_fingerprint
from core.inference.errors import InputError
from core.inference.export import ExportDir, downloads, export_depth, file_stem
from core.inference.gallery import (SAMPLES_DIR, Sample, is_msynth_sample, list_samples, load_sample,
                                    sample_under_conditions)
from core.inference.predict import (CHECKPOINTS_DIR, CUSTOM_MODELS_ENV, DEFAULT_CHECKPOINT, DEFAULT_STUDENT,
                                    DEFAULT_TEACHER, EXTRA_MODELS_ENV,
                                    allowed_models, can_fuse, check_model_choice, custom_models_allowed, device,
                                    infer_batch, list_checkpoints, load_model, model_choices, model_summary)
from core.inference.probes import PROBES, probe
from core.inference.records import CheckpointRecord, checkpoint_records, evaluation_reports
from core.inference.uploads import UPLOAD_KEEP_WIDTH, load_upload
from core.inference.views import (DEFAULT_MAX_POINTS, DisplayOptions, PointCloud, colors_in_camera, depth_view,
                                  error_view, output_panels, point_cloud, slider_pair, view_camera, view_depth,
                                  view_panel)
from core.models import FUSED

__all__ = ["CHECKPOINTS_DIR", "CUSTOM_MODELS_ENV", "EXTRA_MODELS_ENV", "allowed_models", "check_model_choice",
           "custom_models_allowed", "DATASET_ENV", "DEFAULT_CHECKPOINT", "DEFAULT_MAX_POINTS", "DEFAULT_STUDENT",
           "DEFAULT_TEACHER", "DEFAULT_VFM_SPECS",
           "DISPLAY_MAX_WIDTH", "FUSED", "GROUND_TRUTH", "METRIC_LABELS", "MODE_LABELS", "PROBES", "SAMPLES_DIR",
           "TEST_LISTS", "UPLOAD_KEEP_WIDTH", "Analysis", "AnalysisRequest", "AttentionView", "CheckpointRecord", "DatasetSequence",
           "DisplayOptions", "ExportDir", "InputError", "Output", "PointCloud", "Sample", "analyse",
           "at_display_size", "attention_view", "backbone_names", "backbone_shape", "backbone_status",
           "can_fuse", "check_dataset_root", "checkpoint_records", "colors_in_camera", "dataset_root_from",
           "depth_view", "describe", "device", "evaluation_reports", "infer_batch",
           "display_image", "downloads", "error_view", "export_depth", "file_stem", "frame_fingerprint",
           "is_msynth_sample", "list_checkpoints", "list_dataset_sequences", "list_samples", "load_dataset_frame",
           "load_model", "load_sample", "load_upload", "load_vfm", "model_choices", "model_summary", "output_label",
           "output_panels",
           "output_title", "point_cloud", "probe", "prompt_view", "distance_word_view", "sample_under_conditions", "slider_pair",
           "view_camera", "view_depth", "view_panel"]
