"""How long the Space takes to fetch one conversation across 6 DGMs, on a repository of realistic size.

Builds (once, cached outside the clone) a synthetic repository with the
project's own builder, so shards and row groups are those of a real build:
1-4 user turns per conversation, answers of about 1.5 KB drawn from a phrase
bank. Then times 200 random lookups of one conversation across 6 random
configs through the viewer's lookup layer, counting the bytes each lookup
reads from each config's files, and, for comparison, a naive `datasets`
filter of the same conversation. It also prints what the row-group size
costs: footer and file sizes, and the time of a first `load_dataset`.

The default is 8 configs x 25,000 rows (a few minutes to build); what a
lookup reads depends on the row-group size, not on the number of configs or
rows. The full size of a WildChat-50m repository slice:

    python bench/space_lookup.py --configs 54 --rows 100000   # builds ~1 h once, ~7 GB
    python bench/space_lookup.py --max-row-group-bytes 16000000  # the former row-group cap

Last line: ``p50=<ms> p95=<ms> bytes_per_config=<kb>`` (the largest read of
one config in one lookup; goals: p95 <= 50 ms, <= 2,048 KB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from wildchat50m.builders.repository import MAX_ROW_GROUP_BYTES, build_repository
from wildchat50m.spaces.viewer.lookup import RepositoryLookup, local_files

from wildchat50m import layout
from wildchat50m.generate import answers_run_params
from wildchat50m.jobs import RunKind
from wildchat50m.registry import load_registry
from wildchat50m.runstore import RUN_FILE, RunStore, atomic_write_text, shard_name
from wildchat50m.schema import OUTPUT_MESSAGE, OUTPUT_SCHEMA
from wildchat50m.synthetic import synthetic_conversations, wildchat_table

WORDS = [
    "the", "model", "answer", "data", "training", "prompt", "user", "system", "token", "language",
    "python", "function", "value", "result", "example", "question", "context", "output", "input",
    "list", "table", "query", "file", "error", "number", "string", "memory", "time", "first", "second",
    "next", "because", "however", "therefore", "which", "while", "where", "when", "should", "would",
    "could", "might", "code", "step", "method", "approach", "simple", "complex", "important",
    "consider", "following", "provide", "explain", "describe",
]  # fmt: skip


def phrase_text(rng: np.random.Generator, size: int) -> bytes:
    """About ``size`` bytes of text made of phrases from a small bank: cheap, compresses like prose."""
    bank = [
        " ".join(rng.choice(WORDS, size=int(rng.integers(6, 16)))).capitalize() + ". " for _ in range(4000)
    ]
    mean = sum(map(len, bank)) / len(bank)
    picks = rng.integers(0, len(bank), size=int(size / mean) + 1)
    return "".join(bank[i] for i in picks).encode("ascii")


def base_table(rows: int, seed: int) -> pa.Table:
    """The WildChat conversations every config answers: 1-4 user turns, prompts of a few hundred bytes."""
    table = wildchat_table(list(synthetic_conversations(rows, seed=seed, turns=4)))
    return table.sort_by("conversation_hash")


def slices(text: bytes, lengths: np.ndarray, start: int) -> pa.Array:
    """Consecutive pieces of ``text`` (wrapping around) of the given lengths, as one string array."""
    total = int(lengths.sum())
    repeats = total // len(text) + 2
    data = (text[start:] + text * repeats)[:total]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return pa.LargeStringArray.from_buffers(len(lengths), pa.py_buffer(offsets), pa.py_buffer(data)).cast(
        pa.string()
    )


def user_prompts(base: pa.Table, text: bytes, rng: np.random.Generator) -> pa.Array:
    """One text per message of ``base`` (used at user positions): the prompts every config shares."""
    count = len(base.column("conversation").combine_chunks().flatten())
    lengths = np.clip(rng.lognormal(mean=np.log(250), sigma=0.8, size=count), 5, 8000).astype(np.int64)
    return slices(text, lengths, 0)


def answered_table(
    base: pa.Table, prompts: pa.Array, config: str, text: bytes, rng: np.random.Generator
) -> pa.Table:
    """``base`` answered by ``config``: every assistant message replaced by ~1.5 KB of fresh text."""
    conversation = base.column("conversation").combine_chunks()
    messages = conversation.flatten()
    count = len(messages)
    is_answer = pc.equal(messages.field("role"), "assistant")
    lengths = np.clip(rng.lognormal(mean=np.log(1300), sigma=0.6, size=count), 20, 16000).astype(np.int64)
    answers = slices(text, lengths, int(rng.integers(0, len(text))))
    content = pc.if_else(is_answer, answers, prompts)
    completion = pa.array((lengths // 4).astype(np.int64))
    answer_values = {
        "finish_reason": pc.if_else(pc.greater(completion, 1800), "length", "stop"),
        "prompt_tokens": pa.array(rng.integers(20, 4000, size=count)),
        "completion_tokens": completion,
        "prompt_truncated": pa.array(np.zeros(count, dtype=bool)),
        "flags": pa.array([[]] * count, pa.list_(pa.string())),
        "cumulative_logprob": pa.nulls(count, pa.float64()),
        "error": pa.nulls(count, pa.string()),
    }
    arrays = []
    for message_field in OUTPUT_MESSAGE:
        if message_field.name == "content":
            arrays.append(content)
        elif message_field.name in answer_values:
            value = answer_values[message_field.name].cast(message_field.type)
            arrays.append(pc.if_else(is_answer, value, pa.nulls(count, message_field.type)))
        else:
            arrays.append(messages.field(message_field.name))
    struct = pa.StructArray.from_arrays(arrays, fields=list(OUTPUT_MESSAGE))
    answered = pa.ListArray.from_arrays(conversation.offsets, struct)
    columns = {name: base.column(name) for name in base.column_names}
    columns["conversation"] = answered
    columns["dgm"] = pa.array([config] * base.num_rows)
    columns["history_mode"] = pa.array(["original"] * base.num_rows)
    return pa.table([columns[f.name] for f in OUTPUT_SCHEMA], schema=OUTPUT_SCHEMA)


def write_run(run_dir: Path, config: str, table: pa.Table) -> None:
    """A finished one-shard run in the run-store layout, as `generate` would leave it."""
    store = RunStore(run_dir)
    store.claim(
        answers_run_params(
            config, kind=RunKind.GENERATION, engine="synthetic", source="bench/space_lookup.py", seed=0
        )
    )
    output = store.output_path(0, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, output, compression="none")
    messages = pc.list_flatten(table.column("conversation"))
    answers = messages.filter(pc.equal(pc.struct_field(messages, "role"), "assistant"))
    marker = {
        "shard": 0, "of": 1, "name": shard_name(0, 1), "sha256": "", "rows": table.num_rows,
        "conversations": table.num_rows, "turns": len(answers), "prompt_tokens": 0,
        "completion_tokens": int(pc.sum(pc.struct_field(answers, "completion_tokens")).as_py() or 0),
        "generation_seconds": 0.0, "finish_reasons": {}, "flags": {}, "errors": {},
        "truncated_prompts": 0, "accelerators": None, "engine": "synthetic",
    }  # fmt: skip
    atomic_write_text(store.marker_path(0), json.dumps(marker))


def build(repo: Path, configs: list[str], rows: int, seed: int, max_row_group_bytes: int) -> None:
    """Build the missing configs of ``repo`` one at a time (each run is deleted once built)."""
    done = set(layout.Repository(repo).configs()) if repo.exists() else set()
    todo = [config for config in configs if config not in done]
    if not todo:
        return
    rng = np.random.default_rng(seed)
    text = phrase_text(rng, 64 * 1024 * 1024)
    base = base_table(rows, seed)
    prompts = user_prompts(base, text, rng)
    runs = repo.parent / f".{repo.name}-runs"
    for position, config in enumerate(todo, 1):
        started = time.perf_counter()
        run_dir = runs / config
        shutil.rmtree(run_dir, ignore_errors=True)
        write_run(run_dir, config, answered_table(base, prompts, config, text, rng))
        assert (run_dir / RUN_FILE).exists()
        build_repository(repo, [run_dir], max_row_group_bytes=max_row_group_bytes, search_index=False)
        shutil.rmtree(run_dir)
        print(
            f"built {config} ({position}/{len(todo)}) in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    shutil.rmtree(runs, ignore_errors=True)


class CountingFile:
    """A local file that counts the bytes read from it (what a lookup would fetch over HTTP)."""

    def __init__(self, path: str, counter: dict[str, int]) -> None:
        self.handle = open(path, "rb")  # noqa: SIM115 (kept open as the Space keeps its files open)
        self.counter, self.path = counter, path
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.counter[self.path] = self.counter.get(self.path, 0) + len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.handle.seek(offset, whence)

    def tell(self) -> int:
        return self.handle.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.handle.close()
        self.closed = True


class CountingRepositoryLookup(RepositoryLookup):
    """The viewer's repository, reading its files through :class:`CountingFile`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read_bytes: dict[str, int] = {}

    def _open_source(self, path: str) -> CountingFile:
        return CountingFile(path, self.read_bytes)


def time_lookups(
    repo: Path, configs: list[str], lookups: int, dgms: int, seed: int
) -> tuple[list[float], list[float]]:
    """Milliseconds per lookup, and KB read from each config's files per lookup."""
    repository = CountingRepositoryLookup(local_files(repo))
    rng = np.random.default_rng(seed + 1)
    hashes = pq.read_table(repository.files.files[configs[0]], columns=["conversation_hash"]).column(0)
    for config in configs:  # footers read once, at the first lookup of each file, as in a live Space
        repository.conversation(hashes[0].as_py(), [config])
    timings, kilobytes = [], []
    for _ in range(lookups):
        conversation_hash = hashes[int(rng.integers(0, len(hashes)))].as_py()
        chosen = [configs[i] for i in rng.choice(len(configs), size=min(dgms, len(configs)), replace=False)]
        before = dict(repository.read_bytes)
        started = time.perf_counter()
        found = repository.conversation(conversation_hash, chosen)
        timings.append((time.perf_counter() - started) * 1000)
        assert len(found) == len(chosen), (conversation_hash, chosen, sorted(found))
        for config in chosen:
            paths = repository.files.files[config]
            read = sum(repository.read_bytes.get(p, 0) - before.get(p, 0) for p in paths)
            kilobytes.append(read / 1024)
    return timings, kilobytes


def layout_costs(repo: Path, configs: list[str]) -> str:
    """Row groups, footer and file sizes of the configs, and one first load_dataset (no Arrow cache)."""
    import tempfile

    from datasets import disable_progress_bars, load_dataset

    paths = [p for config in configs for p in (repo / "data" / config).glob("*.parquet")]
    footers = [pq.ParquetFile(p).metadata.serialized_size for p in paths]
    groups = [pq.ParquetFile(p).metadata.num_row_groups for p in paths]
    disable_progress_bars()
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        load_dataset(str(repo), configs[0], split="train", cache_dir=cache)
        loading = time.perf_counter() - started
    size = sum(p.stat().st_size for p in paths)
    return (
        f"{sum(groups)} row groups, footers {statistics.mean(footers) / 1024:.0f} KB per file "
        f"(largest {max(footers) / 1024:.0f} KB), files {size / 1e9:.2f} GB; "
        f"first load_dataset of {configs[0]}: {loading:.1f} s"
    )


def time_naive(repo: Path, configs: list[str], seed: int, lookups: int) -> float:
    """Median ms of the obvious alternative: load each config with datasets and filter by hash."""
    from datasets import disable_progress_bars, load_dataset

    disable_progress_bars()
    loaded = {c: load_dataset(str(repo), c, split="train") for c in configs}  # cached after the first run
    hashes = loaded[configs[0]]["conversation_hash"]
    rng = np.random.default_rng(seed + 2)
    timings = []
    for _ in range(lookups):
        conversation_hash = hashes[int(rng.integers(0, len(hashes)))]
        started = time.perf_counter()
        for dataset in loaded.values():
            found = dataset.filter(
                lambda h, wanted=conversation_hash: h == wanted, input_columns="conversation_hash"
            )
            assert found.num_rows == 1
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", type=int, default=8)
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument(
        "--max-row-group-bytes", type=int, default=MAX_ROW_GROUP_BYTES, help="the builder's row-group cap"
    )
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--dgms", type=int, default=6)
    parser.add_argument(
        "--naive-lookups", type=int, default=3, help="naive datasets filters to time (0: skip)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("WILDCHAT50M_CACHE", Path.home() / ".cache" / "wildchat50m")) / "bench",
        help="where the synthetic repository is kept between runs",
    )
    args = parser.parse_args()
    # --configs N uses the first N configs of a repository built with the same rows and row-group cap.
    suffix = "" if args.max_row_group_bytes == 16 * 1000**2 else f"-rg{args.max_row_group_bytes}"
    repo = args.cache / f"space-lookup-{args.rows}-rows-seed{args.seed}{suffix}"
    names = [dgm.config for dgm in load_registry()]
    configs = (names + [f"synthetic-{i:02d}" for i in range(args.configs)])[: args.configs]
    started = time.perf_counter()
    build(repo, configs, args.rows, args.seed, args.max_row_group_bytes)
    print(
        f"repository {repo}: {args.configs} configs x {args.rows:,} rows, row groups <= "
        f"{args.max_row_group_bytes / 1e6:g} MB uncompressed (ready in {time.perf_counter() - started:.0f} s)"
    )
    print(layout_costs(repo, configs))
    if args.naive_lookups:
        naive = time_naive(repo, configs[: args.dgms], args.seed, args.naive_lookups)
        print(f"naive datasets filter over {args.dgms} configs: median {naive:,.0f} ms per conversation")
    timings, kilobytes = time_lookups(repo, configs, args.lookups, args.dgms, args.seed)
    p50 = statistics.median(timings)
    p95 = float(np.percentile(timings, 95))
    print(
        f"{args.lookups} lookups of one conversation across {args.dgms} DGMs (row group found from the "
        f"footers' hash statistics): read per config median {statistics.median(kilobytes):,.0f} KB, "
        f"max {max(kilobytes):,.0f} KB"
    )
    print(f"p50={p50:.1f} p95={p95:.1f} bytes_per_config={max(kilobytes):.0f}")


if __name__ == "__main__":
    main()
