"""The Axolotl plugin: WildChat-50m configs and mixes as ordinary Axolotl ``datasets:`` entries.

In an Axolotl YAML::

    plugins:
      - wildchat50m.hub_plugins.axolotl.WildChat50mPlugin
    wildchat50m_repository: ./wildchat-50m      # or a Hub id
    wildchat50m_mix: re-wild                    # a recipe or a spec file; or:
    wildchat50m_configs: [{config: Qwen2.5-72B, split: "train[:25%]"}]
    wildchat50m_filters: {exclude_toxic: true}

At ``register`` (before Axolotl validates the config) the plugin checks its
keys and appends ``datasets:`` entries, so Axolotl's own loader, chat-template
tokenisation, masking and packing do the rest:

- a mix, or configs with a ``count``: the mix is materialised once with
  ``wildchat50m mix build`` machinery (a seeded draw, in bounded memory) and
  one ``chat_template`` entry points at it;
- configs with a ``split``: one entry per config (``name:`` the config),
  typed with this package's prompt strategy, which wraps ``chat_template``
  and filters rows (failed answers always; the plugin's filters if given).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from wildchat50m.errors import WildChat50mError

try:
    from axolotl.integrations.base import BasePlugin
except ImportError:  # importable without Axolotl (the wheel check); Axolotl loads it with its base class
    BasePlugin = object

# Under "axolotl." so that Axolotl's log configuration shows these lines beside its own.
LOG = logging.getLogger("axolotl.integrations.wildchat50m")
ARGS_MODEL = "wildchat50m.hub_plugins.axolotl.args.WildChat50mArgs"
PROMPT_STRATEGY = "wildchat50m.hub_plugins.axolotl.prompt_strategy"
ROLE_CONTENT = {"role": "role", "content": "content"}


class WildChat50mPluginError(WildChat50mError, ValueError):
    """The plugin's YAML keys are invalid or cannot be turned into datasets."""


def _validated(cfg: Any) -> Any:
    from pydantic import ValidationError
    from wildchat50m.hub_plugins.axolotl.args import WildChat50mArgs

    keys = {k: v for k, v in dict(cfg).items() if k.startswith("wildchat50m_") and v is not None}
    try:
        return WildChat50mArgs.model_validate(keys)
    except ValidationError as error:
        lines = [
            f"  {'.'.join(str(p) for p in problem['loc'])}: {problem['msg']} (got {problem.get('input')!r})"
            for problem in error.errors()
        ]
        raise WildChat50mPluginError("invalid WildChat-50m plugin keys:\n" + "\n".join(lines)) from None


def _mix_spec(args: Any) -> Any:
    """The spec to materialise: a recipe or spec file, or one draw per config that asks for a count.

    ``wildchat50m_filters`` apply to every WildChat-50m source (single DGM or blend) of the mix.
    """
    from wildchat50m.mixes.spec import load_spec, parse_spec, with_overrides

    filters = args.wildchat50m_filters.model_dump(exclude_none=True) if args.wildchat50m_filters else None
    if args.wildchat50m_mix is not None:
        document = load_spec(args.wildchat50m_mix).model_dump(mode="json", exclude_none=True)
    else:
        sources = [
            {"name": draw.config, "kind": "wildchat50m", "config": draw.config, "count": draw.count}
            for draw in args.wildchat50m_configs
        ]
        document = {"name": "axolotl-draw", "sources": sources}
    if filters:
        for source in document["sources"]:
            if source["kind"] in ("wildchat50m", "blend"):
                source["filters"] = filters
    spec = parse_spec(document, args.wildchat50m_mix or "wildchat50m_configs")
    return with_overrides(
        spec,
        repository=args.wildchat50m_repository,
        seed=args.wildchat50m_seed,
        source_paths=args.wildchat50m_source_paths,
    )


def materialise(spec: Any, out: Path, base: Path) -> Path:
    """Build the mix at ``out``, or keep the one there when it was built from the same spec."""
    from wildchat50m.mixes.build import MIX_FILE, build_mix

    record = out / MIX_FILE
    wanted = spec.model_dump(mode="json", exclude_none=True)
    if record.exists() and json.loads(record.read_text(encoding="utf-8")).get("spec") == wanted:
        LOG.info("WildChat-50m: reusing the mix at %s", out)
        return out
    report = build_mix(spec, out, base=base, overwrite=True, progress=LOG.info)
    LOG.info("WildChat-50m: built mix %r, %d rows -> %s", spec.name, report.rows, out)
    return out


def dataset_entries(args: Any, prepared_path: str | None) -> list[dict[str, Any]]:
    """The ``datasets:`` entries the plugin's keys stand for."""
    draws = [d for d in args.wildchat50m_configs or [] if d.count is not None]
    if args.wildchat50m_mix is not None or draws:
        if args.wildchat50m_mix is not None and args.wildchat50m_configs:
            raise WildChat50mPluginError("give wildchat50m_mix or wildchat50m_configs, not both")
        if draws and len(draws) != len(args.wildchat50m_configs):
            raise WildChat50mPluginError("wildchat50m_configs: give every config a count, or none of them")
        spec = _mix_spec(args)
        default = Path(prepared_path or "last_run_prepared") / f"wildchat50m-mix-{spec.name}-seed{spec.seed}"
        from wildchat50m.mixes.spec import spec_base

        base = spec_base(args.wildchat50m_mix) if args.wildchat50m_mix else Path.cwd()
        out = materialise(spec, Path(args.wildchat50m_mix_dir or default), base)
        return [
            {
                "path": str(out),
                "split": "train",
                "type": "chat_template",
                "field_messages": "messages",
                "message_property_mappings": ROLE_CONTENT,
                "roles_to_train": ["assistant"],
            }
        ]
    if not args.wildchat50m_configs:
        return []
    if args.wildchat50m_repository is None:
        raise WildChat50mPluginError(
            "wildchat50m_configs needs wildchat50m_repository (a directory or Hub id)"
        )
    from wildchat50m.mixes.sources import config_name

    return [
        {
            "path": args.wildchat50m_repository,
            "name": config_name(draw.config),
            "split": draw.split,
            "type": PROMPT_STRATEGY,
            "field_messages": "conversation",
            "message_property_mappings": ROLE_CONTENT,
            "roles_to_train": ["assistant"],
        }
        for draw in args.wildchat50m_configs
    ]


class WildChat50mPlugin(BasePlugin):
    """Turns ``wildchat50m_*`` keys into Axolotl datasets; see the module docstring."""

    def get_input_args(self) -> str:
        return ARGS_MODEL

    def register(self, cfg: Any) -> None:
        """Validate the plugin's keys and append the datasets they stand for to ``cfg['datasets']``."""
        from wildchat50m.mixes.build import MixBuildError
        from wildchat50m.mixes.spec import MixSpecError

        args = _validated(cfg)
        try:
            entries = dataset_entries(args, cfg.get("dataset_prepared_path"))
        except (MixSpecError, MixBuildError) as error:
            raise WildChat50mPluginError(f"WildChat-50m plugin: {error}") from None
        if entries:
            cfg["datasets"] = [*(cfg.get("datasets") or []), *entries]
            LOG.info("WildChat-50m plugin added %d dataset(s): %s", len(entries), entries)
