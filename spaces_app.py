"""Hugging Face Spaces entry point (``app_file`` in the README's front matter): the studio,
exactly as ``python -m app`` serves it. Spaces sets GRADIO_SERVER_NAME to 0.0.0.0."""
from app.__main__ import main

main()
