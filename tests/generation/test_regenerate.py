"""`generate --from RUN --redo ...`: only the named turns answered again, the rest carried over."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from helpers.kills import kill_at_random_moments
from helpers.runs import output_rows

from wildchat50m.requests import turns_of

SLICE = ("--sample", "16", "--seed", "3")
#: Answers of at most 4 tokens: most are cut at max_new_tokens (finish reason ``length``).
SHORT = ("--max-new-tokens", "4", "--max-model-len", "384", "--temperature", "0", "--num-shards", "2")


def generate(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "wildchat50m", "generate", *args, "--quiet"]
    return subprocess.run(command, check=True, capture_output=True, text=True)


def answers(run) -> dict[tuple[str, int], dict]:
    """Every assistant message of a run, by (conversation, turn)."""
    found = {}
    for row in output_rows(run):
        conversation = row["conversation"]
        for turn in turns_of(conversation):
            found[(row["conversation_hash"], turn.index)] = conversation[turn.answer_position]
    return found


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = tmp_path_factory.mktemp("source")
    generate(*SLICE, *SHORT, "--out", str(out))
    return out / "tiny-a"


def redo_command(source, out) -> list[str]:
    return [
        sys.executable, "-m", "wildchat50m", "generate", "--from", str(source), "--redo", "length",
        "--max-new-tokens", "10", "--out", str(out), "--quiet",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def redone(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("redone")
    subprocess.run(redo_command(source, out), check=True, capture_output=True)
    return out / "tiny-a"


def test_only_the_cut_answers_are_answered_again_and_the_others_carried_byte_for_byte(source, redone):
    before, after = answers(source), answers(redone)
    assert before.keys() == after.keys()
    cut = {key for key, message in before.items() if message["finish_reason"] == "length"}
    assert 0 < len(cut) < len(before), "the source run must have cut and uncut answers"
    for key, message in after.items():
        if key in cut:
            assert "regenerated" in message["flags"]
            assert message["completion_tokens"] > 4 or message["finish_reason"] == "stop"
        else:
            assert message == before[key], f"{key} was not carried over as it was"
    assert any(after[key]["content"] != before[key]["content"] for key in cut)
    # Everything but the answers is the source's own, row for row.
    source_rows = {r["conversation_hash"]: r for r in output_rows(source)}
    for row in output_rows(redone):
        original = source_rows[row["conversation_hash"]]
        assert {k: v for k, v in row.items() if k != "conversation"} == {
            k: v for k, v in original.items() if k != "conversation"
        }


def test_the_manifest_records_both_settings_and_the_counts_and_the_card_says_so(source, redone, tmp_path):
    manifest = json.loads((redone / "manifest.json").read_text(encoding="utf-8"))
    cut = sum(1 for m in answers(source).values() if m["finish_reason"] == "length")
    params = manifest["params"]
    assert params["max_new_tokens"] == 10 and params["redo"]["criteria"] == ["length"]
    assert params["redo"]["source_params"]["max_new_tokens"] == 4
    assert params["num_shards"] == params["redo"]["source_params"]["num_shards"]
    assert manifest["answers_by_origin"] == {"regenerated": cut, "carried": manifest["turns"] - cut}
    assert manifest["flags"]["regenerated"] == cut

    repo = tmp_path / "repo"
    subprocess.run(
        [sys.executable, "-m", "wildchat50m", "build", str(redone), "--repo", str(repo)],
        check=True,
        capture_output=True,
    )
    card = (repo / "README.md").read_text(encoding="utf-8")
    assert f"max_new=10 for {cut:,} answers re-generated (length)" in card
    assert f"{manifest['turns'] - cut:,} carried over from T=0, top_p=1, max_new=4" in card


def test_a_redo_killed_along_the_way_resumes_to_the_same_result(source, redone, tmp_path):
    out = tmp_path / "killed"
    command = redo_command(source, out)
    kill_at_random_moments(command, out, kills=4, seconds=(2.0, 6.0), rng=random.Random(5))
    subprocess.run(command, check=True, capture_output=True)
    assert answers(out / "tiny-a") == answers(redone)
    assert not list((out / "tiny-a").rglob("*.partial"))


def test_a_redo_names_what_it_answers_again(source, tmp_path):
    command = redo_command(source, tmp_path)
    command[command.index("length")] = "flag:no_such_flag"
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode != 0 and "no such flag" in result.stderr
    assert "Traceback" not in result.stderr


class RuleEngine:
    """Answers at once: ``tag key``, cut at the length limit on first turns when ``cut_first``."""

    name = "rule"
    tokenizer = None

    def __init__(self, tag: str, cut_first: bool):
        self.tag, self.cut_first = tag, cut_first

    def generate(self, requests):
        from wildchat50m.engines.base import ChatRequest, ChatResult

        for request in requests:
            if isinstance(request, ChatRequest):
                first = request.key.endswith(":0")
                reason = "length" if first and self.cut_first else "stop"
                yield ChatResult(request.key, f"{self.tag} {request.key}", reason, 5, 4)

    def describe(self):
        return {"engine": self.name}

    def close(self):
        pass


@pytest.mark.parametrize("history", ["original", "self"])
def test_in_history_self_a_turn_answered_again_answers_its_later_turns_again(tmp_path, history):
    from wildchat50m.generate import GenerationSettings, Generator, redo_settings
    from wildchat50m.registry import load_registry
    from wildchat50m.source import ConversationReader, Filters

    settings = GenerationSettings.for_dgm(
        load_registry().get("tiny-a"), model="tiny-a", engine="rule", history_mode=history, num_shards=2
    )
    reader = ConversationReader(None, Filters(min_turns=2, sample=10, seed=1))
    Generator(settings, tmp_path / "source", reader, lambda: RuleEngine("old", True)).run()
    source = tmp_path / "source" / "tiny-a"

    redo, redo_reader = redo_settings(source, ("length",), {"max_new_tokens": 99})
    Generator(redo, tmp_path / "redo", redo_reader, lambda: RuleEngine("new", False)).run()
    before, after = answers(source), answers(tmp_path / "redo" / "tiny-a")
    assert before.keys() == after.keys() and len(before) > 20
    for (conversation, turn), message in after.items():
        again = turn == 0 or history == "self"
        assert message["content"].startswith("new" if again else "old"), (conversation, turn)
        assert ("regenerated" in message["flags"]) == again
        if not again:
            assert message == before[(conversation, turn)]
