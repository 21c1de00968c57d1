"""Jobs that chain stages, as plain functions: the commands call them, and so can a notebook.

- :func:`read_to_files` drains a reader into a parquet file of accepted rows and a JSON Lines
  file of rejections;
- :func:`run_job` runs a generation or judgment job locally or on Ray and writes its manifest;
- :func:`run_pilot` answers a small, diverse pilot first, as the paper's Appendix F asks;
- :func:`run_demo` is ``wildchat50m demo``: the whole pipeline on the embedded sample.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from wildchat50m import tiny
from wildchat50m.audit import AuditError, verify_run
from wildchat50m.engines import EngineSpec
from wildchat50m.generate import (
    GenerationSettings,
    Generator,
    pilot_hashes,
    pilot_report,
)
from wildchat50m.jobs import Log, ShardedJob, silent
from wildchat50m.registry import Registry
from wildchat50m.resources import malformed_sample_file, sample_file
from wildchat50m.runstore import RunStore
from wildchat50m.source import ConversationReader, Filters, ReadReport
from wildchat50m.summaries import read_summary, run_summary


def read_to_files(
    reader: ConversationReader, out: str | Path | None = None, rejects: str | Path | None = None
) -> tuple[ReadReport, float]:
    """Drain ``reader``; write accepted rows to ``out`` (parquet) and rejections to ``rejects`` (JSONL).

    ``out`` appears only complete: rows go to ``out.partial``, renamed into place at the end.
    Returns the read report and the seconds it took.
    """
    import pyarrow.parquet as pq

    from wildchat50m.schema import WILDCHAT_SCHEMA

    started = time.perf_counter()
    partial = Path(f"{out}.partial") if out else None
    with contextlib.ExitStack() as stack:
        if rejects:
            handle = stack.enter_context(open(rejects, "w", encoding="utf-8"))
            reader.on_reject = lambda rejection: handle.write(json.dumps(asdict(rejection)) + "\n")
        try:
            writer = pq.ParquetWriter(partial, WILDCHAT_SCHEMA, compression="zstd") if partial else None
            for batch in reader.batches():
                if writer is not None:
                    writer.write_batch(batch)
            if writer is not None and partial is not None:
                writer.close()
                os.replace(partial, str(out))
        finally:
            if partial is not None and partial.exists():
                partial.unlink()
    return reader.report, time.perf_counter() - started


#: The reading filters a generation run records among its parameters, with their defaults.
RECORDED_FILTERS: Mapping[str, Any] = {
    "languages": [],
    "exclude_toxic": False,
    "exclude_redacted": False,
    "min_turns": None,
    "max_turns": None,
    "dedupe": False,
    "sample": None,
    "allow_list": None,
}


def recorded_filters(**given: Any) -> dict[str, Any]:
    """The filters as a run records them (a resumed run must record the same)."""
    unknown = set(given) - set(RECORDED_FILTERS)
    if unknown:
        raise TypeError(f"unknown filters {sorted(unknown)}")
    values = {**RECORDED_FILTERS, **given}
    return {k: (list(v) if isinstance(v, (tuple, list)) else v) for k, v in values.items()}


def run_job(
    job: ShardedJob,
    *,
    executor: str = "local",
    replicas: int | str | None = None,
    ray_address: str | None = None,
) -> dict[str, Any]:
    """Run a generation or judgment job in this process (``local``) or on a Ray cluster.

    ``replicas``: engine replicas, ``auto`` (one per group of tensor-parallel-size visible GPUs)
    or a number; locally, more than one means as many worker processes (:func:`run_replicas`).
    Returns the run's manifest, written once by each worker as it left (the executors see to
    it), which covers every part of the run finished so far.
    """
    from wildchat50m.executors import default_gpus_per_replica, device_groups, visible_gpus

    per_replica = max(1, int(default_gpus_per_replica(job.engine_factory)))
    count = None if replicas == "auto" else int(replicas or 1)
    if executor == "ray":
        from wildchat50m.executors import run_on_ray

        if count is None:
            count = len(device_groups(visible_gpus(), per_replica))
        run_on_ray(job, replicas=count, address=ray_address)
    else:
        devices = device_groups(visible_gpus(), per_replica, count) if count != 1 else []
        if len(devices) > 1:
            from wildchat50m.executors import run_replicas

            run_replicas(job, devices)
        else:
            job.run()
    return job.store.manifest()


@dataclass
class PilotResult:
    """A finished pilot: the conversations it answered, where, and a report for a person to read."""

    hashes: list[str]
    root: Path
    manifest: dict[str, Any]
    report: str


def run_pilot(
    settings: GenerationSettings,
    out: str | Path,
    reader: ConversationReader,
    spec: EngineSpec,
    count: int,
    *,
    progress: bool = False,
    log: Log = silent,
) -> PilotResult:
    """Answer ``count`` conversations spread over languages and turn counts into ``out/pilot/``.

    The chosen hashes are written to ``out/pilot/<dgm>-hashes.txt``, the pilot run records that
    allow-list, and its report shows answer lengths, flags and a few answers.
    """
    hashes = pilot_hashes(reader, count, settings.seed)
    pilot_dir = Path(out) / "pilot"
    allow_list = pilot_dir / f"{settings.dgm}-hashes.txt"
    pilot_dir.mkdir(parents=True, exist_ok=True)
    allow_list.write_text("\n".join(hashes) + "\n", encoding="utf-8")
    pilot_reader = reader.with_filters(allow_hashes=frozenset(hashes), shard=None)
    pilot_settings = replace(settings, filters={**settings.filters, "allow_list": str(allow_list)})
    generator = Generator(pilot_settings, pilot_dir, pilot_reader, spec, progress=progress, log=log)
    manifest = run_job(generator)
    return PilotResult(hashes, generator.store.root, manifest, pilot_report(RunStore(generator.store.root)))


@dataclass
class DemoResult:
    """What ``run_demo`` made: the read report, one run per tiny model, the repository and its rows."""

    read: ReadReport
    runs: dict[str, Path] = field(default_factory=dict)
    repo: Path = Path("wildchat-50m")
    loaded: dict[str, tuple[int, int]] = field(default_factory=dict)


def run_demo(
    out: str | Path = "runs/demo",
    repo: str | Path = "wildchat-50m",
    *,
    registry: Registry | None = None,
    progress: bool = False,
    log: Log = silent,
) -> DemoResult:
    """The pipeline end to end on the embedded sample, on the CPU.

    Reads the sample with its deliberately malformed rows (every reason code at work), has the
    two tiny demo models answer every user turn, builds the repository ``repo`` with one config
    per model and loads each config back with the datasets library. ``log`` receives the same
    summaries ``wildchat50m demo`` prints.
    """
    from datasets import load_dataset

    from wildchat50m.builders.repository import build_repository
    from wildchat50m.registry import load_registry

    registry = registry or load_registry()
    reader = ConversationReader([sample_file(), malformed_sample_file()], progress=progress)
    report, seconds = read_to_files(reader)
    log(read_summary(report, seconds))
    result = DemoResult(read=report, repo=Path(repo))
    for name in tiny.DEMO_MODELS:
        dgm = registry.get(name)
        model = str(tiny.tiny_chat_model(name))
        settings = GenerationSettings.for_dgm(
            dgm, model=model, engine="transformers", source="embedded sample", filters=recorded_filters()
        )
        generator = Generator(
            settings,
            Path(out),
            ConversationReader(filters=Filters()),
            EngineSpec("transformers", model, {}, dgm.generation),
            progress=progress,
            log=log,
        )
        manifest = run_job(generator)
        log("\n" + run_summary(manifest, generator.store.root))
        result.runs[name] = generator.store.root
    audits = [verify_run(root) for root in result.runs.values()]
    problems = [audit.report() for audit in audits if not audit.ok]
    if problems:
        raise AuditError("\n".join(problems))
    log(
        f"\nwildchat50m runs verify {out}: {len(audits)} run(s) ok, "
        f"{sum(a.conversations for a in audits):,} conversations, {sum(a.turns for a in audits):,} user "
        "turns; each conversation once, every turn answered or failed with its kind, every checksum matches"
    )
    built = build_repository(Path(repo), list(result.runs.values()), registry=registry)
    log("")
    for config, rows in sorted(built.built.items()):
        log(f"built {config:<24} {rows:>9,} rows in {built.files[config]} shard(s)")
    log(
        f"{repo}: {len(built.configs)} config(s) ({', '.join(built.configs)}), default {built.default_config}"
    )
    log(str(built.search_index))
    for name in tiny.DEMO_MODELS:
        answers = load_dataset(str(repo), name, split="train")
        turns = sum(row["turn"] for row in answers.select_columns(["turn"]))
        result.loaded[name] = (answers.num_rows, turns)
    return result
