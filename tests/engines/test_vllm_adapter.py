"""The vllm engine's pure mappings and options, without vLLM (``test_vllm_engine.py`` runs real vLLM)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from wildchat50m.engines.base import FINISH_ERROR, PAUSE, ChatRequest, Sampling, pull
from wildchat50m.engines.vllm_engine import (
    UnknownEngineArgument,
    check_engine_args,
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


def test_fixed_length_sampling_ignores_the_end_of_sequence_up_to_max_tokens():
    kwargs = sampling_kwargs(Sampling(max_new_tokens=300, fixed_length=True))
    assert (kwargs["max_tokens"], kwargs["min_tokens"], kwargs["ignore_eos"]) == (300, 300, True)
    assert "ignore_eos" not in sampling_kwargs(Sampling(max_new_tokens=300))


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


# engine arguments and the request stream


def test_an_unknown_engine_argument_is_refused_naming_the_accepted_ones():
    accepted = {"enforce_eager", "enable_chunked_prefill", "swap_space"}
    check_engine_args(["enforce_eager", "swap_space"], accepted)
    with pytest.raises(UnknownEngineArgument, match="'enforce_eagre'") as refused:
        check_engine_args(["enforce_eagre"], accepted)
    assert "enable_chunked_prefill, enforce_eager, swap_space" in str(refused.value)


def test_engine_args_on_the_command_line_are_yaml_and_only_for_vllm(cli):
    refused = cli("generate", "--engine", "transformers", "--engine-arg", "enforce_eager=true", expect=2)
    assert "--engine-arg is for the vllm engine" in refused.stderr
    malformed = cli("generate", "--engine", "vllm", "--engine-arg", "enforce_eager", expect=2)
    assert "'enforce_eager' is not KEY=VALUE" in malformed.stderr


def test_pull_stops_at_the_limit_a_pause_or_the_end():
    requests = [ChatRequest(f"k{i}", (), Sampling(max_new_tokens=1)) for i in range(3)]
    stream = iter([requests[0], requests[1], PAUSE, requests[2]])
    assert pull(stream, 1) == ([requests[0]], False, False)
    assert pull(stream, 5) == ([requests[1]], True, False)
    assert pull(stream, 5) == ([requests[2]], False, True)
