"""Import one of the original WildChat-50m releases as a config of the repository.

The original releases were 54 separate datasets, one per DGM, named like
``allenai_WildChat-1M-Full-Qwen_Qwen2.5-72B-Instruct``. Each kept the WildChat
schema, replaced every assistant ``content`` with the DGM's answer and added
``finish_reason`` and ``cumulative_logprob`` to the assistant messages. Their
column types vary from file to file (an all-null column has Arrow type null;
some messages carry extra fields), and they have two known defects: a failed
generation is an empty answer with finish reason ``no response``, and user
text may hold leaked end-of-turn tokens such as ``<|eot_id|>``.

An import turns such a release into a run directory in the layout
:func:`~wildchat50m.builders.repository.build_repository` reads, then builds
the config from it. On the way every row is cast to
:data:`~wildchat50m.schema.OUTPUT_SCHEMA` by field name, a failed answer becomes
null content with finish reason ``error`` (never an empty string passed off as
an answer), and answers to user text with template tokens are flagged
:data:`~wildchat50m.records.FLAG_USER_TEMPLATE_LEAK`; the user text itself is
kept as the release had it. What the release does not record (token counts,
whether a prompt was truncated, sampling settings) stays null, and the run's
parameters say ``engine: "imported"`` and name the release as ``source``.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from wildchat50m.engines.base import FINISH_ERROR, ErrorKind
from wildchat50m.errors import WildChat50mError
from wildchat50m.jobs import RunKind, write_manifest
from wildchat50m.records import (
    FLAG_USER_TEMPLATE_LEAK,
    KNOWN_TEMPLATE_TOKENS,
    TurnOutcome,
    answer_flags,
)
from wildchat50m.requests import HistoryMode, turns_of
from wildchat50m.runstore import (
    RunStore,
    ShardStats,
    is_run,
)
from wildchat50m.schema import ANSWER_FIELDS, OUTPUT_MESSAGE, OUTPUT_SCHEMA
from wildchat50m.source import InputSource, SourceError, conform_array, conform_to_wildchat

#: The ``engine`` an imported run records: its answers were not generated here.
IMPORTED_ENGINE = "imported"
#: The finish reason the original releases gave a generation that failed.
RELEASE_NO_RESPONSE = "no response"
#: Where an import keeps its run directory inside the repository; ``push`` leaves it out.
IMPORTS_DIR = ".imports"
#: The paper generated every turn after the original WildChat history.
RELEASE_HISTORY_MODE = HistoryMode.ORIGINAL

_OUTPUT_MESSAGE_NAMES = frozenset(f.name for f in OUTPUT_MESSAGE)
#: Answer fields the import itself writes, so never "filled with nulls" even when the release lacks them.
_WRITTEN = frozenset({"flags", "error"})
_NULL_ANSWER = {name: None for name, _ in ANSWER_FIELDS}


class ImportFailed(WildChat50mError):
    """The release cannot be imported as asked; the message says what to do."""


@dataclass
class ImportReport:
    """What one import read, changed and built."""

    source: str
    config: str
    run_dir: Path
    rows_read: int = 0
    rows: int = 0
    stats: ShardStats = field(default_factory=ShardStats)
    """The counts the run's one shard records: answers (its ``turns``), tokens when the release
    carries them (the original releases did not), finish reasons as imported (``error`` for answers
    the release did not have), flags and errors."""
    filled_columns: list[str] = field(default_factory=list)
    """Columns (``conversation[].x`` for message fields) the release lacks, imported as nulls."""
    dropped_columns: list[str] = field(default_factory=list)
    """Columns and message fields the release has and the output schema does not."""
    null_typed_columns: list[str] = field(default_factory=list)
    """Columns whose Arrow type was null in some file (all null there), cast to their proper type."""
    release_finish_reasons: Counter[str] = field(default_factory=Counter)
    """Finish reasons as the release stored them, before ``no response`` became ``error``."""
    no_response_answers: int = 0
    user_template_leaks: int = 0
    """User turns whose text holds template tokens (kept as is; their answers are flagged)."""
    unanswered_turns: int = 0
    duplicate_rows: int = 0
    rows_without_hash: int = 0
    search_index: str | None = None
    """What the build after the import did to the repository's search index."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "config": self.config,
            "run_dir": str(self.run_dir),
            "rows_read": self.rows_read,
            "rows": self.rows,
            "answers": self.stats.turns,
            "filled_columns": self.filled_columns,
            "dropped_columns": self.dropped_columns,
            "null_typed_columns": self.null_typed_columns,
            "release_finish_reasons": dict(sorted(self.release_finish_reasons.items())),
            "no_response_answers": self.no_response_answers,
            "user_template_leaks": self.user_template_leaks,
            "unanswered_turns": self.unanswered_turns,
            "duplicate_rows": self.duplicate_rows,
            "rows_without_hash": self.rows_without_hash,
            "flags": dict(sorted(self.stats.flags.items())),
            "finish_reasons": dict(sorted(self.stats.finish_reasons.items())),
            "errors": dict(sorted(self.stats.errors.items())),
        }


def _note(names: list[str], new: Sequence[str]) -> None:
    names.extend(n for n in new if n not in names)


# ---------------------------------------------------------------- reading


def release_batches(
    source: str | Path, *, split: str = "train", batch_size: int = 1000
) -> Iterator[pa.Table]:
    """The release's rows as Arrow tables: local parquet (file or folder) or a Hub id, streamed."""
    try:
        release = InputSource(source, "auto", None, split)
    except SourceError as error:
        raise ImportFailed(str(error)) from error
    for raw in release.batches(batch_size):
        if raw.arrow is not None:
            yield pa.Table.from_batches([raw.arrow]) if isinstance(raw.arrow, pa.RecordBatch) else raw.arrow
        else:
            rows = [row for row in raw.rows or [] if isinstance(row, dict)]
            yield pa.Table.from_pylist(rows)


def _null_typed(table: pa.Table) -> list[str]:
    """Columns, and struct fields inside them, whose Arrow type is null."""
    found: list[str] = []

    def walk(type_: pa.DataType, path: str) -> None:
        if pa.types.is_null(type_):
            found.append(path)
        elif pa.types.is_struct(type_):
            for i in range(type_.num_fields):
                walk(type_.field(i).type, f"{path}.{type_.field(i).name}")
        elif pa.types.is_list(type_) or pa.types.is_large_list(type_):
            walk(type_.value_type, f"{path}[]")

    for column in table.schema:
        if column.name in OUTPUT_SCHEMA.names:
            walk(column.type, column.name)
    return found


def _message_fields(table: pa.Table) -> list[str]:
    type_ = table.schema.field("conversation").type
    if (pa.types.is_list(type_) or pa.types.is_large_list(type_)) and pa.types.is_struct(type_.value_type):
        struct = type_.value_type
        return [struct.field(i).name for i in range(struct.num_fields)]
    return []


def conform_release_batch(table: pa.Table, report: ImportReport) -> list[dict[str, Any]]:
    """The rows of ``table`` with every column cast by name to the output schema, as Python dicts.

    WildChat's own columns go through the reader's conversion; the messages
    are cast to the output message, so release fields named like an answer
    field (``finish_reason``, ``cumulative_logprob``) are kept and any other
    extra field is dropped.
    """
    try:
        batch, ignored, filled = conform_to_wildchat(table)
        conversation = table.column("conversation").combine_chunks()
        messages = conform_array(conversation, pa.list_(OUTPUT_MESSAGE), "conversation")
    except SourceError as error:
        raise ImportFailed(f"{report.source}: {error}") from error
    fields = _message_fields(table)
    _note(report.dropped_columns, [n for n in ignored if n not in ("dgm", "history_mode")])
    _note(report.dropped_columns, [f"conversation[].{n}" for n in fields if n not in _OUTPUT_MESSAGE_NAMES])
    _note(report.filled_columns, filled)
    if fields:
        _note(
            report.filled_columns,
            [f"conversation[].{n}" for n in OUTPUT_MESSAGE.names if n not in fields and n not in _WRITTEN],
        )
    _note(report.null_typed_columns, _null_typed(table))
    rows = batch.to_pylist()
    for row, conversation_value in zip(rows, messages.to_pylist(), strict=True):
        row["conversation"] = conversation_value
    return rows


# ---------------------------------------------------------------- converting


def _leaks(text: str | None) -> bool:
    return text is not None and any(token in text for token in KNOWN_TEMPLATE_TOKENS)


def convert_row(row: dict[str, Any], config: str, report: ImportReport) -> dict[str, Any]:
    """One release row as an output row: answers kept, failures made explicit, flags computed."""
    conversation = row["conversation"] or []
    messages = [{**m, **_NULL_ANSWER} if m.get("role") != "assistant" else dict(m) for m in conversation if m]
    for turn in turns_of(messages):
        user_text = messages[turn.user_position].get("content")
        leaked = _leaks(user_text)
        report.user_template_leaks += leaked
        if turn.answer_position is None:
            report.unanswered_turns += 1
            continue
        answer = messages[turn.answer_position]
        reason = answer.get("finish_reason")
        report.release_finish_reasons[reason or "null"] += 1
        if reason == RELEASE_NO_RESPONSE or not answer.get("content"):
            report.no_response_answers += 1
            missing = ErrorKind.NO_RESPONSE_IN_RELEASE
            answer.update(content=None, finish_reason=FINISH_ERROR, error=missing)
            outcome = TurnOutcome(text=None, finish_reason=FINISH_ERROR, error=missing)
        else:
            outcome = TurnOutcome(text=answer["content"], finish_reason=reason or "")
        flags = answer_flags(user_text or "", outcome)
        if leaked:
            flags.append(FLAG_USER_TEMPLATE_LEAK)
        answer["flags"] = flags
        counts = report.stats
        counts.turns += 1
        counts.prompt_tokens += answer.get("prompt_tokens") or 0
        counts.completion_tokens += answer.get("completion_tokens") or 0
        counts.finish_reasons[answer["finish_reason"] or "null"] += 1
        if answer.get("error"):
            counts.errors[answer["error"]] += 1
        counts.flags.update(flags)
    return {**row, "conversation": messages, "dgm": config, "history_mode": RELEASE_HISTORY_MODE}


# ---------------------------------------------------------------- the run directory


def _prepare_run_dir(run_dir: Path) -> None:
    """An empty folder for the run; only a previous import is ever cleared away."""
    if run_dir.exists() and any(run_dir.iterdir()):
        previous = RunStore(run_dir).params() if is_run(run_dir) else {}
        if previous.get("engine") != IMPORTED_ENGINE:
            raise ImportFailed(f"{run_dir} is not empty and holds no earlier import; choose another work dir")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


def write_import_run(
    source: str | Path,
    config: str,
    run_dir: Path,
    *,
    model: str | None = None,
    split: str = "train",
    batch_size: int = 1000,
) -> ImportReport:
    """Convert the release into a finished one-shard run at ``run_dir``, streaming batch by batch."""
    from wildchat50m.generate import answers_run_params

    run_dir = Path(run_dir)
    _prepare_run_dir(run_dir)
    store = RunStore(run_dir)
    store.claim(
        answers_run_params(
            config, kind=RunKind.IMPORTED, engine=IMPORTED_ENGINE, source=str(source), model=model
        )
    )
    report = ImportReport(source=str(source), config=config, run_dir=run_dir)
    # Filled once the last row is written, like the report's counts: the marker is made after that.
    extra: dict[str, Any] = {"accelerators": None, "engine": IMPORTED_ENGINE}

    def records() -> Iterator[pa.Table]:
        seen: set[str] = set()
        for table in release_batches(source, split=split, batch_size=batch_size):
            report.rows_read += table.num_rows
            rows = []
            for row in conform_release_batch(table, report):
                conversation_hash = row["conversation_hash"]
                if conversation_hash is None:
                    report.rows_without_hash += 1
                    continue
                if conversation_hash in seen:
                    report.duplicate_rows += 1
                    continue
                seen.add(conversation_hash)
                rows.append(convert_row(row, config, report))
            if rows:
                yield pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)
            report.rows += len(rows)
        if not report.rows:
            raise ImportFailed(f"{source}: no rows to import (read {report.rows_read})")
        report.stats.conversations = report.rows
        extra["import"] = report.to_dict()

    store.commit(0, 1, records(), report.stats, extra)
    write_manifest(store)
    return report


def import_release(
    source: str | Path,
    config: str,
    repo: Path,
    *,
    work_dir: Path | None = None,
    model: str | None = None,
    split: str = "train",
    batch_size: int = 1000,
    **build_options: Any,
) -> ImportReport:
    """Import a release (local parquet or Hub id) as ``config`` of the repository at ``repo``.

    The run directory goes to ``work_dir`` (default ``<repo>/.imports/<config>``,
    a hidden folder the repository's config listing skips) and is kept, so
    that ``wildchat50m build`` can rebuild the config from it later.
    ``build_options`` go to :func:`~wildchat50m.builders.repository.build_repository`.
    """
    from wildchat50m.builders.repository import build_repository

    if not config or "/" in config or config.startswith("."):
        raise ImportFailed(f"the config name {config!r} must be a plain name (no '/', not hidden)")
    repo = Path(repo)
    run_dir = Path(work_dir) if work_dir is not None else repo / IMPORTS_DIR / config
    report = write_import_run(source, config, run_dir, model=model, split=split, batch_size=batch_size)
    report.search_index = build_repository(repo, [run_dir], **build_options).search_index
    return report
