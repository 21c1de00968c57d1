"""Importing an original WildChat-50m release (one DGM, WildChat schema) as a config of the repository."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from wildchat50m.records import FLAG_LENGTH, FLAG_USER_TEMPLATE_LEAK
from wildchat50m.schema import MESSAGE, WILDCHAT_SCHEMA
from wildchat50m.synthetic import fake_hash, wildchat_row

CONFIG = "Qwen2.5-72B"
CAPITAL = fake_hash("capital")
LEAK = fake_hash("leak")
FAILED = fake_hash("failed")
GERMAN = fake_hash("german")
COUNTING = fake_hash("counting")
LEAKED_PROMPT = "Write a haiku about rain.<|eot_id|>"


def release_row(conversation_hash: str, turns: list[tuple[str, str, str]], **extra: object) -> dict:
    """A row as the original releases stored it: (prompt, answer, finish reason) per turn."""
    messages = [pair for prompt, answer, _ in turns for pair in (("user", prompt), ("assistant", answer))]
    row = wildchat_row(conversation_hash, messages)
    answers = iter(turns)
    for message in row["conversation"]:
        if message["role"] == "assistant":
            _, _, finish_reason = next(answers)
            message.update(finish_reason=finish_reason, cumulative_logprob=-4.25, **extra)
        else:
            message.update(finish_reason=None, cumulative_logprob=None, **dict.fromkeys(extra))
    return row


def release_schema(
    *, message_extras: list[pa.Field], null_state: bool, without: tuple[str, ...] = ()
) -> pa.Schema:
    """WildChat's schema with the release's message fields; ``state`` may be Arrow type null."""
    message = pa.struct(
        [
            *MESSAGE,
            pa.field("finish_reason", pa.string()),
            pa.field("cumulative_logprob", pa.float64()),
            *message_extras,
        ]
    )
    fields = []
    for field in WILDCHAT_SCHEMA:
        if field.name in without:
            continue
        if field.name == "conversation":
            field = pa.field("conversation", pa.list_(message))
        elif field.name == "state" and null_state:
            field = pa.field("state", pa.null())
        fields.append(field)
    return pa.schema(fields)


@pytest.fixture
def release(tmp_path) -> Path:
    """Two parquet files of one release, with the original's defects and type differences."""
    folder = tmp_path / "allenai_WildChat-1M-Full-Qwen_Qwen2.5-72B-Instruct"
    folder.mkdir()
    first = [
        release_row(CAPITAL, [("What is the capital of France?", "Paris is the capital of France.", "stop")]),
        release_row(LEAK, [(LEAKED_PROMPT, "Soft rain on the roof / ...", "stop")]),
        release_row(
            FAILED,
            [("Hello there!", "", "no response"), ("Tell me a long story.", "Once upon a time", "length")],
        ),
    ]
    schema = release_schema(message_extras=[], null_state=True)
    pq.write_table(pa.Table.from_pylist(first, schema=schema), folder / "train-00000-of-00002.parquet")
    second = [
        release_row(GERMAN, [("Translate 'cat' to German.", "Katze", "stop")], stop_token="<|im_end|>"),
        release_row(COUNTING, [("Count to three.", "1, 2, 3", "stop")], stop_token="<|im_end|>"),
    ]
    for row in second:
        del row["header"]
    schema = release_schema(
        message_extras=[pa.field("stop_token", pa.string())], null_state=False, without=("header",)
    )
    pq.write_table(pa.Table.from_pylist(second, schema=schema), folder / "train-00001-of-00002.parquet")
    return folder


def by_hash(rows: list[dict]) -> dict[str, dict]:
    return {row["conversation_hash"]: row for row in rows}


def test_a_release_becomes_a_config_with_its_defects_made_explicit(release, cli, tmp_path):
    result = cli("import", str(release), "--as", CONFIG, "--repo", "repo")

    assert f"imported 5 of 5 rows from {release} as {CONFIG}" in result.stdout
    assert "header" in result.stdout.split("filled with nulls:")[1].splitlines()[0]
    assert "conversation[].stop_token" in result.stdout.split("dropped:")[1].splitlines()[0]
    assert "state" in result.stdout.split("null-typed, cast:")[1].splitlines()[0]
    assert "1 empty answer(s) stored as errors, 1 user turn(s) with template tokens" in result.stdout

    loaded = load_dataset(str(tmp_path / "repo"), CONFIG, split="train", cache_dir=str(tmp_path / "cache"))
    rows = by_hash(loaded.to_list())
    assert sorted(rows) == sorted([CAPITAL, LEAK, FAILED, GERMAN, COUNTING])
    assert {row["dgm"] for row in rows.values()} == {CONFIG}
    assert {row["history_mode"] for row in rows.values()} == {"original"}

    failed, story = rows[FAILED]["conversation"][1], rows[FAILED]["conversation"][3]
    assert failed["content"] is None
    assert (failed["finish_reason"], failed["error"]) == ("error", "no_response_in_release")
    assert (story["content"], story["finish_reason"]) == ("Once upon a time", "length")
    assert FLAG_LENGTH in story["flags"]

    user, answer = rows[LEAK]["conversation"]
    assert user["content"] == LEAKED_PROMPT
    assert user["flags"] is None
    assert answer["flags"] == [FLAG_USER_TEMPLATE_LEAK]

    capital = rows[CAPITAL]["conversation"][1]
    assert capital["content"] == "Paris is the capital of France."
    assert (capital["finish_reason"], capital["cumulative_logprob"], capital["flags"]) == ("stop", -4.25, [])
    assert capital["prompt_tokens"] is capital["completion_tokens"] is capital["prompt_truncated"] is None
    assert rows[GERMAN]["header"] is None
    assert rows[CAPITAL]["state"] is None

    cli("build", "--check", "repo")


def test_the_run_and_the_card_say_the_answers_were_imported(release, cli, tmp_path):
    cli("import", str(release), "--as", CONFIG, "--repo", "repo", "--model", "Qwen/Qwen2.5-72B-Instruct")

    run = json.loads((tmp_path / "repo" / ".imports" / CONFIG / "run.json").read_text(encoding="utf-8"))
    assert (run["engine"], run["source"], run["temperature"]) == ("imported", str(release), None)
    summary = json.loads((tmp_path / "repo" / "data" / CONFIG / "manifest.json").read_text(encoding="utf-8"))
    assert summary["engine"] == "imported"
    assert summary["finish_reasons"] == {"error": 1, "length": 1, "stop": 4}
    assert summary["errors"] == {"no_response_in_release": 1}
    assert summary["flags"][FLAG_USER_TEMPLATE_LEAK] == 1


def test_importing_again_replaces_the_config_and_keeps_the_others(release, cli, tmp_path):
    cli("import", str(release / "train-00000-of-00002.parquet"), "--as", "Llama-3.1-8B", "--repo", "repo")
    cli("import", str(release), "--as", CONFIG, "--repo", "repo")
    result = cli("import", str(release), "--as", CONFIG, "--repo", "repo", "--json")

    assert json.loads(result.stdout)["rows"] == 5
    cache = str(tmp_path / "cache")
    assert load_dataset(str(tmp_path / "repo"), "Llama-3.1-8B", split="train", cache_dir=cache).num_rows == 3
    assert load_dataset(str(tmp_path / "repo"), CONFIG, split="train", cache_dir=cache).num_rows == 5
    cli("build", "--check", "repo")


def test_a_path_that_is_no_release_is_refused(cli_in_process):
    result = cli_in_process("import", "no/such-release-dir/here", "--as", CONFIG, "--repo", "repo", expect=1)

    assert "neither a local file or directory nor a Hub dataset id" in result.stderr


def test_the_marker_is_read_back_by_its_counts_and_one_missing_stops_the_build(release, cli, tmp_path):
    """An import's marker is written by the run store like a generated run's (size and checksum
    included); a count missing from it is an error naming it, never read as 0."""
    cli("import", str(release), "--as", CONFIG, "--repo", "repo")
    run = tmp_path / "repo" / ".imports" / CONFIG
    marker_path = run / "shards" / "shard-00000.json"
    marker = json.loads(marker_path.read_text(encoding="utf-8"))
    assert (marker["rows"], marker["turns"], marker["engine"]) == (5, 6, "imported")
    assert marker["bytes"] == (run / "data" / "shard-00000-of-00001.parquet").stat().st_size

    # A counter added after markers were first written reads as empty from an older run's marker.
    del marker["answers_by_origin"]
    marker_path.write_text(json.dumps(marker), encoding="utf-8")
    cli("build", str(run), "--repo", "repo")

    del marker["turns"]
    marker_path.write_text(json.dumps(marker), encoding="utf-8")
    result = cli("build", str(run), "--repo", "repo", expect=1)

    assert "the marker of shard 0 records no turns" in result.stderr
    assert "Traceback" not in result.stderr
