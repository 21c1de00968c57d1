"""Helpers of the Space tests: a repository to show, the Space served by the real CLI, and Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_space(repo: Path | str, workdir: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``wildchat50m space REPO`` on a free local port; yields its URL and stops it afterwards.

    ``repo`` is a directory or a Hub id; ``env`` adds variables (e.g. ``HF_ENDPOINT`` of a stub Hub).
    """
    port = free_port()
    with served(
        [sys.executable, "-m", "wildchat50m", "space", str(repo), "--port", str(port)],
        port,
        cwd=workdir,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})},
        log_path=workdir / f"space-{port}.log",
        timeout=180,
    ) as url:
        yield url


@contextmanager
def served(
    command: Sequence[str], port: int, *, cwd: Path, env: Mapping[str, str], log_path: Path, timeout: float
) -> Iterator[str]:
    """Run ``command``, a web server on ``port``, until its page answers; yields its URL, stops it after.

    Its output goes to ``log_path``, shown in the error when it does not start within ``timeout`` s.
    """
    log = open(log_path, "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(list(command), cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(f"the Space did not start:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def chromium() -> str:
    """Debian's chromium (installed with apt when missing: `playwright install` cannot download here)."""
    found = shutil.which("chromium")
    if found is None:
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=True, capture_output=True)
            subprocess.run(install, env=env, check=True, capture_output=True)
        found = shutil.which("chromium")
    assert found, "chromium is not installed and apt-get could not install it"
    return found


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
