"""Executors: where the unfinished shards of a job are answered.

The local executor is :meth:`ShardedJob.run`. :func:`run_replicas` starts R
local worker processes, each with its own engine and its own GPUs (a group of
the DGM's tensor-parallel size, :func:`device_groups`), to fill one node.
:func:`run_on_ray` answers the same shards of any job (generation or judgment)
on a Ray cluster through Ray Data, one engine replica per actor. The run
store's guarantees do not depend on the executor: the input is staged once
(:meth:`ShardedJob.prepare`), every shard is answered and committed atomically
by the one worker that holds its lease (:mod:`wildchat50m.leases`), and the
manifest is written at the end. Workers of every kind may share one run
directory at once, and a run may be killed and re-run with any executor.

Ray is imported only when :func:`run_on_ray` is called. Workers must see the
run directory (a shared file system on a multi-node cluster) and the model.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from wildchat50m.engines import EngineSpec
from wildchat50m.errors import InvalidSettingError, MissingExtraError, WildChat50mError
from wildchat50m.jobs import JobIncomplete, ShardedJob, ShardOutcome, shard_lease, write_manifest
from wildchat50m.leases import read_lease

#: Object store of a Ray instance started here: the dataset holds only shard ids and a row of stats each.
LOCAL_OBJECT_STORE_BYTES = 200 * 1024**2

#: What a worker returns per shard: its stats as JSON, or the error that stopped it.
RESULT_SCHEMA = pa.schema(
    [("shard", pa.int64()), ("stats", pa.string()), ("error_kind", pa.string()), ("error", pa.string())]
)
#: ``error_kind`` of a shard whose requests failed transiently (:class:`JobIncomplete`).
INCOMPLETE = "incomplete"
#: ``error_kind`` of a shard another live worker holds the lease of (a plain worker sharing the run).
HELD = "held"


class ExecutorError(WildChat50mError):
    """Ray could not run the job, or a shard failed on a worker; committed shards stay committed."""


class ShardWorker:
    """One engine replica on a Ray actor: answers the shards Ray Data hands it, one after another.

    It holds a detached copy of the job (no reader, log or engine travel); the engine is built
    on the first shard and reused for every later one.
    """

    def __init__(self, job: ShardedJob) -> None:
        self.job = job

    def __call__(self, batch: pa.Table) -> pa.Table:
        return pa.Table.from_pylist(
            [self._answer(int(index)) for index in batch.column("shard").to_pylist()], schema=RESULT_SCHEMA
        )

    def _answer(self, index: int) -> dict[str, Any]:
        # Errors travel as data, so the driver can name the shard and stop the run cleanly
        # instead of unwrapping Ray's exception chain.
        try:
            stats = self.job.run_shard(index)
            if stats is None:
                return {"shard": index, "error_kind": HELD, "error": "another worker holds its lease"}
        except JobIncomplete as error:
            return {"shard": index, "error_kind": INCOMPLETE, "error": str(error)}
        except (WildChat50mError, OSError) as error:
            return {"shard": index, "error_kind": type(error).__name__, "error": str(error)}
        except Exception as error:
            return {"shard": index, "error_kind": type(error).__name__, "error": traceback.format_exc()}
        return {"shard": index, "stats": json.dumps(stats.to_dict(), ensure_ascii=False)}

    def __del__(self) -> None:
        # Ray Data drops the UDF when the actor pool shuts down gracefully: free the engine (GPU memory).
        with contextlib.suppress(Exception):
            self.job.close()


def default_gpus_per_replica(engine_factory: Any) -> float:
    """GPUs one replica needs: vLLM's tensor-parallel size, or none for the other engines."""
    if not isinstance(engine_factory, EngineSpec) or engine_factory.name != "vllm":
        return 0.0
    size = engine_factory.options.get("tensor_parallel_size") or getattr(
        engine_factory.generation, "tensor_parallel_size", None
    )
    return float(size or 1)


# ---------------------------------------------------------------- replicas on one machine


def visible_gpus(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else those the NVIDIA driver lists.

    Read without importing torch (that would take seconds and hold a CUDA context).
    """
    value = environ.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        return [device.strip() for device in value.split(",") if device.strip() not in ("", "-1")]
    driver = Path("/proc/driver/nvidia/gpus")
    return [str(i) for i in range(len(list(driver.iterdir())))] if driver.is_dir() else []


def device_groups(gpus: Sequence[str], per_replica: int, replicas: int | None = None) -> list[str]:
    """Each replica's ``CUDA_VISIBLE_DEVICES``: consecutive groups of ``per_replica`` of the ``gpus``.

    ``replicas`` None is ``auto``: as many replicas as there are whole groups (one on a machine
    without GPUs, where every group is empty). GPUs that fill no whole group stay unused.
    """
    if per_replica < 1:
        raise InvalidSettingError(f"a replica needs at least one GPU, not {per_replica}")
    if replicas is not None and replicas < 1:
        raise InvalidSettingError(f"replicas must be at least 1, not {replicas}")
    if not gpus:
        return [""] * (replicas or 1)
    fits = len(gpus) // per_replica
    count = fits if replicas is None else replicas
    if count == 0 or count > fits:
        raise InvalidSettingError(
            f"{count or 1} replica(s) of {per_replica} GPU(s) each (the tensor-parallel size) need "
            f"{(count or 1) * per_replica} GPUs, but {len(gpus)} are visible ({','.join(gpus)}): "
            f"use --replicas {max(fits, 1) if fits else 'auto'} or a smaller tensor_parallel_size"
        )
    return [",".join(gpus[i * per_replica : (i + 1) * per_replica]) for i in range(count)]


def _replica_log(name: str, message: str) -> None:
    print(f"[{name}] {message}", file=sys.stderr, flush=True)


def _replica_main(job: ShardedJob, name: str, devices: str) -> None:
    """One replica process: its devices first (before any CUDA library loads), then the job's loop."""
    os.environ["CUDA_VISIBLE_DEVICES"] = devices
    job.log = functools.partial(_replica_log, name)
    try:
        job.run()
    except WildChat50mError as error:
        _replica_log(name, f"Error: {error}")
        sys.exit(1)


def run_replicas(job: ShardedJob, devices: Sequence[str]) -> list[ShardOutcome]:
    """Answer the job's part with one worker process per ``devices`` entry (its ``CUDA_VISIBLE_DEVICES``).

    The input is staged here first; each replica then takes shards through the leases, like
    any other worker on the run directory, and writes the manifest as it leaves.
    """
    job.prepare()
    job.close()
    detached = job.detached()
    # Forked from a server process that loaded the package once (not from this process: it may hold
    # threads, and CUDA must be initialised only in a replica, after its devices are set).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["wildchat50m.executors"])
    processes = [
        context.Process(target=_replica_main, args=(detached, f"replica {i}", group), name=f"replica-{i}")
        for i, group in enumerate(devices)
    ]
    job.log(
        f"starting {len(processes)} replica(s): "
        + ", ".join(f"replica {i} on {group or 'the CPU'}" for i, group in enumerate(devices))
    )
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
    failed = [f"replica {i} (exit {p.exitcode})" for i, p in enumerate(processes) if p.exitcode != 0]
    if failed:
        raise ExecutorError(
            f"{', '.join(failed)} failed; finished shards are committed. Resume with: {job.resume_command}"
        )
    # Each replica wrote the manifest as it left (ShardedJob.run); the last one counts every shard.
    return [ShardOutcome(k, skipped=False) for k in job.shards]


# ---------------------------------------------------------------- Ray


def run_on_ray(
    job: ShardedJob,
    *,
    replicas: int = 1,
    address: str | None = None,
    gpus_per_replica: float | None = None,
    cpus_per_replica: float = 1.0,
) -> list[ShardOutcome]:
    """Answer the job's unfinished shards on ``replicas`` Ray actors, then write the manifest.

    Any :class:`ShardedJob` runs here: a generation or a judgment part.

    ``address`` names a running cluster (or ``auto``; ``$RAY_ADDRESS`` is
    honoured too); without one, a small local Ray instance is started and
    stopped again. ``job.engine_factory`` must be picklable (an
    :class:`EngineSpec`). The first shard that fails stops the run with an
    :class:`ExecutorError` (a :class:`JobIncomplete` for transient
    failures); shards committed before stay committed, and a re-run resumes.
    """
    if replicas < 1:
        raise InvalidSettingError(f"replicas must be at least 1, not {replicas}")
    try:
        import ray  # noqa: F401 (checked before staging, which may take long)
    except ImportError as error:
        raise MissingExtraError(
            f"the ray executor needs Ray: pip install 'wildchat-50m[ray]' ({error})"
        ) from error
    if gpus_per_replica is None:
        gpus_per_replica = default_gpus_per_replica(job.engine_factory)
    outcomes: dict[int, dict[str, Any]] = {}
    try:
        pending = job.prepare()
        job.close()
        if not pending:
            job.log("every shard of this job is finished; nothing to run")
        # Shards held by plain workers on the same run come back "held": wait for them, and send them
        # again (to be taken over) only once they are neither committed nor held by a live worker.
        while pending:
            job.log(f"answering {len(pending)} shard(s) on Ray with {min(replicas, len(pending))} replica(s)")
            outcomes |= _answer_on_ray(
                job, pending, replicas, address, float(gpus_per_replica), float(cpus_per_replica)
            )
            pending = _free_shards(job)
    finally:
        job.close()
    with job.storage_faults():
        write_manifest(job.store)
    return [ShardOutcome(k, skipped=k not in outcomes, stats=outcomes.get(k)) for k in job.shards]


def _answer_on_ray(
    job: ShardedJob, pending: list[int], replicas: int, address: str | None, gpus: float, cpus: float
) -> dict[int, dict[str, Any]]:
    import ray

    replicas = min(replicas, len(pending))
    started = _init_ray(address, needed_cpus=replicas * cpus)
    try:
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = job.progress
        shards = ray.data.from_items([{"shard": k} for k in pending], override_num_blocks=len(pending))
        answered = shards.map_batches(
            ShardWorker,
            batch_size=1,
            batch_format="pyarrow",
            # One shard in flight per actor: a queue behind a busy replica would idle the others.
            compute=ray.data.ActorPoolStrategy(size=replicas, max_tasks_in_flight_per_actor=1),
            num_gpus=gpus,
            num_cpus=cpus,
            fn_constructor_kwargs={"job": job.detached()},
        )
        outcomes: dict[int, dict[str, Any]] = {}
        for row in answered.iter_rows():
            index = int(row["shard"])
            if row["error_kind"] == HELD:
                job.log(f"shard {index} is held by another worker; leaving it to that worker")
                continue
            if row["error_kind"] is not None:
                _raise_shard_error(index, row["error_kind"], row["error"])
            outcomes[index] = json.loads(row["stats"])
            job.log(f"shard {index} committed ({len(outcomes)} of {len(pending)})")
        return outcomes
    except ray.exceptions.RayError as error:
        raise ExecutorError(f"the Ray run failed: {error}") from error
    finally:
        if started:
            ray.shutdown()


def _free_shards(job: ShardedJob) -> list[int]:
    """The part's unfinished shards once none is held by a live worker (waits while one is)."""
    while True:
        todo = job.unfinished()
        held = [
            k
            for k in todo
            if (state := read_lease(job.leases.path(shard_lease(k)))) and not state.stale(job.lease_timeout)
        ]
        free = [k for k in todo if k not in held]
        if free or not todo:
            return free
        time.sleep(job.leases.poll_seconds)


def _raise_shard_error(index: int, kind: str, message: str) -> None:
    if kind == INCOMPLETE:
        raise JobIncomplete(f"shard {index}: {message}")
    raise ExecutorError(
        f"shard {index} failed on a Ray worker ({kind}): {message}\n"
        "Finished shards are committed; run the same command again to resume."
    )


def _init_ray(address: str | None, *, needed_cpus: float) -> bool:
    """Connect to ``address`` or start a local instance; True when this call did either."""
    import ray

    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
    }
    address = address or os.environ.get("RAY_ADDRESS")
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            # "local" starts a new instance even if `ray start` runs here (reach that one with "auto").
            # Logical CPUs only schedule actors: reserve enough for every replica even on a small machine.
            ray.init(
                address="local",
                num_cpus=max(os.cpu_count() or 1, math.ceil(needed_cpus)),
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                **quiet,
            )
    except ConnectionError as error:
        raise ExecutorError(f"could not connect to the Ray cluster at {address}: {error}") from error
    return True
