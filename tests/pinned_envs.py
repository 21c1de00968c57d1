"""Virtual environments with other library versions, cached outside the clone.

Integration tests that need another version of a library (datasets 4.8.4,
which Axolotl pins) run a script in such an environment. Each one is built
once from a requirements file under ``tests/envs/`` and kept in the user cache
directory under a name keyed by the file's hash, so CI on the same machine
reuses it and a changed pin builds a new one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ENVS = Path(__file__).parent / "envs"


def pinned_python(requirements: str) -> Path:
    """The interpreter of the environment built from ``tests/envs/<requirements>``."""
    spec = ENVS / requirements
    digest = hashlib.sha256(spec.read_bytes() + sys.version.encode()).hexdigest()[:12]
    cache = Path(os.environ.get("WILDCHAT50M_CACHE", Path.home() / ".cache" / "wildchat50m"))
    target = cache / "test-envs" / f"{spec.stem}-{digest}"
    python = target / "bin" / "python"
    if (target / ".complete").exists():
        return python
    shutil.rmtree(target, ignore_errors=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "-r", str(spec)], check=True)
    (target / ".complete").write_text(spec.read_text())
    return python
