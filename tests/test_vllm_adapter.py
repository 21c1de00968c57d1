"""The vLLM adapter without vLLM: the pure mappings, and generate() through a fake ``LLM``."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest

from wildchat50m.engines.base import FINISH_ERROR, ChatRequest, Sampling
from wildchat50m.engines.vllm_engine import (
    VLLMEngine,
    VLLMTokenizer,
    engine_kwargs,
    result_from_output,
    sampling_kwargs,
)
from wildchat50m.registry import load_registry

VLLM_LOADED_BY_THE_IMPORT = "vllm" in sys.modules


def test_importing_the_adapter_does_not_import_vllm():
    assert not VLLM_LOADED_BY_THE_IMPORT
    assert "vllm" not in sys.modules


@pytest.fixture(scope="module")
def registry():
    return load_registry()


# engine_kwargs


def test_engine_kwargs_from_the_registry(registry):
    qwen = registry.get("Qwen2.5-72B")
    kwargs = engine_kwargs(qwen.hf_id, qwen.generation, {})
    assert kwargs == {
        "model": "Qwen/Qwen2.5-72B-Instruct",
        "tensor_parallel_size": qwen.generation.tensor_parallel_size,
        "dtype": "bfloat16",
        "max_model_len": 20000,
        "gpu_memory_utilization": 0.90,
        "enable_prefix_caching": True,
        "seed": 0,
        "trust_remote_code": False,
    }
    assert "quantization" not in kwargs  # None: vLLM reads the checkpoint's own config


def test_engine_kwargs_fp8_entry(registry):
    nemo = registry.get("Mistral-Nemo")
    kwargs = engine_kwargs(nemo.hf_id, nemo.generation, {})
    assert kwargs["quantization"] == "fp8"
    assert kwargs["tensor_parallel_size"] == nemo.generation.tensor_parallel_size
    assert kwargs["max_model_len"] == nemo.generation.max_model_len


def test_engine_kwargs_overrides_win_and_pass_through(registry):
    qwen = registry.get("Qwen2.5-72B")
    overrides = {
        "tensor_parallel_size": 8,
        "gpu_memory_utilization": 0.8,
        "max_num_seqs": 512,
        "trust_remote_code": True,
        "enforce_eager": True,  # unknown to the adapter: passed on to vLLM
        "max_model_len": None,  # None: leave it to vLLM (the model's native context)
    }
    kwargs = engine_kwargs("/models/qwen", qwen.generation, overrides)
    assert kwargs["model"] == "/models/qwen"
    assert kwargs["tensor_parallel_size"] == 8
    assert kwargs["gpu_memory_utilization"] == 0.8
    assert kwargs["max_num_seqs"] == 512
    assert kwargs["trust_remote_code"] is True
    assert kwargs["enforce_eager"] is True
    assert "max_model_len" not in kwargs
    assert "max_num_seqs" not in engine_kwargs("m", qwen.generation, {})


def test_engine_kwargs_refuses_offline_data_parallelism(registry):
    with pytest.raises(ValueError, match="one process per GPU group"):
        engine_kwargs("m", registry.get("Qwen2.5-72B").generation, {"data_parallel_size": 2})


# sampling_kwargs


def test_sampling_kwargs_always_sets_max_tokens_and_the_request_seed():
    kwargs = sampling_kwargs(Sampling(max_new_tokens=4000, temperature=0.7, top_p=0.9, seed=12345))
    assert kwargs == {
        "n": 1,
        "max_tokens": 4000,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 12345,
        "logprobs": None,
    }
    assert sampling_kwargs(Sampling(max_new_tokens=8, logprobs=True))["logprobs"] == 1


def test_sampling_kwargs_rejects_an_empty_budget():
    with pytest.raises(ValueError, match="max_new_tokens"):
        sampling_kwargs(Sampling(max_new_tokens=0))


# result_from_output


def fake_output(text: str = "hi", finish_reason: str | None = "stop", prompt: int = 5, completion: int = 3):
    """An object shaped like vLLM's RequestOutput holding one CompletionOutput."""
    return SimpleNamespace(
        prompt_token_ids=list(range(prompt)),
        outputs=[
            SimpleNamespace(
                text=text,
                token_ids=list(range(completion)),
                finish_reason=finish_reason,
                cumulative_logprob=-1.5,
            )
        ],
    )


@pytest.mark.parametrize("reason", ["stop", "length"])
def test_result_from_a_finished_output(reason):
    result = result_from_output("k", fake_output("an answer", reason, prompt=7, completion=4))
    assert not result.failed
    assert (result.key, result.text, result.finish_reason) == ("k", "an answer", reason)
    assert (result.prompt_tokens, result.completion_tokens) == (7, 4)
    assert result.cumulative_logprob == -1.5


@pytest.mark.parametrize("reason", [None, "abort"])
def test_result_from_an_aborted_output_is_an_error(reason):
    result = result_from_output("k", fake_output("partial", reason))
    assert result.failed
    assert result.text is None
    assert result.finish_reason == FINISH_ERROR
    assert result.error == "aborted"
    assert repr(reason) in result.extra["error_detail"]
    assert result.prompt_tokens == 5


def test_result_without_outputs_is_an_error():
    result = result_from_output("k", SimpleNamespace(prompt_token_ids=[1, 2], outputs=[]))
    assert result.failed
    assert result.finish_reason == FINISH_ERROR
    assert result.error == "no_output"


# generate() through a fake LLM


class FakeSamplingParams:
    def __init__(self, **kwargs: Any):
        self.kwargs = kwargs


class FakeLLM:
    """Answers every conversation with its last user message reversed; records each chat() call."""

    def __init__(self, poison: str | None = None):
        self.poison = poison
        self.calls: list[dict[str, Any]] = []

    def chat(self, messages, sampling_params, **kwargs):
        self.calls.append({"messages": messages, "sampling_params": sampling_params, **kwargs})
        if self.poison is not None and any(c[-1]["content"] == self.poison for c in messages):
            raise ValueError("prompt is longer than the model's context")
        return [
            fake_output(c[-1]["content"][::-1], "stop", prompt=len(c), completion=p.kwargs["max_tokens"])
            for c, p in zip(messages, sampling_params, strict=True)
        ]


def make_requests(n: int) -> list[ChatRequest]:
    return [
        ChatRequest(
            key=f"r{i}",
            messages=({"role": "user", "content": f"question {i}"},),
            sampling=Sampling(max_new_tokens=10 + i, seed=1000 + i),
        )
        for i in range(n)
    ]


@pytest.fixture
def generation(registry):
    return registry.get("Qwen2.5-72B").generation


def test_generate_makes_one_chat_call_per_chunk(generation):
    llm = FakeLLM()
    engine = VLLMEngine("m", generation, chunk_size=4, llm=llm, sampling_params_cls=FakeSamplingParams)
    results = list(engine.generate(iter(make_requests(10))))

    assert [r.key for r in results] == [f"r{i}" for i in range(10)]
    assert [r.text for r in results] == [f"question {i}"[::-1] for i in range(10)]
    assert [r.completion_tokens for r in results] == [10 + i for i in range(10)]
    assert [len(call["messages"]) for call in llm.calls] == [4, 4, 2]
    for call in llm.calls:
        assert call["add_generation_prompt"] is True
        assert call["use_tqdm"] is False
        assert len(call["sampling_params"]) == len(call["messages"])
        assert "chat_template_kwargs" not in call
    seeds = [p.kwargs["seed"] for call in llm.calls for p in call["sampling_params"]]
    assert seeds == [1000 + i for i in range(10)]


def test_generate_passes_chat_template_kwargs(generation):
    llm = FakeLLM()
    engine = VLLMEngine(
        "m",
        generation,
        chat_template_kwargs={"enable_thinking": False},
        llm=llm,
        sampling_params_cls=FakeSamplingParams,
    )
    list(engine.generate(make_requests(3)))
    assert len(llm.calls) == 1
    assert llm.calls[0]["chat_template_kwargs"] == {"enable_thinking": False}


def test_a_failing_request_ends_alone_in_error(generation):
    llm = FakeLLM(poison="question 5")
    engine = VLLMEngine("m", generation, chunk_size=8, llm=llm, sampling_params_cls=FakeSamplingParams)
    results = list(engine.generate(make_requests(12)))

    assert [r.key for r in results] == [f"r{i}" for i in range(12)]
    failed = [r for r in results if r.failed]
    assert [r.key for r in failed] == ["r5"]
    assert failed[0].finish_reason == FINISH_ERROR
    assert failed[0].error == "engine_error"
    assert failed[0].extra["error_detail"].startswith("ValueError: prompt is longer")
    assert all(r.text == f"question {i}"[::-1] for i, r in enumerate(results) if i != 5)
    # The second chunk (r8..r11) went through in a single call.
    assert len(llm.calls[-1]["messages"]) == 4


def test_a_dead_engine_is_not_hidden_behind_error_results(generation):
    class EngineDeadError(RuntimeError):
        pass

    class DeadLLM:
        def chat(self, *args, **kwargs):
            raise EngineDeadError("engine core died")

    engine = VLLMEngine("m", generation, llm=DeadLLM(), sampling_params_cls=FakeSamplingParams)
    with pytest.raises(EngineDeadError):
        list(engine.generate(make_requests(3)))


def test_an_injected_llm_needs_a_sampling_params_class(generation):
    with pytest.raises(TypeError, match="sampling_params_cls"):
        VLLMEngine("m", generation, llm=FakeLLM())


# tokenizer, describe, close


class FakeHFTokenizer:
    all_special_tokens = ("<|endoftext|>", "<|im_end|>")

    def apply_chat_template(self, messages, add_generation_prompt, tokenize, **kwargs):
        assert add_generation_prompt and tokenize
        self.kwargs = kwargs
        text = "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"
        return {"input_ids": list(range(len(text.split())))}  # transformers 5 returns a dict

    def encode(self, text, add_special_tokens):
        assert add_special_tokens is False
        return [ord(c) for c in text]

    def decode(self, ids, skip_special_tokens):
        assert skip_special_tokens
        return "".join(chr(i) for i in ids)

    def get_added_vocab(self):
        return {"<|im_start|>": 1, "<|im_end|>": 2}


def test_tokenizer_adapter(generation):
    llm = FakeLLM()
    llm.get_tokenizer = FakeHFTokenizer
    engine = VLLMEngine(
        "m", generation, chat_template_kwargs={"x": 1}, llm=llm, sampling_params_cls=FakeSamplingParams
    )
    tokenizer = engine.tokenizer
    assert isinstance(tokenizer, VLLMTokenizer)
    assert tokenizer.count_chat_tokens([{"role": "user", "content": "a b c"}]) == 3
    assert tokenizer._tokenizer.kwargs == {"x": 1}
    assert tokenizer.decode(tokenizer.encode("héllo")) == "héllo"
    assert tokenizer.special_tokens == ("<|endoftext|>", "<|im_end|>", "<|im_start|>")


def test_describe_and_close(generation):
    engine = VLLMEngine(
        "m",
        generation,
        {"hf_token": "secret", "quantization": "fp8"},
        llm=FakeLLM(),
        sampling_params_cls=FakeSamplingParams,
    )
    info = engine.describe()
    assert info["engine"] == "vllm"
    assert info["model"] == "m"
    assert info["tensor_parallel_size"] == generation.tensor_parallel_size
    assert info["quantization"] == "fp8"
    assert "hf_token" not in info["engine_kwargs"]
    assert "vllm_version" in info and "torch_version" in info
    engine.close()
    engine.close()
    assert engine.tokenizer is None
    with pytest.raises(RuntimeError, match="closed"):
        list(engine.generate(make_requests(1)))
