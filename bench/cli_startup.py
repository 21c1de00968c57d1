"""How long ``wildchat50m --help`` takes to start, against a bare Python interpreter.

The command line imports no heavy library (torch, vllm, ray, gradio, datasets...) until a
command needs one, so its help should cost little more than Python itself. Each run is a fresh
process, as a user's is; the two are interleaved so machine noise hits both alike.

    .venv/bin/python bench/cli_startup.py [--runs 15]

The last line is ``wildchat50m --help p50=<ms> (python -c pass p50=<ms>, ratio <r>)``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall_ms(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    help_command = [sys.executable, "-m", "wildchat50m", "--help"]
    bare_command = [sys.executable, "-c", "pass"]
    wall_ms(help_command)  # warm the file cache and bytecode
    helps, bares = [], []
    for _ in range(args.runs):
        helps.append(wall_ms(help_command))
        bares.append(wall_ms(bare_command))
    help_p50, bare_p50 = statistics.median(helps), statistics.median(bares)
    print(f"wildchat50m --help: min {min(helps):.0f} ms, max {max(helps):.0f} ms over {args.runs} runs")
    ratio = help_p50 / bare_p50
    print(f"wildchat50m --help p50={help_p50:.0f}ms (python -c pass p50={bare_p50:.0f}ms, ratio {ratio:.1f})")


if __name__ == "__main__":
    main()
