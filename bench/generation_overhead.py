"""Host-side overhead of the generation pipeline over direct engine calls.

The same requests go (a) straight to the transformers engine and (b) through
the whole job: reading and staging the input, fitting prompts into the token
budget, journaling every answer, building records, writing the shards and
the manifest. One engine instance serves both, so model loading is not
counted. The runs alternate, and the median of each is compared.

    .venv/bin/python bench/generation_overhead.py [--conversations 120] [--repeats 3]

The last line is ``overhead ratio (pipeline / direct engine) = X.XXX``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from wildchat50m.engines.transformers_engine import TransformersEngine
from wildchat50m.generate import GenerationSettings, Generator
from wildchat50m.registry import load_registry
from wildchat50m.requests import fit_prompt, prompt_messages, turn_key, turns_of
from wildchat50m.source import ConversationReader, Filters
from wildchat50m.tiny import tiny_chat_model


class _Shared:
    """Hands the pipeline the already-loaded engine and keeps it open between runs."""

    def __init__(self, engine: TransformersEngine):
        self.engine = engine
        self.name = engine.name

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def close(self) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--model", default="tiny-bench", help="a tiny model name (tiny-a, tiny-b, tiny-bench)"
    )
    args = parser.parse_args()

    dgm = load_registry().get(args.model)
    filters = Filters(sample=args.conversations, seed=1)
    settings = GenerationSettings.for_dgm(dgm, model=str(tiny_chat_model(args.model)), engine="transformers")
    # One shard: a real shard holds tens of thousands of requests, so its last partial batch is noise;
    # with a handful of requests, shard tails would dominate and measure batching, not the host.
    settings = GenerationSettings(**{**settings.__dict__, "temperature": 0.0, "num_shards": 1})
    engine = TransformersEngine(settings.model, batch_size=16)

    rows = list(ConversationReader(None, filters).rows())
    requests = []
    for row in rows:
        for turn in turns_of(row["conversation"]):
            fitted = fit_prompt(
                prompt_messages(row["conversation"], turn), engine.tokenizer, settings.max_input_tokens
            )
            requests.append(
                (
                    turn_key(row["conversation_hash"], turn.index),
                    fitted.messages,
                    settings.sampling(row["conversation_hash"], turn.index),
                )
            )

    from wildchat50m.engines.base import ChatRequest

    chat_requests = [ChatRequest(key, tuple(messages), sampling) for key, messages, sampling in requests]
    list(engine.generate(chat_requests[:16]))  # warm-up

    direct, pipeline = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        answered = sum(1 for _ in engine.generate(chat_requests))
        direct.append(time.perf_counter() - started)

        out = Path(tempfile.mkdtemp(prefix="wildchat50m-bench-"))
        try:
            generator = Generator(settings, out, ConversationReader(None, filters), lambda: _Shared(engine))
            started = time.perf_counter()
            generator.run()
            pipeline.append(time.perf_counter() - started)
        finally:
            shutil.rmtree(out)
        print(f"direct {direct[-1]:.2f} s ({answered} requests)   pipeline {pipeline[-1]:.2f} s", flush=True)

    ratio = statistics.median(pipeline) / statistics.median(direct)
    print(f"{len(rows)} conversations, {len(chat_requests)} requests, model {args.model}")
    print(f"overhead ratio (pipeline / direct engine) = {ratio:.3f}")


if __name__ == "__main__":
    main()
