"""Command-line options of the engine a command runs a model on (`generate`, `judge`), and the
choice of engine and model they make, kept in one place so both commands accept the same flags."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import click
import yaml

from wildchat50m.cli.common import with_options

#: The keyword options handed to the engine as they are (None: the engine's own default).
ENGINE_OPTION_NAMES = (
    "device", "dtype", "batch_size", "base_url", "max_in_flight", "timeout", "max_retries",
    "tensor_parallel_size", "gpu_memory_utilization", "quantization", "max_num_seqs", "engine_args",
)  # fmt: skip


def parse_engine_args(
    _context: click.Context | None, _parameter: click.Parameter | None, values: tuple[str, ...]
) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict, each value read as YAML (``false``, ``4096``, ``{a: 1}``, ``fp8``)."""
    parsed: dict[str, Any] = {}
    for value in values:
        key, equals, text = value.partition("=")
        if not equals or not key.strip():
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="--engine-arg")
        try:
            parsed[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise click.BadParameter(f"{value!r}: the value is not YAML ({error})") from error
    return parsed


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
        click.option(
            "--engine-arg",
            "engine_args",
            multiple=True,
            metavar="KEY=VALUE",
            callback=parse_engine_args,
            help="vllm: any argument of vllm.LLM (its EngineArgs), the value read as YAML; repeatable, "
            "e.g. --engine-arg enable_chunked_prefill=false. Recorded in the run manifest.",
        ),
    ]
    return with_options(command, options)


def engine_choice(dgm: Any, options: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    """The engine, model path and engine options that ``engine_options`` select for a DGM.

    A tiny test model runs on transformers from its local build; any other DGM defaults to
    vLLM. The model is None when neither ``--model`` nor a tiny build names one (the DGM's
    Hugging Face id then applies).
    """
    from wildchat50m import tiny

    local = dgm.local_build is not None
    engine = options["engine"] or ("transformers" if local else "vllm")
    engine_args = options["engine_args"]
    if engine_args and engine != "vllm":
        raise click.UsageError(f"--engine-arg is for the vllm engine, not {engine}")
    if engine_args and importlib.util.find_spec("vllm") is not None:
        # Checked before any input is staged or model loaded (the engine checks again when vLLM
        # is installed only where the engine runs, e.g. on Ray workers).
        from wildchat50m.engines.vllm_engine import check_cpu_engine_args, check_engine_args

        check_engine_args(engine_args)
        check_cpu_engine_args(engine_args)
    model = options["model"] or (str(tiny.tiny_chat_model(dgm.config)) if local else None)
    return engine, model, {name: options[name] for name in ENGINE_OPTION_NAMES}
