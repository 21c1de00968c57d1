"""R workers sharing one run directory through shard leases, against one worker: the speed-up.

A machine without GPUs cannot show R GPUs at work, so the engine is a stand-in
that takes a fixed time per request (``--seconds``, tens of ms like a GPU's
share of a batch) and answers requests one after another, as one replica does.
The same synthetic conversations are answered (a) by one worker in this
process (``Generator.run``, what ``wildchat50m generate`` does) and (b) by R
worker processes on one fresh run directory (``run_replicas``, what
``generate --replicas R`` does: spawned processes, leases, heartbeats, shared
staging, the manifest at the end). Staging is done before the clock starts in
both. With a perfect split, R workers take 1/R of the time.

It also measures what a lease costs: taking and giving back one (an exclusive
create, a read, an unlink) and one heartbeat (a read and a touch), on the
file system of the run directory (``--dir``, default a temporary one).

    .venv/bin/python bench/replicas.py [--replicas 4] [--conversations 3000] [--seconds 0.03]

The last line is ``replicas=R speedup=X efficiency=X/R`` (efficiency = speed-up / R).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wildchat50m.engines.base import ChatRequest, ChatResult, Pause
from wildchat50m.executors import run_replicas
from wildchat50m.generate import GenerationSettings, Generator
from wildchat50m.leases import Leases
from wildchat50m.source import ConversationReader, Filters
from wildchat50m.synthetic import write_synthetic_parquet


class SteadyEngine:
    """A stand-in engine: every request takes ``seconds``, one after another, like one replica's stream."""

    name = "steady"
    tokenizer = None

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def generate(self, requests: Iterable[ChatRequest | Pause]) -> Iterator[ChatResult]:
        for request in requests:
            if isinstance(request, Pause):
                continue
            time.sleep(self.seconds)
            yield ChatResult(request.key, f"answer to {request.key}", "stop", 10, 5)

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "seconds_per_request": self.seconds}

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class SteadyEngineSpec:
    """A picklable recipe for the stand-in, so that each replica process builds its own."""

    seconds: float

    def __call__(self) -> SteadyEngine:
        return SteadyEngine(self.seconds)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def staged_job(source: Path, out: Path, settings: GenerationSettings, seconds: float) -> Generator:
    job = Generator(settings, out, ConversationReader([str(source)], Filters()), SteadyEngineSpec(seconds))
    job.prepare()
    job.close()
    return job


def lease_costs(folder: Path, count: int = 500) -> tuple[float, float]:
    """Seconds to take and give back one lease, and for one heartbeat of one lease (means of ``count``)."""
    leases = Leases(folder / "leases")
    started = time.perf_counter()
    for index in range(count):
        leases.acquire(f"shard-{index:05d}")
        leases.release(f"shard-{index:05d}")
    take_and_give = (time.perf_counter() - started) / count
    names = [f"beat-{index:05d}" for index in range(count)]
    for name in names:
        leases.acquire(name)
    started = time.perf_counter()
    for name in names:
        if leases.holds(name):
            leases.path(name).touch()
    heartbeat = (time.perf_counter() - started) / count
    leases.close()
    return take_and_give, heartbeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--conversations", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=0.03, help="stand-in engine time per request")
    parser.add_argument("--num-shards", type=int, default=64)
    parser.add_argument("--dir", type=Path, help="where the runs go (default: a temporary directory)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-replicas-", dir=args.dir))
    try:
        source = root / "conversations.parquet"
        write_synthetic_parquet(str(source), args.conversations, seed=7)
        settings = GenerationSettings(
            dgm="tiny-a", model="stand-in", engine="steady", num_shards=args.num_shards, source=str(source)
        )

        single = staged_job(source, root / "one", settings, args.seconds)
        requests = single.store.staged_reports()[0]["reader"]["accepted_user_turns"]
        started = time.perf_counter()
        single.run()
        one = time.perf_counter() - started
        ideal = requests * args.seconds
        log(f"1 worker: {requests} requests in {one:.2f} s (the engine alone: {ideal:.2f} s)")

        shared = staged_job(source, root / "shared", settings, args.seconds)
        started = time.perf_counter()
        run_replicas(shared, [""] * args.replicas)
        many = time.perf_counter() - started
        markers = shared.store.markers()
        pids = {marker["worker"]["pid"] for marker in markers}
        first = min(marker["answered_from"] for marker in markers) - (time.time() - many)
        log(
            f"{args.replicas} workers: the same requests in {many:.2f} s; {len(markers)} shards by "
            f"{len(pids)} workers; the first answer came {first:.2f} s after the start (spawning the "
            f"replicas, importing the package)"
        )

        take_and_give, heartbeat = lease_costs(root)
        per_shard = one / args.num_shards
        beats = per_shard / single.leases.heartbeat_seconds
        log(
            f"a lease: {take_and_give * 1e6:.0f} us to take and give back, {heartbeat * 1e6:.0f} us per "
            f"heartbeat (one every {single.leases.heartbeat_seconds:g} s); per shard of {per_shard:.2f} s: "
            f"{(take_and_give + beats * heartbeat) * 1e6:.0f} us"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    speedup = one / many
    print(f"replicas={args.replicas} speedup={speedup:.2f} efficiency={speedup / args.replicas:.2f}")


if __name__ == "__main__":
    main()
