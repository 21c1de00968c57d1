"""Reading judgments back: from a judgment run, a repository config, or a whole repository."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from wildchat50m import layout
from wildchat50m.jobs import RunKind, run_kind
from wildchat50m.judging.factors import JudgingError
from wildchat50m.runstore import RunStore
from wildchat50m.schema import JUDGMENT_SCHEMA


def judgment_files(path: Path) -> list[Path]:
    """Parquet files of judgments at ``path``: a judgment run, a repository config, or a whole repository.

    A repository contributes every ``data/judgments--*`` config.
    """
    path = Path(path)
    if run_kind(path) is RunKind.JUDGMENT:
        return RunStore(path).output_files()
    if layout.is_judgment_config(path.name):
        return layout.folder_data_files(path)
    repository = layout.Repository(path)
    found = [file for config in repository.judgment_configs() for file in repository.data_files(config)]
    if not found:  # a folder of judgment runs
        runs = sorted(path.glob(f"{layout.JUDGMENT_PREFIX}*"))
        found = [
            file for run in runs if run_kind(run) is RunKind.JUDGMENT for file in RunStore(run).output_files()
        ]
    if not found:
        raise JudgingError(
            f"no judgments at {path}: give a judgment run directory, a repository config folder "
            f"({layout.JUDGMENT_PREFIX}...) or a repository that holds such configs"
        )
    return found


def read_judgments(paths: Sequence[Path], columns: Sequence[str]) -> Any:
    """The judgment rows at ``paths`` (see :func:`judgment_files`) as one Arrow table of ``columns``."""
    import pyarrow as pa

    files = [file for path in paths for file in judgment_files(path)]
    schema = pa.schema([JUDGMENT_SCHEMA.field(name) for name in columns])
    return pa.concat_tables([pq.read_table(file, columns=list(columns)).cast(schema) for file in files])
