"""Which full-text engine the Space's index uses: tantivy against SQLite FTS5, on the same corpus.

Both index the same conversations (user turns composed from the embedded
sample's phrase banks, as in bench/space_search.py) with a language, a turn
count and a toxic flag beside the text, and answer the same queries: BM25
ranked, the first 20 hits, toxic conversations left out, half of them also
filtered by language. FTS5 (compiled into Python's sqlite3) runs the filters
as a join with a table of the small columns, in one SQL statement with bound
parameters; tantivy runs them as a boolean query. DuckDB's fts extension
cannot be installed here (it downloads at run time; the pip build targets
DuckDB 1.4, not the 2.0 this project uses) and bm25s has no phrase queries,
so they are not measured.

    python bench/search_engines.py                       # 1,000,000 conversations
    python bench/search_engines.py --conversations 100000

Last line: ``fts5_p95=<ms> tantivy_p95=<ms> speedup=<x>`` over the queries.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from space_search import prompt_pool

QUERIES = [
    "the", "python", "essay about", '"social media"', "bookstore café", "write a short", "decision",
    "how long would that take", "recipe", '"step by step"', "email landlord", "explain",
]  # fmt: skip


def corpus(count: int, seed: int) -> list[tuple[int, str, int, bool, str]]:
    """(id, language, turns, toxic, text) per conversation."""
    import make_sample

    rng = random.Random(seed)
    pool = prompt_pool(rng, 2000)
    languages = list(make_sample.LANGUAGE_COUNTS)
    weights = list(make_sample.LANGUAGE_COUNTS.values())
    rows = []
    for number in range(count):
        language = rng.choices(languages, weights)[0]
        turns = rng.choice((1, 1, 1, 2, 2, 3, 4))
        text = "\n".join(rng.choice(pool[language]) for _ in range(turns))
        rows.append((number, language, turns, rng.random() < 0.05, text))
    return rows


def fts5(rows: list, folder: Path) -> tuple[float, float, list[float]]:
    """Build seconds, MB on disk, ms per query."""
    path = folder / "fts.sqlite"
    started = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute(
        "CREATE VIRTUAL TABLE prompts USING fts5(text, content='', "
        "tokenize='unicode61 remove_diacritics 2', prefix='2 3')"
    )
    db.execute("CREATE TABLE conversations(id INTEGER PRIMARY KEY, language TEXT, turns INT, toxic INT)")
    db.executemany("INSERT INTO prompts(rowid, text) VALUES (?, ?)", ((r[0], r[4]) for r in rows))
    db.executemany("INSERT INTO conversations VALUES (?, ?, ?, ?)", (r[:4] for r in rows))
    db.execute("INSERT INTO prompts(prompts) VALUES ('optimize')")
    db.commit()
    built = time.perf_counter() - started
    timings = []
    for query in QUERIES:
        for language in (None, "English"):
            begun = time.perf_counter()
            db.execute(
                "SELECT c.id FROM prompts JOIN conversations c ON c.id = prompts.rowid "
                "WHERE prompts MATCH ? AND (? IS NULL OR c.language = ?) AND NOT c.toxic "
                "ORDER BY prompts.rank LIMIT 20",
                (query, language, language),
            ).fetchall()
            timings.append((time.perf_counter() - begun) * 1000)
    db.close()
    return built, path.stat().st_size / 1e6, timings


def tantivy_engine(rows: list, folder: Path) -> tuple[float, float, list[float]]:
    import tantivy

    started = time.perf_counter()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("text", stored=False, index_option="position")
    builder.add_text_field("language", stored=False, tokenizer_name="raw")
    builder.add_integer_field("turns", indexed=True, fast=True)
    builder.add_boolean_field("toxic", indexed=True, fast=True)
    builder.add_integer_field("id", stored=True, fast=True)
    schema = builder.build()
    index = tantivy.Index(schema, path=str(folder))
    writer = index.writer(heap_size=256 * 1024**2, num_threads=1)
    for number, language, turns, toxic, text in rows:
        writer.add_document(
            tantivy.Document(text=text, language=language, turns=turns, toxic=toxic, id=number)
        )
    writer.commit()
    writer.wait_merging_threads()
    built = time.perf_counter() - started
    index.reload()
    searcher = index.searcher()
    timings = []
    for query in QUERIES:
        for language in (None, "English"):
            begun = time.perf_counter()
            clauses = [
                (tantivy.Occur.Must, index.parse_query(query, ["text"], conjunction_by_default=True)),
                (tantivy.Occur.MustNot, tantivy.Query.term_query(schema, "toxic", True)),
            ]
            if language:
                clauses.append((tantivy.Occur.Must, tantivy.Query.term_query(schema, "language", language)))
            found = searcher.search(tantivy.Query.boolean_query(clauses), limit=20)
            [searcher.doc(address)["id"] for _, address in found.hits]
            timings.append((time.perf_counter() - begun) * 1000)
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return built, size / 1e6, timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = corpus(args.conversations, args.seed)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, engine in (("fts5", fts5), ("tantivy", tantivy_engine)):
            folder = Path(scratch) / name
            folder.mkdir()
            built, size, timings = engine(rows, folder)
            results[name] = float(np.percentile(timings, 95))
            median = statistics.median(timings)
            print(
                f"{name:8} build {built:6.1f} s  {size:6.0f} MB  query p50 {median:7.1f} ms  "
                f"p95 {results[name]:7.1f} ms  max {max(timings):7.1f} ms  ({len(timings)} queries)"
            )
    print(
        f"fts5_p95={results['fts5']:.1f} tantivy_p95={results['tantivy']:.1f} "
        f"speedup={results['fts5'] / results['tantivy']:.0f}"
    )


if __name__ == "__main__":
    main()
