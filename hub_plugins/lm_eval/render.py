"""Render the task pack: one lm-eval task YAML per DGM, from the registry, plus the group.

lm-eval indexes only ``*.yaml`` files under ``--include_path`` and has no entry point for
tasks, while the DGM registry (with the user's own registry files) is the one owner of DGM
names. So the YAMLs are rendered from the jinja2 templates beside this module into a cache
directory, named by a digest of what was rendered: the same registry gives the same
directory, and a changed registry a new one. ``wildchat50m eval tasks-path`` prints it.

A shim module, ``wildchat50m_task.py``, is written beside the YAMLs so that ``class:
!function wildchat50m_task.WildChatTask`` resolves in every lm-eval version (older ones look
``!function`` modules up beside the YAML only).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wildchat50m.registry import Registry

TASK_PREFIX = "wildchat50m_"
GROUP = "wildchat50m"
TAG = "wildchat50m_dgms"
SHIM = "wildchat50m_task"
VERSION = 1
DEFAULT_MAX_GEN_TOKS = 1024
GROUP_METRICS = ("rouge1", "rougeL", "meteor", "mpf")
SHIM_SOURCE = '''"""Written by `wildchat50m eval tasks-path`: the task class of the rendered YAMLs."""

from wildchat50m.hub_plugins.lm_eval.task import task_class

WildChatTask = task_class()
'''


@dataclass(frozen=True)
class RenderedPack:
    directory: Path
    tasks: dict[str, str]
    """Task name -> DGM config."""
    group: str
    group_tasks: list[str]


def task_name(config: str) -> str:
    return f"{TASK_PREFIX}{config}"


def _cache_root() -> Path:
    return Path(os.environ.get("WILDCHAT50M_CACHE", Path.home() / ".cache" / "wildchat50m")) / "lm-eval-tasks"


def _known_dgms(registry: Registry) -> dict[str, str | None]:
    """Config -> Hugging Face id of every DGM `generate --dgm` knows: the registry's, the tiny models."""
    return {dgm.config: dgm.hf_id for dgm in [*registry, *registry.local()]}


def render_pack(
    registry: Registry,
    *,
    group_configs: Sequence[str] | None = None,
    max_gen_toks: int = DEFAULT_MAX_GEN_TOKS,
    root: Path | None = None,
) -> RenderedPack:
    """Render every DGM's task and the group (over ``group_configs``, default all) into a cache directory."""
    import jinja2

    from wildchat50m.resources import lm_eval_tasks_dir

    known = _known_dgms(registry)
    members = list(group_configs) if group_configs is not None else list(known)
    unknown = [c for c in members if c not in known]
    for config in unknown:
        known[config] = None  # a config of the repository that no registry lists (e.g. imported)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(lm_eval_tasks_dir()),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    files = {
        f"{task_name(config)}.yaml": environment.get_template("dgm_task.yaml.j2").render(
            task=task_name(config), tag=TAG, shim=SHIM, config=config, hf_id=hf_id,
            max_gen_toks=max_gen_toks, version=VERSION,
        )
        for config, hf_id in known.items()
    }  # fmt: skip
    files[f"{GROUP}.yaml"] = environment.get_template("group.yaml.j2").render(
        group=GROUP, tasks=[task_name(c) for c in members], metrics=GROUP_METRICS, version=VERSION
    )
    files[f"{SHIM}.py"] = SHIM_SOURCE
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    directory = (root or _cache_root()) / digest
    if not directory.is_dir():
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=directory.parent))
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        try:
            staging.rename(directory)
        except OSError:  # another process rendered the same pack first
            shutil.rmtree(staging, ignore_errors=True)
    return RenderedPack(directory, {task_name(c): c for c in known}, GROUP, [task_name(c) for c in members])
