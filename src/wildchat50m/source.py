"""The source stage: read conversations, validate them, filter them, shard them.

The reader streams record batches in exactly :data:`~wildchat50m.schema.WILDCHAT_SCHEMA`
from local parquet files, local JSON Lines, or a Hub dataset (through
``datasets`` in streaming mode), so a million rows never sit in memory.
Rows in the two other common chat shapes (``messages`` with role/content,
ShareGPT ``conversations`` with from/value) are mapped into WildChat rows.

Every row read ends in exactly one place: yielded, or counted under one
reason code of :mod:`wildchat50m.reasons`. The counts always add up to the
rows read.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wildchat50m import layout
from wildchat50m.errors import InvalidSettingError, WildChat50mError
from wildchat50m.reasons import Filtered, Invalid
from wildchat50m.schema import REQUIRED_COLUMNS, WILDCHAT_SCHEMA

Shape = Literal["auto", "wildchat", "messages", "sharegpt"]
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


class SourceError(WildChat50mError):
    """The input cannot be read at all (missing file, wrong columns, bad types)."""


def shard_of(conversation_hash: str, num_shards: int) -> int:
    """The shard a conversation belongs to: stable across runs, machines and inputs."""
    digest = hashlib.blake2b(conversation_hash.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % num_shards


def _sample_priority(seed: int, conversation_hash: str) -> int:
    digest = hashlib.blake2b(f"{seed}:{conversation_hash}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class Filters:
    """What to keep. Every field's default keeps everything valid."""

    languages: frozenset[str] | None = None
    exclude_toxic: bool = False
    exclude_redacted: bool = False
    min_turns: int | None = None
    max_turns: int | None = None
    allow_hashes: frozenset[str] | None = None
    dedupe_first_message: bool = False
    sample: int | None = None
    seed: int = 0
    shard: tuple[int, int] | None = None
    #: A conversation with more messages or characters than this is absurd, not merely long.
    max_messages: int = 1000
    max_chars: int = 1_000_000

    def __post_init__(self) -> None:
        if self.shard is not None:
            index, count = self.shard
            if count < 1 or not 0 <= index < count:
                raise InvalidSettingError(f"shard must be 'i of n' with 0 <= i < n, got {index} of {count}")
        if self.sample is not None and self.sample < 0:
            raise InvalidSettingError("sample must be a non-negative count")
        if self.languages is not None:
            object.__setattr__(self, "languages", frozenset(lang.casefold() for lang in self.languages))

    @staticmethod
    def read_allow_list(path: str | Path) -> frozenset[str]:
        """One hash per line; blank lines and lines starting with '#' are ignored."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return frozenset(s for line in lines if (s := line.strip()) and not s.startswith("#"))


@dataclass(frozen=True)
class ColumnMapping:
    """How a foreign chat row maps onto a WildChat row."""

    shape: Shape = "auto"
    messages_field: str | None = None
    role_key: str | None = None
    content_key: str | None = None
    role_map: dict[str, str] = field(default_factory=dict)
    #: Column holding a stable id; without it the hash is derived from the messages.
    hash_field: str | None = None
    language_field: str | None = None

    def resolved(self, columns: Sequence[str]) -> ColumnMapping:
        """Fill the shape's conventional names in, detecting the shape from the columns."""
        shape = self.shape
        if shape == "auto":
            if "conversation" in columns:
                shape = "wildchat"
            elif (self.messages_field or "messages") in columns:
                shape = "messages"
            elif "conversations" in columns:
                shape = "sharegpt"
            else:
                raise SourceError(
                    "cannot tell the chat shape of the input: expected a 'conversation' column (WildChat), "
                    f"'messages' (role/content) or 'conversations' (ShareGPT); found {list(columns)}. "
                    "Name the messages column with --messages-field."
                )
        defaults = {
            "wildchat": ("conversation", "role", "content", {}),
            "messages": ("messages", "role", "content", {}),
            "sharegpt": (
                "conversations",
                "from",
                "value",
                {"human": "user", "gpt": "assistant", "chatgpt": "assistant", "bing": "assistant"},
            ),
        }[shape]
        return ColumnMapping(
            shape=shape,
            messages_field=self.messages_field or defaults[0],
            role_key=self.role_key or defaults[1],
            content_key=self.content_key or defaults[2],
            role_map={**defaults[3], **self.role_map},
            hash_field=self.hash_field,
            language_field=self.language_field or ("language" if "language" in columns else None),
        )


@dataclass
class Rejection:
    """One row the reader did not yield, and why."""

    row: int
    conversation_hash: str | None
    reason: str


@dataclass
class ReadReport:
    """What the reader saw: rows read, accepted, and every other row by reason."""

    source: str
    rows_read: int = 0
    accepted: int = 0
    accepted_user_turns: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    ignored_columns: list[str] = field(default_factory=list)
    filled_columns: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return sum(self.reasons.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "accepted_user_turns": self.accepted_user_turns,
            "rejected": self.rejected,
            "reasons": dict(sorted(self.reasons.items())),
            "languages": dict(self.languages.most_common()),
            "ignored_columns": self.ignored_columns,
            "filled_columns": self.filled_columns,
        }


# ---------------------------------------------------------------- conforming types


def conform_array(array: pa.Array, target: pa.DataType, path: str) -> pa.Array:
    """Cast ``array`` to ``target``, matching struct fields by name at any depth."""
    if array.type == target:
        return array
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([conform_array(c, target, path) for c in array.chunks], type=target)
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), type=target)
    try:
        if pa.types.is_struct(target) and pa.types.is_struct(array.type):
            names = {array.type.field(i).name for i in range(array.type.num_fields)}
            children = [
                conform_array(array.field(f.name), f.type, f"{path}.{f.name}")
                if f.name in names
                else pa.nulls(len(array), type=f.type)
                for f in target
            ]
            return pa.StructArray.from_arrays(children, fields=list(target), mask=array.is_null())
        if pa.types.is_list(target) and (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
            values = conform_array(array.values, target.value_type, f"{path}[]")
            offsets = array.offsets.cast(pa.int32())
            return pa.ListArray.from_arrays(offsets, values, type=target, mask=array.is_null())
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise SourceError(
            f"column {path!r} has type {array.type}, which cannot become {target}: {error}"
        ) from error


def conform_to_wildchat(table: pa.Table | pa.RecordBatch) -> tuple[pa.RecordBatch, list[str], list[str]]:
    """A batch in exactly ``WILDCHAT_SCHEMA``; also the columns dropped and the columns filled with nulls."""
    names = table.schema.names
    missing_required = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing_required:
        raise SourceError(f"input lacks the required column(s) {missing_required}; it has {names}")
    arrays, filled = [], []
    for target in WILDCHAT_SCHEMA:
        if target.name in names:
            column = table.column(target.name)
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            arrays.append(conform_array(column, target.type, target.name))
        else:
            arrays.append(pa.nulls(table.num_rows, type=target.type))
            filled.append(target.name)
    ignored = [n for n in names if n not in WILDCHAT_SCHEMA.names]
    return pa.RecordBatch.from_arrays(arrays, schema=WILDCHAT_SCHEMA), ignored, filled


# ---------------------------------------------------------------- foreign shapes


def _derived_hash(messages: list[tuple[str, str | None]]) -> str:
    return hashlib.md5(json.dumps(messages, ensure_ascii=False).encode("utf-8")).hexdigest()


def map_foreign_row(row: Any, mapping: ColumnMapping) -> dict[str, Any] | None:
    """A WildChat row built from a messages/ShareGPT row, or None when the row cannot be mapped.

    Content that is not a string (e.g. a multimodal list) is kept as null so
    that validation counts it as ``non_string_content``.
    """
    if not isinstance(row, dict):
        return None
    raw_messages = row.get(mapping.messages_field or "")
    if not isinstance(raw_messages, list):
        return None
    conversation, pairs = [], []
    for message in raw_messages:
        if not isinstance(message, dict) or mapping.role_key not in message:
            return None
        role = message[mapping.role_key]
        if not isinstance(role, str):
            return None
        role = mapping.role_map.get(role.lower(), role.lower())
        content = message.get(mapping.content_key or "")
        content = content if isinstance(content, str) else None
        conversation.append({"role": role, "content": content})
        pairs.append((role, content))
    if mapping.hash_field:
        value = row.get(mapping.hash_field)
        conversation_hash = None if value is None else str(value)
    else:
        conversation_hash = _derived_hash(pairs)
    language = row.get(mapping.language_field) if mapping.language_field else None
    for message in conversation:
        message["language"] = language if isinstance(language, str) else None
    return {
        "conversation_hash": conversation_hash,
        "conversation": conversation,
        "turn": sum(1 for m in conversation if m["role"] == "user"),
        "language": language if isinstance(language, str) else None,
        "toxic": bool(row.get("toxic", False)),
        "redacted": bool(row.get("redacted", False)),
    }


# ---------------------------------------------------------------- raw inputs


@dataclass
class _RawBatch:
    """Rows as they came: an Arrow batch, or Python dicts from JSON Lines."""

    arrow: pa.Table | pa.RecordBatch | None = None
    rows: list[Any] | None = None

    @property
    def num_rows(self) -> int:
        return self.arrow.num_rows if self.arrow is not None else len(self.rows or [])


def _local_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".parquet", *JSON_SUFFIXES))
    if not files:
        raise SourceError(f"{path} holds no .parquet or .jsonl files")
    return files


def _iter_json_lines(path: Path, batch_size: int) -> Iterator[_RawBatch]:
    rows: list[Any] = []
    with path.open(encoding="utf-8") as handle:
        if path.suffix == ".json":
            document = json.load(handle)
            rows_iter: Iterable[Any] = document if isinstance(document, list) else [document]
        else:
            rows_iter = (_parse_json_line(line) for line in handle if line.strip())
        for row in rows_iter:
            rows.append(row)
            if len(rows) >= batch_size:
                yield _RawBatch(rows=rows)
                rows = []
    if rows:
        yield _RawBatch(rows=rows)


def _parse_json_line(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


class InputSource:
    """One resolved input: a list of local files or a Hub dataset id."""

    def __init__(
        self, spec: str | Path, via: Literal["auto", "arrow", "datasets"], hub_config: str | None, split: str
    ):
        self.spec = str(spec)
        self.hub_config = hub_config
        self.split = split
        path = Path(spec)
        if via == "datasets" or (via == "auto" and not path.exists() and layout.HUB_ID.match(self.spec)):
            self.files: list[Path] | None = None
        elif path.exists():
            self.files = _local_files(path)
        else:
            raise SourceError(
                f"{self.spec!r} is neither a local file or directory nor a Hub dataset id (owner/name)"
            )

    def total_rows(self) -> int | None:
        if self.files is None:
            return None
        total = 0
        for file in self.files:
            if file.suffix != ".parquet":
                return None
            total += pq.ParquetFile(file).metadata.num_rows
        return total

    def columns(self) -> list[str] | None:
        if self.files and self.files[0].suffix == ".parquet":
            return pq.ParquetFile(self.files[0]).schema_arrow.names
        return None

    def batches(self, batch_size: int) -> Iterator[_RawBatch]:
        if self.files is None:
            yield from self._hub_batches(batch_size)
            return
        for file in self.files:
            if file.suffix == ".parquet":
                try:
                    parquet = pq.ParquetFile(file)
                except (OSError, pa.ArrowInvalid) as error:
                    raise SourceError(f"cannot read parquet file {file}: {error}") from error
                for batch in parquet.iter_batches(batch_size=batch_size):
                    yield _RawBatch(arrow=batch)
            else:
                yield from _iter_json_lines(file, batch_size)

    def _hub_batches(self, batch_size: int) -> Iterator[_RawBatch]:
        from datasets import load_dataset  # heavy; only the Hub path pays for it

        dataset = load_dataset(self.spec, self.hub_config, split=self.split, streaming=True)
        for table in dataset.with_format("arrow").iter(batch_size=batch_size):
            yield _RawBatch(arrow=table)


# ---------------------------------------------------------------- judging rows


class _Judge:
    """Decides each row's fate; holds the state of one pass (seen hashes, seen first messages)."""

    def __init__(self, filters: Filters, sampled: frozenset[str] | None):
        self.filters = filters
        self.sampled = sampled
        self.seen_hashes: set[bytes] = set()
        self.seen_first_messages: set[bytes] = set()

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()

    def judge(self, batch: pa.RecordBatch) -> tuple[list[str | None], list[int]]:
        """One reason (or None for accepted) per row, and each row's number of user turns."""
        count = batch.num_rows
        conversation = batch.column("conversation")
        lengths = pc.fill_null(pc.list_value_length(conversation), 0).to_pylist()
        flat = pc.list_flatten(conversation)
        roles = pc.struct_field(flat, "role").to_pylist()
        contents = pc.struct_field(flat, "content")
        content_null = pc.is_null(contents).to_pylist()
        char_counts = pc.fill_null(pc.utf8_length(contents), 0).to_pylist()
        blank = pc.fill_null(
            pc.or_(pc.equal(pc.utf8_length(contents), 0), pc.utf8_is_space(contents)), False
        ).to_pylist()
        hashes = batch.column("conversation_hash").to_pylist()
        languages = batch.column("language").to_pylist()
        toxic = batch.column("toxic").to_pylist()
        redacted = batch.column("redacted").to_pylist()

        reasons: list[str | None] = []
        turns_per_row: list[int] = []
        start = 0
        for i in range(count):
            end = start + lengths[i]
            reason, user_turns, first_user = self._validate(
                hashes[i], roles[start:end], content_null[start:end], char_counts[start:end], blank[start:end]
            )
            if reason is None:
                reason = self._filter(
                    hashes[i],
                    languages[i],
                    toxic[i],
                    redacted[i],
                    user_turns,
                    None if first_user is None else start + first_user,
                    contents,
                )
            reasons.append(reason)
            turns_per_row.append(user_turns)
            start = end
        return reasons, turns_per_row

    def _validate(
        self,
        conversation_hash: str | None,
        roles: list[str | None],
        content_null: list[bool],
        char_counts: list[int],
        blank: list[bool],
    ) -> tuple[str | None, int, int | None]:
        f = self.filters
        if conversation_hash is None or not conversation_hash.strip():
            return Invalid.MISSING_HASH.value, 0, None
        if not roles:
            return Invalid.NO_USER_TURN.value, 0, None
        if len(roles) > f.max_messages or sum(char_counts) > f.max_chars:
            return Invalid.TOO_LONG.value, 0, None
        offset = 1 if roles[0] == "system" else 0
        for position, role in enumerate(roles):
            if role not in ("user", "assistant") and not (role == "system" and position == 0):
                return Invalid.UNKNOWN_ROLE.value, 0, None
        if "user" not in roles:
            return Invalid.NO_USER_TURN.value, 0, None
        for position in range(offset, len(roles)):
            expected = "user" if (position - offset) % 2 == 0 else "assistant"
            if roles[position] != expected:
                return Invalid.ROLES_OUT_OF_ORDER.value, 0, None
        if any(content_null):
            return Invalid.NON_STRING_CONTENT.value, 0, None
        user_positions = [p for p in range(offset, len(roles)) if roles[p] == "user"]
        if any(blank[p] for p in user_positions):
            return Invalid.EMPTY_USER_MESSAGE.value, 0, None
        key = self._key(conversation_hash)
        if key in self.seen_hashes:
            return Invalid.DUPLICATE_HASH.value, 0, None
        self.seen_hashes.add(key)
        return None, len(user_positions), user_positions[0]

    def _filter(
        self,
        conversation_hash: str,
        language: str | None,
        toxic: bool | None,
        redacted: bool | None,
        user_turns: int,
        first_user_index: int | None,
        contents: pa.Array,
    ) -> str | None:
        f = self.filters
        if f.languages is not None and (language or "").casefold() not in f.languages:
            return Filtered.LANGUAGE.value
        if f.exclude_toxic and toxic:
            return Filtered.TOXIC.value
        if f.exclude_redacted and redacted:
            return Filtered.REDACTED.value
        if f.min_turns is not None and user_turns < f.min_turns:
            return Filtered.TOO_FEW_TURNS.value
        if f.max_turns is not None and user_turns > f.max_turns:
            return Filtered.TOO_MANY_TURNS.value
        if f.allow_hashes is not None and conversation_hash not in f.allow_hashes:
            return Filtered.NOT_IN_ALLOW_LIST.value
        if f.dedupe_first_message and first_user_index is not None:
            key = self._key(contents[first_user_index].as_py().strip())
            if key in self.seen_first_messages:
                return Filtered.DUPLICATE_FIRST_MESSAGE.value
            self.seen_first_messages.add(key)
        if self.sampled is not None and conversation_hash not in self.sampled:
            return Filtered.NOT_SAMPLED.value
        if f.shard is not None and shard_of(conversation_hash, f.shard[1]) != f.shard[0]:
            return Filtered.OTHER_SHARD.value
        return None


# ---------------------------------------------------------------- the reader


class ConversationReader:
    """Stream valid, filtered WildChat rows from one or more inputs.

    >>> reader = ConversationReader()                     # the embedded sample
    >>> for batch in reader.batches(): ...                # pa.RecordBatch in WILDCHAT_SCHEMA
    >>> reader.report.reasons                             # Counter of reason codes

    Sampling (``Filters.sample``) draws the N valid conversations with the
    smallest seeded hash priority, so the draw does not depend on input order
    or batching; it costs one extra pass over the input that keeps only hashes.
    Validation and deduplication run before sharding, so shard jobs of one
    input agree on every decision and never overlap.
    """

    def __init__(
        self,
        sources: str | Path | Sequence[str | Path] | None = None,
        filters: Filters | None = None,
        mapping: ColumnMapping | None = None,
        *,
        via: Literal["auto", "arrow", "datasets"] = "auto",
        hub_config: str | None = None,
        split: str = "train",
        batch_size: int = 1024,
        on_reject: Callable[[Rejection], None] | None = None,
        progress: bool = False,
    ):
        if sources is None:
            from wildchat50m.resources import sample_file

            sources = [sample_file()]
        elif isinstance(sources, (str, Path)):
            sources = [sources]
        self.inputs = [InputSource(s, via, hub_config, split) for s in sources]
        self.filters = filters or Filters()
        self.mapping = mapping or ColumnMapping()
        self.batch_size = batch_size
        self.on_reject = on_reject
        self.progress = progress
        self.report = ReadReport(source=", ".join(i.spec for i in self.inputs))

    def with_filters(self, **changes: Any) -> ConversationReader:
        """A fresh reader of the same inputs, with the given :class:`Filters` fields changed."""
        reader = copy.copy(self)
        reader.filters = replace(self.filters, **changes)
        reader.report = ReadReport(source=self.report.source)
        return reader

    def total_rows(self) -> int | None:
        """Rows in the inputs, when their metadata says so without reading them."""
        totals = [i.total_rows() for i in self.inputs]
        return None if any(t is None for t in totals) else sum(t for t in totals if t is not None)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Accepted rows, in input order. Iterating again re-reads and recounts."""
        sampled = self._draw_sample() if self.filters.sample is not None else None
        self.report = ReadReport(source=self.report.source)
        judge = _Judge(self.filters, sampled)
        with self._progress_bar() as bar:
            for batch, first_row in self._normalized_batches(self.report):
                reasons, turns = judge.judge(batch)
                keep = [reason is None for reason in reasons]
                self._count(batch, first_row, reasons, turns)
                bar.update(batch.num_rows)
                if any(keep):
                    yield batch.filter(pa.array(keep))

    def rows(self) -> Iterator[dict[str, Any]]:
        """Accepted rows as Python dicts (convenient, slower than :meth:`batches`)."""
        for batch in self.batches():
            yield from batch.to_pylist()

    def read_all(self) -> pa.Table:
        """Every accepted row in one table. Only for inputs that fit in memory."""
        return pa.Table.from_batches(list(self.batches()), schema=WILDCHAT_SCHEMA)

    # -- internals

    def _progress_bar(self) -> Any:
        from tqdm.auto import tqdm

        return tqdm(
            total=self.total_rows(),
            unit=" rows",
            desc="reading",
            disable=not self.progress,
            dynamic_ncols=True,
            mininterval=0.5,
        )

    def _count(
        self, batch: pa.RecordBatch, first_row: int, reasons: list[str | None], turns: list[int]
    ) -> None:
        report = self.report
        report.rows_read += batch.num_rows
        languages = batch.column("language").to_pylist()
        hashes = batch.column("conversation_hash").to_pylist() if self.on_reject else None
        for i, reason in enumerate(reasons):
            if reason is None:
                report.accepted += 1
                report.accepted_user_turns += turns[i]
                report.languages[languages[i] or "unknown"] += 1
            else:
                report.reasons[reason] += 1
                if self.on_reject and hashes is not None:
                    self.on_reject(Rejection(first_row + i, hashes[i], reason))

    def _normalized_batches(self, report: ReadReport) -> Iterator[tuple[pa.RecordBatch, int]]:
        """WildChat-schema batches with their first row's ordinal; unmappable rows are counted here."""
        row_number = 0
        for source in self.inputs:
            mapping: ColumnMapping | None = None
            for raw in source.batches(self.batch_size):
                if mapping is None:
                    columns = (
                        raw.arrow.schema.names if raw.arrow is not None else _json_columns(raw.rows or [])
                    )
                    mapping = self.mapping.resolved(columns)
                if mapping.shape == "wildchat" and raw.arrow is not None:
                    batch, ignored, filled = conform_to_wildchat(raw.arrow)
                    _note_columns(report, ignored, filled)
                    yield batch, row_number
                    row_number += raw.num_rows
                    continue
                rows = raw.arrow.to_pylist() if raw.arrow is not None else list(raw.rows or [])
                yield from self._mapped(rows, mapping, row_number, report)
                row_number += len(rows)

    def _mapped(
        self, rows: list[Any], mapping: ColumnMapping, first_row: int, report: ReadReport
    ) -> Iterator[tuple[pa.RecordBatch, int]]:
        """Map foreign rows; consecutive mappable rows become one batch so ordinals stay exact."""
        pending: list[dict[str, Any]] = []
        pending_start = first_row
        for offset, row in enumerate(rows):
            mapped = map_foreign_row(row, mapping) if mapping.shape != "wildchat" else _wildchat_dict(row)
            if mapped is not None:
                if not pending:
                    pending_start = first_row + offset
                pending.append(mapped)
                continue
            if pending:
                yield from self._from_rows(pending, pending_start, report)
                pending = []
            self._unmappable(first_row + offset, report)
        if pending:
            yield from self._from_rows(pending, pending_start, report)

    def _unmappable(self, row_number: int, report: ReadReport) -> None:
        report.rows_read += 1
        report.reasons[Invalid.UNMAPPABLE_ROW.value] += 1
        if self.on_reject:
            self.on_reject(Rejection(row_number, None, Invalid.UNMAPPABLE_ROW.value))

    def _from_rows(
        self, rows: list[dict[str, Any]], first_row: int, report: ReadReport
    ) -> Iterator[tuple[pa.RecordBatch, int]]:
        """Rows as one batch; if a value has a type Arrow refuses, row by row, counting the refused."""
        try:
            yield pa.RecordBatch.from_pylist(rows, schema=WILDCHAT_SCHEMA), first_row
            return
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            pass
        for offset, row in enumerate(rows):
            try:
                single = pa.RecordBatch.from_pylist([row], schema=WILDCHAT_SCHEMA)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
                self._unmappable(first_row + offset, report)
                continue
            yield single, first_row + offset

    def _draw_sample(self) -> frozenset[str]:
        """First pass: the N smallest seeded priorities among rows that pass every other filter."""
        wanted = self.filters.sample or 0
        judge = _Judge(replace(self.filters, sample=None, shard=None), None)
        heap: list[tuple[int, str]] = []
        for batch, _ in self._normalized_batches(ReadReport(source="")):
            reasons, _ = judge.judge(batch)
            hashes = batch.column("conversation_hash").to_pylist()
            for conversation_hash, reason in zip(hashes, reasons, strict=True):
                if reason is not None:
                    continue
                item = (-_sample_priority(self.filters.seed, conversation_hash), conversation_hash)
                if len(heap) < wanted:
                    heapq.heappush(heap, item)
                elif wanted and item > heap[0]:
                    heapq.heapreplace(heap, item)
        return frozenset(h for _, h in heap)


def _json_columns(rows: list[Any]) -> list[str]:
    for row in rows:
        if isinstance(row, dict):
            return list(row)
    return []


def _wildchat_dict(row: Any) -> dict[str, Any] | None:
    """A WildChat-shaped JSON row, kept if its required fields are there."""
    if not isinstance(row, dict) or not all(c in row for c in REQUIRED_COLUMNS):
        return None
    if not isinstance(row["conversation"], list) or not all(isinstance(m, dict) for m in row["conversation"]):
        return None
    return {name: row.get(name) for name in WILDCHAT_SCHEMA.names}


def _note_columns(report: ReadReport, ignored: list[str], filled: list[str]) -> None:
    for name in ignored:
        if name not in report.ignored_columns:
            report.ignored_columns.append(name)
    for name in filled:
        if name not in report.filled_columns:
            report.filled_columns.append(name)
