"""The Space's cold start over the Hub at the real size: 54 configs of 1M conversations each.

Serves a repository from the stub Hub (tests/helpers/hub_stub.py) over HTTP on
127.0.0.1 and opens it by repository id in a fresh process, as a deployed Space
does, with an empty Hub cache. Then it times, and counts the bytes of data files
the stub sends for:

- ``open``: listing the repository and downloading its index folder (here only the
  row-group maps: the search index is measured by bench/space_search.py), reported
  on its own;
- the cold first view: one conversation across 6 DGMs, nothing opened yet;
- views of 6 DGMs not opened yet (8 more rounds of 6: all 54 configs);
- warm views: conversations across 6 DGMs already opened (p95 over 60 views).

How the size is simulated. A real config of 1M rows is 16 shards of ~500 MB, each
with G row groups of ~4 MB uncompressed (G from the builder's own rule applied to
realistic synthetic rows, those of bench/space_lookup.py). Here every config has
those 16 files and G row groups per file, each row group covering the hash range
its share of 1M sorted hashes would cover, so the footers are real footers of the
real row-group count (their size is printed) and the row-group maps are those of
the real layout. Row groups hold 2 realistic rows (the first and last hash of
their range), except the one row group each view opens: it holds all its rows
(G's worth of realistic rows). A lookup reads one footer and one row group by
byte range, so what it reads is what it would read at the real size; only the
files' total sizes are smaller (the stub keeps them in memory). Files without a
viewed row group are the same bytes in every config.

    python bench/space_cold_start.py                       # 54 x 1M (builds ~1 min once, cached)
    python bench/space_cold_start.py --no-maps             # the same, reading footers (before the maps)

Last line: ``cold_first_view_s=... cold_mb=... new_config_view_s=... mb_per_new_config=...
warm_p95_ms=...`` (goals: 10 s and 50 MB; 1 s and 3 MB per config; 50 ms).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from space_lookup import answered_table, base_table, phrase_text, user_prompts
from wildchat50m.builders.repository import MAX_ROW_GROUP_BYTES, rows_per_group
from wildchat50m.builders.rowgroup_map import write_rowgroup_maps

from wildchat50m import layout
from wildchat50m.layout import parquet_write_options
from wildchat50m.registry import load_registry

REPO_ID = "bench/wildchat-50m"
TOKEN = "hf_benchTokenForTheColdStart0123456"
DGMS = 6


def config_names(count: int) -> list[str]:
    """The registry's DGM configs, then its local tiny ones, as many as asked."""
    registry = load_registry()
    names = [*registry.configs, *(dgm.config for dgm in registry.local())]
    if count > len(names):
        raise SystemExit(f"the registry names {len(names)} configs; ask for at most that many")
    return names[:count]


def hash_of(index: np.ndarray | int, rows: int) -> list[str]:
    """The ``index``-th of ``rows`` evenly spread, sorted 32-hex-digit hashes."""
    step = 16**32 // rows
    return [f"{int(i) * step:032x}" for i in np.atleast_1d(index)]


class Layout:
    """Where the rows of a 1M-row config fall: files of ``rows_per_file`` rows, groups of ``per_group``."""

    def __init__(self, rows: int, files: int, per_group: int) -> None:
        self.rows, self.files, self.per_group = rows, files, per_group
        self.rows_per_file = math.ceil(rows / files)
        self.groups_per_file = math.ceil(self.rows_per_file / per_group)

    def group_rows(self, file: int, group: int) -> tuple[int, int]:
        start = file * self.rows_per_file + group * self.per_group
        end = min(start + self.per_group, (file + 1) * self.rows_per_file, self.rows)
        return start, end


def with_hashes(sample: pa.Table, hashes: list[str]) -> pa.Table:
    """``len(hashes)`` realistic rows (cycling through ``sample``) carrying ``hashes``."""
    picks = pa.array(np.arange(len(hashes)) % sample.num_rows)
    rows = sample.take(picks)
    return rows.set_column(
        rows.schema.get_field_index("conversation_hash"), "conversation_hash", pa.array(hashes)
    )


def write_file(path: Path, sample: pa.Table, plan: Layout, file: int, full_group: int | None) -> None:
    """One shard: every row group its first and last row, ``full_group`` all its rows."""
    with pq.ParquetWriter(path, sample.schema, **parquet_write_options()) as writer:
        for group in range(plan.groups_per_file):
            start, end = plan.group_rows(file, group)
            wanted = np.arange(start, end) if group == full_group else np.array([start, end - 1])
            table = with_hashes(sample, hash_of(wanted, plan.rows))
            writer.write_table(table, row_group_size=table.num_rows)


def build(
    root: Path, configs: list[str], plan: Layout, views: list[tuple[int, int]], sample: pa.Table
) -> None:
    """Templates shared by every config, one variant per config (its viewed row group full), the maps."""
    templates = root / "templates"
    templates.mkdir(parents=True)
    for file in range(plan.files):
        write_file(templates / layout.data_file_name(file, plan.files), sample, plan, file, None)
    repo = root / "repo"
    for position, config in enumerate(configs):
        folder = repo / layout.DATA_DIR / config
        folder.mkdir(parents=True)
        viewed_file, viewed_group = views[position // DGMS]
        for file in range(plan.files):
            name = layout.data_file_name(file, plan.files)
            if file == viewed_file:
                write_file(folder / name, sample, plan, file, viewed_group)
            else:
                os.link(templates / name, folder / name)
        print(f"built {config} ({position + 1}/{len(configs)})", file=sys.stderr, flush=True)
    (repo / layout.README).write_text("---\n---\n", encoding="utf-8")
    report = write_rowgroup_maps(repo, repo / "index")
    print(f"row-group maps: {report.size_bytes / 1e6:.2f} MB for {len(configs)} configs", file=sys.stderr)


def load_into(hub, repo: Path) -> None:
    """Put the repository's files into the stub Hub's memory (hard-linked files share one bytes object)."""
    from hub_stub import Repo

    by_inode: dict[int, bytes] = {}
    files: dict[str, bytes] = {}
    for path in sorted(p for p in repo.rglob("*") if p.is_file()):
        inode = path.stat().st_ino
        if inode not in by_inode:
            by_inode[inode] = path.read_bytes()
        files[path.relative_to(repo).as_posix()] = by_inode[inode]
    hub.repos[REPO_ID] = Repo(REPO_ID, private=False, branches={"main": files})


def measure(args: argparse.Namespace) -> None:
    """The Space's side, in a fresh process: prints one JSON line per phase and waits to go on."""
    from wildchat50m.spaces.viewer.app import Viewer
    from wildchat50m.spaces.viewer.lookup import Repository

    plan = json.loads(args.measure)

    def phase(name: str, **facts: object) -> None:
        print(json.dumps({"phase": name, **facts}), flush=True)
        sys.stdin.readline()

    started = time.perf_counter()
    repository = Repository.open(REPO_ID, use_maps=not args.no_maps)
    phase("open", seconds=time.perf_counter() - started, maps=repository.maps_status)
    viewer = Viewer(repository)
    rounds = plan["rounds"]
    for number, (conversation_hash, configs) in enumerate(rounds):
        started = time.perf_counter()
        html, _, status = viewer.show(conversation_hash, configs, True)
        seconds = time.perf_counter() - started
        assert status.startswith(f"{DGMS} DGM(s) side by side"), status
        assert html.count('class="w50-cell"') >= DGMS, "every chosen DGM's answers are shown"
        phase("cold" if number == 0 else "new", seconds=seconds)
    draw = random.Random(0)
    for name, hashes in (("warm", [[h] for h, _ in rounds]), ("other", plan["others"])):
        seconds = []
        for view in range(args.warm_views):
            number = draw.randrange(len(rounds))
            choices = hashes[number]
            started = time.perf_counter()
            _, _, status = viewer.show(choices[view % len(choices)], rounds[number][1], True)
            seconds.append(time.perf_counter() - started)
            assert status.startswith(f"{DGMS} DGM(s) side by side"), status
        phase(name, seconds=seconds, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    repository.close()


def p95(sorted_values: list[float]) -> float:
    return sorted_values[min(len(sorted_values) - 1, math.ceil(0.95 * len(sorted_values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", type=int, default=54)
    parser.add_argument("--rows", type=int, default=1_000_000, help="conversations per config")
    parser.add_argument("--files", type=int, default=16, help="shards per config (~500 MB each at 1M rows)")
    parser.add_argument("--warm-views", type=int, default=60)
    parser.add_argument("--no-maps", action="store_true", help="ignore the row-group maps: read footers")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "wildchat50m" / "bench")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args)
        return

    draw = random.Random(1)
    rng = np.random.default_rng(0)
    text = phrase_text(rng, 16 * 1024 * 1024)
    base = base_table(2000, 0)
    sample = answered_table(base, user_prompts(base, text, rng), "bench", text, rng)
    per_group = rows_per_group(sample.nbytes, sample.num_rows, MAX_ROW_GROUP_BYTES)
    plan = Layout(args.rows, args.files, per_group)
    configs = config_names(args.configs)
    views = [
        (draw.randrange(plan.files), draw.randrange(plan.groups_per_file))
        for _ in range(math.ceil(len(configs) / DGMS))
    ]
    root = args.cache / f"space-cold-start-{args.configs}x{args.rows}-{args.files}-{per_group}"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        build(root, configs, plan, views, sample)
        (root / ".complete").write_text("")
    repo = root / "repo"
    footer = pq.read_metadata(root / "templates" / layout.data_file_name(0, plan.files)).serialized_size
    maps_bytes = sum(p.stat().st_size for p in (repo / "index" / "rowgroups").glob("*.parquet"))
    print(
        f"{len(configs)} configs x {args.rows:,} rows: {args.files} files of"
        f" {plan.groups_per_file} row groups ({per_group} rows each); footer {footer / 1e3:.0f} KB per file;"
        f" row-group map {maps_bytes / len(configs) / 1e3:.1f} KB per config",
        file=sys.stderr,
    )
    rounds, others = [], []
    for number, (file, group) in enumerate(views):
        start, end = plan.group_rows(file, group)
        others.append(hash_of(np.array(draw.sample(range(start, end), args.warm_views)), plan.rows))
        rounds.append(
            (hash_of((start + end) // 2, plan.rows)[0], configs[number * DGMS : (number + 1) * DGMS])
        )

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))
    from hub_stub import HubStub

    with HubStub(token=TOKEN) as hub:
        load_into(hub, repo)
        env = {
            **os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(root / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1",
        }  # fmt: skip
        shutil.rmtree(root / "hf-home", ignore_errors=True)
        command = [sys.executable, __file__, "--measure", json.dumps({"rounds": rounds, "others": others})]
        command += ["--warm-views", str(args.warm_views)] + (["--no-maps"] if args.no_maps else [])
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        results: dict[str, list] = {}
        sent = hub.bytes_sent("/data/")
        assert child.stdout is not None and child.stdin is not None
        for line in child.stdout:
            facts = json.loads(line)
            now = hub.bytes_sent("/data/")
            facts["data_bytes"], sent = now - sent, now
            facts["index_bytes"] = hub.bytes_sent("/index/")
            results.setdefault(facts["phase"], []).append(facts)
            child.stdin.write("go\n")
            child.stdin.flush()
        child.stdin.close()
        if child.wait() != 0:
            raise SystemExit("the measuring process failed (see above)")

    opened = results["open"][0]
    cold = results["cold"][0]
    new = results["new"]
    warm_ms = sorted(1000 * s for s in results["warm"][0]["seconds"])
    other_ms = sorted(1000 * s for s in results["other"][0]["seconds"])
    print(
        f"open (listing + index download) {opened['seconds']:.2f} s, {opened['index_bytes'] / 1e6:.1f} MB;"
        f" {opened['maps']}; new-config views: "
        + ", ".join(f"{view['seconds']:.2f} s/{view['data_bytes'] / 1e6:.1f} MB" for view in new)
        + f"; seen again p50 {statistics.median(warm_ms):.1f} ms; another conversation of opened configs"
        f" p50 {statistics.median(other_ms):.1f} ms"
        f" ({results['other'][0]['data_bytes'] / len(other_ms) / 1e6:.1f} MB a view);"
        f" the Space's peak memory {results['other'][0]['peak_rss_mb']:.0f} MB",
        file=sys.stderr,
    )
    print(
        f"cold_first_view_s={cold['seconds']:.2f} cold_mb={cold['data_bytes'] / 1e6:.1f}"
        f" new_config_view_s={statistics.median(v['seconds'] for v in new):.2f}"
        f" mb_per_new_config={max(v['data_bytes'] for v in new) / DGMS / 1e6:.2f}"
        f" warm_p95_ms={p95(warm_ms):.1f} other_p95_ms={p95(other_ms):.1f}"
        f" index_download_s={opened['seconds']:.2f}"
        f" index_mb={opened['index_bytes'] / 1e6:.1f}"
    )


if __name__ == "__main__":
    main()
