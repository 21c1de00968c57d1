"""Reading a million conversations keeps memory bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from wildchat50m.synthetic import write_synthetic_parquet

ONE_GIB_KIB = 1024 * 1024


def test_a_million_rows_are_read_in_under_1_gb_of_peak_memory(tmp_path):
    source = tmp_path / "million.parquet"
    write_synthetic_parquet(str(source), 1_000_000)
    process = subprocess.Popen(
        [sys.executable, "-m", "wildchat50m", "read", str(source), "--dedupe", "--json", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    report = json.loads(stdout)
    assert report["rows_read"] == 1_000_000
    assert report["accepted"] + report["rejected"] == 1_000_000
    # The synthetic writer repeats one 10,000-row template with fresh hashes, so
    # deduplication by first user message keeps exactly one template's worth.
    assert report["accepted"] == 10_000
    assert report["reasons"] == {"filtered_duplicate_first_message": 990_000}
    assert usage.ru_maxrss < ONE_GIB_KIB, f"peak RSS {usage.ru_maxrss / 1024:.0f} MiB"
