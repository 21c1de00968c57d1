"""Judging: reading scores from top logprobs, the judgment job's waves and resume, the engines' mappings.

The job runs here with a scripted judge (an engine that writes set texts
with set logprobs), because no model that writes ``Score: <n>`` can be
trained on this machine; the end-to-end run with a real (tiny) model is in
test_judge_cli.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.engines import DownServer
from helpers.openai_server import FakeChatServer

from wildchat50m import judging
from wildchat50m.engines.base import ChatRequest, ChatResult, Sampling, TokenLogprob
from wildchat50m.engines.openai_compat import OpenAIEngine
from wildchat50m.engines.vllm_engine import token_logprobs_from_output
from wildchat50m.schema import JUDGMENT_SCHEMA, OUTPUT_SCHEMA
from wildchat50m.synthetic import synthetic_conversations
from wildchat50m.workflows import run_job


def top(**probabilities: float) -> list[tuple[str, float]]:
    """Top logprobs from probabilities, e.g. top(s1=0.5) -> [("1", log 0.5)]."""
    return [(name.removeprefix("s"), math.log(p)) for name, p in probabilities.items()]


# ---------------------------------------------------------------- parsing and distributions


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("Clear and right. Score: 8", 8),
        ("Score: 10", 10),
        ("Score: 1", 1),
        ("First Score: 3, on reflection Score: 6/10", 6),
        ("Score: 100", None),
        ("Score: 0", None),
        ("no score at all", None),
        ("", None),
    ],
)
def test_parse_score_takes_the_last_score_and_never_invents_one(text, score):
    assert judging.parse_score(text)[0] == score


def test_all_ten_scores_in_the_top_logprobs_give_a_proper_distribution():
    weights = {f"s{k}": 0.01 * k for k in range(1, 11)}  # 0.55 in all; the rest of the mass is other tokens
    distribution = judging.score_distribution([*top(**weights), ("the", math.log(0.2))])
    assert distribution.probs is not None
    assert sum(distribution.probs) == pytest.approx(1.0)
    assert distribution.probs[9] == pytest.approx(0.10 / 0.55)
    assert distribution.mass == pytest.approx(0.55)
    assert distribution.expected == pytest.approx(sum(k * k for k in range(1, 11)) / 55)
    assert distribution.missing == [] and distribution.flags == []


def test_scores_missing_from_the_top_logprobs_are_renormalised_and_marked():
    distribution = judging.score_distribution([*top(s7=0.3, s8=0.1), (" 8", math.log(0.1)), ("ok", -0.1)])
    assert distribution.probs == pytest.approx([0, 0, 0, 0, 0, 0, 0.6, 0.4, 0, 0])
    assert distribution.missing == [1, 2, 3, 4, 5, 6, 9, 10]
    assert distribution.flags == ["renormalised"]


def test_a_two_token_ten_splits_the_mass_of_one():
    # "10" is "1" then "0" here: 40% of the "1" mass goes on to "0", so it is a 10.
    split = judging.score_distribution(top(s1=0.5, s9=0.5), ten_continuation=0.4)
    assert split.probs == pytest.approx([0.3, 0, 0, 0, 0, 0, 0, 0, 0.5, 0.2])
    unresolved = judging.score_distribution(top(s1=0.5, s9=0.5))
    assert "ten_unresolved" in unresolved.flags
    single = judging.score_distribution(top(s1=0.5, s10=0.5))  # a tokenizer with a "10" token
    assert single.flags == ["renormalised"] and single.probs[9] == pytest.approx(0.5)


def test_no_score_token_gives_no_distribution_rather_than_zeros():
    distribution = judging.score_distribution([("hello", -0.1), ("world", -2.0)])
    assert distribution.probs is None and distribution.expected is None
    assert "no_score_tokens" in distribution.flags


def test_the_score_token_is_found_in_the_generated_tokens():
    tokens = [TokenLogprob(t, -0.1) for t in ("Fine", ".", " Score", ":", " 7", "<|end|>")]
    assert judging.locate_score_token(tokens) == (4, True)
    merged = [TokenLogprob(t, -0.1) for t in ("Fine", ". Score", ":7", "<|end|>")]
    assert judging.locate_score_token(merged) == (2, False)


def test_factors_come_from_the_data_file_and_user_files(tmp_path):
    factors = judging.load_factors()
    assert list(factors) == [
        "Factuality",
        "Logical Correctness",
        "Logical Robustness",
        "Logical Efficiency",
        "Commonsense Understanding",
    ]
    assert judging.get_factor(factors, "logical-correctness").name == "Logical Correctness"
    extra = tmp_path / "factors.yaml"
    extra.write_text("factors:\n  - {name: Tone, description: how it sounds, rubric: '10: warm. 1: rude.'}\n")
    assert judging.get_factor(judging.load_factors([extra]), "Tone").rubric == "10: warm. 1: rude."
    extra.write_text("factors:\n  - {name: Factuality, description: x, rubric: y}\n")
    with pytest.raises(judging.JudgingError, match="override: true"):
        judging.load_factors([extra])
    with pytest.raises(judging.JudgingError, match="unknown factor 'Humour'"):
        judging.get_factor(factors, "Humour")


# ---------------------------------------------------------------- the job, with a scripted judge


def judge_prompt_answer(request: ChatRequest) -> str:
    """The judged answer, as the judge prompt quotes it."""
    prompt = request.messages[-1]["content"]
    return prompt.split("[The assistant's answer]\n", 1)[1].split("\n[End of the assistant's answer]")[0]


class ScriptedJudge:
    """Writes "Score: 1" for answers to turn 0 and no score for turn 1; records every request.

    At the score position only 1, 7 and 9 are likely (no single "10" token), so
    the job must ask what follows "Score: 1". Continued requests get set tops.
    """

    name = "scripted"
    tokenizer = None

    def __init__(self, stop_after: int | None = None):
        self.requests: list[ChatRequest] = []
        self.stop_after = stop_after

    def generate(self, requests: Iterable[ChatRequest]) -> Iterator[ChatResult]:
        for request in requests:
            if self.stop_after is not None and len(self.requests) >= self.stop_after:
                raise KeyboardInterrupt("killed")
            self.requests.append(request)
            yield self.answer(request)

    def answer(self, request: ChatRequest) -> ChatResult:
        prefix = request.assistant_prefix
        if prefix is not None and prefix.endswith("Score: 1"):
            tokens = [TokenLogprob("0", math.log(0.25), (*top(s0=0.25), ("!", math.log(0.75))))]
            return ChatResult(request.key, "0", "length", 10, 1, token_logprobs=tokens)
        if prefix is not None:
            all_ten = tuple(top(**{f"s{k}": k / 110 for k in range(1, 11)}))
            tokens = [TokenLogprob("8", all_ten[7][1], all_ten), TokenLogprob("<|end|>", -0.1, ())]
            return ChatResult(request.key, "8", "stop", 10, 2, token_logprobs=tokens)
        if "Answer 0" in judge_prompt_answer(request):
            pieces = ["Mostly right", ".", " Score", ":", " ", "1"]
            tokens = [TokenLogprob(p, -0.2, ((p, -0.2),)) for p in pieces[:-1]]
            tokens.append(TokenLogprob("1", math.log(0.5), tuple(top(s1=0.5, s7=0.3, s9=0.1))))
            return ChatResult(request.key, "".join(pieces), "stop", 50, 6, token_logprobs=tokens)
        text = "I would rather not say."
        return ChatResult(
            request.key, text, "stop", 50, 5, token_logprobs=[TokenLogprob(text, -1.0, ((text, -1.0),))]
        )

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name}

    def close(self) -> None:
        pass


@pytest.fixture
def target(tmp_path) -> tuple[str, list[Path]]:
    """A finished-looking target config: 6 conversations of 1-2 turns, one answer missing."""
    rows = [
        {**row, "dgm": "some-dgm", "history_mode": "original"} for row in synthetic_conversations(6, turns=2)
    ]
    rows[-1]["conversation"][1]["content"] = None  # a failed turn of the target: nothing to judge
    folder = tmp_path / "repo" / "data" / "some-dgm"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA), folder / "train-00000-of-00001.parquet")
    return judging.target_files(folder)


def settings_for(target: tuple[str, list[Path]], **overrides: Any) -> judging.JudgeSettings:
    name, files = target
    factor = judging.load_factors()["Factuality"]
    values: dict[str, Any] = {
        "judge": "scripted", "model": "none", "engine": "scripted", "factor": factor.name,
        "factor_description": factor.description, "factor_rubric": factor.rubric, "target": name,
        "target_path": str(files[0].parent), "target_files": judging.target_digests(files), "num_shards": 2,
    }  # fmt: skip
    values.update(overrides)
    return judging.JudgeSettings(**values)


def judgment_rows(run_dir: Path) -> list[dict[str, Any]]:
    files = sorted((run_dir / "data").glob("shard-*.parquet"))
    rows = pa.concat_tables([pq.read_table(f) for f in files]).to_pylist()
    assert pq.read_schema(files[0]).remove_metadata().equals(JUDGMENT_SCHEMA)
    return sorted(rows, key=lambda r: (r["conversation_hash"], r["turn_index"]))


def test_the_job_reads_scores_where_the_judge_wrote_them_or_forces_the_prefix(target, tmp_path):
    engine = ScriptedJudge()
    job = judging.JudgmentJob(settings_for(target), tmp_path / "judgments", lambda: engine)
    manifest = run_job(job)
    rows = judgment_rows(job.store.root)

    assert job.store.root.name == "judgments--Factuality--scripted--some-dgm"
    assert len(rows) == 9  # 6 conversations, 1 or 2 turns each
    by_status = {s: [r for r in rows if r["status"] == s] for s in judging.JudgmentStatus}
    assert {s: len(v) for s, v in by_status.items()} == manifest["statuses"]
    assert manifest["statuses"] == {"parsed": 5, "unparsed": 3, "judge_error": 0, "no_answer": 1}

    parsed = by_status["parsed"][0]
    assert parsed["score"] == 1 and parsed["score_source"] == "generated"
    # 1: 0.5 x (1 - 0.25), 10: 0.5 x 0.25 (the probe), 7: 0.3, 9: 0.1 -- over 0.9.
    assert parsed["score_probs"] == pytest.approx(
        [0.375 / 0.9, 0, 0, 0, 0, 0, 0.3 / 0.9, 0, 0.1 / 0.9, 0.125 / 0.9]
    )
    assert sum(parsed["score_probs"]) == pytest.approx(1.0)
    assert parsed["distribution_flags"] == ["ten_probed", "renormalised"]
    assert parsed["missing_scores"] == [2, 3, 4, 5, 6, 8]

    unparsed = by_status["unparsed"][0]
    assert unparsed["score"] is None  # never a zero
    assert unparsed["judgment"] == "I would rather not say."
    assert unparsed["score_source"] == "forced_prefix" and unparsed["distribution_flags"] == []
    assert unparsed["score_probs"] == pytest.approx([k / 55 for k in range(1, 11)])
    assert unparsed["expected_score"] == pytest.approx(sum(k * k for k in range(1, 11)) / 55)

    assert by_status["no_answer"][0]["judgment"] is None and by_status["no_answer"][0]["score_probs"] is None
    forced = [r for r in engine.requests if r.key.endswith("#forced")]
    assert forced and all(r.assistant_prefix.endswith("\nScore: ") for r in forced)
    assert all(r.sampling.top_logprobs == 20 for r in engine.requests)


def test_a_killed_job_resumes_without_asking_the_judge_again(target, tmp_path):
    out = tmp_path / "judgments"
    first = ScriptedJudge(stop_after=5)
    with pytest.raises(KeyboardInterrupt):
        judging.JudgmentJob(settings_for(target), out, lambda: first).run()
    second = ScriptedJudge()
    manifest = run_job(judging.JudgmentJob(settings_for(target), out, lambda: second))

    asked_first = {r.key for r in first.requests}
    asked_second = {r.key for r in second.requests}
    assert asked_first and not asked_first & asked_second
    assert manifest["shards"] == {"total": 2, "finished": 2, "staged_rows": 6}
    fresh = ScriptedJudge()
    judging.JudgmentJob(settings_for(target), tmp_path / "fresh", lambda: fresh).run()
    assert asked_first | asked_second == {r.key for r in fresh.requests}
    assert judgment_rows(out / "judgments--Factuality--scripted--some-dgm") == judgment_rows(
        tmp_path / "fresh" / "judgments--Factuality--scripted--some-dgm"
    )

    with pytest.raises(Exception, match="other parameters"):
        judging.JudgmentJob(settings_for(target, top_logprobs=5), out, ScriptedJudge).run()


def test_the_judge_stops_after_transient_failures_in_a_row_as_generation_does(target, tmp_path):
    out, down = tmp_path / "judgments", DownServer()
    job = judging.JudgmentJob(settings_for(target, num_shards=1), out, lambda: down)
    job.max_consecutive_transient = 3
    with pytest.raises(
        judging.JudgingIncomplete,
        match=r"3 judge request\(s\) failed transiently "
        r"\(http_503 x3\) and were not stored; the job stopped after 3 in a row",
    ):
        job.run()
    assert len(down.sent) == 3  # of the 8 answers to judge: the wave stopped at the cut-off

    judge = ScriptedJudge()
    manifest = run_job(judging.JudgmentJob(settings_for(target, num_shards=1), out, lambda: judge))
    assert manifest["statuses"] == {"parsed": 5, "unparsed": 3, "judge_error": 0, "no_answer": 1}
    assert set(down.sent) <= {r.key for r in judge.requests}  # the failed ones were sent again


def test_limit_takes_the_first_conversations_by_hash(target, tmp_path):
    job = judging.JudgmentJob(settings_for(target, limit=2), tmp_path / "judgments", ScriptedJudge)
    manifest = run_job(job)
    hashes = sorted({r["conversation_hash"] for r in judgment_rows(job.store.root)})
    all_hashes = sorted(pq.read_table(target[1][0], columns=["conversation_hash"]).column(0).to_pylist())
    assert hashes == all_hashes[:2]
    assert manifest["input"] == {"conversations": 6, "selected": 2}


# ---------------------------------------------------------------- engines: top logprobs and prefixes


def test_vllm_logprobs_map_to_tokens_with_their_alternatives_by_rank():
    def logprob(value: float, rank: int, text: str) -> SimpleNamespace:
        return SimpleNamespace(logprob=value, rank=rank, decoded_token=text)

    # vLLM adds the sampled token (rank 4 here) to the top 2.
    positions = [
        {7: logprob(-0.1, 1, " 7"), 8: logprob(-2.5, 2, " 8")},
        {3: logprob(-0.2, 1, "!"), 9: logprob(-1.9, 2, "?"), 5: logprob(-4.0, 4, ".")},
    ]
    mapped = token_logprobs_from_output([7, 5], positions, wanted=2)
    assert mapped[0] == TokenLogprob(" 7", -0.1, ((" 7", -0.1), (" 8", -2.5)))
    assert mapped[1] == TokenLogprob(".", -4.0, (("!", -0.2), ("?", -1.9)))


def test_openai_engine_reads_top_logprobs_and_asks_to_continue_a_prefix():
    sampling = Sampling(max_new_tokens=8, temperature=0, top_logprobs=3)
    request = ChatRequest(
        "k", ({"role": "user", "content": "judge this"},), sampling, assistant_prefix="Score: "
    )
    with FakeChatServer() as server:
        engine = OpenAIEngine(server.base_url, server.model)
        [result] = list(engine.generate([request]))
        engine.close()
    [body] = server.bodies["Score: "]
    assert body["top_logprobs"] == 3 and body["logprobs"] is True
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert result.token_logprobs is not None
    assert [t.token for t in result.token_logprobs] == result.text.split()
    first = result.token_logprobs[0]
    assert [text for text, _ in first.top] == [first.token, "1", "2"]
