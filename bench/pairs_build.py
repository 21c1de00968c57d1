"""Speed and peak memory of `wildchat50m pairs` against a plain DuckDB join computing the same pairs.

The inputs are made by this project's builders in a subprocess first: a repository with two DGM
configs of ``--conversations`` synthetic conversations each (1-3 user turns, answers of about
``--answer-chars`` characters, a failed turn now and then) and one Factuality judgment config per
DGM with synthetic scores (1-10, some unparsed). Then, each in its own subprocess so that its peak
resident memory is its own (read from the kernel with ``wait4``):

- ``wildchat50m pairs REPO --dgm A --dgm B --factor Factuality --turns all``;
- the join a user would write by hand in DuckDB over the same parquet files: the same pairs
  (same prompt, chosen, rejected, scores, margin, length ratio), written to parquet with ``COPY``.

The two outputs are compared (same pair count and the same (conversation_hash, turn_index, chosen DGM)
keys) before any figure is printed.

    .venv/bin/python bench/pairs_build.py [--conversations 200000] [--answer-chars 300] [--keep DIR]

The full size is ``--conversations 1000000``. The last line is
``pairs build: S s, peak RSS M MiB, R rows/s (P pairs of N conversations; duckdb join D s, peak RSS
M MiB; ratio X)``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

DGMS = ("Qwen2.5-72B", "Llama-3.3-70B")
FACTOR = "Factuality"
JUDGE = "bench-judge"


def judgment_table(dgm: str, run: Path) -> pa.Table:
    """One judgment per user turn of the DGM's run, scores drawn per DGM, 2% unparsed."""
    import pyarrow.parquet as pq

    from wildchat50m.schema import JUDGMENT_SCHEMA

    answered = pq.ParquetDataset(sorted((run / "data").glob("shard-*.parquet"))).read(
        columns=["conversation_hash", "turn"]
    )
    turns = answered.column("turn").to_numpy()
    owner = np.repeat(np.arange(answered.num_rows), turns)
    turn = np.arange(len(owner)) - np.repeat(np.cumsum(turns) - turns, turns)
    hashes = answered.column("conversation_hash").take(pa.array(owner))
    rng = np.random.default_rng(DGMS.index(dgm) + 7)
    score = rng.integers(1, 11, len(owner))
    parsed = rng.random(len(owner)) >= 0.02
    count = len(owner)
    columns = {
        "conversation_hash": hashes,
        "turn_index": pa.array(turn, pa.int64()),
        "target": pa.array([dgm] * count, pa.string()),
        "judge": pa.array([JUDGE] * count, pa.string()),
        "factor": pa.array([FACTOR] * count, pa.string()),
        "status": pa.array(np.where(parsed, "parsed", "unparsed"), pa.string()),
        "judgment": pa.array(
            np.where(parsed, "Fine.\nScore: " + score.astype(str), "No verdict."), pa.string()
        ),
        "score": pa.array(score, pa.int64(), mask=~parsed),
        "expected_score": pa.array(score.astype(float), pa.float64(), mask=~parsed),
        "score_source": pa.array(np.where(parsed, "generated", None), pa.string()),
    }
    return pa.table(
        {field.name: columns.get(field.name, pa.nulls(count, field.type)) for field in JUDGMENT_SCHEMA},
        schema=JUDGMENT_SCHEMA,
    )


def make_inputs(work: Path, conversations: int, answer_chars: int) -> None:
    from wildchat50m.builders.repository import build_repository

    from wildchat50m.judging.synthetic import write_judgment_run
    from wildchat50m.mixes.synthetic import write_config_run

    runs = work / "runs"
    made = [write_config_run(runs, dgm, conversations, answer_chars=answer_chars) for dgm in DGMS]
    made += [
        write_judgment_run(runs, judgment_table(dgm, run), judge=JUDGE, factor=FACTOR, target=dgm)
        for dgm, run in zip(DGMS, made, strict=True)
    ]
    build_repository(work / "repo", made, search_index=False)
    shutil.rmtree(runs)


def duckdb_join(repo: Path, out: Path) -> None:
    """The same pairs as `pairs --turns all`, by hand: unnest the turns, join answers and scores."""
    import duckdb

    def answers(dgm: str) -> str:
        return f"""
        SELECT conversation_hash AS h, (i - 1) // 2 AS turn, language,
               list_transform(conversation[1:i], lambda m: {{'role': m.role, 'content': m.content}})
                 AS prompt,
               conversation[i + 1].content AS answer,
               conversation[i + 1].finish_reason AS finish
        FROM (SELECT *, unnest(range(1, len(conversation) + 1, 2)) AS i
              FROM read_parquet('{repo}/data/{dgm}/*.parquet'))"""

    def scores(dgm: str) -> str:
        return f"""
        SELECT conversation_hash AS h, turn_index AS turn, CAST(score AS DOUBLE) AS score
        FROM read_parquet('{repo}/data/judgments--{FACTOR}--{JUDGE}--{dgm}/*.parquet')
        WHERE status = 'parsed'"""

    first, second = DGMS
    configs = [f"judgments--{FACTOR}--{JUDGE}--{dgm}" for dgm in DGMS]
    query = f"""
    COPY (
      WITH a AS ({answers(first)}), b AS ({answers(second)}),
      sa AS ({scores(first)}), sb AS ({scores(second)}),
      joined AS (
        SELECT a.h, a.turn, a.language, a.prompt AS prompt_a, b.prompt AS prompt_b, a.answer AS answer_a,
               b.answer AS answer_b, sa.score AS score_a, sb.score AS score_b
        FROM a JOIN b USING (h, turn) JOIN sa USING (h, turn) JOIN sb USING (h, turn)
        WHERE a.answer IS NOT NULL AND b.answer IS NOT NULL
          AND coalesce(a.finish, '') <> 'error' AND coalesce(b.finish, '') <> 'error'
          AND length(trim(a.answer)) > 0 AND length(trim(b.answer)) > 0 AND sa.score <> sb.score
      )
      SELECT h AS conversation_hash, turn AS turn_index,
             CASE WHEN score_a > score_b THEN prompt_a ELSE prompt_b END AS prompt,
             [{{'role': 'assistant', 'content': CASE WHEN score_a > score_b THEN answer_a ELSE answer_b END}}]
               AS chosen,
             [{{'role': 'assistant', 'content': CASE WHEN score_a > score_b THEN answer_b ELSE answer_a END}}]
               AS rejected,
             CASE WHEN score_a > score_b THEN '{first}' ELSE '{second}' END AS chosen_dgm,
             CASE WHEN score_a > score_b THEN '{second}' ELSE '{first}' END AS rejected_dgm,
             CASE WHEN score_a > score_b THEN ['{configs[0]}', '{configs[1]}']
                  ELSE ['{configs[1]}', '{configs[0]}'] END AS judgment_configs,
             ['{FACTOR}'] AS factors,
             greatest(score_a, score_b) AS chosen_score, least(score_a, score_b) AS rejected_score,
             abs(score_a - score_b) AS margin,
             CASE WHEN score_a > score_b THEN length(answer_a) / length(answer_b)
                  ELSE length(answer_b) / length(answer_a) END AS length_ratio,
             language
      FROM joined ORDER BY conversation_hash, turn_index
    ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)"""
    duckdb.connect().execute(query)


def measured(command: list[str]) -> tuple[float, float, str]:
    """Seconds, peak RSS (MiB) and stdout of a command run in a fresh process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    stdout = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command[:4])} failed:\n{stdout}")
    return seconds, usage.ru_maxrss / 1024, stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--answer-chars", type=int, default=300)
    parser.add_argument("--keep", type=Path, help="make the inputs here and keep them")
    parser.add_argument("--inputs-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--duckdb-only", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inputs_only:
        make_inputs(args.inputs_only, args.conversations, args.answer_chars)
        return
    if args.duckdb_only:
        duckdb_join(*args.duckdb_only)
        return

    import pyarrow.parquet as pq

    work = args.keep or Path(tempfile.mkdtemp(prefix="pairs-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        if not (work / "repo" / "README.md").exists():
            subprocess.run(
                [sys.executable, __file__, "--inputs-only", str(work),
                 "--conversations", str(args.conversations), "--answer-chars", str(args.answer_chars)],
                check=True,
            )  # fmt: skip
        size = sum(p.stat().st_size for p in (work / "repo" / "data").rglob("*.parquet")) / 2**20
        print(
            f"inputs ready in {time.perf_counter() - started:.1f} s (repository parquet {size:.0f} MiB)",
            file=sys.stderr,
        )

        command = [
            sys.executable, "-m", "wildchat50m", "pairs", str(work / "repo"),
            "--dgm", DGMS[0], "--dgm", DGMS[1], "--factor", FACTOR, "--turns", "all", "--name", "bench",
        ]  # fmt: skip
        seconds, peak, stdout = measured(command)
        print(stdout.rstrip(), file=sys.stderr)
        joined = work / "duckdb-pairs.parquet"
        duck_seconds, duck_peak, _ = measured(
            [sys.executable, __file__, "--duckdb-only", str(work / "repo"), str(joined)]
        )

        compared = [
            "conversation_hash", "turn_index", "prompt", "chosen", "rejected", "chosen_dgm", "rejected_dgm",
            "judgment_configs", "chosen_score", "rejected_score", "margin", "length_ratio", "language",
        ]  # fmt: skip
        files = sorted((work / "repo" / "data" / "pairs--bench").glob("train-*.parquet"))
        ours = pq.ParquetDataset(files).read(columns=compared)
        theirs = pq.read_table(joined, columns=compared).cast(ours.schema)  # DuckDB marks columns not null
        if not ours.equals(theirs):
            sys.exit(f"the two joins disagree: ours {ours.num_rows:,} pairs, DuckDB's {theirs.num_rows:,}")
        rows = ours.num_rows
        print(
            f"pairs build: {seconds:.1f} s, peak RSS {peak:,.0f} MiB, {rows / seconds:,.0f} rows/s "
            f"({rows:,} pairs of {args.conversations:,} conversations; duckdb join {duck_seconds:.1f} s, "
            f"peak RSS {duck_peak:,.0f} MiB; ratio {seconds / duck_seconds:.2f})"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
