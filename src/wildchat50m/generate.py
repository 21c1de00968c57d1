"""The generation job: one DGM answers every user turn of every conversation.

Wires the stages together in one direction: the reader's accepted rows are
staged into shards by ``conversation_hash``; for each unfinished shard of
this job, requests are built (:mod:`wildchat50m.requests`), answered by an
engine, journaled as they complete, turned into records
(:mod:`wildchat50m.records`) and committed atomically
(:mod:`wildchat50m.runstore`).
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from wildchat50m.engines.base import (
    PAUSE,
    ChatRequest,
    ChatResult,
    Engine,
    EngineDied,
    ErrorKind,
    Pause,
    Sampling,
    Tokenizer,
    request_seed,
)
from wildchat50m.errors import InvalidSettingError
from wildchat50m.jobs import (
    JobIncomplete,
    Log,
    RunKind,
    ShardedJob,
    TransientFailures,
    accelerators,
    silent,
)
from wildchat50m.leases import DEFAULT_LEASE_TIMEOUT, LeaseLost
from wildchat50m.records import FLAGS, TurnOutcome, answered_rows, stored_outcome
from wildchat50m.registry import DGM
from wildchat50m.requests import (
    CharTokenizer,
    HistoryMode,
    PromptFitter,
    TurnPosition,
    prompt_messages,
    turn_key,
    turns_of,
)
from wildchat50m.runstore import Journal, RunStore, ShardStats
from wildchat50m.source import ConversationReader, shard_of


class GenerationIncomplete(JobIncomplete):
    """Some generation requests failed transiently; a re-run sends them again."""


@dataclass(frozen=True)
class GenerationSettings:
    """Everything that decides the answers. A resumed run must use the same settings."""

    dgm: str
    model: str
    engine: str
    history_mode: str = HistoryMode.ORIGINAL
    system_prompt: str | None = None
    seed: int = 0
    temperature: float = 1.0
    top_p: float = 1.0
    max_model_len: int = 4096
    max_new_tokens: int = 819
    max_input_tokens: int = 3072
    logprobs: bool = False
    num_shards: int = 16
    source: str = ""
    filters: dict[str, Any] = field(default_factory=dict)
    engine_options: dict[str, Any] = field(default_factory=dict)
    #: A re-generation run: the run it starts from, what it answers again, and that run's
    #: parameters (see :func:`redo_settings`). None for an ordinary run.
    redo: dict[str, Any] | None = None

    @classmethod
    def for_dgm(
        cls, dgm: DGM, *, model: str | None = None, engine: str = "vllm", **overrides: Any
    ) -> GenerationSettings:
        """The registry's defaults for ``dgm``, with ``overrides`` (None values ignored) on top."""
        gen = dgm.generation
        if gen is None:
            raise InvalidSettingError(
                f"{dgm.config} has no generation defaults (it is not a generating model)"
            )
        values: dict[str, Any] = {
            "dgm": dgm.config,
            "model": model or dgm.hf_id or "",
            "engine": engine,
            "temperature": gen.temperature,
            "top_p": gen.top_p,
            "max_model_len": gen.max_model_len,
            "max_new_tokens": gen.max_new_tokens,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "max_input_tokens" not in overrides or overrides["max_input_tokens"] is None:
            values["max_input_tokens"] = min(
                int(values["max_model_len"] * 0.75), values["max_model_len"] - values["max_new_tokens"]
            )
        if not values["model"]:
            raise InvalidSettingError(f"{dgm.config} has no Hugging Face id; pass --model")
        return cls(**values)

    def sampling(self, conversation_hash: str, turn: int) -> Sampling:
        return Sampling(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=request_seed(self.seed, conversation_hash, turn),
            logprobs=self.logprobs,
        )


def answers_run_params(
    dgm: str,
    *,
    kind: RunKind,
    engine: str,
    source: str,
    model: str | None = None,
    num_shards: int = 1,
    seed: int | None = None,
) -> dict[str, Any]:
    """The parameters of a run of answers not made by :class:`Generator` (an imported release, a
    synthetic run for benchmarks): history ``original``, sampling settings unknown (null)."""
    return {
        "kind": str(kind), "dgm": dgm, "model": model, "engine": engine, "history_mode": HistoryMode.ORIGINAL,
        "source": source, "num_shards": num_shards, "system_prompt": None, "seed": seed,
        "temperature": None, "top_p": None, "max_model_len": None, "max_new_tokens": None,
        "max_input_tokens": None, "logprobs": None,
    }  # fmt: skip


@dataclass(frozen=True)
class TurnRequest:
    """One user turn's engine request, and how its prompt was fitted (journaled with its answer)."""

    request: ChatRequest
    #: The prompt did not fit ``max_input_tokens`` and was cut (oldest turns first).
    prompt_truncated: bool
    #: The current user message itself was cut, from the middle.
    current_cut: bool


class Generator(ShardedJob):
    """Run one job of one DGM's generation; safe to kill at any moment and re-run."""

    kind = RunKind.GENERATION
    kinds = (RunKind.GENERATION, RunKind.IMPORTED)

    def __init__(
        self,
        settings: GenerationSettings,
        out: Path,
        reader: ConversationReader | None,
        engine_factory: Callable[[], Engine],
        *,
        job: tuple[int, int] = (0, 1),
        progress: bool = False,
        log: Log = silent,
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
    ):
        if settings.history_mode not in tuple(HistoryMode):
            raise InvalidSettingError(
                f"history mode must be one of {', '.join(map(repr, map(str, HistoryMode)))}, "
                f"not {settings.history_mode!r}"
            )
        super().__init__(
            settings, out, engine_factory, job=job, progress=progress, log=log, lease_timeout=lease_timeout
        )
        self.settings: GenerationSettings = settings
        self.reader = reader
        #: The engine the fitter was made for, and the fitter (a new engine may bring another tokenizer).
        self._fitter: tuple[Engine, PromptFitter] | None = None
        #: The conversation whose turns were found last, and its turns (see :meth:`_turns_of`).
        self._turns: tuple[list[dict[str, Any]], list[TurnPosition]] | None = None

    # -- the job

    def run_name(self) -> str:
        return self.settings.dgm

    def params(self) -> dict[str, Any]:
        params = {k: v for k, v in asdict(self.settings).items() if k != "engine_options"}
        params["engine_options"] = {
            k: v for k, v in self.settings.engine_options.items() if k in ("dtype", "quantization")
        }
        return params

    def stage(self, shards: list[int]) -> None:
        if self.reader is None:
            raise InvalidSettingError("the input is not staged yet and no reader was given")
        reader = self.reader
        self.log(f"staging the input into {len(shards)} shard(s)")
        self.store.stage(reader.batches(), self.job, shards, self.num_shards, shard_of, lambda: reader.report)

    def detached(self) -> Generator:
        return Generator(
            self.settings,
            self.store.root.parent.resolve(),
            None,
            self.engine_factory,
            job=self.job,
            lease_timeout=self.lease_timeout,
        )

    def carry_over(self, index: int, journal: Journal) -> None:
        """Journal every answer of the source run's shard ``index`` that is not to be answered again.

        In history mode ``self`` a turn answered again changes what the later turns of its
        conversation saw, so they are answered again too.
        """
        redo = self.settings.redo
        assert redo is not None
        source = RunStore(Path(redo["from"]))
        count = self.settings.num_shards
        if not source.is_done(index, count):
            raise InvalidSettingError(
                f"{source.output_path(index, count)} is not a finished shard of the run to re-generate "
                "(missing, or its checksum differs): finish or repair that run first"
            )
        criteria = tuple(redo["criteria"])
        for row in shard_rows(source.output_path(index, count), CARRIED_FIELDS):
            conversation, again = row["conversation"], False
            for turn in turns_of(conversation):
                message = conversation[turn.answer_position]
                follows_redone = again and self.settings.history_mode == HistoryMode.SELF
                again = needs_redo(message, criteria) or follows_redone
                key = turn_key(row["conversation_hash"], turn.index)
                if not again and key not in journal.entries:
                    journal.append(key, stored_outcome(message), 0.0)

    def on_engine_ready(self, engine: Engine) -> None:
        self.store.save_special_tokens((engine.tokenizer or CharTokenizer()).special_tokens)

    @classmethod
    def manifest_body(cls, markers: list[dict[str, Any]]) -> dict[str, Any]:
        """Counts by finish reason, flag and error, and throughput as the paper measures it."""
        totals = ShardStats.total(markers)
        seconds, conversations = totals.generation_seconds, totals.conversations
        return {
            "conversations": conversations,
            "turns": totals.turns,
            "truncated_prompts": totals.truncated_prompts,
            "finish_reasons": dict(totals.finish_reasons),
            "flags": dict(totals.flags),
            "errors": dict(totals.errors),
            "answers_by_origin": dict(totals.answers_by_origin),
            "throughput": {
                "seconds_per_1000_conversations": round(1000 * seconds / conversations, 3)
                if conversations and seconds
                else None,
                "input_output_token_ratio": round(totals.prompt_tokens / totals.completion_tokens, 3)
                if totals.completion_tokens
                else None,
            },
        }

    def _tokenizer(self) -> Tokenizer:
        return self.engine.tokenizer or CharTokenizer()

    def _prompt_fitter(self) -> PromptFitter:
        """One fitter for the job, so a conversation's messages are tokenized once for all its turns."""
        if self._fitter is None or self._fitter[0] is not self.engine:
            self._fitter = (self.engine, PromptFitter(self._tokenizer(), self.settings.max_input_tokens))
        return self._fitter[1]

    def _special_tokens(self) -> tuple[str, ...]:
        """The model's special tokens, remembered by the store so a resume needs no model to flag answers."""
        saved = self.store.special_tokens()
        return saved if saved is not None else tuple(self._tokenizer().special_tokens)

    def answer_shards(self, indices: Iterable[int]) -> dict[int, ShardStats]:
        """Answer staged shards through one engine stream; returns the stats of the shards committed.

        There is no barrier between shards: the next shard's requests are fed
        while the last ones of the previous shard are generated (``indices`` is
        read lazily, so a leasing caller leases the next shard only when the
        engine asks for more requests than the open shards hold), and a
        shard is committed the moment its last answer is journaled. A shard whose
        lease another worker took over is dropped, uncommitted. Raises
        :class:`GenerationIncomplete` at the end when requests failed transiently.
        """
        stream = _JobStream(self, indices)
        try:
            stream.run()
        finally:
            stream.close()
        return stream.committed

    # -- an answer's way: turn -> request (engine) -> journal -> records -> committed shard

    def turn_request(
        self, row: dict[str, Any], turn_index: int, own_answers: list[str] | None = None
    ) -> TurnRequest:
        """The engine request of user turn ``turn_index`` of ``row``, its prompt fitted to the budget.

        ``own_answers``: in history mode ``self``, the DGM's answers to the earlier turns, shown
        in place of WildChat's.
        """
        conversation = row["conversation"]
        turn = self._turns_of(conversation)[turn_index]
        messages = prompt_messages(
            conversation, turn, own_answers=own_answers, system_prompt=self.settings.system_prompt
        )
        fitted = self._prompt_fitter().fit(messages)
        key = turn_key(row["conversation_hash"], turn_index)
        request = ChatRequest(
            key,
            tuple(fitted.messages),
            self.settings.sampling(row["conversation_hash"], turn_index),
            prompt_token_ids=fitted.token_ids,
        )
        return TurnRequest(request, fitted.truncated, fitted.current_cut)

    def _turns_of(self, conversation: list[dict[str, Any]]) -> list[TurnPosition]:
        """The user turns of ``conversation``, found once for the consecutive requests of its turns."""
        if self._turns is None or self._turns[0] is not conversation:
            self._turns = (conversation, turns_of(conversation))
        return self._turns[1]

    def commit_shard(self, index: int, journal: Journal) -> ShardStats:
        """Turn shard ``index``'s journal (every turn answered) into its records and commit them
        atomically as the run's ``data/shard-<i>-of-<n>.parquet``; the stats go in its marker."""
        stats = ShardStats()
        extra: dict[str, Any] = {
            "accelerators": accelerators(),
            "engine": self.engine_description(),
            "worker": worker_description(),
            "answered_from": journal.first_at,
            "committed_at": time.time(),
        }
        # Filled while the records are written; the marker is made after the last one.
        origins = stats.answers_by_origin if self.settings.redo is not None else None
        source = self.store.input_path(index, self.settings.num_shards)
        records = self._records(source, journal, stats, origins)
        self.store.commit(index, self.settings.num_shards, records, stats, extra)
        return stats

    def _records(
        self, source: Path, journal: Journal, stats: ShardStats, origins: Counter[str] | None = None
    ) -> Iterator[pa.Table]:
        """The output rows of one shard, read from its input a row group at a time and counted into
        ``stats`` (and, for a re-generation run, into ``origins``: answers ``carried`` or
        ``regenerated``)."""
        settings = self.settings
        special = self._special_tokens()
        for rows in input_row_groups(source):
            answered = answered_rows(
                rows,
                journal.entries,
                dgm=settings.dgm,
                history_mode=settings.history_mode,
                special_tokens=special,
            )
            stats.conversations += rows.num_rows
            for outcome, flags in answered.turns:
                if origins is not None:
                    origins["carried" if outcome.carried else "regenerated"] += 1
                stats.turns += 1
                stats.prompt_tokens += outcome.prompt_tokens or 0
                stats.completion_tokens += outcome.completion_tokens or 0
                stats.truncated_prompts += outcome.prompt_truncated
                stats.finish_reasons[outcome.finish_reason] += 1
                if outcome.error:
                    stats.errors[outcome.error] += 1
                stats.flags.update(flags)
            yield answered.table
        stats.generation_seconds = journal.generation_seconds()


#: Rows of an input shard read at a time: the feed and the commit never hold a whole shard, and
#: each row group of a committed shard holds this many rows.
INPUT_BATCH_ROWS = 1024
#: What the feed reads of each message of an input shard: a prompt needs no more.
PROMPT_FIELDS = ("role", "content")
#: What a re-generation run reads of each message of the run it starts from.
CARRIED_FIELDS = (
    "role", "content", "finish_reason", "prompt_tokens", "completion_tokens", "prompt_truncated", "flags",
    "cumulative_logprob", "error",
)  # fmt: skip


def shard_rows(path: Path, message_fields: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The rows of a shard (input or output), in order, a batch at a time, as Python objects holding
    only their ``conversation_hash`` and these fields of each message of their ``conversation``.

    Only those columns are read and decoded: a row's other columns (the moderation scores, most of
    its size) would cost more to turn into Python objects than the prompt does to tokenize.
    """
    shard = pq.ParquetFile(path)
    wanted = set(message_fields)
    columns = ["conversation_hash"]
    for leaf in range(len(shard.schema)):
        parts = shard.schema.column(leaf).path.split(".")  # conversation.list.element.<field>...
        prefix = ".".join(parts[:4])
        if parts[0] == "conversation" and len(parts) >= 4 and parts[3] in wanted and prefix not in columns:
            columns.append(prefix)
    for batch in shard.iter_batches(batch_size=INPUT_BATCH_ROWS, columns=columns):
        yield from batch.to_pylist()


def user_turns(path: Path) -> dict[str, int]:
    """The number of user turns of each conversation of an input shard, by hash."""
    return {
        row["conversation_hash"]: sum(message["role"] == "user" for message in row["conversation"])
        for row in shard_rows(path, ("role",))
    }


def input_row_groups(path: Path) -> Iterator[pa.Table]:
    """The rows of an input shard as Arrow tables of :data:`INPUT_BATCH_ROWS` rows (the last may be
    fewer), each column in one chunk: one table is one row group of the committed shard."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=INPUT_BATCH_ROWS):
        held.append(batch)
        count += batch.num_rows
        while count >= INPUT_BATCH_ROWS:
            table = pa.Table.from_batches(held)
            yield table.slice(0, INPUT_BATCH_ROWS).combine_chunks()
            rest = table.slice(INPUT_BATCH_ROWS)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(held).combine_chunks()


def shards_for(conversations: int | None) -> int:
    """The default number of shards: 16, or one per 16,384 conversations when that is more.

    Memory no longer grows with a shard (records are written as they are built and the
    input is read in batches), so the count is about units of work: a shard is what one
    ``--shard I/N`` job or Ray worker takes, and 1M conversations in a parquet input make
    62 shards of ~16k, enough for a Slurm array of dozens of jobs with files of a useful
    size. When the input's size is not known before reading it (a Hub dataset, JSON
    Lines), 16, as before: a shard of 62,500 conversations costs no more memory than one
    of 16k.
    """
    if conversations is None:
        return 16
    return max(16, math.ceil(conversations / SHARD_CONVERSATIONS))


SHARD_CONVERSATIONS = 16_384


@dataclass
class _OpenShard:
    """A shard being answered: its journal, and how many of its turns are not journaled yet."""

    index: int
    source: Path
    journal: Journal
    #: Number of user turns of each conversation, by hash.
    turns: dict[str, int]
    remaining: int
    #: History mode ``self``: the rows of conversations with a turn still to answer, by hash.
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class _InFlight:
    shard: _OpenShard
    conversation_hash: str
    turn: int
    truncated: bool
    cut: bool


class _JobStream:
    """One engine stream over many shards: feeds requests lazily, journals and commits as results come.

    In history mode ``original`` every turn is ready at once, so the feed walks
    the shards in order and never waits. In mode ``self`` a conversation's
    turn *t* + 1 becomes ready when turn *t* is journaled; ready follow-ups go
    first (so open shards finish soon), then the first turns of the next
    shards, so the engine has work while any shard has. When nothing is ready
    but answers are outstanding, the feed yields :data:`PAUSE`.

    The stream owns the order of things only; what a request, a journal entry and a committed
    shard are is the generator's (:meth:`Generator.turn_request`, :func:`outcome_of`,
    :meth:`Generator.commit_shard`, :meth:`Generator.carry_over`).
    """

    def __init__(self, generator: Generator, indices: Iterable[int]):
        self.generator = generator
        self.settings = generator.settings
        self.indices = iter(indices)
        self.open: dict[int, _OpenShard] = {}
        self.committed: dict[int, ShardStats] = {}
        #: Shards whose lease another worker took over: their answers are no longer this stream's.
        self.dropped: set[int] = set()
        self.in_flight: dict[str, _InFlight] = {}
        self.follow_ups: deque[tuple[ChatRequest, _InFlight]] = deque()
        self.transient = TransientFailures(generator.max_consecutive_transient)
        self.bar: Any = None
        self.last_answer_at = 0.0

    def run(self) -> None:
        first = next(self.indices, None)
        if first is None:
            return
        self.indices = itertools.chain([first], self.indices)
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=0,
            unit=" turns",
            desc="shards",
            disable=not self.generator.progress,
            mininterval=0.5,
        )
        results = self.generator.engine.generate(self._feed())
        self.last_answer_at = time.monotonic()
        try:
            for result in self._until_engine_dies(results):
                sent = self.in_flight.pop(result.key)
                if sent.shard.index in self.dropped or self._drop_if_lost(sent.shard):
                    continue
                if self.transient.skipped(result):
                    if self.transient.gave_up:
                        break
                    continue
                regenerated = self.settings.redo is not None
                self._journal(sent, outcome_of(result, sent.truncated, sent.cut, regenerated))
                follows = sent.turn + 1 < sent.shard.turns[sent.conversation_hash]
                if self.settings.history_mode == HistoryMode.SELF and follows:
                    self._next_turn(sent.shard, sent.conversation_hash, sent.turn + 1)
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
        self.transient.raise_if_any(GenerationIncomplete, "request(s)", "answers")

    def _until_engine_dies(self, results: Iterable[ChatResult]) -> Iterator[ChatResult]:
        """The engine's results; its death becomes one line: the cause, what was kept, how to resume."""
        try:
            yield from results
        except EngineDied as died:
            journaled = sum(len(shard.journal.entries) for shard in self.open.values())
            raise EngineDied(
                f"{died}. Kept: {len(self.committed)} shard(s) committed by this worker and "
                f"{journaled} answer(s) journaled in the shards it had open. Resume with: "
                f"{self.generator.resume_command}"
            ) from None

    def close(self) -> None:
        for shard in self.open.values():
            shard.journal.close()
        self.open.clear()
        if self.bar is not None:
            self.bar.close()

    def _drop_if_lost(self, shard: _OpenShard) -> bool:
        """Stop a shard whose lease another worker took over: no more requests, no commit."""
        if not self.generator.lease_lost(shard.index):
            return False
        self.generator.log(
            f"shard {shard.index}: another worker took over its lease; leaving it to that worker"
        )
        self.dropped.add(shard.index)
        self.open.pop(shard.index, None)
        shard.journal.close()
        return True

    # -- the feed

    def _feed(self) -> Iterator[ChatRequest | Pause]:
        pending = self.indices
        first_turns: Iterator[tuple[ChatRequest, _InFlight]] = iter(())
        while True:
            if self.follow_ups:
                request, sent = self.follow_ups.popleft()
                if sent.shard.index not in self.dropped:
                    yield self._send(request, sent)
                continue
            item = next(first_turns, None)
            if item is not None:
                if item[1].shard.index in self.dropped:
                    first_turns = iter(())
                    continue
                yield self._send(*item)
                continue
            index = next(pending, None)
            if index is not None:
                first_turns = self._first_turns(self._open(index))
                continue
            if self.in_flight and self.settings.history_mode == HistoryMode.SELF:
                yield PAUSE
                continue
            return

    def _send(self, request: ChatRequest, sent: _InFlight) -> ChatRequest:
        self.in_flight[request.key] = sent
        return request

    def _open(self, index: int) -> _OpenShard:
        store, count = self.generator.store, self.settings.num_shards
        source = store.input_path(index, count)
        journal = Journal(store.journal_path(index))
        if self.settings.redo is not None:
            self.generator.carry_over(index, journal)
        turns = user_turns(source)
        shard = _OpenShard(index, source, journal, turns, sum(turns.values()) - len(journal.entries))
        self.open[index] = shard
        self.bar.total += sum(turns.values())
        self.bar.update(len(journal.entries))
        self._commit_if_done(shard)
        return shard

    def _first_turns(self, shard: _OpenShard) -> Iterator[tuple[ChatRequest, _InFlight]]:
        """Every turn not journaled (mode original), or each conversation's next turn (mode self)."""
        entries = shard.journal.entries
        for row in shard_rows(shard.source, PROMPT_FIELDS):
            conversation_hash = row["conversation_hash"]
            turns = range(shard.turns[conversation_hash])
            if self.settings.history_mode == HistoryMode.ORIGINAL:
                for turn in turns:
                    if turn_key(conversation_hash, turn) not in entries:
                        yield self._prepared(shard, row, turn, None)
                continue
            turn = next((t for t in turns if turn_key(conversation_hash, t) not in entries), None)
            if turn is not None:
                shard.waiting[conversation_hash] = row
                item = self._self_turn(shard, row, turn)
                if item is not None:
                    yield item

    def _next_turn(self, shard: _OpenShard, conversation_hash: str, turn: int) -> None:
        item = self._self_turn(shard, shard.waiting[conversation_hash], turn)
        if item is not None:
            self.follow_ups.append(item)

    def _self_turn(
        self, shard: _OpenShard, row: dict[str, Any], turn: int
    ) -> tuple[ChatRequest, _InFlight] | None:
        """The request of turn ``turn`` on the DGM's own earlier answers, or None when one of them failed.

        Then this turn and every later one are journaled as ``history_failed``.
        """
        conversation_hash = row["conversation_hash"]
        earlier = [shard.journal.entries[turn_key(conversation_hash, t)] for t in range(turn)]
        if any(outcome.failed for outcome in earlier):
            for later in range(turn, shard.turns[conversation_hash]):
                sent = _InFlight(shard, conversation_hash, later, False, False)
                self._journal(sent, TurnOutcome(None, "error", error=ErrorKind.HISTORY_FAILED))
            return None
        return self._prepared(shard, row, turn, [outcome.text or "" for outcome in earlier])

    def _prepared(
        self, shard: _OpenShard, row: dict[str, Any], turn: int, own: list[str] | None
    ) -> tuple[ChatRequest, _InFlight]:
        prepared = self.generator.turn_request(row, turn, own)
        sent = _InFlight(
            shard, row["conversation_hash"], turn, prepared.prompt_truncated, prepared.current_cut
        )
        return prepared.request, sent

    # -- results

    def _journal(self, sent: _InFlight, outcome: TurnOutcome) -> None:
        """Journal one turn, charged with the engine time since the previous answer of any shard."""
        now = time.monotonic()
        seconds, self.last_answer_at = now - self.last_answer_at, now
        sent.shard.journal.append(turn_key(sent.conversation_hash, sent.turn), outcome, seconds)
        if sent.turn + 1 == sent.shard.turns[sent.conversation_hash]:
            sent.shard.waiting.pop(sent.conversation_hash, None)
        sent.shard.remaining -= 1
        self.bar.update(1)
        self._commit_if_done(sent.shard)

    def _commit_if_done(self, shard: _OpenShard) -> None:
        if shard.remaining > 0 or shard.index in self.committed or shard.index in self.dropped:
            return
        try:
            self.committed[shard.index] = self.generator.commit_shard(shard.index, shard.journal)
        except LeaseLost:
            self._drop_if_lost(shard)
            return
        del self.open[shard.index]
        shard.journal.remove()


def worker_description() -> dict[str, Any]:
    """Which worker committed a shard: host, process and devices (``CUDA_VISIBLE_DEVICES``)."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def outcome_of(result: ChatResult, truncated: bool, cut: bool, regenerated: bool = False) -> TurnOutcome:
    """A journaled outcome from an engine result and how its prompt was fitted."""
    return TurnOutcome(
        **result.stored(),
        cumulative_logprob=result.cumulative_logprob,
        prompt_truncated=truncated,
        current_cut=cut,
        regenerated=regenerated,
    )


# ---------------------------------------------------------------- re-generation

#: What ``--redo`` can name besides ``flag:NAME``.
REDO_REASONS = ("length", "error", "empty")


def parse_redo(text: str) -> tuple[str, ...]:
    """``length,error,empty,flag:NAME`` as a tuple, every item checked."""
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if not items:
        raise InvalidSettingError("--redo names nothing to answer again (length, error, empty, flag:NAME)")
    for item in items:
        name = item.removeprefix("flag:")
        if item.startswith("flag:") and name not in FLAGS:
            raise InvalidSettingError(f"--redo {item}: no such flag; the flags are {', '.join(FLAGS)}")
        if not item.startswith("flag:") and item not in REDO_REASONS:
            raise InvalidSettingError(f"--redo {item}: not one of {', '.join(REDO_REASONS)} or flag:NAME")
    return items


def needs_redo(message: dict[str, Any], criteria: tuple[str, ...]) -> bool:
    """Whether the stored answer ``message`` matches one of the ``--redo`` criteria."""
    flags = message.get("flags") or ()
    for item in criteria:
        if item == "length" and message["finish_reason"] == "length":
            return True
        if item == "error" and message["error"] is not None:
            return True
        if item == "empty" and "empty" in flags:
            return True
        if item.startswith("flag:") and item.removeprefix("flag:") in flags:
            return True
    return False


#: The settings a re-generation run may change; every other one is the source run's.
REDO_OVERRIDABLE = (
    "engine", "model", "history_mode", "system_prompt", "seed", "temperature", "top_p", "max_model_len",
    "max_new_tokens", "max_input_tokens", "logprobs", "engine_options",
)  # fmt: skip


def redo_settings(
    source_run: Path, criteria: tuple[str, ...], overrides: dict[str, Any]
) -> tuple[GenerationSettings, ConversationReader]:
    """The settings and input of a run that answers again the turns of ``source_run`` matching
    ``criteria``, with ``overrides`` (None values ignored) on top of the source's settings.

    Its shards are the source's, so shard k re-generates from the source's shard k.
    Without an explicit ``max_input_tokens``, the budget follows a changed context or
    answer cap by the usual rule (0.75 x context, at most context - max_new_tokens).
    """
    store = RunStore(Path(source_run))
    params = store.params()
    if RunKind.of(params) is not RunKind.GENERATION:
        raise InvalidSettingError(
            f"{source_run} is a {params.get('kind')} run; only generation runs re-generate"
        )
    unknown = sorted(k for k in overrides if k not in REDO_OVERRIDABLE)
    if unknown:
        raise InvalidSettingError(f"a re-generation run keeps the source run's {', '.join(unknown)}")
    names = {f.name for f in fields(GenerationSettings)}
    values = {k: v for k, v in params.items() if k in names and k != "redo"}
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    if "max_input_tokens" not in given and ({"max_model_len", "max_new_tokens"} & set(given)):
        context = values["max_model_len"]
        values["max_input_tokens"] = min(int(context * 0.75), context - values["max_new_tokens"])
    values["source"] = f"re-generation of {Path(source_run).resolve()}"
    values["redo"] = {
        "from": str(Path(source_run).resolve()),
        "criteria": list(criteria),
        "source_params": params,
    }
    inputs = store.input_files()
    if not inputs:
        raise InvalidSettingError(
            f"{source_run} has no staged input (inputs/shard-*.parquet) to re-generate from"
        )
    return GenerationSettings(**values), ConversationReader(inputs)


def regeneration(
    source_run: Path, redo: str, overrides: dict[str, Any], out: Path
) -> tuple[GenerationSettings, ConversationReader]:
    """The settings and input of ``generate --from SOURCE_RUN --redo REDO --out OUT``: the turns
    of ``source_run`` that ``redo`` names (see :func:`parse_redo`) answered again with
    ``overrides`` (see :func:`redo_settings`), into a new run under ``out`` that must not be
    the source run itself."""
    settings, reader = redo_settings(Path(source_run), parse_redo(redo), overrides)
    if (Path(out) / settings.dgm).resolve() == Path(source_run).resolve():
        raise InvalidSettingError(f"--out {out} would write over the run re-generated; use another")
    return settings, reader


# ---------------------------------------------------------------- pilot


def _turn_bucket(turns: int) -> str:
    return "1" if turns == 1 else "2" if turns == 2 else "3-5" if turns <= 5 else "6+"


def pilot_hashes(reader: ConversationReader, count: int, seed: int = 0) -> list[str]:
    """``count`` conversations spread over languages and turn counts, drawn deterministically.

    Strata are (language, turn bucket); each stratum is ordered by a seeded
    hash priority and the strata are visited round-robin, largest first, so
    the pilot sees the common cases and the rare ones alike.
    """
    import hashlib

    strata: dict[tuple[str, str], list[tuple[bytes, str]]] = {}
    for batch in reader.batches():
        hashes = batch.column("conversation_hash").to_pylist()
        languages = batch.column("language").to_pylist()
        turns = batch.column("turn").to_pylist()
        for conversation_hash, language, turn in zip(hashes, languages, turns, strict=True):
            priority = hashlib.blake2b(f"{seed}:{conversation_hash}".encode(), digest_size=8).digest()
            strata.setdefault((language or "unknown", _turn_bucket(turn or 0)), []).append(
                (priority, conversation_hash)
            )
    queues = [
        sorted(members) for _, members in sorted(strata.items(), key=lambda item: (-len(item[1]), item[0]))
    ]
    chosen: list[str] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0)[1])
    return chosen


def pilot_report(store: RunStore, examples: int = 3) -> str:
    """Answer lengths, flags and a few answers of a finished pilot run, for a person to read."""
    import statistics

    lengths, samples = [], []
    for path in store.output_files():
        for row in pq.read_table(path).to_pylist():
            conversation = row["conversation"]
            for turn in turns_of(conversation):
                answer = conversation[turn.answer_position] if turn.answer_position is not None else None
                if answer is None or answer["content"] is None:
                    continue
                lengths.append(len(answer["content"]))
                if len(samples) < examples and turn.index == 0:
                    samples.append((row["language"], conversation[turn.user_position]["content"], answer))
    if not lengths:
        return "  no answers to show"
    ordered = sorted(lengths)
    lines = [
        f"  answer length (characters): mean {statistics.fmean(lengths):,.0f}, "
        f"median {ordered[len(ordered) // 2]:,}, p95 {ordered[int(0.95 * (len(ordered) - 1))]:,}, "
        f"max {ordered[-1]:,}",
        "  a few answers:",
    ]
    for language, prompt, answer in samples:
        lines.append(f"  - [{language}] {_one_line(prompt, 90)}")
        lines.append(
            f"    -> ({answer['finish_reason']}, {answer['completion_tokens']} tokens, "
            f"flags: {', '.join(answer['flags']) or 'none'}) {_one_line(answer['content'], 160)}"
        )
    return "\n".join(lines)


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
