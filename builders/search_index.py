"""The repository's full-text index: the user turns of every conversation, and on request a DGM's answers.

Built from a repository by ``wildchat50m index REPO`` (and by ``build``), it
lives in ``REPO/index/``, outside the ``data/<config>/`` files the README's
``configs:`` declare, so ``load_dataset`` never sees it; ``push`` uploads it
with the rest and the Space downloads it once at start.

    index/index.json             format, the configs indexed and the fingerprint of each one's files,
                                 the config sets, and which configs have an answers index
    index/conversations.parquet  one row per conversation: hash, language, turns, toxic, opening,
                                 config set (the membership record incremental builds start from)
    index/prompts/               tantivy index of the user turns (one document per conversation)
    index/answers/<config>/      tantivy index of one DGM's answers (built on request)
    index/stats/<config>.parquet per conversation, what this DGM's answers add up to (completion
                                 tokens, answers cut at the length limit, flagged, failed): the
                                 Space ranks "where do they differ most" from these, decoding no text
    index/rowgroups/<config>.parquet  the first and last hash of every row group of every file, so
                                 the Space opens only the footer of the file holding a conversation
                                 (builders/rowgroup_map.py; every config, judgments too)

The prompts are the same in every config, so one document per conversation
serves the whole repository. Which configs hold a conversation is recorded
as the id of its *config set* (the distinct sets are few: DGMs answer the
same conversations and each misses a few), so "held by A and B" is a term
query on the set ids that contain both, evaluated inside the index with the
text and the other filters.

Engine: tantivy, chosen by measurement over SQLite FTS5 (see the README,
"Searching a million conversations"). Text is tokenized by tantivy's default
tokenizer (split on non-alphanumerics, lower-cased); Chinese, Japanese and
Korean characters are spaced apart first so that each is a term and a word of
them is a phrase (:func:`searchable`).

A fingerprint of each config's parquet files (names and sizes, as the Hub's
listing also reports them) is recorded, so a reader can tell a stale index
from a fresh one without reading any data file.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from wildchat50m.builders.rowgroup_map import MapReport, write_rowgroup_maps
from wildchat50m.builders.rowgroup_map import describe as describe_maps

from wildchat50m.errors import WildChat50mError
from wildchat50m.layout import Repository, is_answer_config
from wildchat50m.runstore import atomic_write_text
from wildchat50m.schema import SEARCH_MEMBERSHIP_SCHEMA

INDEX_DIR = "index"
STATE_FILE = "index.json"
MEMBERSHIP_FILE = "conversations.parquet"
PROMPTS_DIR = "prompts"
ANSWERS_DIR = "answers"
STATS_DIR = "stats"
FORMAT = 1
#: Characters of the first prompt kept to show a hit without reading any data file.
OPENING_CHARS = 240
WRITER_HEAP_BYTES = 256 * 1024**2
READ_BATCH_ROWS = 8192
#: Han, Hiragana, Katakana, Hangul: written without spaces, so each character becomes a term.
UNSPACED = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff])")
SMALL_COLUMNS = ["conversation_hash", "language", "turn", "toxic"]


class IndexBuildError(WildChat50mError):
    """The index cannot be built as asked; the message says what to do."""


@dataclass
class IndexReport:
    """What one ``index`` run did."""

    repo: Path
    mode: str
    """``full``, ``incremental`` (configs added) or ``unchanged``."""
    configs: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    conversations: int = 0
    documents_written: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    """Config -> answer documents written, for the answers indexes built in this run."""
    seconds: float = 0.0
    size_bytes: int = 0
    maps: MapReport | None = None


# ---------------------------------------------------------------- text


def searchable(text: str | None) -> str:
    """``text`` as it is indexed and queried: characters of unspaced scripts spaced apart."""
    return UNSPACED.sub(r" \1 ", text or "")


def query_terms(text: str) -> list[str]:
    """The terms tantivy's default tokenizer makes of ``text`` (split on non-alphanumerics, lower case)."""
    return [term for term in re.findall(r"[^\W_]+", searchable(text).lower()) if len(term) < 40]


# ---------------------------------------------------------------- fingerprints


def files_fingerprint(files: Iterable[tuple[str, int]]) -> str:
    """Fingerprint of a config's parquet files from their names and sizes (what a Hub listing gives)."""
    listed = sorted((Path(name).name, int(size)) for name, size in files)
    return hashlib.sha256(json.dumps(listed).encode()).hexdigest()[:32]


def local_fingerprints(repo: Path, configs: Sequence[str] | None = None) -> dict[str, str]:
    """Config -> fingerprint of its files, for the configs of a repository on disk."""
    chosen = Repository(repo).configs() if configs is None else configs
    return {
        config: files_fingerprint((p.name, p.stat().st_size) for p in Repository(repo).files_of(config))
        for config in chosen
    }


def read_state(index_dir: Path) -> dict[str, Any] | None:
    """The index's ``index.json`` (None when there is no index, or one of another format)."""
    path = index_dir / STATE_FILE
    if not path.exists():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    return state if state.get("format") == FORMAT else None


@dataclass(frozen=True)
class Freshness:
    """How an index compares with the repository's files."""

    fresh: bool
    reason: str
    answers: tuple[str, ...] = ()
    """Configs whose answers index matches their files."""


def freshness(state: dict[str, Any] | None, fingerprints: dict[str, str]) -> Freshness:
    """Whether ``state`` indexes exactly the DGM configs whose files have ``fingerprints``."""
    if state is None:
        return Freshness(
            False, "this repository has no search index (build it with `wildchat50m index REPO`)"
        )
    current = {config: value for config, value in fingerprints.items() if is_answer_config(config)}
    indexed = state.get("configs") or {}
    changed = sorted(c for c in current if c in indexed and indexed[c] != current[c])
    added = sorted(set(current) - set(indexed))
    removed = sorted(set(indexed) - set(current))
    answers = tuple(sorted(c for c, value in (state.get("answers") or {}).items() if current.get(c) == value))
    problems = [
        f"{label}: {', '.join(names)}"
        for label, names in (("changed", changed), ("not indexed", added), ("gone", removed))
        if names
    ]
    if problems:
        return Freshness(
            False,
            "the search index is stale (" + "; ".join(problems) + "); run `wildchat50m index REPO`",
            answers,
        )
    return Freshness(True, f"search index of {state.get('conversations', 0):,} conversations", answers)


# ---------------------------------------------------------------- schemas


def prompt_schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("text", stored=False, tokenizer_name="default", index_option="position")
    builder.add_text_field("hash", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("language", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("turns", stored=True, indexed=True, fast=True)
    builder.add_boolean_field("toxic", stored=True, indexed=True, fast=True)
    builder.add_integer_field("config_set", stored=True, indexed=True, fast=True)
    builder.add_text_field("opening", stored=True, tokenizer_name="raw", index_option="basic")
    return builder.build()


def answer_schema() -> Any:
    """An answers index: the same filters, the text of one DGM's answers."""
    return prompt_schema()


# ---------------------------------------------------------------- reading configs


def _user_and_answer_texts(conversation: pa.ListArray) -> tuple[list[str], list[str], list[str]]:
    """Per conversation: the user turns joined, the answers joined, and the first user turn."""
    messages = pc.list_flatten(conversation)
    parents = pc.list_parent_indices(conversation).to_numpy()
    roles = pc.struct_field(messages, "role").to_numpy(zero_copy_only=False)
    contents = pc.struct_field(messages, "content").to_pylist()
    users: list[list[str]] = [[] for _ in range(len(conversation))]
    answers: list[list[str]] = [[] for _ in range(len(conversation))]
    for parent, role, content in zip(parents, roles, contents, strict=True):
        if content:
            (users if role == "user" else answers)[parent].append(content)
    return (
        ["\n".join(parts) for parts in users],
        ["\n".join(parts) for parts in answers],
        [parts[0] if parts else "" for parts in users],
    )


def _batches(paths: Sequence[Path], columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    # Without pre_buffer=False, pyarrow reads the asked columns of a whole file (up to ~500 MB) up
    # front and holds them while the file is read batch by batch.
    for path in paths:
        handle = pq.ParquetFile(path, pre_buffer=False)
        yield from handle.iter_batches(batch_size=READ_BATCH_ROWS, columns=list(columns))


def _small_columns(repo: Path, config: str) -> pa.Table:
    table = pq.read_table(Repository(repo).files_of(config), columns=SMALL_COLUMNS)
    return table.rename_columns(["conversation_hash", "language", "turns", "toxic"])


# ---------------------------------------------------------------- building


def _documents(
    repo: Path, config: str, wanted: pa.Array | None, set_of: dict[str, int], *, answers: bool = False
) -> Iterator[dict[str, Any]]:
    """One document per conversation of ``config`` whose hash is in ``wanted`` (all when None)."""
    for batch in _batches(Repository(repo).files_of(config), [*SMALL_COLUMNS, "conversation"]):
        if wanted is not None:
            keep = pc.is_in(batch.column("conversation_hash"), value_set=wanted)
            if not pc.any(keep).as_py():
                continue
            batch = batch.filter(keep)
        users, replies, firsts = _user_and_answer_texts(batch.column("conversation"))
        columns = zip(
            batch.column("conversation_hash").to_pylist(),
            batch.column("language").to_pylist(),
            batch.column("turn").to_pylist(),
            batch.column("toxic").to_pylist(),
            strict=True,
        )
        for position, (conversation_hash, language, turns, toxic) in enumerate(columns):
            yield {
                "text": searchable(replies[position] if answers else users[position]),
                "hash": conversation_hash,
                "language": language or "",
                "turns": int(turns or 0),
                "toxic": bool(toxic),
                "config_set": set_of.get(conversation_hash, -1),
                "opening": firsts[position][:OPENING_CHARS],
            }


def _write_documents(index: Any, documents: Iterable[dict[str, Any]], delete_first: bool) -> int:
    import tantivy

    writer = index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)
    written = 0
    for document in documents:
        if delete_first:
            writer.delete_documents_by_term("hash", document["hash"])
        writer.add_document(tantivy.Document(**document))
        written += 1
    writer.commit()
    writer.wait_merging_threads()
    return written


STATS_SCHEMA = pa.schema(
    [
        ("conversation_hash", pa.string()),
        ("completion_tokens", pa.int64()),
        ("answers", pa.int64()),
        ("cut_at_length", pa.int64()),
        ("flagged", pa.int64()),
        ("failed", pa.int64()),
    ]
)
STATS_COLUMNS = [
    "conversation_hash",
    *(
        f"conversation.list.element.{name}"
        for name in ("role", "finish_reason", "completion_tokens", "flags", "error")
    ),
]


def answer_stats(repo: Path, config: str) -> pa.Table:
    """Per conversation (in hash order): totals over this config's answers, from small columns only."""
    tables = []
    for batch in _batches(Repository(repo).files_of(config), STATS_COLUMNS):
        conversation = batch.column("conversation")
        messages = pc.list_flatten(conversation)
        parents = pc.list_parent_indices(conversation).to_numpy()
        answer = (
            pc.equal(pc.struct_field(messages, "role"), "assistant")
            .fill_null(False)
            .to_numpy(zero_copy_only=False)
        )
        rows = len(conversation)

        def total(
            values: Any, answer: np.ndarray = answer, parents: np.ndarray = parents, rows: int = rows
        ) -> pa.Array:
            """Sum over each conversation's answers."""
            counted = np.asarray(values, dtype=np.int64) * answer
            return pa.array(np.bincount(parents, weights=counted, minlength=rows).astype(np.int64))

        tokens = pc.struct_field(messages, "completion_tokens").fill_null(0).to_numpy(zero_copy_only=False)
        cut = pc.equal(pc.struct_field(messages, "finish_reason"), "length").fill_null(False)
        flags = pc.greater(pc.list_value_length(pc.struct_field(messages, "flags")).fill_null(0), 0)
        failed = pc.is_valid(pc.struct_field(messages, "error"))
        tables.append(
            pa.table(
                [
                    batch.column("conversation_hash"),
                    total(tokens),
                    total(np.ones(len(answer), dtype=np.int64)),
                    total(cut.to_numpy(zero_copy_only=False)),
                    total(flags.to_numpy(zero_copy_only=False)),
                    total(failed.to_numpy(zero_copy_only=False)),
                ],
                schema=STATS_SCHEMA,
            )
        )
    return pa.concat_tables(tables) if tables else STATS_SCHEMA.empty_table()


def _write_stats(repo: Path, index_dir: Path, configs: Sequence[str], keep: Sequence[str]) -> None:
    """Write the stats of ``configs``; drop those of configs not in ``keep``."""
    folder = index_dir / STATS_DIR
    folder.mkdir(exist_ok=True)
    for config in configs:
        staged = folder / f".{config}.parquet.partial"
        pq.write_table(answer_stats(repo, config), staged, compression="zstd")
        staged.replace(folder / f"{config}.parquet")
    for path in folder.glob("*.parquet"):
        if path.stem not in keep:
            path.unlink()


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _swap(staged: Path, target: Path) -> None:
    """Put a finished index folder in place (its writer's lock files go: they are no part of the index)."""
    for lock in staged.glob(".tantivy-*.lock"):
        lock.unlink()
    retired = target.with_name(f".{target.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    if target.exists():
        target.rename(retired)
    staged.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


class _Membership:
    """Which configs hold each conversation, as config-set ids, with the small columns of each."""

    def __init__(self, table: pa.Table, sets: list[list[str]]) -> None:
        self.table = table
        self.sets = [list(s) for s in sets]

    @classmethod
    def empty(cls) -> _Membership:
        return cls(SEARCH_MEMBERSHIP_SCHEMA.empty_table(), [])

    def add_config(self, config: str, small: pa.Table) -> np.ndarray:
        """Record that ``config`` holds the conversations of ``small``; returns their hashes."""
        known = self.table.column("conversation_hash").to_numpy(zero_copy_only=False).astype("U32")
        hashes = small.column("conversation_hash").to_numpy(zero_copy_only=False).astype("U32")
        order = np.argsort(known, kind="stable")
        known_sorted = known[order]
        positions = np.zeros(len(hashes), dtype=np.int64)
        present = np.zeros(len(hashes), dtype=bool)
        if len(known_sorted):
            positions = np.clip(np.searchsorted(known_sorted, hashes), 0, len(known_sorted) - 1)
            present = known_sorted[positions] == hashes
        set_ids = self.table.column("config_set").to_numpy().copy()
        remap: dict[int, int] = {}
        index_of = {tuple(s): i for i, s in enumerate(self.sets)}

        def with_config(old: int) -> int:
            if old not in remap:
                members = tuple(sorted({*(self.sets[old] if old >= 0 else []), config}))
                if members not in index_of:
                    index_of[members] = len(self.sets)
                    self.sets.append(list(members))
                remap[old] = index_of[members]
            return remap[old]

        rows = order[positions[present]]
        set_ids[rows] = [with_config(int(old)) for old in set_ids[rows]]
        fresh = small.filter(pa.array(~present))
        new_set = with_config(-1)
        added = pa.table(
            {
                "conversation_hash": fresh.column("conversation_hash"),
                "language": fresh.column("language"),
                "turns": fresh.column("turns"),
                "toxic": fresh.column("toxic"),
                "opening": pa.nulls(fresh.num_rows, pa.string()),
                "config_set": pa.array(np.full(fresh.num_rows, new_set, dtype=np.int64)),
            },
            schema=SEARCH_MEMBERSHIP_SCHEMA,
        )
        updated = self.table.set_column(5, "config_set", pa.array(set_ids, pa.int64()))
        self.table = pa.concat_tables([updated, added]).combine_chunks()
        return hashes

    def set_of(self) -> dict[str, int]:
        return dict(
            zip(
                self.table.column("conversation_hash").to_pylist(),
                self.table.column("config_set").to_pylist(),
                strict=True,
            )
        )


def build_index(
    repo: Path,
    *,
    answers: Sequence[str] = (),
    full: bool = False,
) -> IndexReport:
    """Build or update ``REPO/index`` so that it covers every DGM config of ``repo``.

    With an index already there whose configs are all unchanged, only the
    added configs are read (``incremental``); a changed or removed config
    means a full rebuild. ``answers`` names configs whose answers get an
    index of their own; answers indexes of other configs are kept while
    their config's files are unchanged.
    """
    import tantivy

    started = time.perf_counter()
    repo = Path(repo)
    # Judgment configs hold verdicts, not conversations: the index covers the DGMs' configs.
    configs = Repository(repo).answer_configs()
    if not configs:
        raise IndexBuildError(
            f"{repo} holds no DGM config under data/<config>/; build one with `wildchat50m build`"
        )
    unknown = sorted(set(answers) - set(configs))
    if unknown:
        raise IndexBuildError(
            f"no DGM config named {', '.join(unknown)} in {repo}; configs: {', '.join(configs)}"
        )
    index_dir = repo / INDEX_DIR
    index_dir.mkdir(exist_ok=True)
    fingerprints = local_fingerprints(repo, configs)
    state = read_state(index_dir)
    previous = (state or {}).get("configs") or {}
    reusable = (
        not full
        and state is not None
        and (index_dir / PROMPTS_DIR / "meta.json").exists()
        and (index_dir / MEMBERSHIP_FILE).exists()
        and all(fingerprints.get(c) == value for c, value in previous.items())
    )
    report = IndexReport(repo=repo, mode="full", configs=configs)
    answer_state = {
        config: value
        for config, value in ((state or {}).get("answers") or {}).items()
        if fingerprints.get(config) == value
    }
    if reusable and not set(configs) - set(previous):
        report.mode = "unchanged"
        membership_rows = (state or {}).get("conversations", 0)
        report.conversations = int(membership_rows)
    else:
        staged = index_dir / f".{PROMPTS_DIR}.partial"
        shutil.rmtree(staged, ignore_errors=True)
        if reusable:
            report.mode = "incremental"
            shutil.copytree(index_dir / PROMPTS_DIR, staged)
            membership = _Membership(pq.read_table(index_dir / MEMBERSHIP_FILE), state["sets"])
            todo = [c for c in configs if c not in previous]
        else:
            staged.mkdir(parents=True)
            tantivy.Index(prompt_schema(), path=str(staged))
            membership = _Membership.empty()
            todo = list(configs)
        report.added = todo
        known = set(membership.table.column("conversation_hash").to_pylist()) if reusable else set()
        held = {config: membership.add_config(config, _small_columns(repo, config)) for config in todo}
        set_of = membership.set_of()
        openings: dict[str, str] = {}
        index = tantivy.Index.open(str(staged))

        def documents() -> Iterator[dict[str, Any]]:
            done = np.array([], dtype="U32")
            for config in todo:
                missing = np.setdiff1d(held[config], done)
                if not len(missing):
                    continue
                wanted = None if len(missing) == len(held[config]) else pa.array(missing.tolist())
                for document in _documents(repo, config, wanted, set_of):
                    openings[document["hash"]] = document["opening"]
                    yield document
                done = np.union1d(done, missing)

        report.documents_written = _write_documents(index, documents(), delete_first=bool(known))
        table = membership.table
        old_openings = table.column("opening").to_pylist()
        merged = [
            openings.get(h, old)
            for h, old in zip(table.column("conversation_hash").to_pylist(), old_openings, strict=True)
        ]
        table = table.set_column(4, "opening", pa.array(merged, pa.string()))
        pq.write_table(table, index_dir / f".{MEMBERSHIP_FILE}.partial", compression="zstd")
        _swap(staged, index_dir / PROMPTS_DIR)
        (index_dir / f".{MEMBERSHIP_FILE}.partial").replace(index_dir / MEMBERSHIP_FILE)
        report.conversations = table.num_rows
        _write_stats(repo, index_dir, todo, configs)
        state = {
            "format": FORMAT,
            "configs": fingerprints,
            "sets": membership.sets,
            "conversations": table.num_rows,
            "answers": answer_state,
        }
        atomic_write_text(index_dir / STATE_FILE, json.dumps(state, indent=1) + "\n")
    if answers:
        state = read_state(index_dir)
        if state is None:
            raise IndexBuildError(f"{repo}: build the prompts index first (`wildchat50m index {repo}`)")
        sets_of = _Membership(pq.read_table(index_dir / MEMBERSHIP_FILE), state["sets"]).set_of()
        for config in answers:
            staged = index_dir / ANSWERS_DIR / f".{config}.partial"
            shutil.rmtree(staged, ignore_errors=True)
            staged.mkdir(parents=True)
            index = tantivy.Index(answer_schema(), path=str(staged))
            written = _write_documents(index, _documents(repo, config, None, sets_of, answers=True), False)
            _swap(staged, index_dir / ANSWERS_DIR / config)
            state.setdefault("answers", {})[config] = fingerprints[config]
            report.answers[config] = written
        atomic_write_text(index_dir / STATE_FILE, json.dumps(state, indent=1) + "\n")
    report.maps = write_rowgroup_maps(repo, index_dir)
    report.seconds = time.perf_counter() - started
    report.size_bytes = _folder_size(index_dir)
    return report


def describe(report: IndexReport) -> str:
    """The lines `index` (and `build`) print about an index run."""
    what = {
        "full": f"indexed {report.conversations:,} conversations of {len(report.configs)} config(s)",
        "incremental": f"added {', '.join(report.added)}: {report.documents_written:,} conversations "
        f"re-indexed, {report.conversations:,} in all",
        "unchanged": f"index up to date ({report.conversations:,} conversations)",
    }[report.mode]
    lines = [f"{report.repo}/index: {what} in {report.seconds:.1f} s, {report.size_bytes / 1e6:.1f} MB"]
    lines += [f"  answers of {config}: {count:,} conversations" for config, count in report.answers.items()]
    if report.maps is not None:
        lines.append(f"  {describe_maps(report.maps)}")
    return "\n".join(lines)


def update_search_index(repo: Path) -> str:
    """Keep ``repo``'s index in step after `build` or `import`; a line saying what happened.

    The index is the Space's, so a missing tantivy (the ``space`` extra) or a repository that
    cannot be indexed leaves the build as it is and says how to index it later.
    """
    import importlib.util

    if importlib.util.find_spec("tantivy") is None:
        maps = describe_maps(write_rowgroup_maps(repo, Path(repo) / INDEX_DIR))
        return (
            f"search index not updated: install wildchat-50m[space], then `wildchat50m index {repo}`\n"
            f"  {maps}"
        )
    try:
        return describe(build_index(repo))
    except IndexBuildError as error:
        maps = describe_maps(write_rowgroup_maps(repo, Path(repo) / INDEX_DIR))
        return f"search index not updated: {error}\n  {maps}"
