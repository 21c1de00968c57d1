"""Keeping a benchmark's stdout for its figures: libraries and engines log to stderr.

A script that reads a benchmark's last line of stdout must get the figure, not
a log line printed by an engine shutting down (vLLM logs to stdout, from this
process and from its workers, and again at exit).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO


def figures_stream() -> TextIO:
    """Point file descriptor 1 (and so ``print``, C libraries and child processes) at stderr,
    and return a stream on the real stdout, for the benchmark's own figures only."""
    sys.stdout.flush()
    figures = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    return figures
