"""Killing a real job at random moments, as a crash or a pre-empted node would."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def kill_at_random_moments(
    command: Sequence[str],
    run: Path,
    *,
    kills: int,
    seconds: tuple[float, float],
    rng: random.Random,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    after_kill: Callable[[], None] = lambda: None,
) -> None:
    """Start ``command`` and SIGKILL it after a random number of ``seconds``, ``kills`` times.

    A run that finishes before its kill is wiped (``run``'s files) and started again, so every
    kill lands mid-run. ``after_kill`` looks at what the run kept after each kill.
    """
    done = 0
    while done < kills:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(*seconds))
        if process.poll() is not None:
            assert process.returncode == 0, f"{command} failed with exit {process.returncode}"
            for path in sorted(run.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            continue
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        done += 1
        after_kill()
