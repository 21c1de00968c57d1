"""The real command line, as a user runs it: ``python -m wildchat50m ARGS`` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def wildchat50m(
    *args: str, cwd: Path, expect: int = 0, env: dict[str, str] | None = None, timeout: float = 1800
) -> subprocess.CompletedProcess:
    """Run ``wildchat50m ARGS`` in ``cwd`` (its own HF_HOME); fail on an unexpected exit code.

    The timeout is generous: a loaded 2-core machine may run a command several times slower.
    """
    result = subprocess.run(
        [sys.executable, "-m", "wildchat50m", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "HF_HOME": str(Path(cwd) / "hf-home"), **(env or {})},
        timeout=timeout,
    )
    assert result.returncode == expect, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result
