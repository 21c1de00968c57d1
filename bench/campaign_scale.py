"""A dress rehearsal of one DGM's campaign at WildChat size: the job's own cost, engine time excluded.

Input: ``--conversations`` conversations (default 15,000; ``--conversations 1000000``
is WildChat-1M's size) in the WildChat schema, with distinct hashes. Their texts and
per-message metadata are the embedded sample's accepted conversations (real
lengths, ten languages, some prompts longer than any context). Their turn counts
follow WildChat-1M's shape, written down from its statistics: ~1M conversations
with ~2.2M user turns, so a geometric number of user turns with mean 2.2 (capped
at 25); a conversation of k turns is the first k turns of a sample conversation
that has at least k.

The run, each stage in a fresh interpreter whose peak RSS is measured:

1. ``generate``: the real job (:class:`~wildchat50m.generate.Generator`: staging,
   prompt fitting, journal, commits, manifest) with its default shard count, history
   ``original``, the tiny-a tokenizer and an engine stand-in that answers at once
   (200 words). A local engine tokenizes a prompt it is not given ids for, so the
   stand-in does too.
2. ``build`` of the config, then ``index`` (the Space's search index), and ``runs
   verify`` when this version has it.

It prints each stage's time and peak RSS, the job's cost per answer over the first
and the last 10% of the answers, and the tokenizer's work: tokens tokenized per
token of the final prompts (``tokenizations_per_answer``: 1.0 is one tokenization
of each final prompt) and calls per answer. ``host_vs_one_tokenization`` is the
job's time per answer over the time to tokenize its final prompt once (measured on
a sample of the final prompts). Its last line of stdout::

    answers_per_s=... tokenizations_per_answer=... host_vs_one_tokenization=... peak_rss_mb=... flat=...

    .venv/bin/python bench/campaign_scale.py [--conversations 15000] [--keep DIR [--from-stage build]]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from _stdout import figures_stream

from wildchat50m.engines.base import ChatRequest, ChatResult, Pause
from wildchat50m.engines.transformers_engine import TransformersTokenizer
from wildchat50m.generate import GenerationSettings, Generator
from wildchat50m.registry import load_registry
from wildchat50m.schema import WILDCHAT_SCHEMA
from wildchat50m.source import ConversationReader
from wildchat50m.synthetic import fake_hash
from wildchat50m.tiny import tiny_chat_model

#: WildChat-1M: ~1M conversations, ~2.2M user turns.
MEAN_USER_TURNS = 2.2
MAX_USER_TURNS = 25
ANSWER = " ".join(f"word{i % 50}" for i in range(200))
#: Final prompts kept to time one tokenization of each (every n-th answer).
TIMED_PROMPTS = 2000

#: Runs a command from a fresh, small interpreter and prints the command's peak RSS (KiB) on stderr
#: (a child's ru_maxrss starts at its spawner's peak, so the spawner must be small).
MEASURED = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


# ---------------------------------------------------------------- input


def write_input(path: Path, conversations: int, seed: int = 0, chunk: int = 10_000) -> int:
    """``conversations`` rows of WildChat's shape (module docstring); returns their user turns."""
    variants: list[dict[str, Any]] = []
    by_turns: dict[int, list[int]] = {}
    for row in ConversationReader(None).rows():
        users = [i for i, m in enumerate(row["conversation"]) if m["role"] == "user"]
        for k in range(1, min(len(users), MAX_USER_TURNS) + 1):
            end = users[k] if k < len(users) else len(row["conversation"])
            variant = {**row, "conversation": row["conversation"][:end], "turn": k}
            for name in ("openai_moderation", "detoxify_moderation"):
                if row.get(name) is not None:
                    variant[name] = row[name][:end]
            by_turns.setdefault(k, []).append(len(variants))
            variants.append(variant)
    table = pa.Table.from_pylist(variants, schema=WILDCHAT_SCHEMA)
    hash_column = WILDCHAT_SCHEMA.get_field_index("conversation_hash")
    rng = random.Random(seed)
    stop = 1 / MEAN_USER_TURNS
    turns = 0
    with pq.ParquetWriter(path, WILDCHAT_SCHEMA, compression="zstd") as writer:
        for start in range(0, conversations, chunk):
            size = min(chunk, conversations - start)
            picks = []
            for _ in range(size):
                k = 1
                while k < MAX_USER_TURNS and rng.random() > stop:
                    k += 1
                while k not in by_turns:
                    k -= 1
                picks.append(rng.choice(by_turns[k]))
                turns += k
            part = distinct_texts(table.take(pa.array(picks)), start)
            hashes = pa.array([fake_hash(seed, "campaign", start + i) for i in range(size)], pa.string())
            writer.write_table(part.set_column(hash_column, "conversation_hash", hashes))
    return turns


def distinct_texts(part: pa.Table, first_row: int) -> pa.Table:
    """``part`` with every message ending in its conversation's number, so that no two conversations
    share a text (WildChat's do not; shared texts would let a tokenization cache look better than it is)."""
    position = part.schema.get_field_index("conversation")
    conversations = part.column(position).combine_chunks()
    messages = conversations.values
    rows = pc.add(pc.list_parent_indices(conversations), first_row)
    numbers = pc.binary_join_element_wise(pa.scalar(" #"), pc.cast(rows, pa.string()), "")
    contents = pc.binary_join_element_wise(messages.field("content"), numbers, "")
    fields = [contents if f.name == "content" else messages.field(f.name) for f in messages.type]
    rebuilt = pa.StructArray.from_arrays(fields, fields=list(messages.type))
    column = pa.ListArray.from_arrays(conversations.offsets, rebuilt, type=conversations.type)
    return part.set_column(position, part.schema.field(position), column)


# ---------------------------------------------------------------- the generate stage


class CountingTokenizer(TransformersTokenizer):
    """A real tokenizer that counts its calls and the tokens they produce."""

    def __init__(self, hf: Any) -> None:
        super().__init__(hf)
        self.calls = 0
        self.tokens = 0

    def chat_ids(self, messages: Any) -> list[int]:
        ids = super().chat_ids(messages)
        self.calls += 1
        self.tokens += len(ids)
        return ids

    def encode(self, text: str) -> list[int]:
        ids = super().encode(text)
        self.calls += 1
        self.tokens += len(ids)
        return ids


class InstantEngine:
    """Answers every request at once with the same 200 words; tokenizes a prompt given without ids."""

    name = "instant"

    def __init__(self, model: str) -> None:
        self._tokenizer = CountingTokenizer(TransformersTokenizer.from_pretrained(model).hf)
        self.answered_at = array("d")
        self.prompt_tokens = 0
        self.timed: list[tuple[dict[str, str], ...]] = []

    @property
    def tokenizer(self) -> CountingTokenizer:
        return self._tokenizer

    def generate(self, requests: Iterable[ChatRequest | Pause]) -> Iterator[ChatResult]:
        for request in requests:
            if not isinstance(request, ChatRequest):
                continue
            ids = getattr(request, "prompt_token_ids", None)
            if ids is None:
                ids = self._tokenizer.chat_ids(list(request.messages))
            self.prompt_tokens += len(ids)
            if len(self.answered_at) % 50 == 0 and len(self.timed) < TIMED_PROMPTS:
                self.timed.append(request.messages)
            self.answered_at.append(time.perf_counter())
            yield ChatResult(request.key, ANSWER, "stop", len(ids), 200)

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name}

    def close(self) -> None:
        return None


def generate_stage(source: Path, out: Path, stats_path: Path) -> None:
    """The job over ``source`` into ``out`` with the instant engine; writes its figures to ``stats_path``."""
    dgm = load_registry().get("tiny-a")
    model = str(tiny_chat_model("tiny-a"))
    engine = InstantEngine(model)
    settings = GenerationSettings.for_dgm(dgm, model=model, engine="instant")
    num_shards = default_num_shards(source)
    settings = GenerationSettings(**{**settings.__dict__, "num_shards": num_shards})
    started = time.perf_counter()
    Generator(settings, out, ConversationReader(str(source)), lambda: engine).run()
    seconds = time.perf_counter() - started
    calls, tokens = engine.tokenizer.calls, engine.tokenizer.tokens
    times = engine.answered_at
    answers = len(times)
    tenth = max(1, answers // 10)
    first = (times[tenth - 1] - times[0]) / max(1, tenth - 1)
    last = (times[-1] - times[answers - tenth]) / max(1, tenth - 1)
    timer = time.perf_counter()
    for messages in engine.timed:
        TransformersTokenizer.chat_ids(engine.tokenizer, list(messages))
    one_tokenization = (time.perf_counter() - timer) / max(1, len(engine.timed))
    figures = {
        "seconds": seconds,
        "answers": answers,
        "num_shards": num_shards,
        "tokenizer_calls": calls,
        "tokens_tokenized": tokens,
        "final_prompt_tokens": engine.prompt_tokens,
        "first_tenth_ms": 1000 * first,
        "last_tenth_ms": 1000 * last,
        "one_tokenization_ms": 1000 * one_tokenization,
    }
    stats_path.write_text(json.dumps(figures), encoding="utf-8")


def default_num_shards(source: Path) -> int:
    """The shard count ``wildchat50m generate`` would choose here (16 before it followed the input)."""
    try:
        from wildchat50m.generate import shards_for
    except ImportError:
        return 16
    return shards_for(pq.ParquetFile(source).metadata.num_rows)


# ---------------------------------------------------------------- driver


#: The stages in their order (``runs verify`` only when this version has the command).
STAGES = ("generate", "build", "index", "runs verify")


def earlier_stages(log: Path, first: str, conversations: int, source: Path) -> dict[str, tuple[float, float]]:
    """The figures of the stages before ``first``, as an earlier rehearsal in this directory measured them."""
    wanted = STAGES[: STAGES.index(first)]
    if not wanted:
        return {}
    recorded = json.loads(log.read_text(encoding="utf-8")) if log.exists() else {}
    missing = [name for name in wanted if name not in recorded]
    if missing or not source.exists():
        raise SystemExit(
            f"{log.parent} holds no finished {', '.join(missing) or 'input'} stage of an earlier "
            "rehearsal; run it without --from-stage first"
        )
    if recorded.get("conversations") != conversations:
        raise SystemExit(
            f"{log.parent} was a rehearsal of {recorded.get('conversations')} conversations, not "
            f"{conversations}; pass --conversations {recorded.get('conversations')}"
        )
    return {name: tuple(recorded[name]) for name in wanted}


def measured(command: list[str]) -> tuple[float, float]:
    """Run ``command`` from a fresh interpreter: (seconds, peak RSS in MB)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", MEASURED, *command], stdout=sys.stderr, stderr=subprocess.PIPE, text=True
    )
    seconds = time.perf_counter() - started
    sys.stderr.write(result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"stage failed ({result.returncode}): {' '.join(command)}")
    return seconds, int(result.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=15_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: temporary)")
    parser.add_argument(
        "--from-stage",
        choices=STAGES,
        default=STAGES[0],
        help="with --keep: reuse the input and the earlier stages' outputs and figures in that "
        "directory and measure from this stage on (e.g. a build again after a change to the build)",
    )
    parser.add_argument(
        "--stage-generate", nargs=3, metavar=("SOURCE", "OUT", "STATS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.stage_generate:
        generate_stage(*map(Path, args.stage_generate))
        return
    if args.from_stage != STAGES[0] and args.keep is None:
        parser.error("--from-stage needs --keep DIR: the directory of an earlier rehearsal")
    figures = figures_stream()
    work = args.keep or Path(tempfile.mkdtemp(prefix="wildchat50m-campaign-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        source, runs, repo, stats = work / "input.parquet", work / "runs", work / "repo", work / "stats.json"
        stage_log = work / "stages.json"
        reused = earlier_stages(stage_log, args.from_stage, args.conversations, source)
        if args.from_stage == STAGES[0]:
            started = time.perf_counter()
            turns = write_input(source, args.conversations, args.seed)
            print(
                f"input: {args.conversations:,} conversations, {turns:,} user turns "
                f"({time.perf_counter() - started:.0f} s to write)",
                file=figures,
            )
        cli = [sys.executable, "-m", "wildchat50m"]
        stages = {
            "generate": [sys.executable, __file__, "--stage-generate", str(source), str(runs), str(stats)],
            "build": [*cli, "build", str(runs / "tiny-a"), "--repo", str(repo)],
            "index": [*cli, "index", str(repo), "--answers", "tiny-a"],
        }
        verify = subprocess.run([*cli, "runs", "verify", "--help"], capture_output=True)
        if verify.returncode == 0:
            stages["runs verify"] = [*cli, "runs", "verify", str(runs / "tiny-a")]
        peaks = {}
        for name, command in stages.items():
            if name in reused:
                seconds, peak = reused[name]
                note = "   (measured before, reused)"
            else:
                if name == "build":
                    shutil.rmtree(repo, ignore_errors=True)  # a build from scratch, as at first
                seconds, peak = measured(command)
                note = ""
                log = json.loads(stage_log.read_text(encoding="utf-8")) if stage_log.exists() else {}
                log = {**log, "conversations": args.conversations, name: [seconds, peak]}
                stage_log.write_text(json.dumps(log), encoding="utf-8")
            peaks[name] = peak
            print(f"{name:<12} {seconds:8.1f} s   peak RSS {peak:8,.0f} MB{note}", file=figures)
        job = json.loads(stats.read_text(encoding="utf-8"))
        answers = job["answers"]
        per_answer_ms = 1000 * job["seconds"] / answers
        print(
            f"generate: {answers:,} answers in {job['num_shards']} shards, "
            f"{per_answer_ms:.3f} ms per answer; first 10% {job['first_tenth_ms']:.3f} ms, "
            f"last 10% {job['last_tenth_ms']:.3f} ms per answer",
            file=figures,
        )
        print(
            f"tokenizer: {job['tokenizer_calls'] / answers:.2f} calls per answer, "
            f"{job['tokens_tokenized']:,} tokens tokenized for "
            f"{job['final_prompt_tokens']:,} final prompt tokens; "
            f"one tokenization of a final prompt {job['one_tokenization_ms']:.3f} ms",
            file=figures,
        )
        flat = job["last_tenth_ms"] / job["first_tenth_ms"] if job["first_tenth_ms"] else math.nan
        print(
            f"answers_per_s={answers / job['seconds']:.0f} "
            f"tokenizations_per_answer={job['tokens_tokenized'] / job['final_prompt_tokens']:.3f} "
            f"host_vs_one_tokenization={per_answer_ms / job['one_tokenization_ms']:.2f} "
            f"peak_rss_mb={max(peaks.values()):.0f} flat={flat:.2f}",
            file=figures,
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
