"""Reading what a run wrote: its rows and each conversation's answers."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq


def output_rows(run: Path) -> list[dict]:
    """Every row of a run's committed shards, shard by shard."""
    return [
        row for path in sorted((run / "data").glob("*.parquet")) for row in pq.read_table(path).to_pylist()
    ]


def answers_by_hash(run: Path) -> dict[str, list]:
    """Each conversation's answers as (content, finish_reason) pairs, by conversation hash."""
    return {
        row["conversation_hash"]: [
            (m["content"], m["finish_reason"]) for m in row["conversation"] if m["role"] == "assistant"
        ]
        for row in output_rows(run)
    }
