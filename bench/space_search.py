"""How fast the Space searches a million conversations, and how long their index takes to build.

Writes (once, cached outside the clone) a synthetic repository in the
builder's layout (its shard writer, sorted by hash): config ``synthetic-a``
holds 1,000,000 conversations, ``synthetic-b`` about 62% of them, so the
"held by" filter has work to do. The user turns are prompts composed from the
embedded sample's phrase banks (tools/make_sample.py: its templates, slots
and sentences in 12 languages); configs share them and answers are one short
sentence, so the data stays small. Then builds the search index from scratch
(``build_s``), and runs 200 queries of 1 to 4 words taken from the prompts,
some as "phrases", some as prefix*, some with language, turn, toxic and
"held by" filters, through the Space's own search (``RepositoryLookup.find``).
For comparison, the search without an index (DuckDB, today's fallback) runs
on a few queries in the same process.

    python bench/space_search.py                       # 1,000,000 conversations
    python bench/space_search.py --conversations 100000 --baseline-queries 0

Last line: ``search p50=<ms> p95=<ms> build_s=<s> index_mb=<mb>`` (goals: p95 <= 100 ms,
build <= 10 min on 2 cores).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from wildchat50m.builders.repository import write_sorted_shards
from wildchat50m.builders.search_index import INDEX_DIR, build_index, query_terms
from wildchat50m.spaces.viewer.lookup import RepositoryLookup, SearchFilters, local_files

from wildchat50m.schema import OUTPUT_MESSAGE, OUTPUT_SCHEMA

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import make_sample

CONFIGS = ("synthetic-a", "synthetic-b")
TURN_WEIGHTS = {1: 55, 2: 25, 3: 12, 4: 8}


def prompt_pool(rng: random.Random, per_language: int) -> dict[str, list[str]]:
    """Prompts per language: a sample template filled by the sample's own slot filler, plus sentences."""
    pool: dict[str, list[str]] = {}
    for name, bank in make_sample.BANKS.items():
        templates = [*bank.openers, *bank.followups]
        prompts = []
        for _ in range(per_language):
            prompt, _ = make_sample.fill(rng.choice(templates), rng, bank, prev=rng.choice(bank.sentences))
            extra = rng.sample(bank.sentences, k=min(len(bank.sentences), rng.randint(0, 3)))
            prompts.append(make_sample.join_sentences(name, [prompt, *extra]))
        pool[name] = prompts
    return pool


def conversations_table(count: int, seed: int) -> tuple[pa.Table, list[str]]:
    """``count`` answered conversations (sorted by hash) and the prompts they were made of."""
    rng = random.Random(seed)
    generator = np.random.default_rng(seed)
    pool = prompt_pool(rng, 2000)
    languages = list(make_sample.LANGUAGE_COUNTS)
    weights = np.array([make_sample.LANGUAGE_COUNTS[name] for name in languages], dtype=float)
    texts = [prompt for name in languages for prompt in pool[name]]
    first_of = np.cumsum([0] + [len(pool[name]) for name in languages])
    answers = [s for bank in make_sample.BANKS.values() for s in bank.sentences]

    language = generator.choice(len(languages), size=count, p=weights / weights.sum())
    turns = generator.choice(list(TURN_WEIGHTS), size=count, p=np.array(list(TURN_WEIGHTS.values())) / 100)
    messages = 2 * turns
    offsets = np.concatenate([[0], np.cumsum(messages)]).astype(np.int32)
    owner = np.repeat(np.arange(count), messages)
    is_user = (np.arange(len(owner)) - offsets[owner]) % 2 == 0
    sizes = first_of[language + 1] - first_of[language]
    prompt_index = first_of[language][owner] + (generator.random(len(owner)) * sizes[owner]).astype(np.int64)
    answer_index = generator.integers(0, len(answers), size=len(owner))
    content = pc.if_else(
        pa.array(is_user),
        pa.array(texts).take(pa.array(prompt_index)),
        pa.array(answers).take(pa.array(answer_index)),
    )
    role = pc.if_else(pa.array(is_user), "user", "assistant")
    values = {
        "content": content,
        "role": role,
        "language": pa.array(languages).take(pa.array(language[owner])),
        "finish_reason": pc.if_else(pa.array(is_user), pa.scalar(None, pa.string()), "stop"),
    }
    fields = [
        values[f.name].cast(f.type) if f.name in values else pa.nulls(len(owner), f.type)
        for f in OUTPUT_MESSAGE
    ]
    struct = pa.StructArray.from_arrays(fields, fields=list(OUTPUT_MESSAGE))
    hashes = [hashlib.md5(f"{seed}-{i}".encode()).hexdigest() for i in range(count)]
    columns = {
        "conversation_hash": pa.array(hashes),
        "conversation": pa.ListArray.from_arrays(pa.array(offsets), struct),
        "turn": pa.array(turns.astype(np.int64)),
        "language": pa.array(languages).take(pa.array(language)),
        "toxic": pa.array(generator.random(count) < 0.05),
        "redacted": pa.array(np.zeros(count, dtype=bool)),
        "history_mode": pa.array(["original"] * count),
    }
    table = pa.table(
        [columns[f.name] if f.name in columns else pa.nulls(count, f.type) for f in OUTPUT_SCHEMA],
        schema=OUTPUT_SCHEMA,
    )
    return table.sort_by("conversation_hash"), texts


def build_repository(repo: Path, count: int, seed: int) -> list[str]:
    """The synthetic repository (kept between runs); returns the prompts its conversations use."""
    table, texts = conversations_table(count, seed)
    if not all((repo / "data" / config).is_dir() for config in CONFIGS):
        shutil.rmtree(repo, ignore_errors=True)
        for config in CONFIGS:
            rows = table
            if config == "synthetic-b":  # about 10/16 of the conversations
                rows = table.filter(pc.less(pc.utf8_slice_codeunits(table["conversation_hash"], 0, 1), "a"))
            rows = rows.set_column(
                rows.schema.get_field_index("dgm"), "dgm", pa.array([config] * rows.num_rows)
            )
            staged = repo / "data" / f".{config}.partial"
            write_sorted_shards(rows, staged)
            staged.rename(repo / "data" / config)
    return texts


def make_queries(texts: list[str], languages: list[str], count: int, seed: int) -> list[SearchFilters]:
    """1-4 words from the prompts; a quarter phrases, a tenth prefixes, a third with filters."""
    rng = random.Random(seed)
    queries = []
    while len(queries) < count:
        terms = query_terms(rng.choice(texts))
        if not terms:
            continue
        size = rng.randint(1, min(4, len(terms)))
        start = rng.randrange(len(terms) - size + 1)
        words = " ".join(terms[start : start + size])
        roll = rng.random()
        if roll < 0.25 and size > 1:
            words = f'"{words}"'
        elif roll < 0.35:
            words = f"{words[: max(2, len(words) - 2)]}*" if size == 1 else f"{words}*"
        filters = {}
        if rng.random() < 0.33:
            filters = rng.choice(
                [
                    {"language": rng.choice(languages)},
                    {"min_turns": 2, "max_turns": 3},
                    {"having": ("synthetic-b",)},
                    {"include_toxic": True, "having": ("synthetic-a", "synthetic-b")},
                ]
            )
        queries.append(SearchFilters(words=words, **filters))
    return queries


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--baseline-queries", type=int, default=2, help="searches without the index to time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("WILDCHAT50M_CACHE", Path.home() / ".cache" / "wildchat50m")) / "bench",
    )
    args = parser.parse_args()
    repo = args.cache / f"space-search-{args.conversations}-seed{args.seed}"
    started = time.perf_counter()
    texts = build_repository(repo, args.conversations, args.seed)
    ready = time.perf_counter() - started
    print(f"repository {repo}: {args.conversations:,} conversations (ready in {ready:.0f} s)")

    shutil.rmtree(repo / INDEX_DIR, ignore_errors=True)
    report = build_index(repo)
    index_mb = report.size_bytes / 1e6
    print(f"index: {report.conversations:,} conversations in {report.seconds:.1f} s, {index_mb:.0f} MB")

    repository = RepositoryLookup(local_files(repo))
    assert repository.index is not None, repository.index_status
    queries = make_queries(texts, sorted(repository.languages()), args.queries, args.seed)
    repository.find(queries[0])  # warm: the first query maps the index files
    timings, totals = [], []
    for filters in queries:
        begun = time.perf_counter()
        page = repository.find(filters, page_size=50)
        timings.append((time.perf_counter() - begun) * 1000)
        totals.append(page.total or 0)
    p50, p95 = statistics.median(timings), float(np.percentile(timings, 95))
    print(
        f"{len(queries)} queries: median {statistics.median(totals):,.0f} matches "
        f"(max {max(totals):,}, none for {sum(1 for t in totals if not t)})"
    )
    if args.baseline_queries:
        fallback = RepositoryLookup(local_files(repo))
        fallback.index, fallback.index_status = None, "benchmark baseline"
        slow = []
        for filters in queries[: args.baseline_queries]:
            begun = time.perf_counter()
            fallback.find(SearchFilters(words=filters.words.strip('"*'), include_toxic=True))
            slow.append((time.perf_counter() - begun) * 1000)
        print(f"without the index (DuckDB scan): median {statistics.median(slow):,.0f} ms per query")
    print(f"search p50={p50:.1f} p95={p95:.1f} build_s={report.seconds:.0f} index_mb={index_mb:.0f}")


if __name__ == "__main__":
    main()
