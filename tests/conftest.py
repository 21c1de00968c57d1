"""Shared fixtures: the real command line, offline, in a subprocess."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.commands import wildchat50m

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

CliRunner = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def cli(tmp_path) -> CliRunner:
    """Run ``wildchat50m ARGS`` as a user would, in the test's own directory."""

    def run(*args: str, expect: int = 0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return wildchat50m(*args, cwd=tmp_path, expect=expect, env=env)

    return run


@pytest.fixture
def cli_in_process(tmp_path, monkeypatch) -> CliRunner:
    """Run ``wildchat50m ARGS`` in this process with click's runner, in the test's own directory.

    For option and error paths: no interpreter start-up per call. Exceptions that are not the
    package's own errors propagate, so a bug fails the test with its traceback.
    """
    from click.testing import CliRunner as ClickRunner

    from wildchat50m.cli import cli as root

    monkeypatch.chdir(tmp_path)

    def run(*args: str, expect: int = 0, env: dict[str, str] | None = None) -> Any:
        result = ClickRunner().invoke(
            root, list(args), prog_name="wildchat50m", env=env, catch_exceptions=False
        )
        assert result.exit_code == expect, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
        return result

    return run


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory) -> Path:
    """``wildchat50m demo`` run once per test session: its runs (``runs/``), repository
    (``wildchat-50m/``) and what it printed (``demo-output.txt``)."""
    root = tmp_path_factory.mktemp("demo")
    result = wildchat50m("demo", "--out", str(root / "runs"), "--repo", str(root / "wildchat-50m"), cwd=root)
    (root / "demo-output.txt").write_text(result.stdout, encoding="utf-8")
    return root
