"""Preference pairs for DPO across DGMs, from the repository's judgment configs, as a config of its own.

For every user turn that each DGM of a set answered, a judge scored each answer (one factor, or the
mean of several); the answer scored highest is ``chosen`` and the one scored lowest ``rejected``. With
two DGMs that is A against B; with more, the best against the worst of the set. The pair must clear
``min_margin``, a tie policy and, if asked, length control (the chosen answer no longer than ``r``
times the rejected one, as the paper's ``length_control.py`` does). Every candidate turn that does not
become a pair is counted under one reason code (:class:`~wildchat50m.reasons.PairReason` and the
reader's ``filtered_*`` codes), so pairs and reasons add up to the candidates.

Bounded memory, like the mix builder: every config is sorted by ``conversation_hash``, so the hash
space is cut into buckets at row-group boundaries (read from the parquet metadata alone) and one bucket
of every DGM's answers and judgments is in memory at a time; the buckets are processed in hash order,
so the output comes out sorted by ``(conversation_hash, turn_index)`` without a sort of the whole. The config
is written into a staging folder and swapped in only when complete: an error leaves the repository as
it was. Same inputs, same bytes, whatever order the DGMs or judgment configs are given in.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from wildchat50m.builders.repository import (
    DEFAULT_NAME,
    MAX_ROW_GROUP_BYTES,
    publish_config,
    rows_per_group,
)

from wildchat50m import layout
from wildchat50m.errors import WildChat50mError
from wildchat50m.judging.scores import JudgmentStatus
from wildchat50m.layout import CONFIG_MANIFEST, MAX_SHARD_BYTES, Repository, ShardWriter
from wildchat50m.reasons import Filtered, MixReason, PairReason
from wildchat50m.runstore import atomic_write_text
from wildchat50m.schema import MIX_MESSAGE, PAIR_SCHEMA

KEYS = ["conversation_hash", "turn_index"]
#: Conversations of the first DGM's answers per bucket (cut at its row-group boundaries).
BUCKET_CONVERSATIONS = 50_000
ANSWER_COLUMNS = [
    "conversation_hash",
    "language",
    "toxic",
    "turn",
    "conversation.list.element.role",
    "conversation.list.element.content",
    "conversation.list.element.finish_reason",
]
JUDGMENT_COLUMNS = [
    "conversation_hash",
    "turn_index",
    "target",
    "judge",
    "factor",
    "status",
    "score",
    "expected_score",
]
ScoreKind = Literal["written", "expected"]
TiePolicy = Literal["skip", "shorter"]
TurnPolicy = Literal["first", "all"]


class PairsError(WildChat50mError):
    """The pairs cannot be built as asked; nothing was written. The message says why and what there is."""


# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class PairRules:
    """What makes a pair. Two DGMs: A against B; more: the best against the worst of the set."""

    dgms: tuple[str, ...]
    factors: tuple[str, ...] = ()
    judge: str | None = None
    judgments: tuple[str, ...] = ()
    score: ScoreKind = "written"
    min_margin: float = 0.0
    ties: TiePolicy = "skip"
    max_length_ratio: float | None = None
    languages: tuple[str, ...] | None = None
    exclude_toxic: bool = False
    max_turns: int | None = None
    turns: TurnPolicy = "first"

    def __post_init__(self) -> None:
        if len(set(self.dgms)) < 2:
            raise PairsError(
                f"a pair needs at least two different DGMs; got {', '.join(self.dgms) or 'none'}"
            )
        if self.min_margin < 0:
            raise PairsError(f"--min-margin must be 0 or more, not {self.min_margin}")
        if self.max_length_ratio is not None and self.max_length_ratio <= 0:
            raise PairsError(f"--max-length-ratio must be positive, not {self.max_length_ratio}")

    @property
    def rule(self) -> str:
        return "a_vs_b" if len(self.dgms) == 2 else "best_vs_worst"

    def controls(self) -> str:
        """The controls in one line, for the card."""
        parts = [f"{self.score} score", f"margin >= {self.min_margin:g}", f"ties: {self.ties}"]
        if self.max_length_ratio is not None:
            parts.append(f"chosen <= {self.max_length_ratio:g} x rejected length")
        if self.languages:
            parts.append("languages: " + ", ".join(self.languages))
        if self.exclude_toxic:
            parts.append("no toxic")
        if self.max_turns is not None:
            parts.append(f"<= {self.max_turns} turns")
        return "; ".join(parts)


def _normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class JudgmentConfig:
    """A judgment config of the repository, as its manifest records it (checked against its rows)."""

    config: str
    factor: str
    judge: str
    target: str


@dataclass
class PairsPlan:
    """The resolved inputs: the DGMs' answer configs and, per DGM, one judgment config per factor."""

    dgms: list[str]
    factors: list[str]
    judgments: dict[str, dict[str, JudgmentConfig]]  # dgm -> factor -> config

    @property
    def judges(self) -> list[str]:
        return sorted({j.judge for by_factor in self.judgments.values() for j in by_factor.values()})

    def configs_of(self, dgm: str) -> list[str]:
        return [self.judgments[dgm][factor].config for factor in self.factors]


def read_judgment_configs(repository: Repository) -> list[JudgmentConfig]:
    """Every judgment config of the repository with its factor, judge and target (from its manifest)."""
    found = []
    for config in repository.judgment_configs():
        path = repository.root / layout.DATA_DIR / config / CONFIG_MANIFEST
        try:
            facts = json.loads(path.read_text(encoding="utf-8"))
            found.append(JudgmentConfig(config, facts["factor"], facts["judge"], facts["target"]))
        except (OSError, ValueError, KeyError) as error:
            raise PairsError(
                f"{path}: cannot read the judgment config's facts ({error}); rebuild it"
            ) from error
    return found


def plan_pairs(repository: Repository, rules: PairRules) -> PairsPlan:
    """Check the DGMs and pick the judgment configs; every error names what the repository has."""
    from wildchat50m.mixes.sources import config_name

    available = repository.answer_configs()
    dgms = []
    for name in rules.dgms:
        config = name if name in available else config_name(name)
        if config not in available:
            raise PairsError(
                f"{repository.root} has no DGM config {name!r}; "
                f"its DGM configs: {', '.join(available) or 'none'}"
            )
        dgms.append(config)
    dgms = sorted(set(dgms))
    every = read_judgment_configs(repository)
    if rules.judgments:
        by_name = {j.config: j for j in every}
        chosen = []
        for config in rules.judgments:
            if config not in by_name:
                raise PairsError(
                    f"{repository.root} has no judgment config {config!r}; it has: "
                    f"{', '.join(by_name) or 'none'}"
                )
            judgment = by_name[config]
            if judgment.target not in dgms:
                raise PairsError(
                    f"{config} scores {judgment.target}, which is not one of the paired DGMs "
                    f"({', '.join(dgms)}); give the judgment configs of those DGMs"
                )
            chosen.append(judgment)
    else:
        chosen = _judgments_for_factors(every, dgms, rules)
    judgments: dict[str, dict[str, JudgmentConfig]] = {dgm: {} for dgm in dgms}
    for judgment in chosen:
        held = judgments[judgment.target]
        if judgment.factor in held:
            raise PairsError(
                f"{held[judgment.factor].config} and {judgment.config} both score {judgment.target} on "
                f"{judgment.factor}; give one of them (or --judge)"
            )
        held[judgment.factor] = judgment
    factors = sorted({factor for held in judgments.values() for factor in held})
    for dgm in dgms:
        missing = [factor for factor in factors if factor not in judgments[dgm]]
        if missing:
            raise PairsError(f"no judgment config scores {dgm} on {', '.join(missing)}; every DGM needs one")
    return PairsPlan(dgms, factors, judgments)


def _judgments_for_factors(
    every: list[JudgmentConfig], dgms: list[str], rules: PairRules
) -> list[JudgmentConfig]:
    if not every:
        raise PairsError(
            "the repository holds no judgment config; judge the DGMs first (`wildchat50m judge`)"
        )
    factors = rules.factors
    if not factors:
        known = sorted({j.factor for j in every if j.target in dgms})
        if len(known) != 1:
            raise PairsError(
                f"give --factor (the judgments of {', '.join(dgms)} have factors: "
                f"{', '.join(known) or 'none'})"
            )
        factors = (known[0],)
    chosen = []
    for factor in factors:
        of_factor = [j for j in every if _normalised(j.factor) == _normalised(factor)]
        if not of_factor:
            raise PairsError(
                f"no judgment has factor {factor!r}; the judgments have factors: "
                f"{', '.join(sorted({j.factor for j in every}))}"
            )
        if rules.judge is not None:
            of_factor = [j for j in of_factor if j.judge == rules.judge]
            if not of_factor:
                raise PairsError(f"judge {rules.judge!r} has no judgment on {factor!r}")
        for dgm in dgms:
            scoring = [j for j in of_factor if j.target == dgm]
            if not scoring:
                raise PairsError(
                    f"no judgment config scores {dgm} on {factor}; judged on it: "
                    f"{', '.join(sorted({j.target for j in of_factor}))}"
                )
            if len(scoring) > 1:
                raise PairsError(
                    f"{len(scoring)} judges scored {dgm} on {factor} "
                    f"({', '.join(sorted(j.judge for j in scoring))}); choose one with --judge"
                )
            chosen.append(scoring[0])
    return chosen


def default_name(plan: PairsPlan, rules: PairRules) -> str:
    """``pairs--<A>-vs-<B>--<factors>`` or ``pairs--best-vs-worst-<A>-<B>-<C>--<factors>``."""
    who = "-vs-".join(plan.dgms) if rules.rule == "a_vs_b" else "best-vs-worst-" + "-".join(plan.dgms)
    factors = "+".join(re.sub(r"[^A-Za-z0-9]+", "-", f).strip("-") for f in plan.factors)
    return layout.pairs_config_name(f"{who}--{factors}")


# ---------------------------------------------------------------- reading by hash range


@dataclass
class _File:
    """One parquet file, with the hash range of each row group (from its metadata)."""

    path: Path
    handle: pq.ParquetFile
    ranges: list[tuple[str | None, str | None, int]]  # (min, max, rows) per row group

    @classmethod
    def open(cls, path: Path) -> _File:
        handle = pq.ParquetFile(path)
        column = handle.schema_arrow.get_field_index("conversation_hash")
        if column < 0:
            raise PairsError(f"{path} has no conversation_hash column; rebuild the config")
        ranges = []
        for index in range(handle.metadata.num_row_groups):
            group = handle.metadata.row_group(index)
            stats = group.column(column).statistics
            known = stats is not None and stats.has_min_max
            ranges.append((stats.min if known else None, stats.max if known else None, group.num_rows))
        return cls(path, handle, ranges)

    def read(self, low: str | None, high: str | None, columns: Sequence[str]) -> pa.Table | None:
        """The rows with ``low <= conversation_hash < high`` (None: unbounded), reading only the row
        groups whose range overlaps it."""
        groups = [
            index
            for index, (least, most, _) in enumerate(self.ranges)
            if (least is None or high is None or least < high)
            and (most is None or low is None or most >= low)
        ]
        if not groups:
            return None
        table = self.handle.read_row_groups(groups, columns=list(columns), use_threads=True)
        hashes = table.column("conversation_hash")
        mask = None
        if low is not None:
            mask = pc.greater_equal(hashes, low)
        if high is not None:
            below = pc.less(hashes, high)
            mask = below if mask is None else pc.and_(mask, below)
        return table if mask is None else table.filter(mask)


def bucket_bounds(files: Sequence[_File], per_bucket: int) -> list[tuple[str | None, str | None]]:
    """Hash ranges covering everything, cut at row-group starts every ``per_bucket`` rows or so."""
    starts = [least for f in files for least, _, _ in f.ranges]
    if any(least is None for least in starts):
        return [(None, None)]  # no statistics: one bucket
    cuts, rows = [], 0
    for file in files:
        for least, _, count in file.ranges:
            if rows >= per_bucket:
                cuts.append(least)
                rows = 0
            rows += count
    cuts = sorted(set(cuts))
    edges: list[str | None] = [None, *cuts, None]
    return list(itertools.pairwise(edges))


# ---------------------------------------------------------------- one bucket


@dataclass
class _Answers:
    """One DGM's answers in a bucket, one row per user turn."""

    #: conversation_hash, turn, language, toxic, turns, failed, chars, answer (its message's position
    #: in ``messages``), row, user_position
    turns: pa.Table
    messages: pa.StructArray  # role/content of every message of the bucket's conversations, flattened
    offsets: np.ndarray  # where each conversation's messages start in ``messages``

    def answer_texts(self, index: np.ndarray) -> pa.Array:
        """The answers of the turns at ``index`` (positions in ``turns``)."""
        at = self.turns.column("answer").combine_chunks().take(pa.array(index))
        return pc.struct_field(self.messages, "content").take(at)


def _answers(table: pa.Table) -> _Answers:
    conversation = table.column("conversation").combine_chunks()
    flat = pc.list_flatten(conversation)
    parents = np.asarray(pc.list_parent_indices(conversation).to_numpy(zero_copy_only=False), dtype=np.int64)
    offsets = np.asarray(conversation.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    offsets = offsets - offsets[0]
    roles = pc.struct_field(flat, "role")
    is_user = np.asarray(pc.equal(roles, "user").to_numpy(zero_copy_only=False), dtype=bool)
    is_answer = np.asarray(pc.equal(roles, "assistant").to_numpy(zero_copy_only=False), dtype=bool)
    users_so_far = np.cumsum(is_user)
    before_row = np.concatenate([[0], users_so_far])[offsets[:-1]]
    turn_of = users_so_far - before_row[parents] - 1  # a user message's rank; its answer's the same
    position = np.arange(len(flat)) - offsets[:-1][parents]
    user_at = np.flatnonzero(is_user)
    # The answer of a user turn is the assistant message right after it, in the same conversation.
    following = user_at + 1
    has_next = following < len(flat)
    answered = np.zeros(len(user_at), dtype=bool)
    answered[has_next] = is_answer[following[has_next]] & (
        parents[following[has_next]] == parents[user_at[has_next]]
    )
    answer_index = np.where(answered, following, 0)
    contents = pc.struct_field(flat, "content")
    # Per message, without copying any text: its length, whether it is blank, whether it failed.
    lengths = _numpy(pc.utf8_length(contents), 0).astype(np.int64)
    blank = _numpy(pc.match_substring_regex(contents, r"^\s*$"), True).astype(bool)
    errored = _numpy(pc.equal(pc.struct_field(flat, "finish_reason"), "error"), False).astype(bool)
    failed = ~answered | errored[answer_index] | blank[answer_index]
    rows = pa.array(parents[user_at])
    turns = pa.table(
        {
            "conversation_hash": table.column("conversation_hash").take(rows),
            "turn_index": pa.array(turn_of[user_at], pa.int64()),
            "language": table.column("language").take(rows),
            "toxic": table.column("toxic").take(rows),
            "turns": pc.cast(table.column("turn").take(rows), pa.int64()),
            "failed": pa.array(failed),
            "chars": pa.array(np.where(answered, lengths[answer_index], 0), pa.int64()),
            "answer": pa.array(answer_index, pa.int64()),
            "row": rows,
            "user_position": pa.array(position[user_at], pa.int64()),
        }
    )
    messages = pa.StructArray.from_arrays([roles, contents], fields=list(MIX_MESSAGE))
    return _Answers(turns, messages, offsets)


#: Turns per conversation in a bucket's integer key (``hash rank * STRIDE + turn``), far above any real count.
STRIDE = 1 << 24


def _keys(hashes: Any, turns: Any, universe: pa.Array, what: str) -> np.ndarray:
    """The integer key of each (conversation_hash, turn_index) in a bucket: the hash's rank among the bucket's
    sorted hashes, then the turn; -1 for a hash no DGM's answers hold. A key seen twice is an error."""
    codes = _numpy(pc.index_in(hashes, value_set=universe), -1).astype(np.int64)
    keys = np.where(codes < 0, -1, codes * STRIDE + _numpy(turns, 0).astype(np.int64))
    valid = keys[keys >= 0]
    if len(np.unique(valid)) != len(valid):
        raise PairsError(f"{what} holds the same (conversation_hash, turn) twice; rebuild it")
    return keys


def _aligned(candidates: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Per candidate key, the position of the same key in ``keys`` (-1 when absent)."""
    index = np.full(len(candidates), -1, dtype=np.int64)
    valid = np.flatnonzero(keys >= 0)
    places = np.searchsorted(candidates, keys[valid])
    index[places] = valid
    return index


def _gather(values: np.ndarray, index: np.ndarray, fill: Any) -> np.ndarray:
    """``values[index]`` where ``index >= 0``, else ``fill``."""
    if len(values) == 0:
        return np.full(len(index), fill, dtype=values.dtype if values.dtype != object else object)
    return np.where(index >= 0, values[np.maximum(index, 0)], fill)


def _scores(
    tables: Mapping[str, pa.Table | None],
    judgments: Mapping[str, JudgmentConfig],
    kind: ScoreKind,
    universe: pa.Array,
    candidates: np.ndarray,
) -> np.ndarray:
    """Per candidate: the mean score over the factors; NaN when any factor has no usable score.

    The rows' own target, judge and factor are checked against the config's recorded facts.
    """
    total = np.zeros(len(candidates))
    for factor, table in sorted(tables.items()):
        facts = judgments[factor]
        if table is None:
            return np.full(len(candidates), np.nan)
        for column, expected in (("target", facts.target), ("judge", facts.judge), ("factor", facts.factor)):
            seen = pc.unique(table.column(column)).to_pylist()
            if any(value != expected for value in seen):
                wrong = ", ".join(str(v) for v in seen if v != expected)
                raise PairsError(
                    f"{facts.config}: rows with {column} {wrong}, but the config records {expected}; "
                    "it scores other answers than its name says (rebuild it from its judgment run)"
                )
        if kind == "written":
            parsed = pc.equal(table.column("status"), JudgmentStatus.PARSED.value)
            value = pc.if_else(parsed, pc.cast(table.column("score"), pa.float64()), None)
        else:
            value = table.column("expected_score")
        keys = _keys(table.column("conversation_hash"), table.column("turn_index"), universe, facts.config)
        index = _aligned(candidates, keys)
        total += _gather(_numpy(value, np.nan).astype(float), index, np.nan)
    return total / len(tables)


def _numpy(column: Any, fill: Any) -> np.ndarray:
    return np.asarray(pc.fill_null(column, fill).to_numpy(zero_copy_only=False))


@dataclass
class _Bucket:
    """What one bucket gave: its pairs (sorted) and its reasons."""

    pairs: pa.Table
    reasons: Counter[str]
    candidates: int
    common: int


def _pair_bucket(
    answers: list[_Answers | None],
    tables: list[dict[str, pa.Table | None]],
    plan: PairsPlan,
    rules: PairRules,
    combos: pa.Array,
    combo_factors: pa.Array,
) -> _Bucket:
    present = [a for a in answers if a is not None]
    if not present:
        return _Bucket(PAIR_SCHEMA.empty_table(), Counter(), 0, 0)
    universe = pc.unique(pa.chunked_array([a.turns.column("conversation_hash") for a in present]))
    universe = universe.take(pc.sort_indices(universe))
    keys = [
        _keys(a.turns.column("conversation_hash"), a.turns.column("turn_index"), universe, dgm)
        if a is not None
        else np.zeros(0, np.int64)
        for a, dgm in zip(answers, plan.dgms, strict=True)
    ]
    candidates, members = np.unique(np.concatenate(keys), return_counts=True)
    count, n = len(candidates), len(plan.dgms)
    index = [_aligned(candidates, k) for k in keys]
    # The conversation's own columns are the same in every config: read them from the first holding it.
    source = np.argmax(np.stack([i >= 0 for i in index], axis=1), axis=1)

    def column(name: str, fill: Any, convert: Any = None) -> np.ndarray:
        picked = np.full(count, fill, dtype=object if isinstance(fill, str) else type(fill))
        for d, a in enumerate(answers):
            if a is None:
                continue
            values = a.turns.column(name) if convert is None else convert(a.turns.column(name))
            mine = source == d
            picked[mine] = _gather(_numpy(values, fill), index[d], fill)[mine]
        return picked

    reason = np.full(count, "", dtype=object)

    def assign(mask: np.ndarray, code: str) -> None:
        reason[(reason == "") & mask] = code

    assign(members < n, MixReason.NOT_IN_EVERY_CONFIG)
    if rules.languages:
        wanted = pa.array(list(rules.languages))
        assign(
            ~column("language", False, lambda c: pc.is_in(c, value_set=wanted)).astype(bool),
            Filtered.LANGUAGE,
        )
    if rules.exclude_toxic:
        assign(column("toxic", False).astype(bool), Filtered.TOXIC)
    if rules.max_turns is not None:
        assign(column("turns", 0) > rules.max_turns, Filtered.TOO_MANY_TURNS)
    turn = candidates % STRIDE
    if rules.turns == "first":
        assign(turn > 0, PairReason.NOT_FIRST_TURN)

    def per_dgm(name: str, fill: Any) -> np.ndarray:
        return np.stack(
            [
                _gather(_numpy(a.turns.column(name), fill), index[d], fill)
                if a is not None
                else np.full(count, fill)
                for d, a in enumerate(answers)
            ],
            axis=1,
        )

    failed = per_dgm("failed", True).astype(bool)
    assign(failed.any(axis=1), PairReason.FAILED_ANSWER)
    score = np.stack(
        [
            _scores(tables[d], plan.judgments[dgm], rules.score, universe, candidates)
            for d, dgm in enumerate(plan.dgms)
        ],
        axis=1,
    )
    assign(np.isnan(score).any(axis=1), PairReason.NO_JUDGMENT)
    chars = per_dgm("chars", 0).astype(np.int64)
    high = np.where(np.isnan(score), -np.inf, score)
    low = np.where(np.isnan(score), np.inf, score)
    best_score, worst_score = high.max(axis=1), low.min(axis=1)
    # Among equal scores the shorter answer is the better one and the longer the worse; then DGM order.
    best = np.argmin(np.where(high == best_score[:, None], chars, np.iinfo(np.int64).max), axis=1)
    worst = np.argmax(np.where(low == worst_score[:, None], chars, -1), axis=1)
    rows = np.arange(count)
    tie = best_score == worst_score
    if rules.ties == "skip":
        assign(tie, PairReason.TIE)
    else:
        assign(tie & (chars[rows, best] >= chars[rows, worst]), PairReason.TIE)
    with np.errstate(invalid="ignore", divide="ignore"):
        margin = score[rows, best] - score[rows, worst]
        assign(margin < rules.min_margin, PairReason.MARGIN)
        ratio = chars[rows, best] / np.maximum(chars[rows, worst], 1)
    if rules.max_length_ratio is not None:
        assign(ratio > rules.max_length_ratio, PairReason.LENGTH)
    keep = reason == ""
    reasons = Counter(str(code) for code in reason[~keep])
    kept = np.flatnonzero(keep)
    kept_index = [None if a is None else i[kept] for a, i in zip(answers, index, strict=True)]
    pairs = _pair_rows(
        candidates[kept], universe, kept_index, answers, best[kept], worst[kept], score[kept],
        margin[kept], ratio[kept], plan, combos, combo_factors,
    )  # fmt: skip
    return _Bucket(pairs, reasons, count, int((members == n).sum()))


def _pair_rows(
    keys: np.ndarray,
    universe: pa.Array,
    index: list[np.ndarray | None],
    answers: list[_Answers | None],
    best: np.ndarray,
    worst: np.ndarray,
    score: np.ndarray,
    margin: np.ndarray,
    ratio: np.ndarray,
    plan: PairsPlan,
    combos: pa.Array,
    combo_factors: pa.Array,
) -> pa.Table:
    count = len(keys)
    if count == 0:
        return PAIR_SCHEMA.empty_table()
    rows = np.arange(count)
    # Every DGM answered every kept turn; its columns are taken in the kept turns' order.
    present = [(a, i) for a, i in zip(answers, index, strict=True) if a is not None and i is not None]
    held = [(a.turns, i) for a, i in present]
    texts = [a.answer_texts(i) for a, i in present]
    chosen_text = pc.choose(pa.array(best, pa.int8()), *texts)
    rejected_text = pc.choose(pa.array(worst, pa.int8()), *texts)
    # The prompt: the chosen DGM's conversation up to and including the user turn.
    messages = pa.concat_arrays([a.messages for a in answers if a is not None])
    bases = np.cumsum([0, *[len(a.messages) for a in answers if a is not None]])[:-1]
    row = np.stack([_numpy(turns.column("row").take(pa.array(i)), 0) for turns, i in held], axis=1)[
        rows, best
    ]
    position = np.stack(
        [_numpy(turns.column("user_position").take(pa.array(i)), 0) for turns, i in held], axis=1
    )
    length = position[rows, best] + 1
    start = np.zeros(count, dtype=np.int64)
    for d, a in enumerate(a for a in answers if a is not None):
        mine = best == d
        start[mine] = a.offsets[row[mine]] + bases[d]
    prompt_offsets = np.concatenate([[0], np.cumsum(length)])
    take = np.repeat(start - prompt_offsets[:-1], length) + np.arange(prompt_offsets[-1])
    prompt = pa.ListArray.from_arrays(pa.array(prompt_offsets, pa.int32()), messages.take(pa.array(take)))
    single = pa.array(np.arange(count + 1), pa.int32())
    assistant = pa.array(np.full(count, "assistant"), pa.string())

    def one_message(text: pa.Array) -> pa.Array:
        return pa.ListArray.from_arrays(
            single, pa.StructArray.from_arrays([assistant, text], fields=list(MIX_MESSAGE))
        )

    n = len(plan.dgms)
    names = pa.array(plan.dgms, pa.string())
    return pa.table(
        {
            "conversation_hash": universe.take(pa.array(keys // STRIDE)),
            "turn_index": pa.array(keys % STRIDE, pa.int64()),
            "prompt": prompt,
            "chosen": one_message(chosen_text),
            "rejected": one_message(rejected_text),
            "chosen_dgm": names.take(pa.array(best)),
            "rejected_dgm": names.take(pa.array(worst)),
            "judgment_configs": combos.take(pa.array(best * n + worst)),
            "factors": combo_factors.take(pa.array(np.zeros(count, np.int64))),
            "chosen_score": pa.array(score[rows, best], pa.float64()),
            "rejected_score": pa.array(score[rows, worst], pa.float64()),
            "margin": pa.array(margin, pa.float64()),
            "length_ratio": pa.array(ratio, pa.float64()),
            "language": held[0][0]
            .column("language")
            .take(pa.array(index[0] if index[0] is not None else [])),
        },
        schema=PAIR_SCHEMA,
    )


# ---------------------------------------------------------------- the build


@dataclass
class PairsReport:
    """What a build wrote: the config, its rows, and every candidate left out by reason."""

    config: str
    rows: int
    candidates: int
    reasons: dict[str, int]
    files: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def build_pairs(
    repository: Path,
    rules: PairRules,
    *,
    name: str | None = None,
    repository_name: str = DEFAULT_NAME,
    bucket_conversations: int = BUCKET_CONVERSATIONS,
    max_row_group_bytes: int = MAX_ROW_GROUP_BYTES,
    max_shard_bytes: int = MAX_SHARD_BYTES,
    log: Any = None,
) -> PairsReport:
    """Build the pairs config ``pairs--<name>`` of the local repository at ``repository``.

    Nothing in the repository changes unless the whole config is written: the rows go to a staging
    folder, which replaces ``data/<config>/`` at the end, and the card is rendered again.
    """
    opened = Repository.open(repository)
    root = opened.root
    plan = plan_pairs(opened, rules)
    config = layout.pairs_config_name(name) if name else default_name(plan, rules)
    if not layout.is_pairs_config(config) or "/" in config or config == layout.PAIRS_PREFIX:
        raise PairsError(f"{config!r} is not a usable config name (pairs--<name>, no '/')")
    answer_files = {dgm: [_File.open(p) for p in opened.data_files(dgm)] for dgm in plan.dgms}
    judgment_files = {
        dgm: {factor: [_File.open(p) for p in opened.data_files(j.config)] for factor, j in by_factor.items()}
        for dgm, by_factor in plan.judgments.items()
    }
    bounds = bucket_bounds(answer_files[plan.dgms[0]], bucket_conversations)
    n = len(plan.dgms)
    combos = pa.array(
        [plan.configs_of(plan.dgms[b]) + plan.configs_of(plan.dgms[w]) for b in range(n) for w in range(n)],
        pa.list_(pa.string()),
    )
    combo_factors = pa.array([plan.factors], pa.list_(pa.string()))
    staged = root / layout.DATA_DIR / f".{config}.partial"
    if staged.exists():
        shutil.rmtree(staged)
    writer: ShardWriter | None = None
    reasons: Counter[str] = Counter()
    candidates = common = rows = 0
    margins = 0.0
    try:
        for number, (low, high) in enumerate(bounds):
            answers = [_read_answers(answer_files[dgm], low, high) for dgm in plan.dgms]
            tables = [
                {f: _read(judgment_files[dgm][f], low, high, JUDGMENT_COLUMNS) for f in plan.factors}
                for dgm in plan.dgms
            ]
            bucket = _pair_bucket(answers, tables, plan, rules, combos, combo_factors)
            reasons.update(bucket.reasons)
            candidates += bucket.candidates
            common += bucket.common
            if bucket.pairs.num_rows:
                if writer is None:
                    per_group = rows_per_group(
                        bucket.pairs.nbytes, bucket.pairs.num_rows, max_row_group_bytes
                    )
                    writer = ShardWriter(staged, PAIR_SCHEMA, per_group, max_shard_bytes)
                writer.write(bucket.pairs)
                rows += bucket.pairs.num_rows
                margins += float(pc.sum(bucket.pairs.column("margin")).as_py() or 0.0)
            if log is not None:
                log(f"bucket {number + 1}/{len(bounds)}: {rows:,} pairs from {candidates:,} candidate turns")
        if common == 0:
            raise PairsError(
                f"{', '.join(plan.dgms)} have no conversation in common (every DGM of a pair must have "
                "answered the same conversation); nothing was written"
            )
        if writer is None:
            writer = ShardWriter(staged, PAIR_SCHEMA, 1, max_shard_bytes)
        files = writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        shutil.rmtree(staged, ignore_errors=True)
        raise
    if sum(reasons.values()) + rows != candidates:
        shutil.rmtree(staged, ignore_errors=True)
        raise PairsError(
            f"internal count mismatch: {rows} pairs + {sum(reasons.values())} left out != {candidates}"
        )
    ordered = {str(code): reasons.get(str(code), 0) for code in _REASON_ORDER}
    summary = {
        "config": config,
        "kind": "pairs",
        "rules": {
            **asdict(rules),
            "rule": rules.rule,
            "dgms": plan.dgms,
            "factors": plan.factors,
            "summary": rules.controls(),
        },
        "judges": plan.judges,
        "judgment_configs": {dgm: plan.configs_of(dgm) for dgm in plan.dgms},
        "rows": rows,
        "candidates": candidates,
        "reasons": ordered,
        "mean_margin": round(margins / rows, 4) if rows else None,
    }
    atomic_write_text(staged / CONFIG_MANIFEST, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    publish_config(root, staged, config, name=repository_name)
    return PairsReport(
        config, rows, candidates, ordered, [root / layout.DATA_DIR / config / f.name for f in files], summary
    )


_REASON_ORDER = [
    MixReason.NOT_IN_EVERY_CONFIG,
    Filtered.LANGUAGE,
    Filtered.TOXIC,
    Filtered.TOO_MANY_TURNS,
    PairReason.NOT_FIRST_TURN,
    PairReason.FAILED_ANSWER,
    PairReason.NO_JUDGMENT,
    PairReason.TIE,
    PairReason.MARGIN,
    PairReason.LENGTH,
]


def _read(
    files: Sequence[_File], low: str | None, high: str | None, columns: Sequence[str]
) -> pa.Table | None:
    parts = [t for t in (f.read(low, high, columns) for f in files) if t is not None and t.num_rows]
    return pa.concat_tables(parts) if parts else None


def _read_answers(files: Sequence[_File], low: str | None, high: str | None) -> _Answers | None:
    table = _read(files, low, high, ANSWER_COLUMNS)
    return None if table is None else _answers(table)
