"""Row-group maps: where each conversation_hash sits in a config's files, without reading their footers.

Every config's files are sorted by ``conversation_hash``, so the first and last hash
of each row group name the one row group that can hold a conversation. A reader
could take them from the footers' statistics, but a footer of a 500 MB shard is
~600 KB (one entry per column per row group), and a 1M-row config has ~16 shards:
the first view of six DGMs over the Hub would read ~60 MB of footers before the
first row. The map keeps only what a lookup needs, per config:

    index/rowgroups/<config>.parquet   file, size, row_group, num_rows, first_hash, last_hash

written by ``build`` (and ``index``) beside the search index, and downloaded with it.
A reader finds the row group in the map, then opens only the footer of that one
file. The map records each file's name and size (what a Hub listing also reports),
so a stale map (a file added, removed, resized) is recognised before it is used,
and the reader checks the row group's statistics in the footer it opens against
the map's entry before trusting it (see ``spaces/viewer/lookup.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wildchat50m.layout import Repository
from wildchat50m.schema import ROWGROUP_MAP_SCHEMA

MAP_DIR = "rowgroups"
HASH_COLUMN = "conversation_hash"


@dataclass
class MapReport:
    """What one update of a repository's row-group maps did."""

    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    size_bytes: int = 0


def map_path(index_dir: Path, config: str) -> Path:
    return index_dir / MAP_DIR / f"{config}.parquet"


def listed_files(table: pa.Table) -> list[tuple[str, int]]:
    """The (file name, size) pairs a map was made from, in order."""
    seen: dict[str, int] = {}
    for name, size in zip(table.column("file").to_pylist(), table.column("size").to_pylist(), strict=True):
        seen.setdefault(name, size)
    return list(seen.items())


def config_map(files: list[Path]) -> pa.Table:
    """The map of one config's files, from their footers' hash statistics."""
    rows: dict[str, list] = {name: [] for name in ROWGROUP_MAP_SCHEMA.names}
    for path in files:
        metadata = pq.read_metadata(path)
        column = next(
            (j for j in range(metadata.num_columns) if metadata.schema.column(j).path == HASH_COLUMN), None
        )
        size = path.stat().st_size
        for group in range(metadata.num_row_groups):
            statistics = metadata.row_group(group).column(column).statistics if column is not None else None
            has_range = statistics is not None and statistics.has_min_max
            rows["file"].append(path.name)
            rows["size"].append(size)
            rows["row_group"].append(group)
            rows["num_rows"].append(metadata.row_group(group).num_rows)
            rows["first_hash"].append(statistics.min if has_range else None)
            rows["last_hash"].append(statistics.max if has_range else None)
    return pa.Table.from_pydict(rows, schema=ROWGROUP_MAP_SCHEMA)


def write_rowgroup_maps(repo: Path, index_dir: Path) -> MapReport:
    """Bring ``index_dir/rowgroups/`` in step with ``repo``'s configs; unchanged configs' maps are kept.

    A config's map is rewritten only when its files' names or sizes changed, so a
    rebuild of one config reads the footers of that config alone.
    """
    repository = Repository(Path(repo))
    folder = index_dir / MAP_DIR
    folder.mkdir(parents=True, exist_ok=True)
    report = MapReport()
    configs = repository.configs()
    for config in configs:
        files = repository.files_of(config)
        target = map_path(index_dir, config)
        wanted = [(path.name, path.stat().st_size) for path in files]
        if target.exists():
            try:
                if listed_files(pq.read_table(target)) == wanted:
                    report.kept.append(config)
                    continue
            except (pa.ArrowException, OSError):
                pass  # an unreadable map is rewritten below
        staged = folder / f".{config}.parquet.partial"
        pq.write_table(config_map(files), staged, compression="zstd")
        staged.replace(target)
        report.written.append(config)
    for path in folder.glob("*.parquet"):
        if path.stem not in configs:
            path.unlink()
            report.removed.append(path.stem)
    report.size_bytes = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    return report


def describe(report: MapReport) -> str:
    """One line about a maps update, for `build` and `index`."""
    parts = [f"{len(report.written)} written", f"{len(report.kept)} unchanged"]
    if report.removed:
        parts.append(f"{len(report.removed)} removed")
    return f"row-group maps: {', '.join(parts)} ({report.size_bytes / 1e3:,.0f} KB)"
