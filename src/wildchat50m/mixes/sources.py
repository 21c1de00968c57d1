"""Where a mix source's rows come from, and how each becomes role/content messages.

Rows are always read as Arrow record batches, a bounded number at a time:
a WildChat-50m config from the parquet files of a built repository (a local
directory, or a Hub id fetched with ``snapshot_download``), another dataset
from local parquet files or through ``datasets`` (memory-mapped Arrow). Every
stream numbers its rows, so a draw can be made in one pass and the drawn
rows read back in a second.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from wildchat50m.errors import WildChat50mError
from wildchat50m.layout import Repository
from wildchat50m.reasons import Invalid

BATCH_ROWS = 2048


class MixSourceError(WildChat50mError):
    """A source cannot be read as the spec describes it; the message says what to change."""


class RowStream:
    """Numbered record batches of one source, read as often as needed."""

    description: str

    @property
    def num_rows(self) -> int:
        raise NotImplementedError

    def batches(self, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError


@dataclass
class ParquetStream(RowStream):
    """Parquet files read row group by row group; ``columns`` may name nested leaves (a.list.element.b)."""

    files: list[Path]
    description: str

    @property
    def num_rows(self) -> int:
        return sum(pq.read_metadata(path).num_rows for path in self.files)

    def batches(self, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        for path in self.files:
            with pq.ParquetFile(path) as handle:
                yield from handle.iter_batches(batch_size=BATCH_ROWS, columns=columns, use_threads=False)


@dataclass
class TableStream(RowStream):
    """A (memory-mapped) Arrow table, e.g. a dataset loaded by ``datasets``."""

    table: pa.Table
    description: str

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def batches(self, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        table = self.table
        if columns is not None:
            table = table.select(sorted({c.split(".")[0] for c in columns}, key=table.schema.names.index))
        yield from table.to_batches(max_chunksize=BATCH_ROWS)


def dataset_stream(path: str, subset: str | None, split: str) -> RowStream:
    """A foreign dataset: local parquet files as they are, anything else through ``datasets``."""
    local = Path(path)
    if local.exists():
        files = [local] if local.is_file() else sorted(local.rglob("*.parquet"))
        if files and all(f.suffix == ".parquet" for f in files):
            return ParquetStream(files, str(local))
        jsonl = [local] if local.is_file() else sorted(local.rglob("*.jsonl")) + sorted(local.rglob("*.json"))
        if not jsonl:
            raise MixSourceError(f"{local} holds no .parquet or .jsonl files")
        return _load_with_datasets("json", None, split="train", data_files=[str(f) for f in jsonl])
    return _load_with_datasets(path, subset, split=split)


def _load_with_datasets(path: str, subset: str | None, **kwargs: Any) -> RowStream:
    from datasets import load_dataset

    try:
        dataset = load_dataset(path, subset, **kwargs)
    except Exception as error:  # datasets raises many types; the user needs the cause, not a trace
        raise MixSourceError(
            f"cannot load {path!r} (subset {subset!r}): {type(error).__name__}: {error}"
        ) from error
    return TableStream(dataset.data.table, f"{path}" + (f" ({subset})" if subset else ""))


# ---------------------------------------------------------------- WildChat-50m repositories


def config_name(name: str) -> str:
    """The config a DGM name denotes: a registry name (Q72, a Hub id) or the name as given."""
    from wildchat50m.registry import UnknownDGMError, load_registry

    try:
        return load_registry().get(name).config
    except UnknownDGMError:
        return name


def config_stream(repository: Path, name: str) -> ParquetStream:
    """The parquet files of one config, checked to exist, with a message listing the configs there are."""
    opened = Repository(repository)
    config = name if name in opened.configs() else config_name(name)
    return ParquetStream(opened.data_files(config), f"{repository.name}/{config}")


# ---------------------------------------------------------------- foreign rows


def field_value(row: dict[str, Any], dotted: str) -> Any:
    """``row['a']['b']`` for ``'a.b'``: how struct columns (MMLU's nested ``train``) are reached."""
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def derived_hash(messages: list[dict[str, str]]) -> str:
    """An id for a row that has none: the md5 of its messages."""
    pairs = [[m["role"], m["content"]] for m in messages]
    return hashlib.md5(json.dumps(pairs, ensure_ascii=False).encode("utf-8")).hexdigest()


Converted = tuple[list[dict[str, str]] | None, str | None]
"""Messages, or None and the reason code the row was left out under."""


def chat_messages(row: dict[str, Any], source: Any) -> Converted:
    """A row of a messages dataset as role/content messages that end on an answer."""
    raw = field_value(row, source.messages_field)
    if not isinstance(raw, list) or not raw:
        return None, Invalid.UNMAPPABLE_ROW
    messages = []
    for item in raw:
        if not isinstance(item, dict):
            return None, Invalid.UNMAPPABLE_ROW
        role = source.roles.get(item.get(source.role_field))
        content = item.get(source.content_field)
        if role is None:
            return None, Invalid.UNKNOWN_ROLE
        if not isinstance(content, str):
            return None, Invalid.NON_STRING_CONTENT
        messages.append({"role": role, "content": content})
    if messages[-1]["role"] != "assistant" or not any(m["role"] == "user" for m in messages):
        return None, Invalid.ROLES_OUT_OF_ORDER
    return messages, None


LETTERS = "ABCDEFGHIJ"


def multiple_choice_messages(row: dict[str, Any], source: Any) -> Converted:
    """A question with lettered choices as the user turn, the right letter and choice as the answer."""
    question = field_value(row, source.question_field)
    choices = field_value(row, source.choices_field)
    answer = field_value(row, source.answer_field)
    if not isinstance(question, str) or not question.strip():
        return None, Invalid.UNMAPPABLE_ROW
    if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS):
        return None, Invalid.UNMAPPABLE_ROW
    if not all(isinstance(choice, str) for choice in choices):
        return None, Invalid.NON_STRING_CONTENT
    if isinstance(answer, str) and len(answer.strip()) == 1 and answer.strip().upper() in LETTERS:
        answer = LETTERS.index(answer.strip().upper())
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
        return None, Invalid.UNMAPPABLE_ROW
    values = {
        "question": question.strip(),
        "choices": "\n".join(f"{LETTERS[i]}. {choice}" for i, choice in enumerate(choices)),
        "letter": LETTERS[answer],
        "answer_text": choices[answer],
    }
    return [
        {"role": "user", "content": source.user_template.format(**values)},
        {"role": "assistant", "content": source.assistant_template.format(**values)},
    ], None


def foreign_messages(row: dict[str, Any], source: Any) -> Converted:
    if source.kind == "chat":
        return chat_messages(row, source)
    return multiple_choice_messages(row, source)


def foreign_id(row: dict[str, Any], source: Any, messages: list[dict[str, str]]) -> str:
    if source.id_field is not None:
        value = field_value(row, source.id_field)
        if value is not None:
            return str(value)
    return derived_hash(messages)
