"""The plugin's own YAML keys, as a pydantic model Axolotl merges into its config schema.

Axolotl validates these keys with the rest of the config, and the plugin
validates them again when it registers (before Axolotl's validation runs),
so a key with a wrong type fails with a message naming it either way.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from wildchat50m.mixes.spec import MixFilters


class ConfigDraw(BaseModel):
    """One DGM config to train on: a split (Axolotl slices it) or a seeded draw of ``count`` rows."""

    model_config = ConfigDict(extra="forbid")

    config: str = Field(description="a config name, Hub id or abbreviation (Q72)")
    split: str = Field("train", description="a datasets split expression, e.g. train[:25%]")
    count: int | None = Field(None, ge=1, description="a seeded draw of this many rows instead of a split")


class WildChat50mArgs(BaseModel):
    """WildChat-50m keys of an Axolotl YAML (all optional; the plugin does nothing without them)."""

    wildchat50m_repository: str | None = Field(
        None, description="a WildChat-50m repository: a directory built by `wildchat50m build`, or a Hub id"
    )
    wildchat50m_configs: list[ConfigDraw] | None = Field(
        None, description="DGM configs with splits or counts"
    )
    wildchat50m_mix: str | None = Field(
        None, description="a built-in recipe name (re-wild, ...) or a spec file"
    )
    wildchat50m_mix_dir: str | None = Field(
        None, description="where the mix is materialised (default: under dataset_prepared_path)"
    )
    wildchat50m_seed: int | None = Field(None, description="the seed of every draw (default: the spec's)")
    wildchat50m_filters: MixFilters | None = Field(None, description="filters for the WildChat-50m rows")
    wildchat50m_source_paths: dict[str, str] | None = Field(
        None, description="mix source name -> local path, e.g. a local copy of MMLU auxiliary train"
    )
