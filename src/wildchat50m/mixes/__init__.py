"""SFT mixes: a declarative spec drawn from WildChat-50m configs and other chat datasets, built to parquet.

``load_spec`` reads a spec file or a built-in recipe (``wildchat50m mix list``);
``build_mix`` materialises it as a dataset directory with its own card.
"""

from wildchat50m.mixes.build import MixBuildError, MixReport, build_mix, plan_mix
from wildchat50m.mixes.spec import MixSpec, MixSpecError, load_spec, parse_spec, recipe_names

__all__ = [
    "MixBuildError",
    "MixReport",
    "MixSpec",
    "MixSpecError",
    "build_mix",
    "load_spec",
    "parse_spec",
    "plan_mix",
    "recipe_names",
]
