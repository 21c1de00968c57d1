"""Reading a million conversations keeps memory bounded."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq

from wildchat50m.runstore import RunStore
from wildchat50m.source import ConversationReader, shard_of
from wildchat50m.synthetic import write_synthetic_parquet

ONE_GIB_KIB = 1024 * 1024

#: Runs a command from a fresh, small interpreter and prints the command's peak RSS (KiB) on stderr.
#: On Linux a child's ``ru_maxrss`` starts from the peak of the process that spawned it, and by
#: this point of the suite the pytest process may hold models of its own.
MEASURED = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def test_a_million_rows_are_read_in_under_1_gb_of_peak_memory(tmp_path):
    source = tmp_path / "million.parquet"
    write_synthetic_parquet(str(source), 1_000_000)
    command = [sys.executable, "-m", "wildchat50m", "read", str(source), "--dedupe", "--json", "--quiet"]
    result = subprocess.run([sys.executable, "-c", MEASURED, *command], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    peak_kib = int(result.stderr.strip().splitlines()[-1])
    report = json.loads(result.stdout)
    assert report["rows_read"] == 1_000_000
    assert report["accepted"] + report["rejected"] == 1_000_000
    # The synthetic writer repeats one 10,000-row template with fresh hashes, so
    # deduplication by first user message keeps exactly one template's worth.
    assert report["accepted"] == 10_000
    assert report["reasons"] == {"filtered_duplicate_first_message": 990_000}
    assert peak_kib < ONE_GIB_KIB, f"peak RSS {peak_kib / 1024:.0f} MiB"


#: One shard of ``sys.argv[2]`` synthetic conversations answered through the real job by an engine
#: that answers at once (no tokenizer: the character estimate budgets the prompts).
ONE_SHARD_RUN = """
import sys
from pathlib import Path
from wildchat50m.engines.base import ChatResult
from wildchat50m.generate import GenerationSettings, Generator
from wildchat50m.registry import load_registry
from wildchat50m.source import ConversationReader

class Instant:
    name, tokenizer = "instant", None
    def generate(self, requests):
        for request in requests:
            yield ChatResult(request.key, "An answer of a few words. " * 20, "stop", 40, 120)
    def describe(self):
        return {"engine": self.name}
    def close(self):
        pass

source, out = sys.argv[1], Path(sys.argv[2])
tiny = load_registry().get("tiny-a")
settings = GenerationSettings.for_dgm(tiny, model="tiny-a", engine="instant", num_shards=1)
Generator(settings, out, ConversationReader(source), Instant).run()
"""


def one_shard_peak_mib(tmp_path, conversations: int) -> float:
    source = tmp_path / f"{conversations}.parquet"
    write_synthetic_parquet(str(source), conversations)
    out = tmp_path / f"run-{conversations}"
    command = [sys.executable, "-c", ONE_SHARD_RUN, str(source), str(out)]
    result = subprocess.run([sys.executable, "-c", MEASURED, *command], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "tiny-a" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["conversations"] == conversations and manifest["shards"]["finished"] == 1
    return int(result.stderr.strip().splitlines()[-1]) / 1024


def test_answering_one_shard_holds_a_bounded_buffer_not_the_shard(tmp_path):
    small = one_shard_peak_mib(tmp_path, 5_000)
    large = one_shard_peak_mib(tmp_path, 40_000)
    # Eight times the conversations in the one shard: the records go to the file in row groups as
    # they are built and the input is read in batches, so the peak grows by no more than the
    # journal's answers (about 60,000 short ones here), not by the shard's rows.
    assert large < small + 150, f"peak RSS {small:.0f} MiB at 5,000 conversations, {large:.0f} MiB at 40,000"
    assert large < 600, f"peak RSS {large:.0f} MiB"


def test_staging_writes_each_shard_in_a_few_large_row_groups_with_every_row_in_order(tmp_path):
    """Row groups of one input batch and shard each would make a million conversations into tens of
    thousands of tiny row groups, whose metadata the shards' writers hold until they close."""
    source = tmp_path / "input.parquet"
    write_synthetic_parquet(str(source), 40_000)
    reader = ConversationReader(str(source))
    store, shards = RunStore(tmp_path / "run"), list(range(16))
    rows = store.stage(reader.batches(), (0, 1), shards, 16, shard_of, lambda: reader.report)
    assert sum(rows.values()) == 40_000
    hashes = pq.read_table(source, columns=["conversation_hash"]).column(0).to_pylist()
    for index in shards:
        staged = pq.ParquetFile(store.input_path(index, 16))
        assert staged.metadata.num_rows == rows[index] > 0
        # ~40 input batches of 1,024 rows reach every shard; they are gathered, not written one by one.
        assert staged.metadata.num_row_groups <= 2
        in_shard = [h for h in hashes if shard_of(h, 16) == index]
        assert staged.read(columns=["conversation_hash"]).column(0).to_pylist() == in_shard
