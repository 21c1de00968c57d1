"""Conversation lookups over a built WildChat-50m repository, with DuckDB over its parquet files.

The repository is the one ``wildchat50m build`` writes (its layout is :mod:`wildchat50m.layout`),
each config's rows sorted by ``conversation_hash``. Fetching one conversation
across several configs is one DuckDB query over the chosen configs' files
that reads only the hash column (the sort lets it skip every row group whose
hash range misses) and returns each file's row number; then pyarrow reads
the shown columns of just that row group of each file. Searches filter on
the small columns first and decode conversations only to match words or to
show the first prompt of the hits. Nothing is loaded into memory beyond the
rows a query returns.

Every value that comes from a user (a hash, words to search for, a language)
is a bound query parameter, never spliced into SQL. Config names are checked
against the repository's own list before any file is touched, and file paths
are never taken from the user at all: they come from the repository listing.

A local directory and a Hub dataset id go through the same code: only the
file listing differs (``hf://datasets/<id>/data/...`` paths for the Hub, read
by DuckDB's ``httpfs`` and by pyarrow through ``HfFileSystem``).
"""

from __future__ import annotations

import bisect
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wildchat50m import layout
from wildchat50m.errors import WildChat50mError

#: A WildChat conversation hash: 32 lowercase hex characters.
HASH_PATTERN = re.compile(r"^[0-9a-f]{32}$")
#: At most this many DGMs side by side.
MAX_DGMS = 6
MIN_DGMS = 2
#: Column chunks of a row group closer than this are fetched in one request (a round trip costs more).
GAP_BYTES = 64 * 1024
#: Rows (one conversation in one config) kept after a lookup, for views seen again.
RECENT_ROWS = 256

#: Message fields the viewer shows; the rest of the row (moderation, headers, IPs) is never read.
SHOWN_MESSAGE_FIELDS = (
    "content",
    "role",
    "language",
    "toxic",
    "redacted",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "prompt_truncated",
    "flags",
    "error",
)
SHOWN_COLUMNS = [
    "conversation_hash", "language", "toxic", "redacted", "history_mode",
    *(f"conversation.list.element.{name}" for name in SHOWN_MESSAGE_FIELDS),
]  # fmt: skip


class ViewerError(WildChat50mError):
    """A request the repository cannot answer as asked; the message says why."""


class UnknownConfigError(ViewerError):
    """A config name that is not one of the repository's configs."""


class BadHashError(ViewerError):
    """A string that is not a conversation hash."""


@dataclass(frozen=True)
class TurnAnswer:
    """One user turn and the DGM's answer to it."""

    prompt: str | None
    answer: str | None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_truncated: bool | None = None
    flags: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Judgment:
    """A judge's verdict on one answer: the score (None when unparsed) and its explanation."""

    config: str
    judge: str
    factor: str
    turn_index: int
    """0-based user turn whose answer was judged."""
    score: int | None
    status: str
    explanation: str | None


JUDGMENT_COLUMNS = ["conversation_hash", "turn_index", "judge", "factor", "status", "score", "judgment"]


@dataclass(frozen=True)
class Conversation:
    """One conversation as one DGM answered it."""

    config: str
    conversation_hash: str
    language: str | None
    toxic: bool
    redacted: bool
    history_mode: str | None
    turns: tuple[TurnAnswer, ...]


@dataclass(frozen=True)
class SearchHit:
    """One search result: enough to recognise the conversation in a list."""

    conversation_hash: str
    language: str | None
    turns: int
    toxic: bool
    opening: str
    configs: tuple[str, ...] = ()
    """The configs that hold it (known when a search index answered)."""


@dataclass(frozen=True)
class SearchPage:
    """One page of search hits; ``total`` is known when a search index answered."""

    hits: list[SearchHit]
    total: int | None
    page: int
    page_size: int


@dataclass(frozen=True)
class SearchFilters:
    """What a search keeps; every field is optional."""

    words: str | None = None
    language: str | None = None
    min_turns: int | None = None
    max_turns: int | None = None
    include_toxic: bool = False
    having: tuple[str, ...] = ()
    """Only conversations every one of these configs holds."""
    answers_of: str | None = None
    """Match the words in this config's answers instead of the user turns (needs its answers index)."""


@dataclass
class RepositoryFiles:
    """Where a repository's parquet files are: config -> paths (local) or URLs (Hub), with their sizes."""

    source: str
    files: dict[str, list[str]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    """Path -> bytes, for the index's fingerprints (see builders/search_index.py)."""
    index_dir: Path | None = None
    """The search index folder on disk (for the Hub: downloaded once), if the repository has one."""

    @property
    def configs(self) -> list[str]:
        return sorted(self.files)

    def fingerprints(self) -> dict[str, str]:
        from wildchat50m.builders.search_index import files_fingerprint

        return {
            config: files_fingerprint((path, self.sizes.get(path, -1)) for path in paths)
            for config, paths in self.files.items()
        }


def local_files(repo: Path) -> RepositoryFiles:
    """The parquet files of a repository on disk."""
    from wildchat50m.builders.search_index import INDEX_DIR

    repository = layout.Repository.open(Path(repo))
    files = {config: [str(p) for p in repository.files_of(config)] for config in repository.configs()}
    if not files:
        raise ViewerError(f"{repo} holds no config with parquet files under data/<config>/")
    sizes = {path: Path(path).stat().st_size for paths in files.values() for path in paths}
    index_dir = repository.root / INDEX_DIR
    return RepositoryFiles(
        source=str(repo), files=files, sizes=sizes, index_dir=index_dir if index_dir.is_dir() else None
    )


def hub_files(repo_id: str, *, revision: str | None = None) -> RepositoryFiles:
    """The parquet files of a Hub dataset repository as ``hf://`` paths; its index is downloaded once."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile
    from wildchat50m.builders.search_index import INDEX_DIR

    api = HfApi()
    try:
        listed = [
            entry
            for entry in api.list_repo_tree(repo_id, repo_type="dataset", revision=revision, recursive=True)
            if isinstance(entry, RepoFile)
        ]
    except Exception as error:  # offline, missing, gated: say so instead of a traceback
        raise ViewerError(f"cannot list the files of the Hub dataset {repo_id}: {error}") from error
    files: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}
    at = f"@{revision}" if revision else ""
    for entry in sorted(listed, key=lambda entry: entry.path):
        config = layout.config_of_data_path(entry.path)
        if config is not None:
            url = f"hf://datasets/{repo_id}{at}/{entry.path}"
            files.setdefault(config, []).append(url)
            sizes[url] = int(entry.size)
    if not files:
        raise ViewerError(f"{repo_id} holds no data files ({layout.data_files_pattern('<config>')})")
    index_paths = [entry.path for entry in listed if entry.path.startswith(f"{INDEX_DIR}/")]
    index_dir = _download_index(api, repo_id, revision, index_paths) if index_paths else None
    return RepositoryFiles(source=repo_id, files=files, sizes=sizes, index_dir=index_dir)


def _download_index(api: Any, repo_id: str, revision: str | None, paths: Sequence[str]) -> Path | None:
    """The index folder of a Hub repository, downloaded once into the Hub cache (None if that fails)."""
    from wildchat50m.builders.search_index import INDEX_DIR

    folder = None
    try:
        for path in paths:
            downloaded = Path(api.hf_hub_download(repo_id, path, repo_type="dataset", revision=revision))
            folder = downloaded.parents[len(Path(path).parts) - 1] / INDEX_DIR
    except Exception:  # the Space then says the index is missing and searches without it
        return None
    return folder


def repository_files(source: str | Path) -> RepositoryFiles:
    """A local directory if ``source`` is one, else a Hub dataset id."""
    if Path(source).exists():
        return local_files(Path(source))
    if layout.is_hub_id(source):
        return hub_files(str(source))
    raise ViewerError(f"{source} is neither a directory nor a Hub dataset id (org/name)")


def check_hash(value: str) -> str:
    """``value`` as a conversation hash, or :class:`BadHashError`."""
    cleaned = (value or "").strip().lower()
    if not HASH_PATTERN.fullmatch(cleaned):
        raise BadHashError(f"{value!r} is not a conversation hash (32 hexadecimal characters)")
    return cleaned


class RepositoryLookup:
    """Read-only queries over one repository; one DuckDB connection, reused and guarded by a lock."""

    def __init__(self, files: RepositoryFiles, *, threads: int | None = None, use_maps: bool = True):
        self.files = files
        self.source = files.source
        self._lock = threading.Lock()
        self._threads = threads
        self._db: Any = None
        self.index, self.index_status = _open_index(files)
        self._config_of = {path: config for config, paths in files.files.items() for path in paths}
        self._open_files: dict[str, tuple[Any, list[tuple[str, str]], threading.Lock]] = {}
        self._files_lock = threading.Lock()
        self._sources: dict[str, _SpanFile] = {}
        self._recent: OrderedDict[tuple[str, str], dict[str, Any] | None] = OrderedDict()
        self.maps, self.maps_status = _open_maps(files) if use_maps else ({}, "row-group maps not used")
        self._largest: str | None = None
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="wildchat50m-lookup")

    @classmethod
    def open(cls, source: str | Path, **options: Any) -> RepositoryLookup:
        return cls(repository_files(source), **options)

    @property
    def configs(self) -> list[str]:
        return self.files.configs

    def close(self) -> None:
        self._pool.shutdown()
        if self._db is not None:
            self._db.close()

    @property
    def answer_configs(self) -> list[str]:
        """Configs whose answers can be searched (a fresh answers index)."""
        return sorted(self.index.answers) if self.index is not None else []

    def _connection(self) -> Any:
        """DuckDB, opened on first use: only searches without an index and the fallbacks need it."""
        if self._db is None:
            import duckdb

            self._db = duckdb.connect(":memory:")
            self._db.execute("SET parquet_metadata_cache = true")
            if self._threads:
                self._db.execute(f"SET threads = {int(self._threads)}")
            if any(path.startswith("hf://") for paths in self.files.files.values() for path in paths):
                self._db.execute("INSTALL httpfs; LOAD httpfs")
        return self._db

    # -------------------------------------------------------------- checks

    def check_configs(self, configs: Sequence[str]) -> list[str]:
        """``configs`` deduplicated in order, each one a config of this repository."""
        known = set(self.files.files)
        chosen: list[str] = []
        for name in configs:
            name = str(name).strip()
            if name not in known:
                raise UnknownConfigError(
                    f"{name!r} is not a config of {self.source}; configs: {', '.join(self.configs)}"
                )
            if name not in chosen:
                chosen.append(name)
        return chosen

    def _paths(self, configs: Sequence[str]) -> list[str]:
        return [path for config in self.check_configs(configs) for path in self.files.files[config]]

    def _query(self, sql: str, parameters: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._connection().execute(sql, dict(parameters)).fetchall()

    # -------------------------------------------------------------- lookups

    def conversation(self, conversation_hash: str, configs: Sequence[str]) -> dict[str, Conversation]:
        """The conversation as each of ``configs`` answered it; configs that lack it are left out.

        Each config's files are sorted by hash, so the row-group statistics
        in the footers (read once per file, then kept) name the one row group
        that can hold it; only the shown columns of that row group are read
        (one request over HTTP), and its hash column finds the row. Nothing else of the file is
        touched, which is what keeps a lookup over the Hub to a few reads. The
        last :data:`RECENT_ROWS` rows read are kept, so a view seen again (a
        link reopened, back from the list) reads nothing.
        """
        conversation_hash = check_hash(conversation_hash)
        chosen = self.check_configs(configs)
        located = list(self._pool.map(lambda config: self._recent_row(config, conversation_hash), chosen))
        found: dict[str, Conversation] = {}
        for config, row in zip(chosen, located, strict=True):
            if row is None:
                continue
            found[config] = Conversation(
                config=config,
                conversation_hash=row["conversation_hash"],
                language=row["language"],
                toxic=bool(row["toxic"]),
                redacted=bool(row["redacted"]),
                history_mode=row["history_mode"],
                turns=tuple(_turns(row["conversation"])),
            )
        return found

    def _recent_row(self, config: str, conversation_hash: str) -> dict[str, Any] | None:
        key = (config, conversation_hash)
        with self._files_lock:
            if key in self._recent:
                self._recent.move_to_end(key)
                return self._recent[key]
        row = self._locate(config, conversation_hash)
        with self._files_lock:
            self._recent[key] = row
            while len(self._recent) > RECENT_ROWS:
                self._recent.popitem(last=False)
        return row

    def _locate(self, config: str, conversation_hash: str) -> dict[str, Any] | None:
        """The shown columns of the conversation's row in ``config`` (None when the config lacks it)."""
        for path, group in self._row_groups(config, conversation_hash)[:1]:
            with self._file_lock(path):  # one reader per open file at a time; sessions may share one
                table = self._read_row_group(path, group, SHOWN_COLUMNS)
            column = table.column("conversation_hash").to_pylist()
            row = bisect.bisect_left(column, conversation_hash)
            if row >= len(column) or column[row] != conversation_hash:
                return None
            return table.slice(row, 1).to_pylist()[0]
        return None

    def _mapped_range(self, path: str, group: int) -> tuple[str, str] | None:
        """The (lowest, highest) hash of row group ``group`` of ``path`` by its footer (None if none)."""
        ranges = self._parquet_file(path)[1]
        return ranges[group] if 0 <= group < len(ranges) else None

    def opened_files(self) -> list[str]:
        """The files whose footers have been read so far (kept open for the next lookup)."""
        with self._files_lock:
            return sorted(self._open_files)

    def unmapped(self, configs: Sequence[str]) -> list[str]:
        """Which of ``configs`` have no valid row-group map (their lookups read every footer)."""
        return [config for config in configs if config not in self.maps]

    def _row_groups(self, config: str, conversation_hash: str) -> list[tuple[str, int]]:
        """(path, row group) of every row group of ``config`` whose hash range holds the hash.

        Through the config's row-group map when it has a valid one: only the
        footer of the file it names is opened, and the row group's statistics
        there must be the map's, or the map is dropped (the status says so) and
        every footer of the config is read, as without a map.
        """
        mapped = self.maps.get(config)
        if mapped is not None:
            located = mapped.locate(conversation_hash)
            if all(self._mapped_range(path, group) == (low, high) for path, group, low, high in located):
                return [(path, group) for path, group, _, _ in located]
            with self._files_lock:
                self.maps.pop(config, None)
                self.maps_status = (
                    f"row-group map of {config} disagrees with its files: reading their footers instead"
                    " (run `wildchat50m index REPO`)"
                )
        found = []
        for path in self.files.files[config]:
            ranges = self._parquet_file(path)[1]
            for group, (low, high) in enumerate(ranges):
                if low <= conversation_hash <= high:
                    found.append((path, group))
        return found

    def _open_source(self, path: str) -> Any:
        """What pyarrow reads a file from: the path, or for the Hub an HTTP file read by ranges."""
        if path.startswith("hf://"):
            from huggingface_hub import HfFileSystem

            # No read-ahead: pyarrow asks for exactly the bytes it needs (the footer, then one span).
            return _SpanFile(HfFileSystem().open(path.removeprefix("hf://"), "rb", cache_type="none"))
        return path

    def _file_lock(self, path: str) -> threading.Lock:
        return self._parquet_file(path)[2]

    def _read_row_group(self, path: str, group: int, columns: list[str]) -> Any:
        """Columns of one row group; over HTTP their bytes come in one request (one span of the file).

        pyarrow would ask for each column chunk on its own, and each request costs a
        round trip; the chunks of the shown columns lie side by side in a row group,
        so they are read as a few spans: chunks less than :data:`GAP_BYTES` apart in one.
        """
        parquet, _, _ = self._parquet_file(path)
        source = self._sources.get(path)
        if source is not None:
            metadata = parquet.metadata.row_group(group)
            wanted = tuple(columns)
            ranges = []
            for j in range(metadata.num_columns):
                chunk = metadata.column(j)
                if chunk.path_in_schema not in wanted:
                    continue
                start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
                ranges.append((start, start + chunk.total_compressed_size))
            if ranges:
                source.keep(coalesced(ranges, GAP_BYTES))
        return parquet.read_row_group(group, columns=columns, use_threads=False)

    def _parquet_file(self, path: str) -> tuple[Any, list[tuple[str, str]], threading.Lock]:
        """An open file and the (lowest, highest) hash of each row group (kept for the next lookup)."""
        import pyarrow.parquet as pq

        with self._files_lock:
            if path not in self._open_files:
                source = self._open_source(path)
                if isinstance(source, _SpanFile):
                    self._sources[path] = source
                parquet = pq.ParquetFile(source, pre_buffer=True)
                metadata = parquet.metadata
                column = next(
                    j
                    for j in range(metadata.num_columns)
                    if metadata.schema.column(j).path == "conversation_hash"
                )
                ranges = []
                for index in range(metadata.num_row_groups):
                    statistics = metadata.row_group(index).column(column).statistics
                    if statistics is None or not statistics.has_min_max:
                        raise ViewerError(
                            f"{path} has no hash statistics; rebuild it with `wildchat50m build`"
                        )
                    ranges.append((statistics.min, statistics.max))
                if any(a[1] > b[0] for a, b in itertools.pairwise(ranges)):
                    raise ViewerError(f"{path} is not sorted by conversation_hash; rebuild it")
                self._open_files[path] = (parquet, ranges, threading.Lock())
            return self._open_files[path]

    def judgment_configs_of(self, target: str) -> list[str]:
        """The judgment configs whose target is ``target`` (``judgments--<factor>--<judge>--<target>``)."""
        return [config for config in self.configs if layout.judgment_target(config) == target]

    def judgments(self, conversation_hash: str, targets: Sequence[str]) -> dict[str, list[Judgment]]:
        """Target config -> the verdicts of every judgment config on its answers to this conversation.

        Judgment configs are sorted by (hash, turn_index), so, as for a lookup, the
        footers name the row groups to read (two when a conversation's turns
        straddle a boundary), and only the few columns shown are read.
        """
        conversation_hash = check_hash(conversation_hash)
        found: dict[str, list[Judgment]] = {}
        for target in self.check_configs(targets):
            for config in self.judgment_configs_of(target):
                for row in self._rows(config, conversation_hash, JUDGMENT_COLUMNS):
                    found.setdefault(target, []).append(
                        Judgment(
                            config=config,
                            judge=row["judge"],
                            factor=row["factor"],
                            turn_index=int(row["turn_index"]),
                            score=row["score"],
                            status=row["status"],
                            explanation=row["judgment"],
                        )
                    )
        return found

    def _rows(self, config: str, conversation_hash: str, columns: Sequence[str]) -> list[dict[str, Any]]:
        """Every row of ``config`` with this hash (the files are sorted by it), ``columns`` only."""
        import pyarrow.compute as pc

        rows: list[dict[str, Any]] = []
        for path, group in self._row_groups(config, conversation_hash):
            with self._file_lock(path):
                table = self._read_row_group(path, group, list(columns))
            rows += table.filter(pc.equal(table["conversation_hash"], conversation_hash)).to_pylist()
        return rows

    def configs_with(self, conversation_hash: str) -> list[str]:
        """The configs that hold this conversation (the index's record when there is a fresh one)."""
        conversation_hash = check_hash(conversation_hash)
        if self.index is not None:
            held = self.index.configs_with(conversation_hash)
            if held is not None:
                return [config for config in self.configs if config in held]
        rows = self._query(
            """
            SELECT DISTINCT filename FROM read_parquet($files, filename = true)
            WHERE conversation_hash = $hash
            """,
            {"files": self._paths(self.configs), "hash": conversation_hash},
        )
        held = {self._config_of[filename] for (filename,) in rows}
        return [config for config in self.configs if config in held]

    # -------------------------------------------------------------- finding

    def search(self, filters: SearchFilters, *, limit: int = 50) -> list[SearchHit]:
        """Conversations that match ``filters``: the first page of :meth:`find`."""
        return self.find(filters, page_size=limit).hits

    def find(self, filters: SearchFilters, *, page: int = 0, page_size: int = 50) -> SearchPage:
        """One page of the conversations that match ``filters``.

        With a fresh search index, the index ranks (BM25) and filters in one
        query (see search.py). Without one, DuckDB scans the configs of
        ``filters.having``, else the config with the most rows (every DGM
        answers the same WildChat conversations), matching words as
        substrings of the user turns, in hash order: slow on a large
        repository, which is why the Space says so.
        """
        having = tuple(self.check_configs(filters.having))
        if filters.answers_of is not None and filters.answers_of not in self.answer_configs:
            raise ViewerError(
                f"{filters.answers_of!r} has no answers index; answers can be searched in: "
                + (
                    ", ".join(self.answer_configs)
                    or "none (build one with `wildchat50m index REPO --answers CONFIG`)"
                )
            )
        if self.index is not None:
            found = self.index.search(
                filters.words,
                language=filters.language,
                min_turns=filters.min_turns,
                max_turns=filters.max_turns,
                include_toxic=filters.include_toxic,
                having=having,
                answers_of=filters.answers_of,
                page=page,
                page_size=page_size,
            )
            hits = [
                SearchHit(
                    conversation_hash=hit.conversation_hash,
                    language=hit.language,
                    turns=hit.turns,
                    toxic=hit.toxic,
                    opening=_opening(hit.opening),
                    configs=hit.configs,
                )
                for hit in found.hits
            ]
            return SearchPage(hits=hits, total=found.total, page=found.page, page_size=found.page_size)
        hits = self._find(filters, order="conversation_hash", limit=page_size, offset=page * page_size)
        return SearchPage(hits=hits, total=None, page=page, page_size=page_size)

    def random(self, filters: SearchFilters, *, seed: int | None = None) -> SearchHit | None:
        """One conversation drawn at random among those that match ``filters``."""
        import random

        draw = random.Random(seed).randrange(2**31) if seed is not None else random.randrange(2**31)
        if self.index is not None:
            drawn = self.index.random(
                draw,
                language=filters.language,
                min_turns=filters.min_turns,
                max_turns=filters.max_turns,
                include_toxic=filters.include_toxic,
                having=tuple(self.check_configs(filters.having)),
            )
            if drawn is None:
                return None
            return SearchHit(
                conversation_hash=drawn.conversation_hash,
                language=drawn.language,
                turns=drawn.turns,
                toxic=drawn.toxic,
                opening=_opening(drawn.opening),
                configs=drawn.configs,
            )
        hits = self._find(filters, order="hash(conversation_hash, $draw)", limit=1, draw=draw)
        return hits[0] if hits else None

    def largest_config(self) -> str:
        """The config with the most rows (by the files' metadata; the first by name on a tie)."""
        if self._largest is None and set(self.maps) >= set(self.configs):
            rows_of = {config: self.maps[config].num_rows for config in self.configs}
            self._largest = sorted(self.configs, key=lambda config: -rows_of[config])[0]
        if self._largest is None:
            counts = self._query(
                "SELECT file_name, num_rows FROM parquet_file_metadata($files)",
                {"files": self._paths(self.configs)},
            )
            rows: dict[str, int] = dict.fromkeys(self.configs, 0)
            for filename, count in counts:
                rows[self._config_of[filename]] += count
            self._largest = sorted(self.configs, key=lambda config: -rows[config])[0]
        return self._largest

    def languages(self) -> list[str]:
        """Languages of the conversations, most common first."""
        if self.index is not None:
            return self.index.languages()
        rows = self._query(
            """
            SELECT language FROM read_parquet($files) WHERE language IS NOT NULL
            GROUP BY language ORDER BY count(*) DESC, language
            """,
            {"files": self._paths([self.largest_config()])},
        )
        return [language for (language,) in rows]

    def _find(
        self, filters: SearchFilters, *, order: str, limit: int, offset: int = 0, **extra: Any
    ) -> list[SearchHit]:
        """Filter on the small columns; decode conversations only to match words or show openings."""
        having = self.check_configs(filters.having)
        scanned = having[0] if having else self.largest_config()
        words = (filters.words or "").strip().lower() or None
        parameters: dict[str, Any] = {
            "files": self.files.files[scanned],
            "language": filters.language or None,
            "min_turns": filters.min_turns,
            "max_turns": filters.max_turns,
            "include_toxic": bool(filters.include_toxic),
            "limit": max(1, min(int(limit), 500)),
            "offset": max(0, int(offset)),
            **extra,
        }
        conditions = [
            "($language IS NULL OR language = $language)",
            "($min_turns IS NULL OR turn >= $min_turns)",
            "($max_turns IS NULL OR turn <= $max_turns)",
            "($include_toxic OR NOT coalesce(toxic, false))",
        ]
        for position, config in enumerate(having[1:]):
            parameters[f"having_{position}"] = self.files.files[config]
            conditions.append(
                f"conversation_hash IN (SELECT conversation_hash FROM read_parquet($having_{position}))"
            )
        if words is not None:
            parameters["words"] = words
            conditions.append(
                "list_bool_or(list_transform(conversation, "
                "lambda m: m.role = 'user' AND contains(lower(m.content), $words)))"
            )
        rows = self._query(
            f"""
            SELECT conversation_hash, language, turn, toxic
            FROM read_parquet($files)
            WHERE {" AND ".join(conditions)}
            ORDER BY {order}
            LIMIT $limit OFFSET $offset
            """,
            parameters,
        )
        openings = self._openings(scanned, [row[0] for row in rows])
        return [
            SearchHit(
                conversation_hash=hash_,
                language=language,
                turns=int(turns or 0),
                toxic=bool(toxic),
                opening=_opening(openings.get(hash_)),
            )
            for hash_, language, turns, toxic in rows
        ]

    def _openings(self, config: str, hashes: Sequence[str]) -> dict[str, str | None]:
        """The first user message of each conversation; the hash range keeps the scan to its row groups."""
        if not hashes:
            return {}
        rows = self._query(
            """
            SELECT conversation_hash, list_filter(conversation, lambda m: m.role = 'user')[1].content
            FROM read_parquet($files)
            WHERE conversation_hash BETWEEN $low AND $high AND list_contains($hashes, conversation_hash)
            """,
            {
                "files": self.files.files[config],
                "low": min(hashes),
                "high": max(hashes),
                "hashes": list(hashes),
            },
        )
        return dict(rows)


class _SpanFile:
    """A remote file read by ranges that keeps a few spans in memory: the row group being read.

    Reads inside a kept span are answered from it; any other read goes to the
    underlying file (the footer, at open). Used under the open file's lock.
    """

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.position = 0
        self.spans: list[tuple[int, bytes]] = []
        self.closed = False

    def keep(self, ranges: Sequence[tuple[int, int]]) -> None:
        """Read these (start, end) ranges, one request each, unless they are kept already."""
        if all(any(s <= a and b <= s + len(d) for s, d in self.spans) for a, b in ranges):
            return
        spans = []
        for start, end in ranges:
            self.handle.seek(start)
            spans.append((start, self.handle.read(end - start)))
        self.spans = spans

    def read(self, size: int = -1) -> bytes:
        for start, data in self.spans:
            offset = self.position - start
            if size >= 0 and offset >= 0 and offset + size <= len(data):
                self.position += size
                return data[offset : offset + size]
        self.handle.seek(self.position)
        piece = self.handle.read(size)
        self.position += len(piece)
        return piece

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 2:
            self.position = self.handle.seek(offset, 2)
        else:
            self.position = offset if whence == 0 else self.position + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True
        self.handle.close()


def coalesced(ranges: Sequence[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """``ranges`` sorted, with those less than ``gap`` bytes apart merged into one."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start - merged[-1][1] < gap:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class RowGroupMap:
    """One config's row-group map, checked against the listing: (file, row group) for a hash."""

    def __init__(self, paths: Sequence[str], table: Any) -> None:
        by_name = {Path(path).name: path for path in paths}
        self.paths = [by_name[name] for name in table.column("file").to_pylist()]
        self.groups = table.column("row_group").to_pylist()
        self.rows = table.column("num_rows").to_pylist()
        self.firsts = table.column("first_hash").to_pylist()
        self.lasts = table.column("last_hash").to_pylist()

    def locate(self, conversation_hash: str) -> list[tuple[str, int, str, str]]:
        """(path, row group, first, last) of every row group whose hash range holds ``conversation_hash``."""
        found = []
        position = bisect.bisect_left(self.lasts, conversation_hash)
        while position < len(self.lasts) and self.firsts[position] <= conversation_hash:
            found.append(
                (self.paths[position], self.groups[position], self.firsts[position], self.lasts[position])
            )
            position += 1
        return found

    @property
    def num_rows(self) -> int:
        return sum(self.rows)


def _open_maps(files: RepositoryFiles) -> tuple[dict[str, RowGroupMap], str]:
    """The configs' row-group maps that match their files, and a sentence naming the ones that do not.

    A map is used only if it lists exactly the config's files with their sizes
    (the listing's names and sizes, as the index's fingerprints compare them), in
    order, with sorted, non-null hash ranges; any other map is left out and the
    config's lookups read its files' footers instead.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from wildchat50m.builders.rowgroup_map import listed_files, map_path

    maps: dict[str, RowGroupMap] = {}
    missing: list[str] = []
    stale: list[str] = []
    for config, paths in files.files.items():
        path = map_path(files.index_dir, config) if files.index_dir is not None else None
        if path is None or not path.exists():
            missing.append(config)
            continue
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError):
            stale.append(config)
            continue
        listed = [(Path(p).name, files.sizes.get(p, -1)) for p in paths]
        firsts, lasts = table.column("first_hash").to_pylist(), table.column("last_hash").to_pylist()
        bounds = [bound for pair in zip(firsts, lasts, strict=True) for bound in pair]
        if listed_files(table) != listed or None in bounds or bounds != sorted(bounds):
            stale.append(config)
            continue
        maps[config] = RowGroupMap(paths, table)
    return maps, _maps_status(maps, missing, stale)


def _maps_status(maps: Mapping[str, Any], missing: Sequence[str], stale: Sequence[str]) -> str:
    problems = [
        f"{label} for {', '.join(sorted(names))}"
        for label, names in (("missing", missing), ("stale", stale))
        if names
    ]
    if not problems:
        return f"row-group maps of {len(maps)} config(s)"
    return (
        "row-group map " + "; ".join(problems) + ": reading their files' footers instead"
        " (run `wildchat50m index REPO`)"
    )


def _open_index(files: RepositoryFiles) -> tuple[Any, str]:
    """The repository's search index if it is fresh (else None), and a sentence saying which it is."""
    from wildchat50m.builders.search_index import freshness, read_state
    from wildchat50m.spaces.viewer.search import SearchIndex

    state = read_state(files.index_dir) if files.index_dir is not None else None
    status = freshness(state, files.fingerprints())
    if not status.fresh:
        return None, status.reason + "; searching without it (slow on large repositories)"
    assert files.index_dir is not None
    return SearchIndex.open(files.index_dir, status.answers), status.reason


def _opening(text: str | None, words: int = 16) -> str:
    parts = (text or "").split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def _turns(messages: Sequence[Mapping[str, Any]] | None) -> list[TurnAnswer]:
    """User turns paired with the answer that follows each (None when the conversation ends on a user)."""
    turns: list[TurnAnswer] = []
    pending: Mapping[str, Any] | None = None
    for message in messages or []:
        if message["role"] == "user":
            if pending is not None:
                turns.append(TurnAnswer(prompt=pending["content"], answer=None))
            pending = message
        elif message["role"] == "assistant":
            turns.append(
                TurnAnswer(
                    prompt=pending["content"] if pending is not None else None,
                    answer=message["content"],
                    finish_reason=message["finish_reason"],
                    prompt_tokens=message["prompt_tokens"],
                    completion_tokens=message["completion_tokens"],
                    prompt_truncated=message["prompt_truncated"],
                    flags=tuple(message["flags"] or ()),
                    error=message["error"],
                )
            )
            pending = None
    if pending is not None:
        turns.append(TurnAnswer(prompt=pending["content"], answer=None))
    return turns
