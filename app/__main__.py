"""`python -m app`: serve the studio on 127.0.0.1:7860 (GRADIO_SERVER_NAME/PORT override).

`python -m app --data <MS2 root>` (or SPECTRADEPTH_DATA=<MS2 root>) also lists that dataset's test
frames (test_day/night/rainy_list.txt) beside the MS-Synth gallery, by sequence and frame.

Models: the shipped checkpoints, plus any the operator lists in SPECTRADEPTH_MODELS (comma-separated
folders or Hub ids). `--allow-custom-models` (or SPECTRADEPTH_ALLOW_CUSTOM_MODELS=1) lets users type
any folder or Hub id: for a studio you run for yourself, never for a public Space.
"""
from __future__ import annotations

import argparse
import logging
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import gradio as gr
import torch
from starlette.middleware import Middleware

from app.cache import sweep, use_studio_cache_folder
from app.guard import LOG, UploadGuard
from app.studio import CORES, HEAVY_CONCURRENCY, SESSION_TTL_S, build_studio
from core import inference, settings
from core.inference import InputError
from core.inference.sequence_sources import MAX_SEQUENCE_UPLOAD_MB

# Light handlers (display redraws, loading a sample) run this many at once; heavy ones share
# studio.HEAVY's pool. Beyond QUEUE_MAX_SIZE waiting requests a visitor is told the studio is
# busy and to try again; uploads above the size are refused.
CONCURRENCY_LIMIT = 4
QUEUE_MAX_SIZE = 40
# The largest upload any input takes (a sequence's zip or video); images are held to their own
# bound by core.inference.load_upload.
MAX_FILE_SIZE = f"{MAX_SEQUENCE_UPLOAD_MB}mb"
# Sessions kept at once; beyond it the least recently used goes. A session's frame and analysis
# wait on disk between clicks (core.inference.sessions), so this bounds Gradio's own per-session
# bookkeeping; idle sessions' files also go after studio.SESSION_TTL_S.
SESSION_CAPACITY = 300
# On SIGTERM the calls in flight are told the studio is restarting; this long for that word to leave.
RESTART_NOTICE_S = 0.5


def launch(default_model: str | None = None, *, data_root: Path | None = None, block: bool = True,
           **launch_kwargs) -> gr.Blocks:
    """Build and serve the studio with its queue and upload limits. ``block=False`` returns at
    once with the server running (tests, benchmarks); its address is ``demo.local_url``.
    ``data_root``: an MS2 root whose test frames the studio offers beside the gallery."""
    torch.set_num_threads(max(1, CORES // HEAVY_CONCURRENCY))   # the heavy slots share the cores, not each all of them
    cache = use_studio_cache_folder()
    swept = sweep(cache, older_than_s=SESSION_TTL_S)   # what an earlier process left: no sweep of its own remains
    if swept:
        LOG.info("removed %d cached files older than a session's lifetime, left by an earlier run", swept)
    demo = build_studio(default_model, data_root=data_root)
    app_kwargs = {"middleware": [Middleware(UploadGuard)]}
    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_MAX_SIZE)
    if block:
        signal.signal(signal.SIGTERM, lambda signum, frame: _exit_on_sigterm(demo))
    demo.launch(max_file_size=MAX_FILE_SIZE, state_session_capacity=SESSION_CAPACITY, prevent_thread_lock=not block,
                quiet=not block, app_kwargs=app_kwargs, **launch_kwargs)
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


def _exit_on_sigterm(demo) -> None:
    """A container stopping the studio sends SIGTERM: the calls in flight are told it is restarting,
    then it leaves like Ctrl-C does, through the exit handlers, so its scratch files are removed."""
    if demo.tell_calls_in_flight():
        time.sleep(RESTART_NOTICE_S)
    raise SystemExit(0)


def log_to_console() -> None:
    """The studio's own lines (one per refused input) on stderr, beside Gradio's."""
    log = logging.getLogger("spectradepth")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False   # one line per refusal, not a second one through a root handler


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    log_to_console()
    launch(data_root=args.data)


if __name__ == "__main__":
    main()
