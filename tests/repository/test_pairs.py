"""`wildchat50m pairs`: preference pairs across DGMs, from a repository with three DGMs judged on two factors.

Six synthetic conversations (1, 2, 3, 1, 2, 3 user turns; conversation 0 toxic; conversation 4's
last turn failed by every DGM). tiny-a answers in ~41 characters, tiny-c in ~100, tiny-b in ~380,
so length control has something to cut. The judge J's scores are written out below, turn by turn,
and the expected pairs are worked out by hand from them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from helpers.commands import wildchat50m
from wildchat50m.builders.pairs import PairRules, build_pairs
from wildchat50m.builders.repository import build_repository, check_repository

from wildchat50m.judging.synthetic import judgment_rows, write_judgment_run
from wildchat50m.mixes.synthetic import conversation_hash, write_config_run
from wildchat50m.reasons import PairReason

ANSWER_CHARS = {"tiny-a": 40, "tiny-b": 400, "tiny-c": 120}
TURNS = {0: 1, 1: 2, 2: 3, 3: 1, 4: 2, 5: 3}
#: (conversation, turn) -> score; None: the judgment held no score (unparsed); absent: not judged.
FACTUALITY = {
    "tiny-a": {(0, 0): 7, (1, 0): 3, (1, 1): 5, (2, 0): None, (2, 1): 9, (2, 2): 4, (3, 0): 4, (4, 0): 3,
               (5, 0): 8, (5, 1): 1, (5, 2): 2},
    "tiny-b": {(0, 0): 3, (1, 0): 8, (1, 1): 5, (2, 0): 6, (2, 1): 2, (3, 0): 6, (4, 0): 2,
               (5, 0): 1, (5, 1): 4, (5, 2): 2},
    "tiny-c": {(0, 0): 5, (1, 0): 6, (1, 1): 5, (2, 0): 5, (2, 1): 5, (2, 2): 5, (3, 0): 4, (4, 0): 6,
               (5, 0): 5, (5, 1): 5, (5, 2): 5},
}  # fmt: skip
HELPFULNESS_FIRST_TURN = {
    "tiny-a": {0: 5, 1: 5, 2: 5, 3: 4, 4: 3, 5: 2},
    "tiny-b": {0: 5, 1: 8, 2: 5, 3: 4, 4: 2, 5: 9},
    "tiny-c": {0: 5, 1: 4, 2: 5, 3: 6, 4: 8, 5: 5},
}


def scores_of(table: dict[tuple[int, int], int | None]) -> dict[tuple[str, int], int | None]:
    return {(conversation_hash(index), turn): score for (index, turn), score in table.items()}


def runs_for(root: Path) -> list[Path]:
    runs = root / "runs"
    found = [
        write_config_run(runs, dgm, len(TURNS), answer_chars=chars, failed_every=5)
        for dgm, chars in ANSWER_CHARS.items()
    ]
    for dgm in ANSWER_CHARS:
        helpfulness = {(i, t): 5 for i, turns in TURNS.items() for t in range(turns) if i != 4 or t == 0}
        helpfulness.update({(i, 0): score for i, score in HELPFULNESS_FIRST_TURN[dgm].items()})
        for factor, table in (("Factuality", FACTUALITY[dgm]), ("Helpfulness", helpfulness)):
            rows = judgment_rows("J", factor, dgm, scores_of(table))
            found.append(write_judgment_run(runs, rows, judge="J", factor=factor, target=dgm))
    return found


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    build_repository(root / "repo", runs_for(root))
    return root / "repo"


def pairs_of(repo: Path, config: str) -> list[dict]:
    return pq.ParquetDataset(sorted((repo / "data" / config).glob("train-*.parquet"))).read().to_pylist()


def manifest_of(repo: Path, config: str) -> dict:
    return json.loads((repo / "data" / config / "manifest.json").read_text())


def test_a_against_b_on_one_factor_with_margin_ties_and_length_control(repo, tmp_path):
    result = wildchat50m(
        "pairs", str(repo), "--dgm", "tiny-a", "--dgm", "tiny-b", "--factor", "Factuality",
        "--turns", "all", "--min-margin", "1.5", "--max-length-ratio", "2", "--name", "a-b",
        cwd=tmp_path,
    )  # fmt: skip
    assert "pairs--a-b: 3 pairs from 12 candidate turns" in result.stdout
    rows = pairs_of(repo, "pairs--a-b")
    # (0,0) 7>3, (2,1) 9>2, (5,0) 8>1: tiny-a, the short one, wins. tiny-b's wins (1,0), (3,0), (5,1)
    # are ~9x longer than tiny-a's answers: cut by length control. (4,0) 3>2 is under the margin.
    keys = [(r["conversation_hash"], r["turn_index"], r["chosen_dgm"], r["rejected_dgm"]) for r in rows]
    won = ((0, 0), (2, 1), (5, 0))
    assert keys == sorted([(conversation_hash(i), t, "tiny-a", "tiny-b") for i, t in won])
    expected_scores = {(0, 0): (7, 3), (2, 1): (9, 2), (5, 0): (8, 1)}
    by_key = {(r["conversation_hash"], r["turn_index"]): r for r in rows}
    answers = {
        dgm: {row["conversation_hash"]: row["conversation"] for row in pairs_of(repo, dgm)}
        for dgm in ANSWER_CHARS
    }
    for (index, turn), (chosen, rejected) in expected_scores.items():
        row = by_key[(conversation_hash(index), turn)]
        assert (row["chosen_score"], row["rejected_score"], row["margin"]) == (
            chosen,
            rejected,
            chosen - rejected,
        )
        conversation_a = answers["tiny-a"][conversation_hash(index)]
        assert row["prompt"] == [
            {"role": m["role"], "content": m["content"]} for m in conversation_a[: 2 * turn + 1]
        ]
        assert row["chosen"] == [{"role": "assistant", "content": conversation_a[2 * turn + 1]["content"]}]
        b_answer = answers["tiny-b"][conversation_hash(index)][2 * turn + 1]["content"]
        assert row["rejected"] == [{"role": "assistant", "content": b_answer}]
        assert row["length_ratio"] == pytest.approx(len(row["chosen"][0]["content"]) / len(b_answer))
        assert row["judgment_configs"] == [
            "judgments--Factuality--J--tiny-a",
            "judgments--Factuality--J--tiny-b",
        ]
        assert row["factors"] == ["Factuality"]
    manifest = manifest_of(repo, "pairs--a-b")
    reasons = {k: v for k, v in manifest["reasons"].items() if v}
    # (1,1) and (5,2) tie; (2,0) unparsed for tiny-a, (2,2) not judged for tiny-b; (4,1) failed.
    assert reasons == {
        PairReason.LENGTH: 3, PairReason.TIE: 2, PairReason.NO_JUDGMENT: 2, PairReason.FAILED_ANSWER: 1,
        PairReason.MARGIN: 1,
    }  # fmt: skip
    assert manifest["rows"] + sum(reasons.values()) == manifest["candidates"] == sum(TURNS.values())


def test_best_against_worst_of_three_on_the_mean_of_two_factors(repo, tmp_path):
    wildchat50m(
        "pairs", str(repo), "--dgm", "tiny-c", "--dgm", "tiny-a", "--dgm", "tiny-b",
        "--factor", "Factuality", "--factor", "helpfulness", "--exclude-toxic", "--min-margin", "1",
        "--ties", "shorter", "--name", "best-worst", cwd=tmp_path,
    )  # fmt: skip
    rows = pairs_of(repo, "pairs--best-worst")
    # First turns, means of the two factors (a, b, c): conv 1 (4, 8, 5) b>a; conv 3 (4, 5, 5): b and c
    # share the best score, the shorter (c) is chosen, margin 1; conv 4 (3, 2, 7) c>b; conv 5 all 5: a
    # tie with answers of different lengths, so `shorter` chooses tiny-a over tiny-b, but the margin is 0.
    assert [
        (r["conversation_hash"], r["chosen_dgm"], r["rejected_dgm"], r["margin"]) for r in rows
    ] == sorted(
        [
            (conversation_hash(1), "tiny-b", "tiny-a", 4.0),
            (conversation_hash(3), "tiny-c", "tiny-a", 1.0),
            (conversation_hash(4), "tiny-c", "tiny-b", 5.0),
        ]
    )
    assert all(r["turn_index"] == 0 and r["factors"] == ["Factuality", "Helpfulness"] for r in rows)
    assert rows[[r["conversation_hash"] for r in rows].index(conversation_hash(4))]["judgment_configs"] == [
        "judgments--Factuality--J--tiny-c", "judgments--Helpfulness--J--tiny-c",
        "judgments--Factuality--J--tiny-b", "judgments--Helpfulness--J--tiny-b",
    ]  # fmt: skip
    manifest = manifest_of(repo, "pairs--best-worst")
    reasons = {k: v for k, v in manifest["reasons"].items() if v}
    assert reasons == {
        PairReason.NOT_FIRST_TURN: 6,
        "filtered_toxic": 1,
        PairReason.NO_JUDGMENT: 1,
        PairReason.MARGIN: 1,
    }
    assert manifest["rows"] + sum(reasons.values()) == manifest["candidates"] == 12
    assert manifest["rules"]["rule"] == "best_vs_worst" and manifest["judges"] == ["J"]

    card = (repo / "README.md").read_text()
    assert (
        "## Preference pairs" in card
        and "| pairs--best-worst | best vs worst of tiny-a, tiny-b, tiny-c |" in card
    )
    assert check_repository(repo) == []
    loaded = load_dataset(str(repo), "pairs--best-worst", split="train")
    assert loaded.num_rows == 3 and loaded[0]["chosen"][0]["role"] == "assistant"
    assert load_dataset(str(repo), "tiny-a", split="train").num_rows == len(
        TURNS
    )  # the DGM configs still load


def test_the_same_bytes_whatever_the_order_of_the_inputs_and_the_bucket_size(tmp_path):
    runs = runs_for(tmp_path)
    build_repository(tmp_path / "forward", runs)
    build_repository(tmp_path / "backward", runs[::-1], max_row_group_bytes=1)  # a row per row group
    rules = dict(factors=("Helpfulness", "Factuality"), turns="all", ties="shorter")
    forward = build_pairs(
        tmp_path / "forward", PairRules(dgms=("tiny-a", "tiny-b", "tiny-c"), **rules), name="x"
    )
    buckets: list[str] = []
    backward = build_pairs(
        tmp_path / "backward",
        PairRules(
            dgms=("tiny-b", "tiny-c", "tiny-a"),
            judgments=tuple(
                sorted(
                    (f"judgments--{f}--J--{d}" for f in ("Helpfulness", "Factuality") for d in ANSWER_CHARS),
                    reverse=True,
                )
            ),
            turns="all",
            ties="shorter",
        ),
        name="x",
        bucket_conversations=1,  # a bucket per row group: every conversation in a bucket of its own
        log=buckets.append,
    )
    assert len(buckets) == len(TURNS)
    assert forward.rows > 0 and backward.reasons == forward.reasons
    assert [f.read_bytes() for f in forward.files] == [f.read_bytes() for f in backward.files]


def test_bad_input_is_an_error_and_leaves_no_config(tmp_path):
    repo = tmp_path / "repo"
    other = write_config_run(tmp_path / "runs", "tiny-d", 4, offset=1000)  # conversations 1000-1003
    elsewhere = judgment_rows(
        "J", "Factuality", "tiny-d", {(conversation_hash(1000 + i), 0): 5 for i in range(4)}
    )
    judged = write_judgment_run(tmp_path / "runs", elsewhere, judge="J", factor="Factuality", target="tiny-d")
    build_repository(repo, [*runs_for(tmp_path), other, judged])
    before = {p.name for p in (repo / "data").iterdir()}
    card = (repo / "README.md").read_bytes()
    cases = [
        (
            ["--dgm", "tiny-a", "--dgm", "tiny-b", "--judgment", "judgments--Factuality--J--tiny-a",
             "--judgment", "judgments--Factuality--J--tiny-c"],
            "judgments--Factuality--J--tiny-c scores tiny-c, which is not one of the paired DGMs "
            "(tiny-a, tiny-b)",
        ),
        (
            ["--dgm", "tiny-a", "--dgm", "tiny-b", "--factor", "Harmlessness"],
            "no judgment has factor 'Harmlessness'; the judgments have factors: Factuality, Helpfulness",
        ),
        (
            ["--dgm", "tiny-a", "--dgm", "tiny-d", "--factor", "Factuality"],
            "tiny-a, tiny-d have no conversation in common",
        ),
    ]  # fmt: skip
    for arguments, message in cases:
        result = wildchat50m("pairs", str(repo), *arguments, "--name", "bad", cwd=tmp_path, expect=1)
        assert message in result.stderr and "Traceback" not in result.stderr
        assert {p.name for p in (repo / "data").iterdir()} == before
        assert (repo / "README.md").read_bytes() == card
