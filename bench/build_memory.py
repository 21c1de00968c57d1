"""Peak memory of building one config: the streamed external merge against sorting in memory.

Writes (in a child process) a finished run of ``--rows`` synthetic conversations
answered with ~1.5 KB answers, split by hash into ``--shards`` run shards as
`generate` leaves them; then builds the config twice with ``build_repository``, each in a fresh child
process that reports its own peak RSS: once as it is (each run shard sorted
alone, then a streamed k-way merge) and once with the way it used to sort
swapped in (all shards concatenated and sorted in memory, then written).

    python bench/build_memory.py                 # 200,000 conversations, 16 shards
    python bench/build_memory.py --rows 1000000  # a full WildChat-sized config

Last line: ``peak memory: in-memory sort <MiB>, streamed merge <MiB> (<ratio>x less), <rows/s> rows/s``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {bench!r})
mode, work, rows, shards = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
started = time.perf_counter()
if mode == "make":
    make_run(work / "run", rows, shards)
else:
    from wildchat50m.builders import repository
    if mode == "in-memory":
        import pyarrow as pa, pyarrow.parquet as pq
        from wildchat50m.schema import OUTPUT_SCHEMA

        def sort_in_memory(run_dir, folder, judgment=False, **limits):
            files = sorted((run_dir / "data").glob("shard-*.parquet"))
            table = pa.concat_tables([pq.read_table(p, schema=OUTPUT_SCHEMA) for p in files])
            table = table.sort_by("conversation_hash").combine_chunks()
            tally = repository.ConfigTally(judgment)
            tally.add(table)
            return repository.write_sorted_shards(table, folder, **limits), tally

        repository.write_run_config = sort_in_memory
    repository.build_repository(work / mode, [work / "run"], search_index=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"peak_mib": peak, "seconds": time.perf_counter() - started}}))
"""

MAKE_RUN = r"""
def make_run(run_dir, rows, shards):
    import json
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from space_lookup import answered_table, base_table, phrase_text, user_prompts
    from wildchat50m.generate import answers_run_params
    from wildchat50m.jobs import RunKind
    from wildchat50m.runstore import RunStore, atomic_write_text, shard_name
    from wildchat50m.source import shard_of

    rng = np.random.default_rng(0)
    text = phrase_text(rng, 64 * 1024 * 1024)
    base = base_table(rows, 0)
    table = answered_table(base, user_prompts(base, text, rng), "bench-dgm", text, rng)
    store = RunStore(run_dir)
    store.claim(
        answers_run_params(
            "bench-dgm", kind=RunKind.GENERATION, engine="synthetic", source="bench/build_memory.py",
            num_shards=shards, seed=0,
        )
    )  # fmt: skip
    which = pa.array([shard_of(h, shards) for h in table.column("conversation_hash").to_pylist()])
    for index in range(shards):
        part = table.filter(pc.equal(which, index))
        output = store.output_path(index, shards)
        output.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, output, compression="zstd")
        atomic_write_text(store.marker_path(index), json.dumps({
            "shard": index, "of": shards, "name": shard_name(index, shards), "sha256": "",
            "rows": part.num_rows, "conversations": part.num_rows, "turns": 0, "prompt_tokens": 0,
            "completion_tokens": 0, "generation_seconds": 0.0, "finish_reasons": {}, "flags": {},
            "errors": {}, "truncated_prompts": 0, "accelerators": None, "engine": "synthetic"}))
"""


def child(mode: str, work: Path, rows: int, shards: int) -> dict[str, float]:
    code = MAKE_RUN + CHILD.format(bench=str(Path(__file__).parent))
    result = subprocess.run(
        [sys.executable, "-c", code, mode, str(work), str(rows), str(shards)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode:
        raise SystemExit(f"{mode} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="build-memory-") as folder:
        work = Path(folder)
        made = child("make", work, args.rows, args.shards)
        print(f"run of {args.rows:,} conversations in {args.shards} shards made in {made['seconds']:.0f} s")
        streamed = child("stream", work, args.rows, args.shards)
        print(f"streamed merge: peak {streamed['peak_mib']:,.0f} MiB, {streamed['seconds']:.1f} s")
        in_memory = child("in-memory", work, args.rows, args.shards)
        print(f"in-memory sort: peak {in_memory['peak_mib']:,.0f} MiB, {in_memory['seconds']:.1f} s")
    ratio = in_memory["peak_mib"] / streamed["peak_mib"]
    print(
        f"peak memory: in-memory sort {in_memory['peak_mib']:,.0f} MiB, streamed merge "
        f"{streamed['peak_mib']:,.0f} MiB ({ratio:.1f}x less), {args.rows / streamed['seconds']:,.0f} rows/s"
    )


if __name__ == "__main__":
    main()
