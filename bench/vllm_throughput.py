"""vLLM throughput: raw ``LLM.chat``, the paper's batch loop, and this project's generation job.

The same requests (every user turn of some conversations of the embedded
sample, history mode ``original``) are answered three ways by one
``vllm.LLM`` instance:

1. raw: every request in one ``LLM.chat`` call (the practical limit);
2. batch loop: ``LLM.chat`` on batches of ``max_num_seqs`` requests, each
   waiting for its slowest (the paper's generator);
3. ours: the generation job, the code path of ``wildchat50m generate --engine
   vllm`` (staging, prompt budget, the vllm engine's bounded queue on
   ``add_request``/``step``, journal, shards, manifest).

A random tiny model stops at random, so, as vLLM's own throughput benchmark
does, every request generates exactly L tokens (``ignore_eos``,
``min_tokens = max_tokens = L``: ``Sampling.fixed_length``), L drawn per
request from a lognormal like real answer lengths (median ~200, capped at
1,024). The prefix cache is reset between the methods. Run it in the cached
vLLM environment (CPU build here, upstream vLLM on a GPU node)::

    ./run vllm-bench [--conversations 50] [--repeats 3] [--model PATH] [--engine-arg KEY=VALUE ...]

The three methods run ``--repeats`` times (default 3), alternating; it prints
tokens/s of each run, and after the engine has shut down its last line of stdout
is ``ours/raw=<r1> ours/batch_loop=<r2> spread=<s>``: ratios of the medians, and
the largest (max - min) / median of a method's runs. vLLM's own logs go to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import math
import random
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from _stdout import figures_stream

from wildchat50m.cli.engine import parse_engine_args
from wildchat50m.engines.base import ChatRequest, ChatResult, Pause
from wildchat50m.engines.vllm_engine import VLLMEngine, VLLMTokenizer, engine_kwargs, sampling_kwargs
from wildchat50m.generate import GenerationSettings, Generator
from wildchat50m.registry import load_registry
from wildchat50m.requests import PromptFitter, prompt_messages, turn_key, turns_of
from wildchat50m.source import ConversationReader, Filters
from wildchat50m.tiny import tiny_chat_model

#: vLLM's CPU build: seeded sampling needs chunked prefill off; a small KV-cache reservation.
CPU_ENGINE_ARGS = {"enable_chunked_prefill": False, "enforce_eager": True, "gpu_memory_utilization": 0.2}


def answer_lengths(keys: list[str], median: int, cap: int, seed: int) -> dict[str, int]:
    """A fixed answer length per request: lognormal (sigma 0.8) around ``median``, within [1, cap]."""
    rng = random.Random(seed)
    return {key: max(1, min(cap, round(rng.lognormvariate(math.log(median), 0.8)))) for key in keys}


class FixedLengths:
    """The vllm engine with each request's answer length fixed (``Sampling.fixed_length``)."""

    def __init__(self, engine: VLLMEngine, lengths: dict[str, int], expected: dict[str, ChatRequest]):
        self.engine = engine
        self.name = engine.name
        self.lengths = lengths
        self.expected = expected

    @property
    def tokenizer(self) -> VLLMTokenizer | None:
        return self.engine.tokenizer

    def generate(self, requests: Iterable[ChatRequest | Pause]) -> Iterator[ChatResult]:
        return self.engine.generate(self._fixed(requests))

    def _fixed(self, requests: Iterable[ChatRequest | Pause]) -> Iterator[ChatRequest | Pause]:
        for request in requests:
            if isinstance(request, ChatRequest):
                # The job must send exactly the requests the other two methods send.
                if request.messages != self.expected[request.key].messages:
                    raise AssertionError(f"the job's prompt of {request.key} differs from the baseline's")
                sampling = dataclasses.replace(
                    request.sampling, max_new_tokens=self.lengths[request.key], fixed_length=True
                )
                request = dataclasses.replace(request, sampling=sampling)
            yield request

    def describe(self) -> dict[str, Any]:
        return self.engine.describe()

    def close(self) -> None:
        self.engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-vllm", help="a tiny model name, or any model path or Hub id")
    parser.add_argument("--conversations", type=int, default=50, help="sample conversations (every turn)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each method, alternating")
    parser.add_argument("--max-num-seqs", type=int, default=64, help="vLLM's batch; also the loop's batch")
    parser.add_argument("--median-tokens", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine-arg", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    figures = figures_stream()

    import torch
    import vllm

    local = {dgm.config: dgm for dgm in load_registry().local()}
    tiny = args.model in local
    dgm = local[args.model if tiny else "tiny-vllm"]
    model = str(tiny_chat_model(args.model)) if tiny else args.model
    overrides = {} if torch.cuda.is_available() else dict(CPU_ENGINE_ARGS)
    overrides.update(max_num_seqs=args.max_num_seqs, max_model_len=args.max_model_len)
    overrides.update(parse_engine_args(None, None, tuple(args.engine_arg)))
    kwargs = engine_kwargs(model, dgm.generation, overrides)
    print(f"vLLM {vllm.__version__}, model {model}, engine arguments {kwargs}", file=figures)
    llm = vllm.LLM(**kwargs)

    settings = GenerationSettings.for_dgm(
        dgm, model=model, engine="vllm", max_model_len=args.max_model_len, max_new_tokens=args.max_tokens
    )
    filters = Filters(sample=args.conversations, seed=args.seed)
    fitter = PromptFitter(VLLMTokenizer(llm.get_tokenizer()), settings.max_input_tokens)
    requests: dict[str, ChatRequest] = {}
    for row in ConversationReader(None, filters).rows():
        for turn in turns_of(row["conversation"]):
            fitted = fitter.fit(prompt_messages(row["conversation"], turn))
            key = turn_key(row["conversation_hash"], turn.index)
            requests[key] = ChatRequest(
                key, tuple(fitted.messages), settings.sampling(row["conversation_hash"], turn.index)
            )
    lengths = answer_lengths(sorted(requests), args.median_tokens, args.max_tokens, args.seed)
    keys = list(requests)
    total = sum(lengths.values())
    median_length = sorted(lengths.values())[len(keys) // 2]
    print(f"{len(keys)} requests, {total:,} answer tokens (median L {median_length})", file=figures)

    def params(key: str) -> Any:
        sampling = dataclasses.replace(requests[key].sampling, max_new_tokens=lengths[key], fixed_length=True)
        return vllm.SamplingParams(**sampling_kwargs(sampling))

    def chat(batch: list[str]) -> int:
        outputs = llm.chat(
            [list(requests[k].messages) for k in batch], [params(k) for k in batch], use_tqdm=False
        )
        return sum(len(output.outputs[0].token_ids) for output in outputs)

    chat(keys[:8])  # warm-up
    rates: dict[str, list[float]] = {}

    def measure(name: str, run: Any) -> None:
        llm.reset_prefix_cache()
        start = time.perf_counter()
        generated = run()
        seconds = time.perf_counter() - start
        if generated != total:
            raise AssertionError(f"{name}: {generated} tokens generated, {total} expected")
        rates.setdefault(name, []).append(generated / seconds)
        print(f"{name:<11} {seconds:7.1f} s  {rates[name][-1]:8,.0f} output tokens/s", file=figures)

    batch = args.max_num_seqs

    def ours() -> int:
        with tempfile.TemporaryDirectory() as out:
            engine = FixedLengths(VLLMEngine(model, dgm.generation, overrides, llm=llm), lengths, requests)
            generator = Generator(settings, Path(out), ConversationReader(None, filters), lambda: engine)
            outcomes = generator.run()
            return sum(outcome.stats["completion_tokens"] for outcome in outcomes if outcome.stats)

    for _ in range(args.repeats):
        measure("raw", lambda: chat(keys))
        measure("batch_loop", lambda: sum(chat(keys[i : i + batch]) for i in range(0, len(keys), batch)))
        measure("ours", ours)
    medians = {name: statistics.median(runs) for name, runs in rates.items()}
    spread = max((max(runs) - min(runs)) / medians[name] for name, runs in rates.items())
    shutdown = getattr(llm.llm_engine, "shutdown", None)
    if callable(shutdown):
        shutdown()
    gc.collect()
    print(
        f"ours/raw={medians['ours'] / medians['raw']:.3f} "
        f"ours/batch_loop={medians['ours'] / medians['batch_loop']:.3f} spread={spread:.3f}",
        file=figures,
    )


if __name__ == "__main__":
    main()
