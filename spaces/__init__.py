"""The Gradio Space that shows DGM answers side by side."""
