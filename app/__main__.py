"""`python -m app`: serve the studio on 127.0.0.1:7860 (GRADIO_SERVER_NAME/PORT override)."""
from app.studio import build_studio

# Requests beyond this many at once wait in the queue; uploads above the size are refused.
CONCURRENCY_LIMIT = 2
MAX_FILE_SIZE = "50mb"


def main() -> None:
    build_studio().queue(default_concurrency_limit=CONCURRENCY_LIMIT).launch(max_file_size=MAX_FILE_SIZE)


if __name__ == "__main__":
    main()
