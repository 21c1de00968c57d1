"""LLM judgments: a judge model scores each answer of a target (a DGM's config or run) on one factor.

As in the paper (section 3.3), the judge writes a short judgment ending in
``Score: <n>`` (1-10), and the probability of every score is read from the
top logprobs of the token after ``Score: ``. Data flows one way::

    target rows (output schema) -> staged judgment inputs (shards by conversation_hash)
      -> judge requests (one per answered user turn) -> engine (top logprobs)
      -> journaled raw results -> judgment rows (schema.JUDGMENT_SCHEMA) -> atomic shards + manifest

The run store's guarantees hold: shards are committed atomically, finished
requests are journaled and not sent again after a kill, and the manifest
counts every status. A judgment whose text holds no parsable score is stored
as ``unparsed`` with its raw text, never as a zero.

Reading the score distribution:

* ``generated``: the judge's own text holds ``Score: <n>``; the distribution
  comes from the top logprobs at the position of ``<n>``.
* ``forced_prefix``: the text holds no score (tiny or unruly judges), or the
  score shares a token with other text. A second request continues the
  judgment with ``"\\nScore: "`` as the start of the assistant message and the
  distribution is read at the first continued token. The row says so in
  ``score_source``; its ``score`` stays null.
* A score token is one whose text, stripped of whitespace, is ``1`` .. ``10``.
  Where ``10`` is not a single token (e.g. tokenizers that split digits), it
  is ``1`` followed by ``0``: the mass of ``1`` is split with the probability
  ``q`` that ``0`` follows. ``q`` is read at the next generated position when
  the judge wrote ``1`` there, else from one more continued request
  (``...Score: 1``) -- flag ``ten_probed``. If ``q`` cannot be had, the flag
  is ``ten_unresolved``.
* The ten probabilities are normalised over the score tokens seen (the raw
  mass on score tokens is kept in ``score_mass``): a proper distribution when
  all ten scores were among the top logprobs; otherwise the missing scores are
  listed and the row is flagged ``renormalised``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from wildchat50m import __version__, layout
from wildchat50m.engines.base import ChatRequest, ChatResult, Engine, Sampling, TokenLogprob, is_transient
from wildchat50m.errors import WildChat50mError
from wildchat50m.requests import turn_key, turns_of
from wildchat50m.resources import cards_dir, package_path
from wildchat50m.runstore import RUN_FILE, Journal, RunStore, file_sha256
from wildchat50m.schema import JUDGE_SCORES, JUDGMENT_SCHEMA, OUTPUT_SCHEMA
from wildchat50m.source import shard_of

#: Config names of judgment runs start with this, so they never collide with a DGM's config.
PROMPT_TEMPLATE = "judge_prompt.md.j2"
SCORE_PREFIX = "Score: "
#: The last ``Score: <n>`` of a judgment; ``10`` is tried before ``1``, ``100`` is no score.
SCORE_PATTERN = re.compile(r"Score:\s*(10|[1-9])(?!\d)")

STATUS_PARSED = "parsed"
STATUS_UNPARSED = "unparsed"
STATUS_JUDGE_ERROR = "judge_error"
STATUS_NO_ANSWER = "no_answer"
STATUSES = (STATUS_PARSED, STATUS_UNPARSED, STATUS_JUDGE_ERROR, STATUS_NO_ANSWER)

SOURCE_GENERATED = "generated"
SOURCE_FORCED = "forced_prefix"


class JudgingError(WildChat50mError):
    """The judgment run cannot start as asked; the message says what to do."""


class JudgingIncomplete(WildChat50mError):
    """Some judge requests failed transiently; they were not stored, and a re-run sends them again."""


# ---------------------------------------------------------------- factors


@dataclass(frozen=True)
class Factor:
    """One judging factor: its name, a one-line description and the rubric the judge reads."""

    name: str
    description: str
    rubric: str

    @property
    def slug(self) -> str:
        """The factor as it appears in a config name: ``Logical Correctness`` -> ``Logical-Correctness``."""
        return re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-")


def factors_file() -> Path:
    """The factors shipped with the package."""
    return package_path("wildchat50m.data") / "factors.yaml"


def _read_factors(path: Path) -> list[tuple[Factor, bool]]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise JudgingError(f"{path}: cannot read the factors file: {error}") from error
    entries = data.get("factors") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise JudgingError(f"{path}: expected a top-level 'factors:' list")
    factors = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise JudgingError(f"{path}: factor #{number} is not a mapping")
        missing = [k for k in ("name", "description", "rubric") if not str(entry.get(k) or "").strip()]
        if missing:
            raise JudgingError(f"{path}: factor #{number} lacks {', '.join(missing)}")
        factor = Factor(str(entry["name"]).strip(), str(entry["description"]).strip(), str(entry["rubric"]))
        factors.append((factor, bool(entry.get("override", False))))
    return factors


def load_factors(extra_files: Iterable[Path] = ()) -> dict[str, Factor]:
    """The packaged factors, then each extra file's: new names are added, reused ones need ``override``."""
    factors = {factor.name: factor for factor, _ in _read_factors(factors_file())}
    for path in extra_files:
        for factor, override in _read_factors(Path(path)):
            if factor.name in factors and not override:
                raise JudgingError(
                    f"{path}: factor {factor.name!r} already exists; add 'override: true' to replace it"
                )
            factors[factor.name] = factor
    return factors


def get_factor(factors: Mapping[str, Factor], name: str) -> Factor:
    """A factor by name (case and separators ignored)."""
    wanted = re.sub(r"[^a-z0-9]", "", name.lower())
    for factor in factors.values():
        if re.sub(r"[^a-z0-9]", "", factor.name.lower()) == wanted:
            return factor
    raise JudgingError(
        f"unknown factor {name!r}; known: {', '.join(factors)} (or add one with --factors FILE)"
    )


# ---------------------------------------------------------------- prompt


def judge_messages(factor: Factor, question: str, answer: str, max_chars: int) -> tuple[list[dict], bool]:
    """The judge's chat messages for one answer, and whether question or answer had to be cut.

    Each text longer than ``max_chars`` keeps its head and tail around a
    ``[...]`` marker, so the judge sees how the answer starts and ends.
    """
    import jinja2

    cut = False

    def fit(text: str) -> str:
        nonlocal cut
        if len(text) <= max_chars:
            return text
        cut = True
        half = max(1, max_chars // 2)
        return f"{text[:half]}\n[...]\n{text[-half:]}"

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(cards_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )
    prompt = environment.get_template(PROMPT_TEMPLATE).render(
        factor=factor, question=fit(question), answer=fit(answer)
    )
    return [{"role": "user", "content": prompt}], cut


# ---------------------------------------------------------------- scores


def parse_score(text: str | None) -> tuple[int | None, int | None]:
    """The last ``Score: <n>`` of ``text``: (score, offset of its first digit), or (None, None)."""
    if not text:
        return None, None
    matches = list(SCORE_PATTERN.finditer(text))
    if not matches:
        return None, None
    last = matches[-1]
    return int(last.group(1)), last.start(1)


def _score_of_token(token: str) -> int | None:
    stripped = token.strip()
    if stripped.isdigit() and stripped == str(int(stripped)) and 1 <= int(stripped) <= 10:
        return int(stripped)
    return None


def zero_follows(top: Sequence[tuple[str, float]]) -> float:
    """Probability that the next token starts with ``0`` (``1`` then ``0`` spells ``10``)."""
    return sum(math.exp(logprob) for token, logprob in top if token.startswith("0"))


@dataclass
class ScoreDistribution:
    """The judge's probability of each score 1-10 at one position."""

    probs: list[float] | None
    mass: float
    missing: list[int]
    flags: list[str]

    @property
    def expected(self) -> float | None:
        if self.probs is None:
            return None
        return sum(score * p for score, p in zip(JUDGE_SCORES, self.probs, strict=True))


def score_distribution(
    top: Sequence[tuple[str, float]], ten_continuation: float | None = None
) -> ScoreDistribution:
    """The distribution over scores 1-10 from the top logprobs ``(token, logprob)`` at the score position.

    ``ten_continuation`` is the probability that ``0`` follows a ``1`` token
    (see the module notes); it matters only when ``10`` is not itself among
    the tokens, i.e. the tokenizer spells 10 with two tokens.
    """
    mass = dict.fromkeys(JUDGE_SCORES, 0.0)
    seen: set[int] = set()
    for token, logprob in top:
        score = _score_of_token(token)
        if score is not None and math.isfinite(logprob):
            mass[score] += math.exp(logprob)
            seen.add(score)
    flags: list[str] = []
    if 1 in seen and 10 not in seen:
        if ten_continuation is None:
            flags.append("ten_unresolved")
        else:
            q = min(max(ten_continuation, 0.0), 1.0)
            mass[10], mass[1] = mass[1] * q, mass[1] * (1 - q)
            if mass[10] > 0:
                seen.add(10)
    total = sum(mass.values())
    missing = [score for score in JUDGE_SCORES if score not in seen]
    if total <= 0:
        return ScoreDistribution(None, 0.0, list(JUDGE_SCORES), [*flags, "no_score_tokens"])
    if missing:
        flags.append("renormalised")
    return ScoreDistribution([mass[s] / total for s in JUDGE_SCORES], total, missing, flags)


def locate_score_token(tokens: Sequence[TokenLogprob]) -> tuple[int | None, bool]:
    """Index of the generated token that starts the last ``Score: <n>``, and whether it is clean.

    The score is searched in the concatenated token texts, so offsets map to
    tokens exactly. Clean means the token holds nothing but whitespace before
    the digit; otherwise its alternatives are not alternative scores.
    """
    text = "".join(token.token for token in tokens)
    _, offset = parse_score(text)
    if offset is None:
        return None, False
    start = 0
    for index, token in enumerate(tokens):
        end = start + len(token.token)
        if start <= offset < end:
            return index, not token.token[: offset - start].strip()
        start = end
    return None, False


# ---------------------------------------------------------------- raw results


class Entry(dict):
    """A journaled raw result, kept as a plain dict (the journal stores ``to_dict()``)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self)


def _top(token: TokenLogprob) -> list[list[Any]]:
    return [[text, logprob] for text, logprob in token.top]


def judgment_entry(result: ChatResult) -> Entry:
    """What is kept of the judge's answer: text, counts, and the top logprobs at the score position."""
    entry = Entry(
        text=None if result.failed else result.text,
        finish_reason=result.finish_reason,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        error=result.error,
        score_top=None,
        ten_top=None,
        logprobs_missing=False,
    )
    if result.failed or parse_score(result.text)[0] is None:
        return entry
    tokens = result.token_logprobs
    if not tokens or not any(token.top for token in tokens):
        entry["logprobs_missing"] = True
        return entry
    index, clean = locate_score_token(tokens)
    if index is None or not clean:
        return entry
    entry["score_top"] = _top(tokens[index])
    if _score_of_token(tokens[index].token) == 1 and index + 1 < len(tokens):
        entry["ten_top"] = _top(tokens[index + 1])
    return entry


def probe_entry(result: ChatResult) -> Entry:
    """A continued request's first token alternatives (and the next ones, when it wrote ``1``)."""
    tokens = result.token_logprobs or []
    entry = Entry(error=result.error, score_top=None, ten_top=None)
    if result.failed or not tokens:
        return entry
    entry["score_top"] = _top(tokens[0])
    if _score_of_token(tokens[0].token) == 1 and len(tokens) > 1:
        entry["ten_top"] = _top(tokens[1])
    return entry


def _pairs(top: Any) -> list[tuple[str, float]]:
    return [(str(text), float(logprob)) for text, logprob in top or []]


def _needs_ten_probe(top: Any, ten_top: Any) -> bool:
    scores = {_score_of_token(text) for text, _ in _pairs(top)}
    return ten_top is None and 1 in scores and 10 not in scores


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
    limit: int | None = None
    num_shards: int = 4
    engine_options: dict[str, Any] = field(default_factory=dict)
    kind: str = "judgment"

    @property
    def config(self) -> str:
        return judgment_config_name(self.factor, self.judge, self.target)

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


def judgment_config_name(factor: str, judge: str, target: str) -> str:
    """``judgments--<factor>--<judge>--<target>``: the config of one judgment run."""
    return layout.judgment_config_name(Factor(factor, "", "").slug, judge, target)


def target_files(target: Path) -> tuple[str, list[Path]]:
    """The target's config name and its parquet files: a run directory or a repository config folder.

    A run directory holds ``run.json`` and ``data/shard-*.parquet``; a
    repository config is ``REPO/data/<config>/`` with ``train-*.parquet``.
    """
    import json

    target = Path(target)
    if (target / RUN_FILE).exists():
        params = json.loads((target / RUN_FILE).read_text(encoding="utf-8"))
        if params.get("kind") == "judgment":
            raise JudgingError(f"{target} is a judgment run; judge a DGM's run or config")
        files = sorted((target / "data").glob("shard-*.parquet"))
        shards = int(params.get("num_shards") or 0)
        if len(files) != shards:
            raise JudgingError(f"{target}: {len(files)} of {shards} shards finished; finish the run first")
        return str(params["dgm"]), files
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
class JudgmentStats:
    """What one finished judgment shard holds, for the manifest."""

    conversations: int = 0
    rows: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generation_seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    score_sources: Counter[str] = field(default_factory=Counter)
    distribution_flags: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "judgments": self.rows,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "generation_seconds": round(self.generation_seconds, 3),
            "statuses": dict(self.statuses),
            "score_sources": dict(self.score_sources),
            "distribution_flags": dict(self.distribution_flags),
            "errors": dict(self.errors),
        }


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
    turn: int
    messages: list[dict[str, str]] | None
    cut: bool


class JudgmentJob:
    """Judge every answered user turn of one target with one judge on one factor; safe to kill and re-run."""

    def __init__(
        self,
        settings: JudgeSettings,
        out: Path,
        engine_factory: Callable[[], Engine],
        *,
        progress: bool = False,
        log: Callable[[str], None] = lambda _message: None,
    ):
        self.settings = settings
        self.store = RunStore(Path(out) / settings.config)
        self.engine_factory = engine_factory
        self.progress = progress
        self.log = log
        self._engine: Engine | None = None

    def run(self) -> dict[str, Any]:
        """Stage, judge every unfinished shard, write and return the manifest."""
        pending = self.prepare()
        try:
            for index in pending:
                self.run_shard(index)
        finally:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
        return write_judgment_manifest(self.store)

    def prepare(self) -> list[int]:
        """Record the parameters, stage the target's rows once, and list the unfinished shards."""
        settings = self.settings
        params = {k: v for k, v in asdict(settings).items() if k != "engine_options"}
        params["config"] = settings.config
        params["engine_options"] = {
            k: v for k, v in settings.engine_options.items() if k in ("dtype", "quantization")
        }
        self.store.claim(params)
        job = (0, 1)
        shards = list(range(settings.num_shards))
        if not self.store.is_staged(job):
            files = [Path(settings.target_path) / name for name in settings.target_files]
            chosen, total = _chosen_hashes(files, settings.limit)
            self.log(f"staging {len(chosen):,} of {total:,} conversations of {settings.target}")

            def batches() -> Iterator[Any]:
                import pyarrow as pa
                import pyarrow.compute as pc

                allowed = pa.array(sorted(chosen), pa.string())
                for path in files:  # one file of the target in memory at a time
                    table = pq.read_table(path, schema=OUTPUT_SCHEMA)
                    yield from table.filter(
                        pc.is_in(table["conversation_hash"], value_set=allowed)
                    ).to_batches()

            self.store.stage(
                batches(),
                job,
                shards,
                settings.num_shards,
                shard_of,
                lambda: _Selection(total, len(chosen)),
                schema=OUTPUT_SCHEMA,
            )
        return [k for k in shards if not self.store.is_done(k, settings.num_shards)]

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self.engine_factory()
        return self._engine

    def run_shard(self, index: int) -> JudgmentStats:
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

        transient: Counter[str] = Counter()
        with tqdm(unit=" judgments", disable=not self.progress, mininterval=0.5) as bar:
            for result in self.engine.generate(requests):
                if is_transient(result.error):
                    transient[result.error or ""] += 1
                    continue
                journal.append(result.key, keep(result))
                bar.update(1)
        if transient:
            kinds = ", ".join(f"{kind} x{count}" for kind, count in transient.most_common())
            raise JudgingIncomplete(
                f"{sum(transient.values())} judge request(s) failed transiently ({kinds}) and were not "
                "stored; finished judgments are journaled. Check the engine or server, then run the same "
                "command again."
            )

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
        return source is not None and _needs_ten_probe(source.get("score_top"), source.get("ten_top"))

    # -- records

    def _items(self, rows: list[dict[str, Any]]) -> tuple[list[_Item], dict[str, dict[str, Any]]]:
        settings = self.settings
        factor = settings.factor_entry
        items, answered = [], {}
        for row in rows:
            conversation = row["conversation"]
            for turn in turns_of(conversation):
                key = turn_key(row["conversation_hash"], turn.index)
                answer = conversation[turn.answer_position] if turn.answer_position is not None else None
                if answer is None or answer.get("content") is None:
                    items.append(_Item(key, row["conversation_hash"], turn.index, None, False))
                    continue
                question = conversation[turn.user_position]["content"] or ""
                messages, cut = judge_messages(factor, question, answer["content"], settings.max_chars)
                items.append(_Item(key, row["conversation_hash"], turn.index, messages, cut))
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
            stats.rows += 1
            stats.statuses[record["status"]] += 1
            stats.prompt_tokens += record["prompt_tokens"] or 0
            stats.completion_tokens += record["completion_tokens"] or 0
            if record["score_source"]:
                stats.score_sources[record["score_source"]] += 1
            stats.distribution_flags.update(record["distribution_flags"] or [])
            if record["error"]:
                stats.errors[record["error"]] += 1
        stats.conversations = len({item.conversation_hash for item in items})
        stats.generation_seconds = journal.generation_seconds()
        records.sort(key=lambda r: (r["conversation_hash"], r["turn"]))
        extra = {"engine": self._engine.describe() if self._engine else None, "answered": len(answered)}
        self.store.commit(index, settings.num_shards, records, stats, extra, schema=JUDGMENT_SCHEMA)
        return stats

    def _record(self, item: _Item, entries: Mapping[str, Any]) -> dict[str, Any]:
        settings = self.settings
        record: dict[str, Any] = {
            "conversation_hash": item.conversation_hash,
            "turn": item.turn,
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
            return {**record, "status": STATUS_NO_ANSWER}
        entry = entries[item.key]
        record.update(
            judgment=entry["text"],
            finish_reason=entry["finish_reason"],
            prompt_tokens=entry["prompt_tokens"],
            completion_tokens=entry["completion_tokens"],
            error=entry["error"],
        )
        if entry["text"] is None:
            return {**record, "status": STATUS_JUDGE_ERROR}
        score, _ = parse_score(entry["text"])
        record["status"] = STATUS_PARSED if score is not None else STATUS_UNPARSED
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
            _pairs(source["score_top"]), None if ten_top is None else zero_follows(_pairs(ten_top))
        )
        record.update(
            score_probs=distribution.probs,
            expected_score=distribution.expected,
            score_mass=distribution.mass,
            score_source=SOURCE_GENERATED if source is entry else SOURCE_FORCED,
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


# ---------------------------------------------------------------- manifest


def build_judgment_manifest(store: RunStore) -> dict[str, Any]:
    """The judgment run's manifest: parameters, counts by status, flag and error, throughput."""
    from wildchat50m.generate import library_versions

    params = store.params()
    markers = store.markers()
    staged = store.staged_reports()
    statuses: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for marker in markers:
        for key in ("conversations", "judgments", "prompt_tokens", "completion_tokens"):
            totals[key] += marker[key]
        totals["seconds"] += marker["generation_seconds"]
        statuses.update(marker["statuses"])
        sources.update(marker["score_sources"])
        flags.update(marker["distribution_flags"])
        errors.update(marker["errors"])
    seconds = totals["seconds"]
    tokens = totals["prompt_tokens"] + totals["completion_tokens"]
    engines = [m["engine"] for m in markers if m.get("engine")]
    return {
        "wildchat50m_version": __version__,
        "kind": "judgment",
        "params": params,
        "shards": {"total": params["num_shards"], "finished": len(markers)},
        "input": staged[0]["reader"] if staged else {},
        "conversations": totals["conversations"],
        "judgments": totals["judgments"],
        "statuses": {status: statuses.get(status, 0) for status in STATUSES},
        "score_sources": dict(sorted(sources.items())),
        "distribution_flags": dict(sorted(flags.items())),
        "errors": dict(sorted(errors.items())),
        "prompt_tokens": totals["prompt_tokens"],
        "completion_tokens": totals["completion_tokens"],
        "throughput": {
            "generation_seconds": round(seconds, 3),
            "tokens_per_second": round(tokens / seconds, 2) if seconds else None,
        },
        "engine": engines[0] if engines else None,
        "libraries": library_versions(),
    }


def write_judgment_manifest(store: RunStore) -> dict[str, Any]:
    return store.write_manifest(build_judgment_manifest(store))


def is_judgment_run(run_dir: Path) -> bool:
    import json

    path = Path(run_dir) / RUN_FILE
    return path.exists() and json.loads(path.read_text(encoding="utf-8")).get("kind") == "judgment"


# ---------------------------------------------------------------- reading judgments


def judgment_files(path: Path) -> list[Path]:
    """Parquet files of judgments at ``path``: a judgment run, a repository config, or a whole repository.

    A repository contributes every ``data/judgments--*`` config.
    """
    path = Path(path)
    if is_judgment_run(path):
        return sorted((path / "data").glob("shard-*.parquet"))
    if layout.is_judgment_config(path.name):
        return layout.folder_data_files(path)
    repository = layout.Repository(path)
    found = [file for config in repository.judgment_configs() for file in repository.data_files(config)]
    if not found:  # a folder of judgment runs
        found = sorted(path.glob(f"{layout.JUDGMENT_PREFIX}*/data/shard-*.parquet"))
    if not found:
        raise JudgingError(
            f"no judgments at {path}: give a judgment run directory, a repository config folder "
            f"({layout.JUDGMENT_PREFIX}...) or a repository that holds such configs"
        )
    return found


def read_judgments(paths: Sequence[Path], columns: Sequence[str]) -> Any:
    """The judgment rows at ``paths`` (see :func:`judgment_files`) as one Arrow table of ``columns``."""
    import pyarrow as pa

    files = [file for path in paths for file in judgment_files(path)]
    schema = pa.schema([JUDGMENT_SCHEMA.field(name) for name in columns])
    return pa.concat_tables([pq.read_table(file, columns=list(columns)).cast(schema) for file in files])
