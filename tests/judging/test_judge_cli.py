"""End to end through the command line: a tiny local judge scores two DGM configs of a built repository
on the CPU, the judgments become configs of the repository, and both analyses write their table and PNG.
Then Table 4's arithmetic on judgments constructed by hand."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from helpers.commands import wildchat50m
from helpers.judgments import assert_same_judgments, judgments_by_turn
from helpers.kills import kill_at_random_moments
from wildchat50m.builders.repository import check_repository

from wildchat50m.schema import JUDGMENT_SCHEMA

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_rows(run_dir: Path) -> list[dict]:
    return pa.concat_tables(
        [pq.read_table(p) for p in sorted((run_dir / "data").glob("*.parquet"))]
    ).to_pylist()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A repository with configs tiny-a and tiny-b, both judged by tiny-a on Factuality (4 conversations)."""
    root = tmp_path_factory.mktemp("judge")
    for dgm in ("tiny-a", "tiny-b"):
        wildchat50m(
            "generate", "--dgm", dgm, "--sample", "8", "--seed", "5", "--max-new-tokens", "8",
            "--max-model-len", "384", "--temperature", "0", "--num-shards", "1", "--out", "runs", "--quiet",
            cwd=root,
        )  # fmt: skip
    wildchat50m("build", "runs/tiny-a", "runs/tiny-b", "--repo", "repo", cwd=root)
    wildchat50m(
        "judge", "--judge", "tiny-a", "--target", "repo/data/tiny-a", "--target", "repo/data/tiny-b",
        "--factor", "Factuality", "--limit", "4", "--max-new-tokens", "16", "--top-logprobs", "4000",
        "--num-shards", "2", "--out", "judgments", "--quiet", cwd=root,
    )  # fmt: skip
    return root


def test_every_answered_turn_gets_a_judgment_with_a_score_distribution(work):
    run = work / "judgments" / "judgments--Factuality--tiny-a--tiny-a"
    rows = read_rows(run)
    repo_rows = pq.read_table(next((work / "repo" / "data" / "tiny-a").glob("*.parquet"))).to_pylist()
    first_four = sorted(repo_rows, key=lambda r: r["conversation_hash"])[:4]
    answered = sum(
        1
        for r in first_four
        for m in r["conversation"]
        if m["role"] == "assistant" and m["content"] is not None
    )
    assert len([r for r in rows if r["status"] != "no_answer"]) == answered > 0
    for row in rows:
        assert row["judge"] == "tiny-a" and row["target"] == "tiny-a" and row["factor"] == "Factuality"
        if row["status"] == "no_answer":
            continue
        # A random-weight judge never writes "Score: <n>": unparsed, with its raw text, never a zero.
        assert row["status"] == "unparsed" and row["score"] is None and row["judgment"]
        # The whole vocabulary was in the top logprobs: all ten scores, a proper distribution.
        assert row["score_source"] == "forced_prefix"
        assert row["missing_scores"] == [] and "renormalised" not in row["distribution_flags"]
        assert sum(row["score_probs"]) == pytest.approx(1.0)
        assert 1 <= row["expected_score"] <= 10 and 0 < row["score_mass"] <= 1
    manifest = (run / "manifest.json").read_text(encoding="utf-8")
    assert '"unparsed": ' in manifest and '"forced_prefix": ' in manifest


#: The judge run of the part and kill tests: every conversation of tiny-a's config, four shards.
JUDGE_TINY_A = (
    "judge", "--judge", "tiny-a", "--factor", "Factuality", "--max-new-tokens", "16",
    "--top-logprobs", "4000", "--num-shards", "4", "--quiet",
)  # fmt: skip


def test_judge_parts_split_like_a_slurm_array_and_a_killed_run_resumes_to_the_same_judgments(work):
    target = str(work / "repo" / "data" / "tiny-a")
    config = "judgments--Factuality--tiny-a--tiny-a"
    for part in ("0/2", "1/2"):
        wildchat50m(*JUDGE_TINY_A, "--target", target, "--shard", part, "--out", "parts", cwd=work)
    # A Slurm array task finds its part in the environment: task 1 of 2 owns shards 1 and 3.
    wildchat50m(*JUDGE_TINY_A, "--target", target, "--out", "slurm", cwd=work,
                env={"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2"})  # fmt: skip
    slurm_shards = sorted(p.name for p in (work / "slurm" / config / "data").glob("*.parquet"))
    assert slurm_shards == ["shard-00001-of-00004.parquet", "shard-00003-of-00004.parquet"]
    parts = judgments_by_turn(work / "parts" / config)
    repo_rows = [row for path in (work / "repo" / "data" / "tiny-a").glob("*.parquet")
                 for row in pq.read_table(path).to_pylist()]  # fmt: skip
    assert len(parts) == sum(row["turn"] for row in repo_rows)

    command = [sys.executable, "-m", "wildchat50m", *JUDGE_TINY_A, "--target", target, "--out", "killed"]
    environment = {**os.environ, "HF_HOME": str(work / "hf-home")}
    run = work / "killed" / config
    kept: list[int] = []

    def count_kept() -> None:
        # What a kill does not lose: judgments journaled, and shards committed.
        journaled = sum(
            len(path.read_text(encoding="utf-8").splitlines()) for path in run.glob("journal/*.jsonl")
        )
        kept.append(journaled + len(list(run.glob("data/*.parquet"))))

    kill_at_random_moments(command, run, kills=5, seconds=(3.0, 8.0), rng=random.Random(7), cwd=work,
                           env=environment, after_kill=count_kept)  # fmt: skip
    subprocess.run(command, cwd=work, env=environment, check=True, capture_output=True)

    assert_same_judgments(judgments_by_turn(run), parts)
    assert sum(kept) > 0, "no kill landed after a judgment was journaled"
    assert not list(run.rglob("*.partial")) and not list(run.glob("journal/*.jsonl"))
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "judgment" and manifest["shards"]["finished"] == 4
    assert manifest["judgments"] == len(parts)


def test_a_short_top_list_renormalises_and_marks_the_distribution(work):
    wildchat50m(
        "judge", "--judge", "tiny-a", "--target", "repo/data/tiny-b", "--limit", "2", "--max-new-tokens", "4",
        "--top-logprobs", "400", "--num-shards", "1", "--out", "short", "--quiet", cwd=work,
    )  # fmt: skip
    rows = [r for r in read_rows(work / "short" / "judgments--Factuality--tiny-a--tiny-b") if r["judgment"]]
    assert rows
    for row in rows:
        if row["score_probs"] is None:
            assert "no_score_tokens" in row["distribution_flags"]
        elif row["missing_scores"]:
            assert "renormalised" in row["distribution_flags"]
            assert sum(row["score_probs"]) == pytest.approx(1.0)
    assert any(r["missing_scores"] or r["score_probs"] is None for r in rows)


def test_judgment_runs_become_configs_of_the_repository(work):
    wildchat50m("build", "judgments", "--repo", "repo", cwd=work)
    repo = work / "repo"
    assert check_repository(repo) == []
    judged = load_dataset(
        str(repo), "judgments--Factuality--tiny-a--tiny-b", split="train", cache_dir=str(work / "c")
    )
    assert judged.num_rows == len(read_rows(work / "judgments" / "judgments--Factuality--tiny-a--tiny-b"))
    readme = (repo / "README.md").read_text(encoding="utf-8")
    assert (
        "## Judgments" in readme
        and "| judgments--Factuality--tiny-a--tiny-a | Factuality | tiny-a |" in readme
    )
    assert (
        load_dataset(str(repo), split="train", cache_dir=str(work / "c")).column_names[0]
        == "conversation_hash"
    )


def test_both_analyses_write_their_table_and_png(work):
    result = wildchat50m(
        "analyze", "preferences", "judgments", "--score", "expected", "--flip", "tiny-a", "tiny-b", "tiny-b",
        "tiny-a", "--out", "analysis", cwd=work,
    )  # fmt: skip
    analysis = work / "analysis"
    table = {row["model"]: row for row in read_csv(analysis / "preferences.csv")}
    assert sorted(table) == ["tiny-a", "tiny-b"]
    a_over_b, b_over_a = float(table["tiny-a"]["PrefRt-tiny-b"]), float(table["tiny-b"]["PrefRt-tiny-a"])
    assert a_over_b >= 0 and b_over_a >= 0 and a_over_b + b_over_a <= 100
    [flips] = read_csv(analysis / "flips.csv")
    # (A, B) against (B, A) is reversed on every turn without a tie.
    assert int(flips["FlipCt"]) == round(int(flips["turns"]) * (a_over_b + b_over_a) / 100)
    assert (analysis / "preferences.png").read_bytes().startswith(PNG_MAGIC)
    assert "| model | mean_score |" in result.stdout

    wildchat50m(
        "analyze", "judgment-words", "judgments", "--first", "tiny-a", "--second", "tiny-b", "--score",
        "expected", "--min-count", "1", "--out", "analysis", cwd=work,
    )  # fmt: skip
    words = read_csv(analysis / "judgment_words.csv")
    assert words and {w["more_common_in"] for w in words} <= {"tiny-a", "tiny-b"}
    assert (analysis / "judgment_words.png").read_bytes().startswith(PNG_MAGIC)


# ---------------------------------------------------------------- Table 4's arithmetic, by hand

#: Scores of four models on 8 shared turns (the names stand for the paper's L8B:L70, L8B:Q72, L70, Q72).
HAND_SCORES = {
    "L8B-L70": [6, 4, 7, 4, 8, 6, 3, 7],
    "L8B-Q72": [7, 5, 6, 6, 8, 7, 4, 7],
    "L70": [7, 6, 8, 5, 8, 5, 3, 9],
    "Q72": [8, 6, 7, 6, 9, 7, 4, 8],
}


def write_judgments(repo: Path, target: str, scores: list[int | None], extra_turns: int = 0) -> None:
    rows = []
    for turn, score in enumerate(scores + [5] * extra_turns):
        judgment = "The answer lacks detail." if score is not None and score < 6 else "Accurate and complete."
        rows.append(
            {"conversation_hash": f"h{turn:02d}", "turn_index": 0, "target": target, "judge": "J",
             "factor": "Factuality", "status": "unparsed" if score is None else "parsed", "score": score,
             "judgment": judgment}
        )  # fmt: skip
    folder = repo / "data" / f"judgments--Factuality--J--{target}"
    folder.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(rows, schema=JUDGMENT_SCHEMA), folder / "train-00000-of-00001.parquet"
    )


def test_preference_rates_and_flips_match_a_hand_computed_example(cli, tmp_path):
    repo = tmp_path / "repo"
    for model, scores in HAND_SCORES.items():
        # L70 could not be scored on a 9th turn (excluded for everyone); L8B-L70 alone has a 10th.
        ninth = [None] if model == "L70" else [5]
        write_judgments(repo, model, scores + ninth, extra_turns=1 if model == "L8B-L70" else 0)
    result = cli(
        "analyze", "preferences", str(repo), "--model", "L8B-L70", "--model", "L8B-Q72", "--model", "L70",
        "--model", "Q72", "--flip", "L8B-L70", "L8B-Q72", "L70", "L8B-Q72", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    table = {row["model"]: row for row in read_csv(tmp_path / "out" / "preferences.csv")}
    # L8B-L70 beats L8B-Q72 only on turn 3: 1/8; loses on turns 1, 2, 4, 6, 7: 5/8; ties 2/8.
    assert float(table["L8B-L70"]["PrefRt-L8B-Q72"]) == 12.5
    assert float(table["L8B-Q72"]["PrefRt-L8B-L70"]) == 62.5
    # L70 beats L8B-Q72 on turns 2, 3, 8; loses on 4, 6, 7; ties on 1, 5.
    assert float(table["L70"]["PrefRt-L8B-Q72"]) == 37.5 == float(table["L8B-Q72"]["PrefRt-L70"])
    # Q72 over L70: turns 1, 4, 5, 6, 7 = 62.5; L70 over Q72: turns 3, 8 = 25.
    assert float(table["Q72"]["PrefRt-L70"]) == 62.5 and float(table["L70"]["PrefRt-Q72"]) == 25.0
    assert table["L8B-L70"]["PrefRt-L8B-L70"] == ""
    assert [float(table[m]["mean_score"]) for m in HAND_SCORES] == [5.625, 6.25, 6.375, 6.875]
    assert {row["turns"] for row in table.values()} == {"8"}
    # Swapping L8B-L70 for L70 against L8B-Q72 reverses the ranking on turn 2 only; turn 8 (a tie
    # broken) and turn 1 (a win turned into a tie) are not flips.
    [flip] = read_csv(tmp_path / "out" / "flips.csv")
    assert flip == {"pair": "L8B-L70 vs L8B-Q72", "against": "L70 vs L8B-Q72", "FlipCt": "1", "turns": "8"}
    assert "excluded: missing_L70 1, missing_L8B-Q72 1, missing_Q72 1, turns_excluded 2, unparsed_L70 1" in (
        result.stdout
    )
    assert (tmp_path / "out" / "preferences.png").read_bytes().startswith(PNG_MAGIC)

    words = cli(
        "analyze", "judgment-words", str(repo), "--first", "L8B-L70", "--second", "Q72", "--out",
        str(tmp_path / "out"),
    )  # fmt: skip
    rows = {row["word"]: row for row in read_csv(tmp_path / "out" / "judgment_words.csv")}
    assert rows["lacks"]["more_common_in"] == "L8B-L70" and rows["accurate"]["more_common_in"] == "Q72"
    assert "turns_compared 7" in words.stdout  # turn 9's scores are equal (5 and 5)


def test_negations_are_counted_apart_from_the_words():
    from wildchat50m.analyses.judgment_words import words

    assert words("The answer is not clear and isn't accurate, but it is concise.") == [
        "not clear",
        "not accurate",
        "concise",
    ]
    assert words("No real errors; clear.") == ["not real", "errors", "clear"]
