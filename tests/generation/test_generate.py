"""`wildchat50m generate`: every user turn answered, stored atomically, resumable after any kill."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers.engines import DownServer
from helpers.kills import kill_at_random_moments
from helpers.runs import answers_by_hash, output_rows

from wildchat50m.generate import GenerationIncomplete, GenerationSettings, Generator
from wildchat50m.records import KNOWN_TEMPLATE_TOKENS
from wildchat50m.requests import turn_key, turns_of
from wildchat50m.schema import OUTPUT_SCHEMA
from wildchat50m.source import ConversationReader, Filters

#: A small, varied slice of the embedded sample (long prompts, many turns, several languages).
SLICE = ("--sample", "48", "--seed", "3")
FAST = ("--max-new-tokens", "12", "--max-model-len", "384", "--temperature", "0", "--num-shards", "4")


@pytest.fixture(scope="module")
def expected_inputs() -> dict[str, dict]:
    reader = ConversationReader(None, Filters(sample=48, seed=3))
    return {row["conversation_hash"]: row for row in reader.rows()}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """One uninterrupted run: the reference every other run must reproduce."""
    out = tmp_path_factory.mktemp("baseline")
    subprocess.run(
        [sys.executable, "-m", "wildchat50m", "generate", *SLICE, *FAST, "--out", str(out), "--quiet"],
        check=True,
        capture_output=True,
    )
    return out / "tiny-a"


def test_every_user_turn_of_every_valid_conversation_is_answered(baseline, expected_inputs):
    rows = output_rows(baseline)
    assert pq.read_schema(next((baseline / "data").glob("*.parquet"))).remove_metadata() == OUTPUT_SCHEMA
    assert sorted(r["conversation_hash"] for r in rows) == sorted(expected_inputs)
    for row in rows:
        original = expected_inputs[row["conversation_hash"]]
        assert row["dgm"] == "tiny-a" and row["history_mode"] == "original"
        for key in ("model", "timestamp", "turn", "language", "toxic", "redacted", "openai_moderation"):
            assert row[key] == original[key]
        conversation = row["conversation"]
        users = [m for m in conversation if m["role"] == "user"]
        assert [m["content"] for m in users] == [
            m["content"] for m in original["conversation"] if m["role"] == "user"
        ]
        for turn in turns_of(conversation):
            answer = conversation[turn.answer_position]
            assert answer["role"] == "assistant"
            assert answer["finish_reason"] in ("stop", "length", "error")
            if answer["finish_reason"] == "error":
                assert answer["content"] is None and answer["error"]
            else:
                assert isinstance(answer["content"], str) and answer["completion_tokens"] <= 12
        assert len(conversation) == len(original["conversation"]) + (
            original["conversation"][-1]["role"] == "user"
        )


def test_no_special_token_ever_reaches_stored_text(baseline):
    """Regression: the paper's generator stored re-decoded prompts with <|eot_id|> and the like in them."""
    rows = output_rows(baseline)
    truncated = [m for r in rows for m in r["conversation"] if m["prompt_truncated"]]
    assert truncated, "the slice holds prompts longer than the budget"
    specials = (*KNOWN_TEMPLATE_TOKENS, "<|pad|>", "<|system|>")
    for row in rows:
        for message in row["conversation"]:
            assert not any(token in (message["content"] or "") for token in specials)


def test_the_manifest_counts_what_the_run_did(baseline, cli):
    manifest = json.loads(cli("runs", "show", str(baseline), "--json").stdout)
    rows = output_rows(baseline)
    assert manifest["conversations"] == len(rows)
    assert manifest["turns"] == sum(len(turns_of(r["conversation"])) for r in rows)
    assert manifest["shards"] == {"total": 4, "finished": 4, "staged_rows": len(rows)}
    assert manifest["skip_reasons"]["filtered_not_sampled"] > 0
    assert manifest["params"]["temperature"] == 0 and manifest["params"]["max_new_tokens"] == 12
    throughput = manifest["throughput"]
    assert throughput["tokens_per_second"] > 0 and throughput["seconds_per_1000_conversations"] > 0
    assert manifest["prompt_tokens"] > 0 and manifest["accelerators"]["kind"] == "cpu"
    assert sum(manifest["finish_reasons"].values()) == manifest["turns"]


def test_a_rerun_with_other_parameters_is_refused(baseline, cli):
    out = str(baseline.parent)
    again = cli("generate", *SLICE, *FAST, "--out", out, "--quiet")
    assert "4 of 4 finished" in again.stdout
    refused = cli("generate", *SLICE, *FAST, "--out", out, "--temperature", "0.7", expect=1)
    assert "other parameters" in refused.stderr and "temperature" in refused.stderr


def test_killed_ten_times_the_run_resumes_to_the_same_answers(baseline, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "wildchat50m", "generate", *SLICE, *FAST, "--out", str(out), "--quiet"]
    kill_at_random_moments(command, out, kills=10, seconds=(1.0, 4.0), rng=random.Random(11))
    subprocess.run(command, check=True, capture_output=True)

    assert answers_by_hash(out / "tiny-a") == answers_by_hash(baseline)
    rows = output_rows(out / "tiny-a")
    assert len({r["conversation_hash"] for r in rows}) == len(rows)
    assert not list((out / "tiny-a").rglob("*.partial"))
    assert not list((out / "tiny-a" / "journal").glob("*.jsonl"))


def test_self_history_generates_in_waves_on_the_dgms_own_answers(tmp_path, cli):
    out = tmp_path / "self"
    cli(
        "generate",
        "--sample",
        "12",
        "--seed",
        "5",
        "--min-turns",
        "2",
        *FAST,
        "--history",
        "self",
        "--out",
        str(out),
    )
    rows = output_rows(out / "tiny-a")
    assert len(rows) == 12 and {r["history_mode"] for r in rows} == {"self"}
    assert all(m["finish_reason"] for r in rows for m in r["conversation"] if m["role"] == "assistant")
    manifest = json.loads(cli("runs", "show", str(out / "tiny-a"), "--json").stdout)
    assert manifest["params"]["history_mode"] == "self"
    assert manifest["turns"] == sum(r["turn"] for r in rows)


def test_an_openai_compatible_server_is_resumed_after_it_fails(tmp_path, cli, expected_inputs):
    from helpers.openai_server import FakeChatServer, http_error

    out = tmp_path / "remote"
    first_prompt = next(iter(expected_inputs.values()))["conversation"][0]["content"]
    remote = (*SLICE, *FAST, "--engine", "openai", "--model", "fake/chat-model", "--max-retries", "1")
    with FakeChatServer() as server:
        server.inject_always(first_prompt, http_error(503))
        failed = cli("generate", *remote, "--base-url", server.base_url, "--out", str(out), expect=1)
        assert "failed transiently" in failed.stderr and "run the same command again" in failed.stderr
        server.always.clear()
        cli("generate", *remote, "--base-url", server.base_url, "--out", str(out))
        sent = sum(server.requests_per_key.values())

    rows = output_rows(out / "tiny-a")
    turns = sum(len(turns_of(r["conversation"])) for r in rows)
    assert sorted(r["conversation_hash"] for r in rows) == sorted(expected_inputs)
    # Exactly once: every turn answered once, plus the two refused attempts of the failing one.
    assert sent == turns + 2
    answers = [m for r in rows for m in r["conversation"] if m["role"] == "assistant"]
    assert all(m["error"] is None and isinstance(m["content"], str) for m in answers)


def test_a_pilot_answers_a_spread_of_languages_and_turn_counts_first(tmp_path, cli):
    result = cli("generate", "--pilot", "10", *FAST, "--out", str(tmp_path))
    assert "Pilot: 10 conversations" in result.stdout and "a few answers:" in result.stdout
    rows = output_rows(tmp_path / "pilot" / "tiny-a")
    assert len(rows) == 10
    assert len({r["language"] for r in rows}) >= 4
    assert len({min(r["turn"], 3) for r in rows}) >= 2


class ScriptedEngine:
    """Answers in the order it receives requests, reading up to ``ahead`` requests in advance.

    It notes when each request was sent and which shards were committed when each answer went out,
    so a test can see how the job feeds an engine across shard boundaries and waves.
    """

    name = "scripted"
    tokenizer = None

    def __init__(self, run: Path, ahead: int):
        self.run = run
        self.ahead = ahead
        self.events: list[tuple[str, str, frozenset[str]]] = []

    def generate(self, requests):
        from wildchat50m.engines.base import PAUSE, ChatResult, StalledStream

        source, waiting, paused = iter(requests), [], False
        while True:
            while not paused and len(waiting) < self.ahead:
                request = next(source, None)
                if request is None:
                    break
                if request is PAUSE:
                    paused = True
                    break
                waiting.append(request)
                self.events.append(("sent", request.key, self.committed()))
            if not waiting:
                if paused:
                    raise StalledStream("paused with nothing in flight")
                return
            request = waiting.pop(0)
            self.events.append(("answered", request.key, self.committed()))
            paused = False
            yield ChatResult(
                request.key, f"answer {request.key}", "stop", prompt_tokens=3, completion_tokens=2
            )

    def committed(self) -> frozenset[str]:
        return frozenset(p.stem for p in (self.run / "shards").glob("*.json"))

    def describe(self) -> dict:
        return {"engine": self.name}

    def close(self) -> None:
        return None


def scripted_run(tmp_path: Path, history: str, ahead: int) -> tuple[Generator, ScriptedEngine]:
    settings = GenerationSettings(
        dgm="tiny-a", model="scripted", engine="scripted", history_mode=history, num_shards=4,
        max_new_tokens=8, max_input_tokens=512, max_model_len=1024,
    )  # fmt: skip
    engine = ScriptedEngine(tmp_path / "tiny-a", ahead)
    reader = ConversationReader(None, Filters(sample=30, seed=7, min_turns=2))
    generator = Generator(settings, tmp_path, reader, lambda: engine)
    generator.run()
    return generator, engine


def test_the_next_shard_is_fed_while_one_finishes_and_each_commits_at_its_last_answer(tmp_path):
    generator, engine = scripted_run(tmp_path, "original", ahead=16)
    shard_of_key = {
        turn_key(row["conversation_hash"], turn.index): f"shard-{index:05d}"
        for index in range(4)
        for row in pq.read_table(generator.store.input_path(index, 4)).to_pylist()
        for turn in turns_of(row["conversation"])
    }
    events = engine.events
    assert sorted(key for kind, key, _ in events if kind == "sent") == sorted(shard_of_key)
    for shard in sorted(set(shard_of_key.values()))[:-1]:
        last = max(
            i for i, (kind, key, _) in enumerate(events) if kind == "answered" and shard_of_key[key] == shard
        )
        # No barrier: requests of the next shards were sent before this shard's last answer...
        assert any(kind == "sent" and shard_of_key[key] > shard for kind, key, _ in events[:last])
        # ...and the shard was committed before the next answer went out.
        later = [committed for kind, _, committed in events[last + 1 :] if kind == "answered"]
        assert not later or shard in later[0]


def test_generation_stops_after_transient_failures_in_a_row(tmp_path):
    settings = GenerationSettings(dgm="tiny-a", model="down", engine="down", num_shards=2)
    reader = ConversationReader(None, Filters(sample=10, seed=7))
    down = DownServer()
    generator = Generator(settings, tmp_path, reader, lambda: down)
    generator.max_consecutive_transient = 3
    with pytest.raises(
        GenerationIncomplete,
        match=r"3 request\(s\) failed transiently \(http_503 x3\) "
        r"and were not stored; the job stopped after 3 in a row",
    ):
        generator.run()
    assert len(down.sent) == 3  # not the other turns of the 10 conversations
    assert not list((tmp_path / "tiny-a" / "shards").glob("*.json"))  # no shard committed


def test_self_history_sends_each_turn_after_its_previous_answer(tmp_path):
    _, engine = scripted_run(tmp_path, "self", ahead=16)
    answered_at = {key: i for i, (kind, key, _) in enumerate(engine.events) if kind == "answered"}
    sent = [(i, key) for i, (kind, key, _) in enumerate(engine.events) if kind == "sent"]
    for i, key in sent:
        conversation, turn = key.rsplit(":", 1)
        if int(turn) > 0:
            assert answered_at[turn_key(conversation, int(turn) - 1)] < i
    # Follow-up turns went out while first turns of other conversations were still waiting.
    first_turn_sends = [i for i, key in sent if key.endswith(":0")]
    assert any(i < first_turn_sends[-1] for i, key in sent if not key.endswith(":0"))
    assert len(list((tmp_path / "tiny-a" / "data").glob("*.parquet"))) == 4
