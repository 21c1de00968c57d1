"""The ``openai`` engine against a real local HTTP server that speaks the chat completions API.

The server (``helpers/openai_server.py``) answers deterministically and fails on
demand, so every test can say exactly what a run must return: each request
answered once, faults retried away, hopeless requests reported as errors.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from helpers.openai_server import (
    DROP,
    HANG,
    MALFORMED_JSON,
    NO_CHOICES,
    RESET,
    FakeChatServer,
    expected_answer,
    http_error,
    rate_limited,
)

from wildchat50m.engines.base import FINISH_ERROR, ChatRequest, ChatResult, Sampling
from wildchat50m.engines.openai_compat import OpenAIEngine, parse_retry_after, retry_delay

# Retries in milliseconds rather than seconds, so that the module runs in a few seconds.
FAST = {"backoff_base": 0.01, "backoff_max": 0.05}


def chat(i: int, *, max_new_tokens: int = 16, logprobs: bool = False) -> ChatRequest:
    """Request ``question i``; the server knows it by its last message, which is also its key."""
    key = f"question {i}"
    messages: tuple[dict[str, str], ...] = ({"role": "user", "content": key},)
    if i % 3 == 0:  # some multi-turn conversations
        messages = (
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": f"hello number {i}"},
            {"role": "assistant", "content": "hello"},
            *messages,
        )
    sampling = Sampling(max_new_tokens, temperature=0.7, top_p=0.9, seed=1000 + i, logprobs=logprobs)
    return ChatRequest(key=key, messages=messages, sampling=sampling)


def mixed_requests(n: int) -> list[ChatRequest]:
    """Short budgets on some (cut answers, ``length``), logprobs on others."""
    return [chat(i, max_new_tokens=4 if i % 4 == 0 else 32, logprobs=i % 5 == 0) for i in range(n)]


def run(engine: OpenAIEngine, requests: list[ChatRequest]) -> dict[str, ChatResult]:
    """Every result by key, checking that no key comes back twice."""
    results: dict[str, ChatResult] = {}
    for result in engine.generate(requests):
        assert result.key not in results, f"{result.key} answered twice"
        results[result.key] = result
    assert set(results) == {r.key for r in requests}
    return results


def engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "openai-engine-loop"]


def test_fault_free_run_returns_every_answer_once():
    requests = mixed_requests(50)
    with FakeChatServer() as server:
        engine = OpenAIEngine(server.base_url, server.model, max_in_flight=8, extra_body={"top_k": 20})
        results = run(engine, requests)
        engine.close()

    for request in requests:
        result = results[request.key]
        want = expected_answer(request.messages, request.sampling.seed, request.sampling.max_new_tokens)
        assert not result.failed
        assert result.text == want.text
        assert result.finish_reason == want.finish_reason
        assert result.prompt_tokens == want.prompt_tokens
        assert result.completion_tokens == want.completion_tokens
        if request.sampling.logprobs:
            assert result.cumulative_logprob == pytest.approx(sum(want.token_logprobs))
        else:
            assert result.cumulative_logprob is None
    finish_reasons = Counter(r.finish_reason for r in results.values())
    assert finish_reasons["length"] > 0 and finish_reasons["stop"] > 0

    # What went over the wire: one request per key, all sampling fields, extra_body merged in.
    assert set(server.requests_per_key.values()) == {1}
    body = server.bodies["question 7"][0]
    assert body["model"] == server.model
    assert body["messages"] == [{"role": "user", "content": "question 7"}]
    sent = {name: body[name] for name in ("max_tokens", "temperature", "top_p", "seed", "n", "top_k")}
    assert sent == {"max_tokens": 32, "temperature": 0.7, "top_p": 0.9, "seed": 1007, "n": 1, "top_k": 20}
    assert "logprobs" not in body and server.bodies["question 5"][0]["logprobs"] is True
    assert engine.retry_counts == Counter()
    assert engine_threads() == []


def test_injected_faults_are_retried_to_the_same_answers():
    requests = mixed_requests(48)
    with FakeChatServer() as clean:
        baseline = run(OpenAIEngine(clean.base_url, clean.model, max_in_flight=8), requests)

    threads_before = set(threading.enumerate())
    schedules = [
        (http_error(500), http_error(502)),
        (rate_limited(retry_after="0"),),
        (HANG,),  # outlasts the 0.5 s client timeout
        (DROP,),
        (RESET, MALFORMED_JSON),
        (NO_CHOICES, http_error(503)),
        (),
        (http_error(408), http_error(409)),
    ]
    with FakeChatServer() as server:
        for i, request in enumerate(requests):
            server.inject(request.key, *schedules[i % len(schedules)])
        engine = OpenAIEngine(server.base_url, server.model, max_in_flight=8, timeout=0.5, **FAST)
        results = run(engine, requests)
        engine.close()

    assert results == baseline
    for i, request in enumerate(requests):
        assert server.requests_per_key[request.key] == 1 + len(schedules[i % len(schedules)])
    per_schedule = len(requests) // len(schedules)
    assert engine.retry_counts == {
        kind: count * per_schedule
        for kind, count in {
            "http_500": 1,
            "http_502": 1,
            "http_429": 1,
            "timeout": 1,
            "connection": 2,  # the drop and the reset
            "malformed_response": 2,  # invalid JSON and JSON without choices
            "http_503": 1,
            "http_408": 1,
            "http_409": 1,
        }.items()
    }
    assert engine.error_counts == Counter()
    assert engine.describe()["retry_counts"] == dict(engine.retry_counts)
    assert server.errors == []
    # The engine's loop thread and the server's handler threads (hung ones included) are all gone.
    assert set(threading.enumerate()) <= threads_before


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (http_error(500), "http_500"),
        (HANG, "timeout"),
        (DROP, "connection"),
        (MALFORMED_JSON, "malformed_response"),
    ],
)
def test_a_hopeless_request_ends_as_an_error_after_max_retries(fault, kind):
    requests = mixed_requests(12)
    with FakeChatServer() as server:
        server.inject_always("question 3", fault)
        engine = OpenAIEngine(server.base_url, server.model, max_retries=3, timeout=0.3, **FAST)
        results = run(engine, requests)

    failed = results.pop("question 3")
    assert failed.failed and failed.error == kind
    assert failed.text is None and failed.finish_reason == FINISH_ERROR
    assert failed.extra["attempts"] == 4
    assert server.requests_per_key["question 3"] == 1 + 3
    assert engine.retry_counts == {kind: 3}
    assert engine.error_counts == {kind: 1}
    assert not any(r.failed for r in results.values())


def test_a_prompt_over_the_context_length_is_not_retried():
    long_prompt = ChatRequest(
        key="too long",
        messages=({"role": "user", "content": "word " * 50},),
        sampling=Sampling(max_new_tokens=8),
    )
    with FakeChatServer(max_prompt_words=20) as server:
        engine = OpenAIEngine(server.base_url, server.model, **FAST)
        results = run(engine, [*mixed_requests(5), long_prompt])

    refused = results["too long"]
    assert refused.error == "http_400"
    assert "maximum context length" in refused.extra["error_detail"]
    assert server.requests_per_key[long_prompt.messages[-1]["content"]] == 1
    assert engine.retry_counts == Counter()
    assert sum(r.failed for r in results.values()) == 1


def test_api_key_comes_from_the_environment_and_a_wrong_one_is_not_retried(monkeypatch):
    requests = mixed_requests(4)
    with FakeChatServer(api_key="sk-local") as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
        assert not any(r.failed for r in run(OpenAIEngine(server.base_url, server.model), requests).values())

        wrong = OpenAIEngine(server.base_url, server.model, api_key="sk-wrong", **FAST)
        assert {r.error for r in run(wrong, requests).values()} == {"http_401"}
        assert set(server.requests_per_key.values()) == {2}  # one good run, one refused attempt each

        unknown_model = OpenAIEngine(server.base_url, "no/such-model", **FAST)
        assert {r.error for r in run(unknown_model, requests).values()} == {"http_404"}


def test_max_in_flight_bounds_the_requests_the_server_sees_at_once():
    with FakeChatServer(latency=0.05) as server:
        server.inject("question 1", http_error(503), DROP)  # retries count against the bound too
        engine = OpenAIEngine(server.base_url, server.model, max_in_flight=4, **FAST)
        results = run(engine, mixed_requests(40))

    assert not any(r.failed for r in results.values())
    assert 2 <= server.peak_in_flight <= 4


def test_requests_are_pulled_lazily_from_the_iterable():
    pulled = 0

    def requests() -> Iterator[ChatRequest]:
        nonlocal pulled
        for i in range(2000):
            pulled += 1
            yield chat(i, max_new_tokens=2)

    with FakeChatServer() as server:
        engine = OpenAIEngine(server.base_url, server.model, max_in_flight=8)
        assert engine.max_pending == 16
        seen: set[str] = set()
        for result in engine.generate(requests()):
            seen.add(result.key)
            # Never more than max_pending requests taken and not yet answered.
            assert pulled - len(seen) <= engine.max_pending
        assert len(seen) == 2000
        assert server.peak_in_flight <= 8


def test_stopping_early_cancels_the_rest_and_leaves_no_thread():
    with FakeChatServer(latency=0.02) as server:
        engine = OpenAIEngine(server.base_url, server.model, max_in_flight=4)
        answers = engine.generate(mixed_requests(100))
        first = [next(answers) for _ in range(5)]
        answers.close()
        assert len({r.key for r in first}) == 5
        assert engine_threads() == []
        assert sum(server.requests_per_key.values()) < 100

        engine.close()
        with pytest.raises(RuntimeError, match="closed"):
            next(engine.generate(mixed_requests(1)))


def test_describe_reports_the_server_without_credentials():
    with FakeChatServer() as server:
        url = server.base_url.replace("http://", "http://user:secret@")
        engine = OpenAIEngine(url, server.model, api_key="sk-test")
        info = engine.describe()
    assert info["engine"] == "openai"
    assert info["model"] == server.model
    assert "secret" not in info["base_url"] and info["base_url"].startswith("http://127.0.0.1:")
    assert "sk-test" not in repr(info)
    assert info["client_library"] in {"httpx2", "httpx"} and info["client_version"]
    assert info["server_models"][0]["id"] == server.model

    # The server is gone: still an answer, with the reason.
    info = engine.describe()
    assert info["server_models"] is None and info["server_models_error"]
    assert engine.tokenizer is None


def test_retry_delay_grows_with_jitter_and_honours_retry_after():
    rng = random.Random(0)
    delays = [retry_delay(attempt, base=0.5, cap=30.0, rng=rng) for attempt in range(10)]
    for attempt, delay in enumerate(delays):
        ceiling = min(30.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert retry_delay(3, base=0.5, cap=30.0, retry_after=7.0) == 7.0
    assert retry_delay(0, base=0.5, cap=30.0, retry_after=0.0) == 0.0
    assert retry_delay(0, base=0.5, cap=30.0, retry_after=1e6) <= 0.5  # a nonsense Retry-After is ignored

    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: go now
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_extra_body_may_not_override_the_request_fields():
    with pytest.raises(ValueError, match="max_tokens"):
        OpenAIEngine("http://127.0.0.1:1/v1", "m", extra_body={"max_tokens": 5})
