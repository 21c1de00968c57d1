"""Similarity metrics shared by the analyses, the lm-eval task pack and the Space."""
