"""Reading a million conversations keeps memory bounded."""

from __future__ import annotations

import json
import subprocess
import sys

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
