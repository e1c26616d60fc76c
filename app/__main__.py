"""`python -m app`: serve the studio on 127.0.0.1:7860 (GRADIO_SERVER_NAME/PORT override)."""
from __future__ import annotations

import gradio as gr

from app.studio import build_studio

# Requests beyond this many at once wait in the queue; uploads above the size are refused.
CONCURRENCY_LIMIT = 2
MAX_FILE_SIZE = "50mb"


def launch(default_model: str | None = None, *, block: bool = True, **launch_kwargs) -> gr.Blocks:
    """Build and serve the studio with its queue and upload limits. ``block=False`` returns at
    once with the server running (tests, benchmarks); its address is ``demo.local_url``."""
    demo = build_studio(default_model)
    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT).launch(
        max_file_size=MAX_FILE_SIZE, prevent_thread_lock=not block, quiet=not block, **launch_kwargs)
    return demo


def main() -> None:
    launch()


if __name__ == "__main__":
    main()
