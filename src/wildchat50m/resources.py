"""Where the package's own files are, in a checkout and in an installed wheel alike.

Card templates, the DGM registry, the embedded sample and the lm-eval task
directory are found through the import system, never through the checkout's
layout, so that a wheel installed anywhere works the same.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def package_path(package: str) -> Path:
    """The directory of a ``wildchat50m`` sub-package on disk."""
    return Path(str(resources.files(package)))


def registry_file() -> Path:
    """The DGM registry shipped with the package."""
    return package_path("wildchat50m.data") / "dgms.yaml"


def local_registry_file() -> Path:
    """The registry overlay of the tiny models built on this machine (tests, demo, benchmarks)."""
    return package_path("wildchat50m.data") / "local-dgms.yaml"


def sample_dir() -> Path:
    """The embedded default input: WildChat-format conversations written for this project."""
    return package_path("wildchat50m.data.sample")


def sample_file() -> Path:
    """The valid sample conversations, the default input of every command."""
    return sample_dir() / "wildchat_sample.parquet"


def malformed_sample_file() -> Path:
    """Deliberately malformed rows, one or more for every reason code."""
    return sample_dir() / "malformed.parquet"


def cards_dir() -> Path:
    """The jinja2 templates of every card the project renders."""
    return package_path("wildchat50m.cards")


def lm_eval_tasks_dir() -> Path:
    """The directory to pass to ``lm_eval --include_path``."""
    return package_path("wildchat50m.hub_plugins.lm_eval")


def space_dir() -> Path:
    """The Gradio Space folder, deployable as it is."""
    return package_path("wildchat50m.spaces")
