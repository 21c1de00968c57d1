"""The layout of a built WildChat-50m repository: one owner for its writer and all its readers.

::

    README.md                                  the card; its YAML front matter declares the configs
    data/<config>/train-00000-of-00003.parquet the config's rows, sorted by conversation_hash
    data/<config>/manifest.json                the facts the card shows about the config
    data/judgments--<factor>--<judge>--<target>/...   a judgment config, same layout
    data/pairs--<name>/...                     a preference-pairs config (``wildchat50m pairs``)

``builders/`` writes this layout with the names defined here and the one writer of its data
files (:class:`ShardWriter`, which a mix writes its own ``data/`` with too); mixes, analyses, the
held-out split, the lm-eval pack and the Space read it through :class:`Repository`, so they all
see the same configs and the same data files. A repository is a local directory or a Hub dataset id.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from wildchat50m.errors import WildChat50mError

SPLIT = "train"
DATA_DIR = "data"
README = "README.md"
CONFIG_MANIFEST = "manifest.json"
#: A data file of a config: ``train-<i>-of-<n>.parquet``, both five digits.
DATA_FILE = re.compile(rf"^{SPLIT}-(\d{{5}})-of-(\d{{5}})\.parquet$")
#: A Hub repository id, ``owner/name``.
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
JUDGMENT_PREFIX = "judgments--"
PAIRS_PREFIX = "pairs--"
#: datasets' own target for Hub parquet shards.
MAX_SHARD_BYTES = 500 * 1000**2


class RepositoryError(WildChat50mError):
    """The repository cannot be opened or lacks what was asked for; the message lists what it has."""


def data_file_name(index: int, count: int) -> str:
    """The name of data file ``index`` of ``count`` of a config."""
    return f"{SPLIT}-{index:05d}-of-{count:05d}.parquet"


def split_files_pattern(folder: str) -> str:
    """The glob of the data files in ``folder`` (relative to the repository's root)."""
    return f"{folder}/{SPLIT}-*.parquet"


def data_files_pattern(config: str) -> str:
    """The glob the README's ``configs:`` entry declares for ``config`` (relative to the root)."""
    return split_files_pattern(f"{DATA_DIR}/{config}")


def folder_data_files(folder: Path) -> list[Path]:
    """The data files in a config folder (``<repo>/data/<config>/``), in order; [] when none."""
    return sorted(f for f in folder.iterdir() if DATA_FILE.match(f.name)) if folder.is_dir() else []


def config_of_data_path(path: str) -> str | None:
    """The config of a repository-relative path ``data/<config>/train-…parquet`` (a Hub listing's
    entry), None when the path is not a data file."""
    parts = path.split("/")
    if len(parts) == 3 and parts[0] == DATA_DIR and DATA_FILE.match(parts[2]):
        return parts[1]
    return None


def is_hub_id(source: str | Path) -> bool:
    """True when ``source`` names a Hub repository (``owner/name``) rather than a local path."""
    return not Path(source).expanduser().exists() and bool(HUB_ID.match(str(source)))


def judgment_config_name(factor_slug: str, judge: str, target: str) -> str:
    """``judgments--<factor>--<judge>--<target>``: the config of one judgment run."""
    return f"{JUDGMENT_PREFIX}{factor_slug}--{judge}--{target}"


def is_judgment_config(config: str) -> bool:
    return config.startswith(JUDGMENT_PREFIX)


def pairs_config_name(name: str) -> str:
    """``pairs--<name>``: the config of one set of preference pairs."""
    return name if name.startswith(PAIRS_PREFIX) else f"{PAIRS_PREFIX}{name}"


def is_pairs_config(config: str) -> bool:
    return config.startswith(PAIRS_PREFIX)


def is_answer_config(config: str) -> bool:
    """A config of one DGM's answers: neither judgments nor preference pairs."""
    return not (is_judgment_config(config) or is_pairs_config(config))


def judgment_target(config: str) -> str | None:
    """The target config a judgment config judges (the last part of its name); None for other configs."""
    if not is_judgment_config(config):
        return None
    return config[len(JUDGMENT_PREFIX) :].split("--", 2)[-1]


def read_front_matter(readme: Path) -> dict[str, Any]:
    """The YAML front matter of a card ({} when there is none)."""
    if not readme.exists():
        return {}
    text = readme.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---\n", 4)
    if end < 0:
        raise RepositoryError(f"{readme}: the front matter has no closing '---'")
    try:
        return yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as error:
        raise RepositoryError(f"{readme}: the front matter is not valid YAML: {error}") from error


@dataclass(frozen=True)
class Repository:
    """A built repository on local disk (a Hub repository is fetched first, see :meth:`open`)."""

    root: Path

    @classmethod
    def open(cls, source: str | Path, configs: Sequence[str] | None = None) -> Repository:
        """A local repository directory, or a Hub dataset id whose card and configs are fetched.

        From the Hub only the card and the data files of ``configs`` (all when None) are
        downloaded, into huggingface_hub's cache, so a second open costs nothing.
        """
        path = Path(source).expanduser()
        if path.is_dir():
            if not (path / DATA_DIR).is_dir():
                raise RepositoryError(
                    f"{path} is not a repository built by `wildchat50m build` (no {DATA_DIR}/ folder)"
                )
            return cls(path)
        if not is_hub_id(source):
            raise RepositoryError(
                f"{source} is neither a repository directory nor a Hub dataset id (org/name)"
            )
        from huggingface_hub import snapshot_download

        wanted = configs or ["*"]
        patterns = [README, *(f"{DATA_DIR}/{config}/*" for config in wanted)]
        try:
            local = snapshot_download(str(source), repo_type="dataset", allow_patterns=patterns)
        except Exception as error:  # offline, missing, gated, ...: huggingface_hub has many kinds
            raise RepositoryError(
                f"cannot fetch {source} from the Hub: {type(error).__name__}: {error}"
            ) from error
        return cls(Path(local))

    def config_folders(self) -> list[str]:
        """Every folder under ``data/``, whether or not it holds data files (what a check looks at)."""
        data = self.root / DATA_DIR
        if not data.is_dir():
            return []
        return sorted(p.name for p in data.iterdir() if p.is_dir() and not p.name.startswith("."))

    def configs(self) -> list[str]:
        """Every config with at least one data file, answers and judgments alike, sorted."""
        return [config for config in self.config_folders() if self.files_of(config)]

    def files_of(self, config: str) -> list[Path]:
        """The data files of ``config`` in order, [] when it has none."""
        return folder_data_files(self.root / DATA_DIR / config)

    def answer_configs(self) -> list[str]:
        """The configs that hold a DGM's answers (not judgments, not preference pairs)."""
        return [config for config in self.configs() if is_answer_config(config)]

    def judgment_configs(self) -> list[str]:
        return [config for config in self.configs() if is_judgment_config(config)]

    def pairs_configs(self) -> list[str]:
        return [config for config in self.configs() if is_pairs_config(config)]

    def data_files(self, config: str) -> list[Path]:
        """The data files of ``config``, in order; an error lists the configs there are."""
        files = self.files_of(config)
        if not files:
            available = ", ".join(self.configs()) or "none"
            raise RepositoryError(f"{self.root} has no config {config!r}; it has: {available}")
        return files

    def choose(self, wanted: Sequence[str] | None = None) -> list[str]:
        """The answer configs, or ``wanted`` after checking that each exists."""
        available = self.configs()
        if not wanted:
            answers = self.answer_configs()
            if not answers:
                raise RepositoryError(f"{self.root} holds no config")
            return answers
        missing = [config for config in wanted if config not in available]
        if missing:
            raise RepositoryError(
                f"{self.root} has no config {', '.join(missing)}; it has: {', '.join(available) or 'none'}"
            )
        return list(wanted)

    def front_matter(self) -> dict[str, Any]:
        return read_front_matter(self.root / README)


def parquet_write_options() -> dict[str, Any]:
    """Hub-friendly writer options the installed pyarrow supports (older ones lack some)."""
    supported = inspect.signature(pq.ParquetWriter.__init__).parameters
    wanted = {"compression": "zstd", "write_page_index": True, "use_content_defined_chunking": True}
    return {k: v for k, v in wanted.items() if k == "compression" or k in supported}


class ShardWriter:
    """Writes rows, in the order given, as ``train-i-of-n`` shards with bounded row groups and files.

    Every row group holds ``rows_per_group`` rows (the last one fewer), so the
    layout is a function of the row sequence alone, not of how the rows
    arrive. A shard is closed before a row group would take it past
    ``max_shard_bytes`` on disk, judged by the size of the row group written
    before it. Files are written as hidden partials and named at ``close``.
    """

    def __init__(self, folder: Path, schema: pa.Schema, rows_per_group: int, max_shard_bytes: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.schema = folder, schema
        self.rows_per_group, self.max_shard_bytes = max(1, rows_per_group), max_shard_bytes
        self.options = parquet_write_options()
        self.partials: list[Path] = []
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._sink: pa.OSFile | None = None
        self._last_group_bytes = 0

    def write(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        while self.pending_rows >= self.rows_per_group:
            buffered = pa.concat_tables(self.pending)
            self._write_group(buffered.slice(0, self.rows_per_group))
            rest = buffered.slice(self.rows_per_group)
            self.pending, self.pending_rows = [rest], rest.num_rows

    def _write_group(self, group: pa.Table) -> None:
        sink, writer = self._sink, self._writer
        if (
            sink is not None
            and writer is not None
            and sink.tell() + self._last_group_bytes > self.max_shard_bytes
        ):
            self._close_file()
        if self._writer is None:
            self.partials.append(self.folder / f".part-{len(self.partials):05d}.parquet")
            self._sink = pa.OSFile(str(self.partials[-1]), "wb")
            self._writer = pq.ParquetWriter(self._sink, self.schema, **self.options)
        assert self._sink is not None and self._writer is not None
        before = self._sink.tell()
        self._writer.write_table(group.combine_chunks(), row_group_size=max(1, group.num_rows))
        self._last_group_bytes = self._sink.tell() - before
        self.rows += group.num_rows

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._sink is not None:
            self._sink.close()
        self._writer = self._sink = None

    def close(self) -> list[Path]:
        """Write what is left (an empty config still gets one file) and name the shards."""
        try:
            if self.pending_rows or not self.partials:
                self._write_group(
                    pa.concat_tables(self.pending) if self.pending else self.schema.empty_table()
                )
        finally:
            self._close_file()
        final = [self.folder / data_file_name(i, len(self.partials)) for i in range(len(self.partials))]
        for partial, target in zip(self.partials, final, strict=True):
            os.replace(partial, target)
        return final

    def abort(self) -> None:
        self._close_file()
