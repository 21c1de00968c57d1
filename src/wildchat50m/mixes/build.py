"""Materialise a mix spec as a dataset directory, in bounded memory and deterministically.

Two passes over every source. The first reads only small columns (hash,
language, flags, turn count, finish reasons), applies the filters, and
ranks the eligible rows by a keyed blake2b of their ``conversation_hash``
(keyed by the seed): the draw is the ``count`` smallest, so it depends only
on the seed and the hashes, never on file order or batching, and a smaller
draw is a subset of a larger one. Every count is checked against what its
source holds before anything is written. The second pass streams the drawn
rows, batch by batch, into parquet shards in a staging folder that replaces
the output folder only when complete. Same inputs and seed, same bytes.

Output::

    <out>/README.md                          the mix card (cards/mix_card.md.j2), configs in its YAML
    <out>/mix.json                           the spec as resolved, counts and reasons per source
    <out>/data/train-00000-of-00001.parquet  schema.MIX_SCHEMA: messages + provenance
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wildchat50m import layout
from wildchat50m.errors import WildChat50mError
from wildchat50m.layout import MAX_SHARD_BYTES, Repository, ShardWriter
from wildchat50m.mixes.sources import (
    MixSourceError,
    RowStream,
    config_name,
    config_stream,
    dataset_stream,
    foreign_id,
    foreign_messages,
)
from wildchat50m.mixes.spec import BlendSource, MixFilters, MixSpec, WildChatSource
from wildchat50m.reasons import Filtered, MixReason
from wildchat50m.schema import MIX_MESSAGE, MIX_SCHEMA

MIX_FILE = "mix.json"
CARD_TEMPLATE = "mix_card.md.j2"
ROWS_PER_GROUP = 8192
#: The small columns the first pass reads from a WildChat-50m config (nested leaves only).
SCAN_COLUMNS = [
    "conversation_hash",
    "language",
    "toxic",
    "redacted",
    "turn",
    "conversation.list.element.role",
    "conversation.list.element.finish_reason",
]
TEXT_COLUMNS = [
    "conversation_hash",
    "turn",
    "conversation.list.element.role",
    "conversation.list.element.content",
]


class MixBuildError(WildChat50mError):
    """The mix cannot be built as specified; nothing was written. The message says why."""


# ---------------------------------------------------------------- the draw


def priorities(seed: int, hashes: Sequence[str]) -> np.ndarray:
    """The seeded rank of each hash: a keyed blake2b, so the same seed draws the same rows anywhere."""
    key = str(seed).encode("utf-8")
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(h.encode("utf-8"), digest_size=8, key=key).digest(), "big")
            for h in hashes
        ),
        dtype=np.uint64,
        count=len(hashes),
    )


@dataclass
class Eligible:
    """The rows of one stream that pass every filter, in stream order."""

    positions: np.ndarray
    hashes: pa.ChunkedArray
    ranks: np.ndarray
    rows_read: int
    reasons: Counter[str] = field(default_factory=Counter)
    turns: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.positions)

    def restrict(self, keep: np.ndarray, reason: str) -> Eligible:
        """Only the rows where ``keep`` is true; the others are counted under ``reason``."""
        reasons = Counter(self.reasons)
        dropped = int((~keep).sum())
        if dropped:
            reasons[reason] += dropped
        return Eligible(
            self.positions[keep],
            self.hashes.filter(pa.array(keep)),
            self.ranks[keep],
            self.rows_read,
            reasons,
            None if self.turns is None else self.turns[keep],
        )

    def draw_order(self) -> np.ndarray:
        """Indices of the eligible rows, lowest rank first; ties (repeated hashes) by position."""
        return np.lexsort((self.positions, self.ranks))


def _hash_list(value: list[str] | str | None, base: Path) -> pa.Array | None:
    if value is None:
        return None
    if isinstance(value, list):
        return pa.array([h.strip() for h in value], pa.string())
    path = Path(value) if Path(value).is_absolute() else base / value
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise MixBuildError(f"cannot read the hash list {path}: {error}") from error
    return pa.array(
        [line.strip() for line in lines if line.strip() and not line.startswith("#")], pa.string()
    )


def _filter_mask(batch: pa.RecordBatch, filters: MixFilters, lists: dict[str, pa.Array | None]) -> list[Any]:
    """(mask, reason) pairs in the order they are judged; a row is counted under its first failed one."""
    judged: list[Any] = []
    if filters.languages is not None:
        judged.append((pc.is_in(batch.column("language"), pa.array(filters.languages)), Filtered.LANGUAGE))
    if filters.exclude_toxic:
        judged.append((pc.invert(pc.fill_null(batch.column("toxic"), False)), Filtered.TOXIC))
    if filters.exclude_redacted:
        judged.append((pc.invert(pc.fill_null(batch.column("redacted"), False)), Filtered.REDACTED))
    if filters.max_turns is not None:
        judged.append((pc.less_equal(batch.column("turn"), filters.max_turns), Filtered.TOO_MANY_TURNS))
    hashes = batch.column("conversation_hash")
    if lists["hashes"] is not None:
        judged.append((pc.is_in(hashes, lists["hashes"]), Filtered.NOT_IN_ALLOW_LIST))
    if lists["exclude_hashes"] is not None:
        judged.append((pc.invert(pc.is_in(hashes, lists["exclude_hashes"])), MixReason.EXCLUDED_HASH))
    return judged


def _answered_in_full(batch: pa.RecordBatch) -> np.ndarray:
    """Per row: no assistant message has finish_reason ``error`` (a failed turn has no answer)."""
    conversation = batch.column("conversation")
    messages = pc.list_flatten(conversation)
    failed = pc.and_(
        pc.equal(pc.struct_field(messages, "role"), "assistant"),
        pc.equal(pc.fill_null(pc.struct_field(messages, "finish_reason"), ""), "error"),
    )
    lengths = pc.fill_null(pc.list_value_length(conversation), 0).to_numpy(zero_copy_only=False)
    failed_np = np.asarray(failed.to_numpy(zero_copy_only=False), dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    per_row = np.add.reduceat(failed_np, bounds[:-1]) if len(failed_np) else np.zeros(len(lengths))
    per_row = np.where(lengths > 0, per_row, 0)
    return per_row == 0


def scan_config(stream: RowStream, filters: MixFilters, seed: int, base: Path) -> Eligible:
    """First pass over a WildChat-50m config: filters and failed answers, small columns only."""
    lists = {
        "hashes": _hash_list(filters.hashes, base),
        "exclude_hashes": _hash_list(filters.exclude_hashes, base),
    }
    positions, hashes, ranks, turns = [], [], [], []
    reasons: Counter[str] = Counter()
    start = 0
    for batch in stream.batches(SCAN_COLUMNS):
        keep = np.ones(batch.num_rows, dtype=bool)
        for mask, reason in _filter_mask(batch, filters, lists):
            passed = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
            reasons[reason] += int((keep & ~passed).sum())
            keep &= passed
        answered = _answered_in_full(batch)
        reasons[MixReason.FAILED_ANSWER] += int((keep & ~answered).sum())
        keep &= answered
        kept = batch.filter(pa.array(keep))
        kept_hashes = kept.column("conversation_hash")
        positions.append(np.flatnonzero(keep) + start)
        hashes.append(kept_hashes)
        ranks.append(priorities(seed, kept_hashes.to_pylist()))
        turns.append(np.asarray(kept.column("turn").to_numpy(zero_copy_only=False), dtype=np.int64))
        start += batch.num_rows
    return Eligible(
        np.concatenate(positions) if positions else np.zeros(0, np.int64),
        pa.chunked_array(hashes, pa.string()),
        np.concatenate(ranks) if ranks else np.zeros(0, np.uint64),
        start,
        Counter({k: v for k, v in reasons.items() if v}),
        np.concatenate(turns) if turns else np.zeros(0, np.int64),
    )


def scan_foreign(stream: RowStream, source: Any, seed: int) -> Eligible:
    """First pass over another dataset: every row is mapped to messages; unmappable rows are counted."""
    positions, hashes, ranks = [], [], []
    reasons: Counter[str] = Counter()
    start = 0
    for batch in stream.batches(None):
        batch_hashes = []
        for offset, row in enumerate(batch.to_pylist()):
            messages, reason = foreign_messages(row, source)
            if messages is None:
                reasons[reason] += 1
                continue
            positions.append(start + offset)
            batch_hashes.append(foreign_id(row, source, messages))
        hashes.append(pa.array(batch_hashes, pa.string()))
        ranks.append(priorities(seed, batch_hashes))
        start += batch.num_rows
    return Eligible(
        np.asarray(positions, dtype=np.int64),
        pa.chunked_array(hashes, pa.string()),
        np.concatenate(ranks) if ranks else np.zeros(0, np.uint64),
        start,
        reasons,
    )


def wanted(source: Any, eligible: int) -> int:
    """How many rows the source asks for: its count, its fraction of the eligible rows, or all of them."""
    if source.count is not None:
        return source.count
    if source.fraction is not None:
        return int(source.fraction * eligible)
    return eligible


# ---------------------------------------------------------------- plan


@dataclass
class Part:
    """Rows to take from one stream, by position, with how to turn them into mix rows."""

    stream: RowStream
    positions: np.ndarray
    dgm: str | None
    convert: Callable[[pa.RecordBatch], pa.Table]


@dataclass
class SourcePlan:
    name: str
    kind: str
    description: str
    rows_read: int
    eligible: int
    drawn: int
    reasons: dict[str, int]
    parts: list[Part]
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        reasons = dict(sorted(self.reasons.items()))
        if self.eligible > self.drawn:
            reasons[Filtered.NOT_SAMPLED] = self.eligible - self.drawn
        return {
            "name": self.name,
            "kind": self.kind,
            "from": self.description,
            "rows_read": self.rows_read,
            "eligible": self.eligible,
            "drawn": self.drawn,
            "reasons": reasons,
            **self.details,
        }


def _too_many(name: str, what: str, asked: int, held: int) -> MixBuildError:
    return MixBuildError(
        f"source {name!r} ({what}) asks for {asked:,} rows but holds only {held:,} eligible rows "
        "after its filters; lower the count or loosen the filters"
    )


def _member(values: pa.ChunkedArray, of: pa.ChunkedArray) -> np.ndarray:
    """Per value: whether it is among ``of``."""
    found = pc.is_in(values, value_set=of.combine_chunks())
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def _selected(eligible: Eligible, order: np.ndarray) -> np.ndarray:
    return np.sort(eligible.positions[order])


def _plan_wildchat(source: WildChatSource, spec: MixSpec, base: Path) -> SourcePlan:
    repository_id = source.repository or spec.repository
    if repository_id is None:
        raise MixBuildError(f"source {source.name!r} names no repository (set `repository:` or --repository)")
    configs = [source.config] + ([source.length_limit_config] if source.length_limit_config else [])
    repository = Repository.open(repository_id, [config_name(c) for c in configs]).root
    stream = config_stream(repository, source.config)
    dgm = stream.files[0].parent.name
    eligible = scan_config(stream, source.filters, spec.seed, base)
    limits: dict[str, list[int]] | None = None
    details: dict[str, Any] = {"dgm": dgm}
    if source.length_limit_config:
        reference = config_stream(repository, source.length_limit_config)
        answered = scan_config(reference, MixFilters(), spec.seed, base)
        turns_of = dict(zip(answered.hashes.to_pylist(), answered.turns.tolist(), strict=True))
        keep = np.array(
            [
                turns_of.get(h) == t
                for h, t in zip(eligible.hashes.to_pylist(), eligible.turns.tolist(), strict=True)
            ],
            dtype=bool,
        )
        eligible = eligible.restrict(keep, MixReason.NO_REFERENCE_ANSWER)
        details["length_limit_config"] = reference.files[0].parent.name
    count = wanted(source, len(eligible))
    if count > len(eligible):
        raise _too_many(source.name, f"config {dgm} of {repository_id}", count, len(eligible))
    order = eligible.draw_order()[:count]
    if source.length_limit_config:
        limits = answer_lengths(reference, set(eligible.hashes.take(pa.array(order)).to_pylist()))
    part = Part(
        stream, _selected(eligible, order), dgm, lambda batch: wildchat_rows(batch, source.name, dgm, limits)
    )
    return SourcePlan(
        source.name, source.kind, stream.description, eligible.rows_read, len(eligible), count,
        dict(eligible.reasons), [part], details,
    )  # fmt: skip


def _plan_blend(source: BlendSource, spec: MixSpec, base: Path) -> SourcePlan:
    repository_id = source.repository or spec.repository
    if repository_id is None:
        raise MixBuildError(f"source {source.name!r} names no repository (set `repository:` or --repository)")
    repository = Repository.open(repository_id, [config_name(c) for c in source.configs]).root
    streams = [config_stream(repository, config) for config in source.configs]
    dgms = [stream.files[0].parent.name for stream in streams]
    scans = [scan_config(stream, source.filters, spec.seed, base) for stream in streams]
    # The rows every DGM answered in full; ranked by the first DGM's scan (ranks depend only on hashes).
    common = scans[0]
    for other in scans[1:]:
        keep = _member(common.hashes, other.hashes)
        common = common.restrict(keep, MixReason.NOT_IN_EVERY_CONFIG)
    count = wanted(source, len(common) * (len(dgms) if source.conversations == "same" else 1))
    share, extra = divmod(count, len(dgms))
    needed = share + (1 if extra else 0) if source.conversations == "same" else count
    if needed > len(common):
        held = len(common) * (len(dgms) if source.conversations == "same" else 1)
        raise _too_many(source.name, f"blend of {', '.join(dgms)} over {source.conversations} conversations",
                        count, held)  # fmt: skip
    ranked = common.draw_order()[:needed]
    parts, drawn_per_dgm = [], {}
    for index, (stream, dgm, scan) in enumerate(zip(streams, dgms, scans, strict=True)):
        quota = share + (1 if index < extra else 0)
        chosen = ranked[index :: len(dgms)] if source.conversations == "disjoint" else ranked[:quota]
        chosen_hashes = common.hashes.take(pa.array(chosen))
        in_scan = _member(scan.hashes, chosen_hashes)
        positions = np.sort(scan.positions[in_scan])
        parts.append(Part(stream, positions, dgm, _wildchat_converter(source.name, dgm)))
        drawn_per_dgm[dgm] = len(positions)
    reasons = Counter(common.reasons)
    return SourcePlan(
        source.name, source.kind, f"{repository.name}: {' + '.join(dgms)}", common.rows_read, len(common),
        sum(drawn_per_dgm.values()), dict(reasons), parts,
        {"dgms": drawn_per_dgm, "conversations": source.conversations},
    )  # fmt: skip


def _wildchat_converter(name: str, dgm: str) -> Callable[[pa.RecordBatch], pa.Table]:
    return lambda batch: wildchat_rows(batch, name, dgm, None)


def _plan_foreign(source: Any, spec: MixSpec) -> SourcePlan:
    stream = dataset_stream(source.path, source.subset, source.split)
    eligible = scan_foreign(stream, source, spec.seed)
    count = wanted(source, len(eligible))
    if count > len(eligible):
        raise _too_many(source.name, stream.description, count, len(eligible))
    order = eligible.draw_order()[:count]
    part = Part(stream, _selected(eligible, order), None, lambda batch: foreign_rows(batch, source))
    return SourcePlan(
        source.name, source.kind, stream.description, eligible.rows_read, len(eligible), count,
        dict(eligible.reasons), [part],
    )  # fmt: skip


def plan_mix(spec: MixSpec, base: Path = Path()) -> list[SourcePlan]:
    """Count and draw every source; raises :class:`MixBuildError` before anything is written."""
    plans = []
    for source in spec.sources:
        try:
            if source.kind == "wildchat50m":
                plans.append(_plan_wildchat(source, spec, base))
            elif source.kind == "blend":
                plans.append(_plan_blend(source, spec, base))
            else:
                plans.append(_plan_foreign(source, spec))
        except MixSourceError as error:
            raise MixBuildError(f"source {source.name!r}: {error}") from error
    return plans


# ---------------------------------------------------------------- rows


def answer_lengths(stream: RowStream, hashes: set[str]) -> dict[str, list[int]]:
    """The length in characters of each answer of ``stream`` to the given conversations."""
    lengths: dict[str, list[int]] = {}
    for batch in stream.batches(TEXT_COLUMNS):
        for row_hash, conversation in zip(
            batch.column("conversation_hash").to_pylist(),
            batch.column("conversation").to_pylist(),
            strict=True,
        ):
            if row_hash in hashes:
                lengths[row_hash] = [
                    len(m["content"] or "") for m in conversation if m["role"] == "assistant"
                ]
    return lengths


def _messages_array(conversation: pa.Array) -> pa.Array:
    """role/content lists from WildChat-50m conversations, without a Python loop."""
    values = pc.list_flatten(conversation)
    lengths = pc.fill_null(pc.list_value_length(conversation), 0).to_numpy(zero_copy_only=False)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32())
    messages = pa.StructArray.from_arrays(
        [pc.struct_field(values, "role"), pc.struct_field(values, "content")], fields=list(MIX_MESSAGE)
    )
    return pa.ListArray.from_arrays(offsets, messages, type=pa.list_(MIX_MESSAGE))


def _cut(conversation: list[dict[str, Any]], limits: list[int]) -> list[dict[str, Any]]:
    answers = iter(limits)
    return [
        {
            "role": m["role"],
            "content": m["content"][: next(answers)] if m["role"] == "assistant" else m["content"],
        }
        for m in conversation
    ]


def wildchat_rows(
    batch: pa.RecordBatch, name: str, dgm: str, limits: Mapping[str, list[int]] | None
) -> pa.Table:
    """Drawn WildChat-50m rows as mix rows; with ``limits``, every answer cut to the reference length."""
    conversation = batch.column("conversation")
    contents = pc.struct_field(pc.list_flatten(conversation), "content")
    if contents.null_count:
        raise MixBuildError(
            f"source {name!r}: config {dgm} holds a null answer whose finish_reason is not 'error'; "
            "check the repository with `wildchat50m build --check`"
        )
    hashes = batch.column("conversation_hash")
    if limits is None:
        messages = _messages_array(conversation)
    else:
        cut = [_cut(c, limits[h]) for h, c in zip(hashes.to_pylist(), conversation.to_pylist(), strict=True)]
        messages = pa.array(cut, pa.list_(MIX_MESSAGE))
    size = batch.num_rows
    return pa.Table.from_arrays(
        [
            messages,
            pa.array([name] * size, pa.string()),
            pa.array([dgm] * size, pa.string()),
            hashes,
            pa.array(np.zeros(size, dtype=np.int64)),
            # WildChat's ``turn`` counts the user turns; the last one's 0-based index is one less.
            pc.subtract(batch.column("turn").cast(pa.int64()), 1),
        ],
        schema=MIX_SCHEMA,
    )


def foreign_rows(batch: pa.RecordBatch, source: Any) -> pa.Table:
    rows = []
    for row in batch.to_pylist():
        messages, reason = foreign_messages(row, source)
        if messages is None:  # the first pass counted it and never drew it
            raise MixBuildError(f"source {source.name!r}: a drawn row is no longer mappable ({reason})")
        rows.append(
            {
                "messages": messages,
                "source": source.name,
                "dgm": None,
                "conversation_hash": foreign_id(row, source, messages),
                "first_turn_index": 0,
                "last_turn_index": sum(m["role"] == "user" for m in messages) - 1,
            }
        )
    return pa.Table.from_pylist(rows, schema=MIX_SCHEMA)


def drawn_batches(part: Part) -> Iterator[pa.RecordBatch]:
    """The rows at ``part.positions``, in stream order, one source batch at a time."""
    columns = TEXT_COLUMNS if part.dgm is not None else None
    start = 0
    for batch in part.stream.batches(columns):
        low, high = np.searchsorted(part.positions, [start, start + batch.num_rows])
        if high > low:
            yield batch.take(pa.array(part.positions[low:high] - start))
        start += batch.num_rows
        if high >= len(part.positions):
            break


# ---------------------------------------------------------------- writing


@dataclass
class MixReport:
    out: Path
    rows: int
    files: list[Path]
    sources: list[dict[str, Any]]


def build_mix(
    spec: MixSpec,
    out: Path,
    *,
    base: Path = Path(),
    overwrite: bool = False,
    rows_per_group: int = ROWS_PER_GROUP,
    max_shard_bytes: int = MAX_SHARD_BYTES,
    progress: Callable[[str], None] | None = None,
) -> MixReport:
    """Plan (count, filter, draw) every source, then write the mix; ``base`` resolves relative hash files."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise MixBuildError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    plans = plan_mix(spec, base)
    staging = out.with_name(f".{out.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    writer = ShardWriter(staging / layout.DATA_DIR, MIX_SCHEMA, rows_per_group, max_shard_bytes)
    for plan in plans:
        if progress:
            progress(f"{plan.name}: writing {plan.drawn:,} of {plan.eligible:,} eligible rows")
        for part in plan.parts:
            for batch in drawn_batches(part):
                writer.write(part.convert(batch))
    files = writer.close()
    summaries = [plan.summary() for plan in plans]
    record = {
        "name": spec.name,
        "seed": spec.seed,
        "rows": writer.rows,
        "sources": summaries,
        "spec": spec.model_dump(mode="json", exclude_none=True),
    }
    (staging / MIX_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (staging / "README.md").write_text(render_mix_card(spec, record), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)
    return MixReport(out, writer.rows, [out / layout.DATA_DIR / f.name for f in files], summaries)


def render_mix_card(spec: MixSpec, record: Mapping[str, Any]) -> str:
    """The mix's README: YAML front matter declaring the data files, then what was drawn from where."""
    import jinja2
    import yaml

    from wildchat50m.resources import cards_dir

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(cards_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    front = {
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": layout.SPLIT, "path": layout.split_files_pattern(layout.DATA_DIR)}],
            }
        ],
        "tags": ["wildchat-50m", "sft", "synthetic"],
    }
    return environment.get_template(CARD_TEMPLATE).render(
        front_matter=yaml.safe_dump(front, sort_keys=False).rstrip("\n"),
        spec=spec,
        record=record,
        spec_yaml=yaml.safe_dump(record["spec"], sort_keys=False, allow_unicode=True).rstrip("\n"),
    )
