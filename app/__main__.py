"""`python -m app`: serve the studio on 127.0.0.1:7860 (GRADIO_SERVER_NAME/PORT override)."""
from app.studio import build_studio

if __name__ == "__main__":
    build_studio().queue(default_concurrency_limit=2).launch(max_file_size="50mb")
