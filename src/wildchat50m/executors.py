"""Executors: where the unfinished shards of a job are answered.

The local executor is :meth:`ShardedJob.run`. :func:`run_on_ray` answers the
same shards of any job (generation or judgment) on a Ray cluster through Ray
Data, one engine replica per actor. The run store's guarantees do not depend
on the executor: the driver stages the input once (:meth:`ShardedJob.prepare`),
every shard is answered and committed atomically by exactly one worker
(:meth:`ShardedJob.run_shard`, with its journal), and the driver writes the
manifest at the end. A Ray run may be killed and re-run, with or without Ray,
like a local one.

Ray is imported only when :func:`run_on_ray` is called. Workers must see the
run directory (a shared file system on a multi-node cluster) and the model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import traceback
from typing import Any

import pyarrow as pa

from wildchat50m.errors import InvalidSettingError, MissingExtraError, WildChat50mError
from wildchat50m.generate import EngineSpec
from wildchat50m.jobs import JobIncomplete, ShardedJob, ShardOutcome

#: Object store of a Ray instance started here: the dataset holds only shard ids and a row of stats each.
LOCAL_OBJECT_STORE_BYTES = 200 * 1024**2

#: What a worker returns per shard: its stats as JSON, or the error that stopped it.
RESULT_SCHEMA = pa.schema(
    [("shard", pa.int64()), ("stats", pa.string()), ("error_kind", pa.string()), ("error", pa.string())]
)
#: ``error_kind`` of a shard whose requests failed transiently (:class:`JobIncomplete`).
INCOMPLETE = "incomplete"


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
        if pending:
            job.log(f"answering {len(pending)} shard(s) on Ray with {min(replicas, len(pending))} replica(s)")
            outcomes = _answer_on_ray(
                job, pending, replicas, address, float(gpus_per_replica), float(cpus_per_replica)
            )
        else:
            job.log("every shard of this job is finished; nothing to run")
    finally:
        job.close()
    job.write_manifest()
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
