"""The transformers engine on the tiny local models: batching, seeds, errors, token accounting."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from wildchat50m.engines.base import FINISH_ERROR, ChatRequest, ChatResult, Sampling
from wildchat50m.engines.transformers_engine import TransformersEngine
from wildchat50m.registry import UnknownDGMError
from wildchat50m.resources import sample_file
from wildchat50m.tiny import SPECIAL_TOKENS, TINY_VERSION, local_build, tiny_chat_model

Messages = tuple[dict[str, str], ...]

MULTILINGUAL = [
    "Hello, world! How are you today?",
    "你好，世界！今天天气怎么样？",
    "مرحبا بالعالم، كيف حالك؟",
    "Привет, мир! Как дела?",
    "नमस्ते दुनिया",
    "こんにちは世界 🌸",
    "Emoji: 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇩🇪 ✔︎",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\n\n```python\ndef f(x):\n    return x ** 2\n```",
    "Ｆｕｌｌｗｉｄｔｈ and combining: e\u0301 \u200b zero-width",
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("wildchat50m-cache")


@pytest.fixture(scope="module")
def tiny_a(cache_dir) -> Path:
    return tiny_chat_model("tiny-a", cache_dir)


@pytest.fixture(scope="module")
def tiny_b(cache_dir) -> Path:
    return tiny_chat_model("tiny-b", cache_dir)


@pytest.fixture(scope="module")
def engine(tiny_a) -> Iterator[TransformersEngine]:
    engine = TransformersEngine(tiny_a, batch_size=8)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def engine_bs1(tiny_a) -> Iterator[TransformersEngine]:
    engine = TransformersEngine(tiny_a, batch_size=1)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def conversations() -> list[Messages]:
    """20 prompts from the embedded sample, every user turn with its history, short to long."""
    rows = pq.read_table(sample_file(), columns=["conversation"]).column("conversation").to_pylist()
    prompts = []
    for row in rows:
        messages = [{"role": m["role"], "content": m["content"]} for m in row]
        for end, message in enumerate(messages):
            if message["role"] == "user":
                prompts.append(tuple(messages[: end + 1]))
    prompts = [p for p in prompts if sum(len(m["content"]) for m in p) < 2500]
    prompts.sort(key=lambda p: sum(len(m["content"]) for m in p))
    step = len(prompts) // 20
    return prompts[::step][:20]


def requests(conversations: list[Messages], seed: int = 0, **sampling) -> list[ChatRequest]:
    """One request per conversation; request i gets seed ``seed + i``."""
    settings = {"max_new_tokens": 24, "temperature": 0.0, "logprobs": True, **sampling}
    return [
        ChatRequest(f"r{i}", messages, Sampling(**settings, seed=seed + i))
        for i, messages in enumerate(conversations)
    ]


def answer(engine: TransformersEngine, reqs: list[ChatRequest]) -> dict[str, ChatResult]:
    results = list(engine.generate(reqs))
    assert sorted(r.key for r in results) == sorted(r.key for r in reqs), "every request answered once"
    return {r.key: r for r in results}


def same_answers(one: dict[str, ChatResult], other: dict[str, ChatResult]) -> None:
    for key, result in one.items():
        twin = other[key]
        assert (result.text, result.finish_reason) == (twin.text, twin.finish_reason), key
        assert result.prompt_tokens == twin.prompt_tokens
        assert result.completion_tokens == twin.completion_tokens
        # Logits agree to float32 rounding, not bit for bit (see the engine's module docstring).
        assert result.cumulative_logprob == pytest.approx(twin.cumulative_logprob, rel=1e-4, abs=1e-3)


def test_tiny_models_are_built_once_deterministically_and_differ(tiny_a, tiny_b, tmp_path):
    assert tiny_chat_model("tiny-a", tiny_a.parents[1]) == tiny_a
    assert tiny_a.name.startswith(f"tiny-a-v{TINY_VERSION}-") and tiny_a.parent.name == "tiny-models"
    config_a = json.loads((tiny_a / "config.json").read_text())
    config_b = json.loads((tiny_b / "config.json").read_text())
    assert config_a["model_type"] == config_b["model_type"] == "llama"
    assert config_a["hidden_size"] != config_b["hidden_size"]
    assert config_a["max_position_embeddings"] >= 4096

    # Two builders racing into an empty cache: one wins, the other uses its model, nothing half-written.
    with ThreadPoolExecutor(2) as pool:
        built = list(pool.map(lambda _: tiny_chat_model("tiny-a", tmp_path), range(2)))
    assert built[0] == built[1]
    assert [p.name for p in (tmp_path / "tiny-models").iterdir()] == [built[0].name]
    for name in ("model.safetensors", "tokenizer.json"):
        assert (built[0] / name).read_bytes() == (tiny_a / name).read_bytes(), f"{name} is deterministic"

    with pytest.raises(UnknownDGMError, match="unknown DGM 'tiny-z'"):
        tiny_chat_model("tiny-z", tmp_path)
    with pytest.raises(UnknownDGMError, match=r"Qwen2\.5-72B is not built locally; the tiny local"):
        tiny_chat_model("Q72", tmp_path)


def test_two_tiny_models_answer_differently(engine, tiny_b, conversations):
    engine_b = TransformersEngine(tiny_b, batch_size=8)
    reqs = requests(conversations[:8])
    a, b = answer(engine, reqs), answer(engine_b, reqs)
    assert sum(a[key].text != b[key].text for key in a) >= 7
    assert engine.describe()["model_sha256"] != engine_b.describe()["model_sha256"]
    engine_b.close()


def test_the_tokenizer_round_trips_any_script_and_emoji(engine):
    tokenizer = engine.tokenizer
    for text in MULTILINGUAL:
        ids = tokenizer.encode(text)
        assert tokenizer.decode(ids) == text
        assert 0 not in ids, "encode adds no BOS"
    assert set(SPECIAL_TOKENS) <= set(tokenizer.special_tokens)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": MULTILINGUAL[1]}]
    # BOS, <|system|>\n ... <|end|>\n <|user|>\n ... <|end|>\n <|assistant|>\n
    assert tokenizer.count_chat_tokens(messages) > len(tokenizer.encode("Be brief." + MULTILINGUAL[1])) + 5
    assert len(tokenizer.hf) <= 4096


def test_greedy_answers_do_not_depend_on_the_batch_size(engine, engine_bs1, conversations):
    reqs = requests(conversations, max_new_tokens=32)
    assert len({len(engine.tokenizer.chat_ids(r.messages)) for r in reqs}) >= 15, "varied prompt lengths"
    batched, alone = answer(engine, reqs), answer(engine_bs1, reqs)
    same_answers(batched, alone)
    same_answers(answer(engine, reqs[::-1]), batched)  # nor does the order of the input


def test_finish_reason_and_token_counts_are_consistent(engine, conversations):
    reqs = [
        ChatRequest(f"cap{cap}-{i}", messages, Sampling(max_new_tokens=cap, temperature=0.0))
        for cap in (1, 5, 40)
        for i, messages in enumerate(conversations)
    ]
    results = answer(engine, reqs)
    for request in reqs:
        result = results[request.key]
        cap = request.sampling.max_new_tokens
        assert not result.failed
        assert result.prompt_tokens == engine.tokenizer.count_chat_tokens(request.messages)
        assert 1 <= result.completion_tokens <= cap
        if result.finish_reason == "length":
            assert result.completion_tokens == cap
        else:
            assert result.finish_reason == "stop"
        assert result.cumulative_logprob is None, "only when asked for"
    reasons = {r.finish_reason for r in results.values() if r.key.startswith("cap40")}
    assert reasons == {"stop", "length"}, "the tiny model both stops and runs to the cap"


def test_sampled_answers_are_reproducible_by_seed_across_batch_sizes(engine, engine_bs1, conversations):
    reqs = requests(conversations[:12], temperature=1.0, top_p=0.9, max_new_tokens=24)
    batched, alone = answer(engine, reqs), answer(engine_bs1, reqs)
    same_answers(batched, alone)
    reseeded = answer(engine, requests(conversations[:12], temperature=1.0, top_p=0.9, seed=1000))
    assert sum(reseeded[key].text != batched[key].text for key in batched) >= 10
    greedy = answer(engine, requests(conversations[:12], max_new_tokens=24))
    assert sum(greedy[key].text != batched[key].text for key in batched) >= 10


def test_a_bad_request_fails_alone(engine, conversations, monkeypatch):
    too_long = ({"role": "user", "content": " ".join(str(n) for n in range(6000))},)
    bad_role = ({"role": "tool", "content": "{}"},)
    poisoned = ({"role": "user", "content": "this one makes generate raise"},)
    reqs = requests([*conversations[:5], too_long, bad_role, poisoned])
    poison_ids = engine.tokenizer.chat_ids(poisoned)
    generate = engine.model.generate

    def flaky_generate(*args, **kwargs):
        rows = kwargs["input_ids"].tolist()
        if any(row[-len(poison_ids) :] == poison_ids for row in rows):
            raise RuntimeError("simulated failure")
        return generate(*args, **kwargs)

    monkeypatch.setattr(engine.model, "generate", flaky_generate)
    results = answer(engine, reqs)
    errors = {key: r.error for key, r in results.items() if r.failed}
    assert errors == {"r5": "prompt_too_long", "r6": "chat_template_error", "r7": "RuntimeError"}
    for key in errors:
        assert results[key].finish_reason == FINISH_ERROR and results[key].text is None
    assert results["r5"].prompt_tokens > engine.max_model_len
    assert all(results[f"r{i}"].text is not None for i in range(5))
    assert answer(engine, requests([bad_role], max_new_tokens=0))["r0"].error == "invalid_sampling"


def test_special_tokens_never_appear_in_answers(engine, conversations):
    # At temperature 2 the flat distribution picks a special token now and then.
    results = answer(engine, requests(conversations, temperature=2.0, max_new_tokens=48))
    for result in results.values():
        assert not any(token in result.text for token in SPECIAL_TOKENS), result.text
    hf = engine.tokenizer.hf
    ids = hf.convert_tokens_to_ids([SPECIAL_TOKENS[3], "a", *SPECIAL_TOKENS, "b"])
    assert engine.tokenizer.decode(ids) == "ab"


def test_results_stream_out_batch_by_batch(tiny_a, conversations):
    pulled = []

    def endless() -> Iterator[ChatRequest]:
        for i in range(10_000):
            pulled.append(i)
            yield ChatRequest(f"s{i}", conversations[i % 5], Sampling(4, temperature=0.0))

    engine = TransformersEngine(tiny_a, batch_size=2)
    stream = engine.generate(endless())
    first = [next(stream), next(stream)]
    assert {r.key for r in first} <= {f"s{i}" for i in pulled}
    assert len(pulled) <= 2 * 8 + 1, "a window of a few batches is read ahead, not the whole input"
    stream.close()


def test_describe_identifies_model_and_libraries(engine, tiny_a):
    import torch
    import transformers

    info = engine.describe()
    assert info["engine"] == engine.name == "transformers"
    assert info["model"] == str(tiny_a) and info["model_type"] == "llama"
    assert len(info["model_sha256"]) == 64 and info["weights_hashed"]
    assert info["torch"] == torch.__version__ and info["transformers"] == transformers.__version__
    assert (info["device"], info["dtype"], info["max_model_len"]) == ("cpu", "float32", 4096)
    assert info["num_parameters"] == local_build("tiny-a").parameter_count()
    assert TransformersEngine(tiny_a).describe()["model_sha256"] == info["model_sha256"]


def test_a_default_system_prompt_is_prepended(tiny_a, conversations):
    plain = TransformersEngine(tiny_a)
    with_system = TransformersEngine(tiny_a, system_prompt="You are a helpful assistant.")
    reqs = requests(conversations[:3])
    longer = answer(with_system, reqs)
    for key, result in answer(plain, reqs).items():
        assert longer[key].prompt_tokens > result.prompt_tokens


def test_importing_the_engine_does_not_import_torch():
    code = (
        "import sys, wildchat50m.engines.transformers_engine, wildchat50m.tiny;"
        "print([m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
