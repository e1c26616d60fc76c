"""The Gradio studio."""
