"""Engine-level checks of the vllm engine on real vLLM, run in the cached vLLM environment.

``python vllm_checks.py MODEL OUT.json`` loads vLLM once, answers a few sets of
requests through :class:`VLLMEngine` (the same instance for all) and writes
every result as JSON; ``test_vllm_engine.py`` asserts on them. vLLM starts its
engine in a spawned process, hence the ``__main__`` guard.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import pyarrow.parquet as pq

from wildchat50m.engines.base import PAUSE, ChatRequest, Sampling
from wildchat50m.engines.vllm_engine import VLLMEngine
from wildchat50m.registry import load_registry
from wildchat50m.resources import sample_file

#: Engine arguments for vLLM's CPU build: seeded sampling needs chunked prefill off.
CPU_ARGS = {
    "gpu_memory_utilization": 0.1,
    "max_model_len": 2048,
    "enable_chunked_prefill": False,
    "enforce_eager": True,
}


def first_turns(count: int) -> list[tuple[dict[str, str], ...]]:
    """The first user message of the sample's first conversations (those under 2,000 characters)."""
    rows = pq.read_table(sample_file(), columns=["conversation"]).column("conversation").to_pylist()
    firsts = [next(m for m in row if m["role"] == "user") for row in rows]
    chosen = [m for m in firsts if m["content"] and len(m["content"]) < 2000][:count]
    return [({"role": "user", "content": m["content"]},) for m in chosen]


def answer(engine: VLLMEngine, requests: list) -> dict[str, dict]:
    return {result.key: asdict(result) for result in engine.generate(requests)}


def main(model: str, out: Path) -> None:
    engine = VLLMEngine(model, load_registry().get("tiny-vllm").generation, {**CPU_ARGS, "max_logprobs": 5})
    prompts = first_turns(12)
    sampled = [
        ChatRequest(f"s{i}", prompt, Sampling(max_new_tokens=24, temperature=1.0, seed=1000 + i))
        for i, prompt in enumerate(prompts)
    ]
    results: dict[str, object] = {
        "max_pending": engine.max_pending,
        "max_num_seqs": engine.llm.llm_engine.vllm_config.scheduler_config.max_num_seqs,
        # One seeded request with eleven others, alone, and with three others in another order.
        "seeded_batch": answer(engine, sampled),
        "seeded_alone": answer(engine, sampled[:1]),
        "seeded_other_batch": answer(engine, [sampled[5], sampled[0], sampled[9], sampled[3]]),
        "greedy_logprobs": answer(
            engine,
            [
                ChatRequest(
                    f"g{i}",
                    prompt,
                    Sampling(max_new_tokens=8, temperature=0.0, logprobs=True, top_logprobs=3),
                )
                for i, prompt in enumerate(prompts[:3])
            ],
        ),
        # The middle request's prompt is longer than max_model_len (2,048 tokens).
        "with_rejected": answer(
            engine,
            [
                ChatRequest("ok-1", prompts[0], Sampling(max_new_tokens=8, temperature=0.0)),
                ChatRequest(
                    "too-long",
                    ({"role": "user", "content": " ".join(["word"] * 5000)},),
                    Sampling(max_new_tokens=8, temperature=0.0),
                ),
                ChatRequest("ok-2", prompts[1], Sampling(max_new_tokens=8, temperature=0.0)),
            ],
        ),
        # A judge's forced prefix: the answer continues the assistant message "Score:".
        "continued": answer(
            engine,
            [
                ChatRequest("plain", prompts[2], Sampling(max_new_tokens=6, temperature=0.0)),
                ChatRequest(
                    "prefixed",
                    prompts[2],
                    Sampling(max_new_tokens=6, temperature=0.0),
                    assistant_prefix="Score:",
                ),
            ],
        ),
        "fixed_length": answer(
            engine,
            [
                ChatRequest(
                    f"f{n}", prompts[5], Sampling(max_new_tokens=n, temperature=0.0, fixed_length=True)
                )
                for n in (5, 40)
            ],
        ),
        "prefix_token_count": len(engine.tokenizer.encode("Score:")),
    }

    # A stream that pauses until its first request is answered, as history mode `self` does.
    order: list[str] = []

    def paused_stream():
        order.append("sent p0")
        yield ChatRequest("p0", prompts[3], Sampling(max_new_tokens=4, temperature=0.0))
        while "got p0" not in order:
            yield PAUSE
        order.append("sent p1")
        yield ChatRequest("p1", prompts[4], Sampling(max_new_tokens=4, temperature=0.0))

    for result in engine.generate(paused_stream()):
        order.append(f"got {result.key}")
    results["pause_order"] = order
    results["describe"] = engine.describe()
    engine.close()
    out.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
