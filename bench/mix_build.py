"""Speed and peak memory of `wildchat50m mix build re-wild` on full-size synthetic sources.

The sources have the real shapes and sizes: a repository built by this
project's builder with a Qwen2.5-72B config of ``--conversations`` rows (answers of
about ``--answer-chars`` characters), MMLU auxiliary train (99,842 rows) and
Tulu 3 Persona Hub algebra (20,000 rows). The mix is built by the real
command in a subprocess, whose peak resident memory is read from the kernel;
the sources are made in another subprocess first, so that the bench process
(whose peak a forked child can inherit) stays small.

    .venv/bin/python bench/mix_build.py [--conversations 250000] [--answer-chars 1200] [--keep DIR]

The last line is ``mix build: N rows/s, peak memory M MiB (R rows in S s)``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wildchat50m.mixes.synthetic import (
    build_synthetic_repository,
    write_mmlu_auxiliary_train,
    write_tulu_algebra,
)


def make_sources(work: Path, conversations: int, answer_chars: int) -> None:
    build_synthetic_repository(work / "repo", {"Qwen2.5-72B": conversations}, answer_chars=answer_chars)
    write_mmlu_auxiliary_train(work / "mmlu.parquet")
    write_tulu_algebra(work / "algebra.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=250_000)
    parser.add_argument("--answer-chars", type=int, default=1200)
    parser.add_argument("--keep", type=Path, help="build the sources here and keep them")
    parser.add_argument("--sources-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sources_only:
        make_sources(args.sources_only, args.conversations, args.answer_chars)
        return

    work = args.keep or Path(tempfile.mkdtemp(prefix="mix-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        if not (work / "repo" / "README.md").exists():
            subprocess.run(
                [sys.executable, __file__, "--sources-only", str(work),
                 "--conversations", str(args.conversations), "--answer-chars", str(args.answer_chars)],
                check=True,
            )  # fmt: skip
        size = sum(p.stat().st_size for p in (work / "repo" / "data").rglob("*.parquet")) / 2**20
        print(f"sources ready in {time.perf_counter() - started:.1f} s (repository parquet {size:.0f} MiB)")

        out = work / "mix"
        command = [
            sys.executable, "-m", "wildchat50m", "mix", "build", "re-wild",
            "--repository", str(work / "repo"),
            "--source-path", f"mmlu-auxiliary-train={work / 'mmlu.parquet'}",
            "--source-path", f"tulu-3-personahub-algebra={work / 'algebra.parquet'}",
            "--out", str(out), "--overwrite", "--quiet",
        ]  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        stdout = process.stdout.read() if process.stdout else ""
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"mix build failed:\n{stdout}")
        print(stdout.rstrip())
        rows = int(stdout.strip().splitlines()[-1].split(" rows")[0].replace(",", ""))
        peak = usage.ru_maxrss / 1024
        rate = rows / seconds
        print(
            f"mix build: {rate:,.0f} rows/s, peak memory {peak:,.0f} MiB ({rows:,} rows in {seconds:.1f} s)"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
