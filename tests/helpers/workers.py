"""Several real `wildchat50m generate` workers on one run directory, watched from outside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

#: Put first on a worker's PYTHONPATH: its sitecustomize hooks the ledger and the disk-full fault.
OBSERVED = Path(__file__).parent / "observed"


def observed_env(**variables: str) -> dict[str, str]:
    """The environment of an observed worker: this interpreter's, plus the hooks' ``variables``."""
    path = os.pathsep.join(p for p in (str(OBSERVED), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **variables}


def start_worker(args: Sequence[str], cwd: Path, env: dict[str, str], name: str) -> subprocess.Popen:
    """Start ``wildchat50m ARGS`` with its stderr in ``cwd/<name>.err`` (read back by :func:`stderr_of`)."""
    with open(cwd / f"{name}.err", "w", encoding="utf-8") as errors:
        return subprocess.Popen(
            [sys.executable, "-m", "wildchat50m", *args],
            cwd=cwd,
            env={**env, "HF_HOME": str(cwd / "hf-home")},
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )


def stderr_of(cwd: Path, name: str) -> str:
    return (cwd / f"{name}.err").read_text(encoding="utf-8")


def ledger_counts(ledger: Path) -> tuple[Counter[str], dict[str, set[int]]]:
    """How often each request key was journaled, and by which processes."""
    counts: Counter[str] = Counter()
    by: dict[str, set[int]] = {}
    for line in ledger.read_text(encoding="utf-8").splitlines():
        pid, key = line.split(" ", 1)
        counts[key] += 1
        by.setdefault(key, set()).add(int(pid))
    return counts, by


def wait_for_lease_with_answers(run: Path, pid: int, timeout: float = 600) -> int:
    """Wait until process ``pid`` holds a shard's lease and has journaled answers of it; the shard."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for lease in sorted((run / "leases").glob("shard-*.lease")):
            try:
                holder = json.loads(lease.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            index = int(lease.stem.split("-")[1])
            journal = run / "journal" / f"shard-{index:05d}.jsonl"
            answered = journal.exists() and '"key"' in journal.read_text(encoding="utf-8")
            if holder.get("pid") == pid and answered:
                return index
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never held a lease with answers under {run}")
