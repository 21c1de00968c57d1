"""Engines: one interface (see :mod:`.base`), three implementations loaded lazily.

``make_engine`` is the only place that knows which module implements which
engine, and :class:`EngineSpec` is every job's recipe for calling it (picklable,
so an executor builds one engine per worker from it); importing this package
imports none of torch, transformers or vLLM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wildchat50m.engines.base import Engine
from wildchat50m.errors import InvalidSettingError

ENGINES: tuple[str, ...] = ("transformers", "openai", "vllm")


def make_engine(name: str, model: str, options: dict[str, Any], generation: Any = None) -> Engine:
    """Build engine ``name`` for ``model``. ``options`` holds the engine's own settings (None = default)."""
    given = {k: v for k, v in options.items() if v is not None}
    if name == "transformers":
        from wildchat50m.engines.transformers_engine import TransformersEngine

        keys = ("device", "dtype", "batch_size", "max_model_len")
        return TransformersEngine(model, **{k: given[k] for k in keys if k in given})
    if name == "openai":
        from wildchat50m.engines.openai_compat import OpenAIEngine

        if "base_url" not in given:
            raise InvalidSettingError("the openai engine needs --base-url, e.g. http://127.0.0.1:8000/v1")
        keys = ("api_key", "max_in_flight", "timeout", "max_retries")
        return OpenAIEngine(given["base_url"], model, **{k: given[k] for k in keys if k in given})
    if name == "vllm":
        from wildchat50m.engines.vllm_engine import VLLMEngine

        keys = (
            "tensor_parallel_size",
            "gpu_memory_utilization",
            "quantization",
            "dtype",
            "max_model_len",
            "enable_prefix_caching",
            "max_num_seqs",
            "seed",
        )
        overrides = {k: given[k] for k in keys if k in given}
        overrides.update(given.get("engine_args") or {})
        return VLLMEngine(model, generation, overrides)
    raise InvalidSettingError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


@dataclass(frozen=True)
class EngineSpec:
    """A picklable recipe for an engine, so that executors can build one per worker."""

    name: str
    model: str
    options: dict[str, Any]
    generation: Any = None

    @classmethod
    def for_job(
        cls, name: str, model: str, options: dict[str, Any], max_model_len: int | None, generation: Any = None
    ) -> EngineSpec:
        """The engine of a job whose prompts are fitted to ``max_model_len``: the engine takes that
        context too, so ``--max-model-len`` sets the prompt budget and vLLM's window alike."""
        return cls(name, model, {**options, "max_model_len": max_model_len}, generation)

    def __call__(self) -> Engine:
        return make_engine(self.name, self.model, self.options, self.generation)
