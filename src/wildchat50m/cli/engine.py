"""Command-line options of the engine a command runs a model on (`generate`, `judge`), and the
choice of engine and model they make, kept in one place so both commands accept the same flags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

#: The keyword options handed to the engine as they are (None: the engine's own default).
ENGINE_OPTION_NAMES = (
    "device", "dtype", "batch_size", "base_url", "max_in_flight", "timeout", "max_retries",
    "tensor_parallel_size", "gpu_memory_utilization", "quantization", "max_num_seqs",
)  # fmt: skip


def engine_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--engine``, ``--model`` and the per-engine settings named in ``ENGINE_OPTION_NAMES``."""
    from wildchat50m.engines import ENGINES

    options = [
        click.option(
            "--engine",
            type=click.Choice(ENGINES),
            help="Default: vllm, or transformers for the tiny demo models.",
        ),
        click.option("--model", help="Model path or Hub id to load instead of the registry's."),
        click.option("--batch-size", type=click.IntRange(min=1), help="transformers: requests per batch."),
        click.option("--device", help="transformers: cpu, cuda, cuda:1, ..."),
        click.option("--dtype", help="transformers / vllm: float32, bfloat16, ..."),
        click.option("--base-url", help="openai: the server, e.g. http://127.0.0.1:8000/v1"),
        click.option("--max-in-flight", type=click.IntRange(min=1), help="openai: concurrent requests."),
        click.option(
            "--timeout", type=click.FloatRange(min=0, min_open=True), help="openai: seconds per request."
        ),
        click.option("--max-retries", type=click.IntRange(min=0), help="openai: retries per request."),
        click.option("--tensor-parallel-size", type=click.IntRange(min=1), help="vllm: GPUs per model."),
        click.option("--gpu-memory-utilization", type=click.FloatRange(0, 1), help="vllm."),
        click.option("--quantization", help="vllm: e.g. fp8."),
        click.option("--max-num-seqs", type=click.IntRange(min=1), help="vllm: sequences per step."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def engine_choice(dgm: Any, options: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    """The engine, model path and engine options that ``engine_options`` select for a DGM.

    A tiny test model runs on transformers from its local build; any other DGM defaults to
    vLLM. The model is None when neither ``--model`` nor a tiny build names one (the DGM's
    Hugging Face id then applies).
    """
    from wildchat50m import tiny

    local = dgm.local_build is not None
    engine = options["engine"] or ("transformers" if local else "vllm")
    model = options["model"] or (str(tiny.tiny_chat_model(dgm.config)) if local else None)
    return engine, model, {name: options[name] for name in ENGINE_OPTION_NAMES}
