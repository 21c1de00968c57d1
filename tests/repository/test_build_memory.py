"""Building a config holds bounded buffers: its peak memory does not grow with the config's rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from wildchat50m.mixes.synthetic import write_config_run

#: Builds the config of run ``argv[1]`` into ``argv[2]`` in a fresh interpreter, then prints the
#: peak of Arrow's memory pool and the build's peak RSS, in MiB (a small parent process measures
#: the RSS: on Linux a child's ``ru_maxrss`` starts from the peak of the process that spawned it).
MEASURED_BUILD = """
import json, resource, subprocess, sys
build = '''
import json, sys
from pathlib import Path
import pyarrow as pa
from wildchat50m.builders.repository import build_repository
report = build_repository(Path(sys.argv[2]), [Path(sys.argv[1])], search_index=False)
arrow_peak_mib = pa.default_memory_pool().max_memory() / 2**20
print(json.dumps({"rows": sum(report.built.values()), "arrow_peak_mib": arrow_peak_mib}))
'''
result = subprocess.run([sys.executable, "-c", build, *sys.argv[1:]], capture_output=True, text=True)
sys.stderr.write(result.stderr)
facts = json.loads(result.stdout) if result.returncode == 0 else {}
print(json.dumps({**facts, "rss_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
sys.exit(result.returncode)
"""

SHARDS = 48


def build_peaks(tmp_path: Path, conversations: int) -> dict[str, float]:
    # Random answers: on disk the shards take about what they take in memory, as real text does
    # (a reader that held the files it reads would show, not hide behind a repetitive text's ratio).
    run = write_config_run(
        tmp_path / f"runs-{conversations}", "tiny-a", conversations,
        answer_chars=2000, num_shards=SHARDS, incompressible=True,
    )  # fmt: skip
    repo = tmp_path / f"repo-{conversations}"
    result = subprocess.run(
        [sys.executable, "-c", MEASURED_BUILD, str(run), str(repo)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    peaks = json.loads(result.stdout)
    assert peaks["rows"] == conversations
    peaks["data_mib"] = sum(p.stat().st_size for p in (run / "data").glob("*.parquet")) / 2**20
    return peaks


def test_building_four_times_the_rows_in_as_many_shards_needs_no_more_memory(tmp_path):
    """A build sorts each run shard alone and merges the sorted shards a row group at a time.

    With a shard count fixed, four times the rows make four times the bytes to merge; the merge's
    buffers (a batch per shard) stay the same, so Arrow's peak stays level and peak RSS grows by
    less than the bytes added (the one shard sorted at a time is larger, nothing else). 500 rows a
    shard already fill the merge's batches, and 2,000 keep the sort of one shard below the merge.
    """
    small = build_peaks(tmp_path, 500 * SHARDS)
    large = build_peaks(tmp_path, 2_000 * SHARDS)
    added_mib = large["data_mib"] - small["data_mib"]
    assert added_mib > 100, f"the larger run adds only {added_mib:.0f} MiB; the test shows nothing"
    assert large["arrow_peak_mib"] < 1.1 * small["arrow_peak_mib"], (small, large)
    # Holding the files read (pyarrow's pre-buffering did) grew peak RSS by about twice the bytes added.
    assert large["rss_peak_mib"] - small["rss_peak_mib"] < added_mib, (small, large)
