"""A prompt strategy for WildChat-50m configs: Axolotl's chat_template with a row filter.

Use as ``type: wildchat50m.hub_plugins.axolotl.prompt_strategy`` (the plugin
writes these entries). Rows whose DGM failed a turn (null answer) are always
left out, since there is nothing to train on; the plugin's
``wildchat50m_filters`` (languages, toxic, redacted, turn count, hash lists)
are applied per row before tokenisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wildchat50m.mixes.spec import MixFilters


def _hash_set(value: list[str] | str | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return frozenset(h.strip() for h in value)
    lines = Path(value).read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


class RowFilter:
    """Keeps a WildChat-50m row when every answer exists and the filters pass (picklable for num_proc)."""

    def __init__(self, filters: MixFilters, field_messages: str = "conversation"):
        self.filters = filters
        self.field_messages = field_messages
        self.allowed = _hash_set(filters.hashes)
        self.excluded = _hash_set(filters.exclude_hashes)

    def __call__(self, row: dict[str, Any]) -> bool:
        f = self.filters
        messages = row.get(self.field_messages) or []
        if not messages or any(m.get("content") is None for m in messages):
            return False
        if f.languages is not None and row.get("language") not in f.languages:
            return False
        if (f.exclude_toxic and row.get("toxic")) or (f.exclude_redacted and row.get("redacted")):
            return False
        if f.max_turns is not None and (row.get("turn") or 0) > f.max_turns:
            return False
        conversation_hash = row.get("conversation_hash")
        if self.allowed is not None and conversation_hash not in self.allowed:
            return False
        return not (self.excluded is not None and conversation_hash in self.excluded)


def load(tokenizer: Any, cfg: Any, ds_cfg: dict[str, Any] | None = None, processor: Any = None) -> Any:
    """Axolotl's chat_template strategy for this dataset, with :class:`RowFilter` as its ``filter_rows``."""
    from axolotl.prompt_strategies.chat_template import load as chat_template_load

    strategy = chat_template_load(tokenizer, cfg, ds_cfg, processor=processor)
    raw = cfg.get("wildchat50m_filters") or {}
    filters = raw if isinstance(raw, MixFilters) else MixFilters.model_validate(dict(raw))
    from pydantic import BaseModel

    dataset = ds_cfg.model_dump() if isinstance(ds_cfg, BaseModel) else dict(ds_cfg or {})
    field_messages = dataset.get("field_messages") or "conversation"
    strategy.filter_rows = RowFilter(filters, field_messages)
    return strategy
