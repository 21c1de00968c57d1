"""Shared fixtures: the real command line, offline, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

CliRunner = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def cli(tmp_path) -> CliRunner:
    """Run ``wildchat50m ARGS`` as a user would; fail the test on an unexpected exit code."""

    def run(*args: str, expect: int = 0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "wildchat50m", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "HF_HOME": str(tmp_path / "hf-home"), **(env or {})},
            timeout=1800,  # generous: a loaded 2-core machine may run the demo several times slower
        )
        assert result.returncode == expect, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    return run


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory) -> Path:
    """The demo's runs (``runs/``) and repository (``wildchat-50m/``), built once per test session."""
    root = tmp_path_factory.mktemp("demo")
    subprocess.run(
        [sys.executable, "-m", "wildchat50m", "demo", "--out", "runs", "--repo", "wildchat-50m"],
        cwd=root,
        env={**os.environ, "HF_HOME": str(root / "hf-home")},
        check=True,
        capture_output=True,
        timeout=1800,
    )
    return root
