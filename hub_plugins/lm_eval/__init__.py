"""The lm-eval task pack directory (pass it to lm_eval --include_path)."""
