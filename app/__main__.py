"""`python -m app`: serve the studio on 127.0.0.1:7860 (GRADIO_SERVER_NAME/PORT override).

`python -m app --data <MS2 root>` (or SPECTRADEPTH_DATA=<MS2 root>) also lists that dataset's test
frames (test_day/night/rain_list.txt) beside the MS-Synth gallery, by sequence and frame.

Models: the shipped checkpoints, plus any the operator lists in SPECTRADEPTH_MODELS (comma-separated
folders or Hub ids). `--allow-custom-models` (or SPECTRADEPTH_ALLOW_CUSTOM_MODELS=1) lets users type
any folder or Hub id: for a studio you run for yourself, never for a public Space.
"""
from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Sequence
from pathlib import Path

import gradio as gr
import torch

from app.studio import CORES, HEAVY_CONCURRENCY, build_studio
from core import inference, settings
from core.inference import InputError

# Light handlers (display redraws, loading a sample) run this many at once; heavy ones share
# studio.HEAVY's pool. Beyond QUEUE_MAX_SIZE waiting requests a visitor is told the studio is
# busy and to try again; uploads above the size are refused.
CONCURRENCY_LIMIT = 4
QUEUE_MAX_SIZE = 40
MAX_FILE_SIZE = "50mb"
# Sessions kept in memory at once; beyond it the least recently used goes. A session holds at most
# one trio (uploads are kept <= 2048 px wide: ~12 MB with its analysis), so 300 bound a burst of
# scripted visitors to ~3.6 GB; idle ones also go after studio.SESSION_TTL_S.
SESSION_CAPACITY = 300


def launch(default_model: str | None = None, *, data_root: Path | None = None, block: bool = True,
           **launch_kwargs) -> gr.Blocks:
    """Build and serve the studio with its queue and upload limits. ``block=False`` returns at
    once with the server running (tests, benchmarks); its address is ``demo.local_url``.
    ``data_root``: an MS2 root whose test frames the studio offers beside the gallery."""
    torch.set_num_threads(max(1, CORES // HEAVY_CONCURRENCY))   # the heavy slots share the cores, not each all of them
    demo = build_studio(default_model, data_root=data_root)
    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_MAX_SIZE).launch(
        max_file_size=MAX_FILE_SIZE, state_session_capacity=SESSION_CAPACITY, prevent_thread_lock=not block,
        quiet=not block, **launch_kwargs)
    return demo


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The launcher's options; ``data`` is the checked dataset root or None. A folder that is
    not an MS2 root exits with the reason (no traceback)."""
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", metavar="MS2_ROOT",
                        help="an MS2 dataset root (holding sync_data/ and test_*_list.txt): browse its test "
                             f"frames beside the MS-Synth samples; default: ${inference.DATASET_ENV}")
    parser.add_argument("--allow-custom-models", action="store_true",
                        help="let users load any checkpoint folder or Hub id (self-hosting only; "
                             f"default: ${inference.CUSTOM_MODELS_ENV})")
    args = parser.parse_args(argv)
    if args.allow_custom_models:
        settings.allow_custom_models()
    given = args.data or settings.dataset_root_setting()
    try:
        args.data = inference.dataset_root_from(given)
    except InputError as err:
        parser.error(f"dataset {given}: {err}")   # the console may show the path as typed
    return args


def _exit_on_sigterm(signum, frame) -> None:
    """A container stopping the studio sends SIGTERM: leave like Ctrl-C does, through the exit
    handlers, so the export folder and the other scratch files are removed."""
    raise SystemExit(0)


def log_to_console() -> None:
    """The studio's own lines (one per refused input) on stderr, beside Gradio's."""
    log = logging.getLogger("spectradepth")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    log_to_console()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    launch(data_root=args.data)


if __name__ == "__main__":
    main()
