"""The judgment job: a judge scores every answered user turn of one target on one factor.

It is a :class:`~wildchat50m.jobs.ShardedJob` like generation, so it stages the target's rows
into shards by ``conversation_hash``, journals every judge result as it completes, commits
shards atomically, splits into ``--shard I/N`` parts and runs on Ray the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from wildchat50m import layout
from wildchat50m.engines.base import ChatRequest, ChatResult, Sampling
from wildchat50m.errors import InvalidSettingError
from wildchat50m.jobs import (
    JobIncomplete,
    RunKind,
    ShardedJob,
    TransientFailures,
    run_kind,
)
from wildchat50m.judging.factors import Factor, JudgingError, factor_slug, judge_messages
from wildchat50m.judging.scores import (
    SCORE_PREFIX,
    Entry,
    JudgmentStatus,
    ScoreSource,
    judgment_entry,
    needs_ten_probe,
    parse_score,
    probe_entry,
    score_distribution,
    score_pairs,
    zero_follows,
)
from wildchat50m.registry import DGM
from wildchat50m.requests import CharTokenizer, turn_key, turns_of
from wildchat50m.runstore import ADDED_LATER, Journal, RunStore, ShardCounts, file_sha256
from wildchat50m.schema import JUDGMENT_SCHEMA, OUTPUT_SCHEMA
from wildchat50m.source import shard_of

#: Room kept besides the judgment for the forced continuation: ``\nScore: `` (and ``1`` for the ten
#: probe) after the judgment's text, the template's assistant header, and the two tokens generated.
FORCED_CONTINUATION_TOKENS = 24


class JudgingIncomplete(JobIncomplete):
    """Some judge requests failed transiently; a re-run sends them again."""


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class JudgeSettings:
    """Everything that decides the judgments. A resumed run must use the same settings."""

    judge: str
    model: str
    engine: str
    factor: str
    factor_description: str
    factor_rubric: str
    target: str
    target_path: str
    target_files: dict[str, str]
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    max_new_tokens: int = 512
    top_logprobs: int = 20
    max_chars: int = 6000
    max_model_len: int | None = None
    limit: int | None = None
    num_shards: int = 4
    engine_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_target(
        cls,
        judge: DGM,
        factor: Factor,
        target: Path,
        *,
        model: str | None = None,
        engine: str = "vllm",
        **overrides: Any,
    ) -> JudgeSettings:
        """Settings for ``judge`` scoring ``target`` (a finished run or a repository config) on ``factor``.

        ``overrides`` (None values ignored) replace the defaults of the other fields; the
        target's files are recorded with their digests, so a changed target is not resumed.
        """
        model = model or judge.hf_id
        if not model:
            raise InvalidSettingError(f"{judge.config} has no Hugging Face id; pass --model")
        if overrides.get("max_model_len") is None and judge.generation is not None:
            overrides["max_model_len"] = judge.generation.max_model_len
        name, files = target_files(target)
        settings = cls(
            judge=judge.config,
            model=model,
            engine=engine,
            factor=factor.name,
            factor_description=factor.description,
            factor_rubric=factor.rubric,
            target=name,
            target_path=str(files[0].parent.resolve()),
            target_files=target_digests(files),
            **{key: value for key, value in overrides.items() if value is not None},
        )
        budget = settings.max_input_tokens
        if budget is not None and budget < 64:
            raise InvalidSettingError(
                f"a judge context of {settings.max_model_len} tokens leaves {budget} for the prompt after "
                f"--max-new-tokens {settings.max_new_tokens} and the forced 'Score: ' continuation; "
                "raise --max-model-len or lower --max-new-tokens"
            )
        return settings

    @property
    def max_input_tokens(self) -> int | None:
        """The judge prompt's budget, by generation's rule (0.75 of the context, and room for the
        answer), less room for the forced ``Score: `` continuation that follows the judgment."""
        if self.max_model_len is None:
            return None
        room = self.max_model_len - self.max_new_tokens - FORCED_CONTINUATION_TOKENS
        return min(int(self.max_model_len * 0.75), room)

    @property
    def config(self) -> str:
        return layout.judgment_config_name(factor_slug(self.factor), self.judge, self.target)

    @property
    def factor_entry(self) -> Factor:
        return Factor(self.factor, self.factor_description, self.factor_rubric)

    def sampling(self, max_new_tokens: int | None = None, seed_key: str = "") -> Sampling:
        from wildchat50m.engines.base import request_seed

        return Sampling(
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=request_seed(self.seed, seed_key, 0),
            top_logprobs=self.top_logprobs,
        )


def target_files(target: Path) -> tuple[str, list[Path]]:
    """The target's config name and its parquet files: a run directory or a repository config folder.

    A run directory holds ``run.json`` and ``data/shard-*.parquet``; a
    repository config is ``REPO/data/<config>/`` with ``train-*.parquet``.
    """
    target = Path(target)
    kind = run_kind(target)
    if kind is not None:
        if not kind.holds_answers:
            raise JudgingError(f"{target} is a judgment run; judge a DGM's run or config")
        params = RunStore(target).params()
        files = RunStore(target).output_files()
        shards = int(params.get("num_shards") or 0)
        if len(files) != shards:
            raise JudgingError(f"{target}: {len(files)} of {shards} shards finished; finish the run first")
        return kind.config_name(params), files
    files = layout.folder_data_files(target)
    if files:
        if layout.is_judgment_config(target.name):
            raise JudgingError(f"{target} is a judgment config; judge a DGM's config")
        return target.name, files
    raise JudgingError(
        f"{target} is neither a finished run directory (run.json, data/) nor a repository config "
        "folder (REPO/data/<config>/train-*.parquet)"
    )


# ---------------------------------------------------------------- the job


@dataclass
class JudgmentStats(ShardCounts):
    """What one finished judgment shard holds, for the manifest."""

    judgments: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    score_sources: Counter[str] = field(default_factory=Counter)
    distribution_flags: Counter[str] = field(default_factory=Counter)
    #: Judge prompts fitted to the judge's context: ``fitted`` (the conversation before the judged
    #: turn shortened) and ``cut`` (the judged message or answer itself cut).
    prompt_fit: Counter[str] = field(default_factory=Counter, metadata=ADDED_LATER)


@dataclass
class _Selection:
    """The staging report: how many conversations the target held and how many were staged."""

    conversations: int
    selected: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Item:
    key: str
    conversation_hash: str
    turn_index: int
    messages: list[dict[str, str]] | None
    cut: bool
    fitted: bool = False


class JudgmentJob(ShardedJob):
    """Judge every answered user turn of one target with one judge on one factor; safe to kill and re-run."""

    kind = RunKind.JUDGMENT
    kinds = (RunKind.JUDGMENT,)

    settings: JudgeSettings

    def run_name(self) -> str:
        return self.settings.config

    def params(self) -> dict[str, Any]:
        settings = self.settings
        params = {k: v for k, v in asdict(settings).items() if k != "engine_options"}
        params["config"] = settings.config
        params["engine_options"] = {
            k: v for k, v in settings.engine_options.items() if k in ("dtype", "quantization")
        }
        return params

    def stage(self, shards: list[int]) -> None:
        settings = self.settings
        files = [Path(settings.target_path) / name for name in settings.target_files]
        chosen, total = _chosen_hashes(files, settings.limit)
        self.log(f"staging {len(chosen):,} of {total:,} conversations of {settings.target}")

        def batches() -> Iterator[Any]:
            import pyarrow as pa
            import pyarrow.compute as pc

            allowed = pa.array(sorted(chosen), pa.string())
            for path in files:  # one file of the target in memory at a time
                table = pq.read_table(path, schema=OUTPUT_SCHEMA)
                yield from table.filter(pc.is_in(table["conversation_hash"], value_set=allowed)).to_batches()

        self.store.stage(
            batches(),
            self.job,
            shards,
            self.num_shards,
            shard_of,
            lambda: _Selection(total, len(chosen)),
            schema=OUTPUT_SCHEMA,
        )

    def detached(self) -> JudgmentJob:
        return JudgmentJob(
            self.settings,
            self.store.root.parent.resolve(),
            self.engine_factory,
            job=self.job,
            lease_timeout=self.lease_timeout,
        )

    @classmethod
    def manifest_body(cls, markers: list[dict[str, Any]]) -> dict[str, Any]:
        """Counts by status, score source, distribution flag and error."""
        totals = JudgmentStats.total(markers)
        return {
            "conversations": totals.conversations,
            "judgments": totals.judgments,
            "statuses": {status: totals.statuses.get(status, 0) for status in JudgmentStatus},
            "prompt_fit": {fit: totals.prompt_fit.get(fit, 0) for fit in ("fitted", "cut")},
            "score_sources": dict(sorted(totals.score_sources.items())),
            "distribution_flags": dict(sorted(totals.distribution_flags.items())),
            "errors": dict(sorted(totals.errors.items())),
        }

    def answer_shards(self, indices: list[int]) -> dict[int, JudgmentStats]:
        """Judge staged shards one after another, each in up to three waves, each journaled."""
        return {index: self._judge_shard(index) for index in indices}

    def _judge_shard(self, index: int) -> JudgmentStats:
        """Judge one staged shard in up to three waves, each journaled, then commit it."""
        settings = self.settings
        rows = pq.read_table(self.store.input_path(index, settings.num_shards)).to_pylist()
        items, answered = self._items(rows)
        journal = Journal(self.store.journal_path(index), decode=Entry)
        try:
            judged = [item for item in items if item.messages is not None]
            self._wave(
                (
                    ChatRequest(item.key, tuple(item.messages or ()), settings.sampling(seed_key=item.key))
                    for item in judged
                    if item.key not in journal.entries
                ),
                journal,
                judgment_entry,
            )
            # Wave 2: no usable score position in the judge's text -> continue it with "Score: ".
            self._wave(
                (
                    ChatRequest(
                        f"{item.key}#forced",
                        tuple(item.messages or ()),
                        settings.sampling(2, seed_key=item.key),
                        assistant_prefix=_forced_prefix(journal.entries[item.key]["text"]),
                    )
                    for item in judged
                    if self._needs_forced(journal.entries[item.key])
                    and f"{item.key}#forced" not in journal.entries
                ),
                journal,
                probe_entry,
            )
            # Wave 3: "1" among the scores but not "10" -> what follows "Score: 1"?
            self._wave(
                (
                    ChatRequest(
                        f"{item.key}#ten",
                        tuple(item.messages or ()),
                        settings.sampling(1, seed_key=item.key),
                        assistant_prefix=self._score_prefix(journal.entries, item.key) + "1",
                    )
                    for item in judged
                    if self._needs_ten(journal.entries, item.key) and f"{item.key}#ten" not in journal.entries
                ),
                journal,
                probe_entry,
            )
            stats = self._commit(index, items, answered, journal)
        finally:
            journal.close()
        journal.remove()
        return stats

    # -- waves

    def _wave(
        self, requests: Iterator[ChatRequest], journal: Journal, keep: Callable[[ChatResult], Entry]
    ) -> None:
        from tqdm.auto import tqdm

        transient = TransientFailures(self.max_consecutive_transient)
        results = self.engine.generate(requests)
        try:
            with tqdm(unit=" judgments", disable=not self.progress, mininterval=0.5) as bar:
                for result in results:
                    if transient.skipped(result):
                        if transient.gave_up:
                            break
                        continue
                    journal.append(result.key, keep(result))
                    bar.update(1)
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
        transient.raise_if_any(JudgingIncomplete, "judge request(s)", "judgments")

    @staticmethod
    def _needs_forced(entry: Mapping[str, Any]) -> bool:
        return entry.get("text") is not None and entry.get("score_top") is None

    def _score_entry(self, entries: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
        """The entry whose ``score_top`` gives the distribution: the judgment's, else its forced probe's."""
        entry = entries[key]
        if entry.get("score_top") is not None:
            return entry
        return entries.get(f"{key}#forced")

    def _score_prefix(self, entries: Mapping[str, Any], key: str) -> str:
        entry = entries[key]
        text = entry.get("text") or ""
        if entry.get("score_top") is not None:
            _, offset = parse_score(text)
            return text[: offset or 0]
        return _forced_prefix(text)

    def _needs_ten(self, entries: Mapping[str, Any], key: str) -> bool:
        source = self._score_entry(entries, key)
        return source is not None and needs_ten_probe(source.get("score_top"), source.get("ten_top"))

    # -- records

    def _items(self, rows: list[dict[str, Any]]) -> tuple[list[_Item], dict[str, dict[str, Any]]]:
        settings = self.settings
        factor = settings.factor_entry
        items, answered = [], {}
        tokenizer = (self.engine.tokenizer or CharTokenizer()) if settings.max_input_tokens else None
        for row in rows:
            conversation = row["conversation"]
            for turn in turns_of(conversation):
                key = turn_key(row["conversation_hash"], turn.index)
                answer = conversation[turn.answer_position] if turn.answer_position is not None else None
                if answer is None or answer.get("content") is None:
                    items.append(_Item(key, row["conversation_hash"], turn.index, None, False))
                    continue
                question = conversation[turn.user_position]["content"] or ""
                prompt = judge_messages(
                    factor,
                    question,
                    answer["content"],
                    settings.max_chars,
                    history=conversation[: turn.user_position],
                    tokenizer=tokenizer,
                    max_input_tokens=settings.max_input_tokens,
                )
                items.append(
                    _Item(
                        key, row["conversation_hash"], turn.index, prompt.messages, prompt.cut, prompt.fitted
                    )
                )
                answered[key] = answer
        return items, answered

    def _commit(
        self, index: int, items: list[_Item], answered: Mapping[str, Any], journal: Journal
    ) -> JudgmentStats:
        settings = self.settings
        stats = JudgmentStats()
        entries = journal.entries
        records = []
        for item in items:
            record = self._record(item, entries)
            records.append(record)
            stats.judgments += 1
            stats.statuses[record["status"]] += 1
            stats.prompt_tokens += record["prompt_tokens"] or 0
            stats.completion_tokens += record["completion_tokens"] or 0
            if record["score_source"]:
                stats.score_sources[record["score_source"]] += 1
            stats.distribution_flags.update(record["distribution_flags"] or [])
            if item.messages is not None and (item.fitted or item.cut):
                stats.prompt_fit["cut" if item.cut else "fitted"] += 1
            if record["error"]:
                stats.errors[record["error"]] += 1
        stats.conversations = len({item.conversation_hash for item in items})
        stats.generation_seconds = journal.generation_seconds()
        records.sort(key=lambda r: (r["conversation_hash"], r["turn_index"]))
        extra = {"engine": self.engine_description(), "answered": len(answered)}
        self.store.commit(index, settings.num_shards, records, stats, extra, schema=JUDGMENT_SCHEMA)
        return stats

    def _record(self, item: _Item, entries: Mapping[str, Any]) -> dict[str, Any]:
        settings = self.settings
        record: dict[str, Any] = {
            "conversation_hash": item.conversation_hash,
            "turn_index": item.turn_index,
            "target": settings.target,
            "judge": settings.judge,
            "factor": settings.factor,
            "judge_input_cut": item.cut,
            **dict.fromkeys(
                ("judgment", "score", "score_probs", "expected_score", "score_mass", "score_source"), None
            ),
            "missing_scores": None,
            "distribution_flags": [],
            "finish_reason": None,
            "prompt_tokens": None,
            "completion_tokens": None,
            "error": None,
        }
        if item.messages is None:
            return {**record, "status": JudgmentStatus.NO_ANSWER}
        entry = entries[item.key]
        record.update(
            judgment=entry["text"],
            finish_reason=entry["finish_reason"],
            prompt_tokens=entry["prompt_tokens"],
            completion_tokens=entry["completion_tokens"],
            error=entry["error"],
        )
        if entry["text"] is None:
            return {**record, "status": JudgmentStatus.JUDGE_ERROR}
        score, _ = parse_score(entry["text"])
        record["status"] = JudgmentStatus.PARSED if score is not None else JudgmentStatus.UNPARSED
        record["score"] = score
        flags: list[str] = ["logprobs_missing"] if entry.get("logprobs_missing") else []
        source = self._score_entry(entries, item.key)
        if source is None or source.get("score_top") is None:
            record["distribution_flags"] = [*flags, "no_distribution"]
            return record
        ten_top = source.get("ten_top")
        ten = entries.get(f"{item.key}#ten")
        if ten_top is None and ten is not None and ten.get("score_top") is not None:
            ten_top = ten["score_top"]
            flags.append("ten_probed")
        distribution = score_distribution(
            score_pairs(source["score_top"]), None if ten_top is None else zero_follows(score_pairs(ten_top))
        )
        record.update(
            score_probs=distribution.probs,
            expected_score=distribution.expected,
            score_mass=distribution.mass,
            score_source=ScoreSource.GENERATED if source is entry else ScoreSource.FORCED,
            missing_scores=distribution.missing,
            distribution_flags=[*flags, *distribution.flags],
        )
        return record


def _forced_prefix(text: str | None) -> str:
    return f"{(text or '').rstrip()}\n{SCORE_PREFIX}"


def _chosen_hashes(files: Sequence[Path], limit: int | None) -> tuple[set[str], int]:
    """The conversations to judge: all, or the first ``limit`` by ``conversation_hash``.

    Taking them by hash makes the same choice for every target that answered
    the same conversations, so judgments of several DGMs cover the same turns.
    """
    hashes = sorted(
        {
            h
            for path in files
            for h in pq.read_table(path, columns=["conversation_hash"]).column(0).to_pylist()
        }
    )
    return set(hashes if limit is None else hashes[:limit]), len(hashes)


def target_digests(files: Sequence[Path]) -> dict[str, str]:
    """File name -> sha256: recorded in the run's parameters, so a changed target is not resumed."""
    return {path.name: file_sha256(path) for path in files}
