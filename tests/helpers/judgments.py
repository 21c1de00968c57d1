"""Comparing two judgment runs of the same judge over the same answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

#: Judgment columns read from the judge's top logprobs.
LOGPROB_COLUMNS = ("score_probs", "expected_score", "score_mass")


def judgments_by_turn(run_dir: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """The rows of a judgment run by (conversation_hash, turn_index); a turn judged twice fails."""
    rows = [
        row
        for path in sorted((run_dir / "data").glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    keyed = {(row["conversation_hash"], row["turn_index"]): row for row in rows}
    assert len(keyed) == len(rows), "a turn was judged twice"
    return keyed


def assert_same_judgments(actual: dict[tuple[str, int], dict], expected: dict[tuple[str, int], dict]) -> None:
    """Every turn has the same judgment: text, status, score, source and flags exactly.

    What is read from logprobs may differ in its last digits: a random tiny judge puts about
    0.2% of its mass on the score tokens, so the renormalised distribution moves with the batch
    a request ran in and the threads that ran it. The expected score (1 to 10) must agree to 0.01.
    """
    assert actual.keys() == expected.keys()
    for key, row in actual.items():
        other = expected[key]
        assert {k: v for k, v in row.items() if k not in LOGPROB_COLUMNS} == {
            k: v for k, v in other.items() if k not in LOGPROB_COLUMNS
        }, key
        if other["expected_score"] is None:
            assert row["expected_score"] is None, key
        else:
            assert row["expected_score"] == pytest.approx(other["expected_score"], abs=0.01), key
