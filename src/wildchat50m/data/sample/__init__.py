"""The embedded default input: WildChat-format conversations written for this project."""
