"""Jinja2 templates of the dataset card, the mix card and the Space card."""
