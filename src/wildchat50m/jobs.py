"""The sharded job that generation and judging both are.

A job reads its input once, stages it into shards by ``conversation_hash``,
and answers the unfinished shards of its part (``job = (i, n)``: every n-th
shard, so parts never overlap), journaling each answer as it completes and
committing each shard atomically (:mod:`wildchat50m.runstore`). A subclass
says what its parameters are, how its input is staged and how a shard is
answered; this module owns the rest, so the local loop, ``--shard I/N``
(Slurm arrays) and the Ray executor (:mod:`wildchat50m.executors`) work the
same for every kind of run.

Any number of identical workers may run one part at once: each claims a shard
with a lease (:mod:`wildchat50m.leases`) before answering it, the first to
come stages the input while the others wait, a worker whose shards are all
leased waits to take over any whose holder stops, and every worker leaves
when the part is complete (so its exit status says whether it is).

Run kinds (:class:`RunKind`) are recorded in every run's parameters and
manifest; they decide a run's config name, which card table it joins and which
job class counts its shards (:attr:`RunKind.job_class`: each job class names the
kinds it makes, and is known to its kinds once its module is imported).
"""

from __future__ import annotations

import enum
import os
import platform
import sys
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

from wildchat50m import __version__
from wildchat50m.engines.base import ChatResult, Engine, is_transient
from wildchat50m.errors import InvalidSettingError, WildChat50mError
from wildchat50m.leases import DEFAULT_LEASE_TIMEOUT, LeaseLost, Leases
from wildchat50m.runstore import RunStore, ShardCounts, is_run, storage_faults

Log = Callable[[str], None]


def silent(_message: str) -> None:
    """A job's default log: says nothing (module-level, so a job pickles for Ray workers)."""


class RunKind(enum.StrEnum):
    """What a run directory holds, recorded as ``kind`` in its parameters and manifest."""

    GENERATION = "generation"
    JUDGMENT = "judgment"
    IMPORTED = "imported"

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> RunKind:
        kind = params.get("kind")
        if kind not in {member.value for member in cls}:
            raise InvalidSettingError(
                f"the run's parameters record kind {kind!r}, not one of {', '.join(cls)}: "
                "a run written by an older version must be run again"
            )
        return cls(kind)

    def config_name(self, params: Mapping[str, Any]) -> str:
        """The repository config the run becomes: the DGM's name, or a judgment run's own name."""
        return str(params["config"] if self is RunKind.JUDGMENT else params["dgm"])

    @property
    def holds_answers(self) -> bool:
        """Answers of a DGM (generated or imported), as opposed to verdicts about them."""
        return self is not RunKind.JUDGMENT

    @property
    def job_class(self) -> type[ShardedJob]:
        """The job class whose :meth:`~ShardedJob.manifest_body` counts a run of this kind."""
        found = _JOB_CLASSES.get(self)
        if found is None:
            raise LookupError(
                f"no job class makes {self} runs yet: import wildchat50m.generate and wildchat50m.judging"
            )
        return found


#: The job class of each run kind, filled as :class:`ShardedJob` subclasses are defined.
_JOB_CLASSES: dict[RunKind, type[ShardedJob]] = {}


def run_kind(run_dir: Path) -> RunKind | None:
    """The kind of the run at ``run_dir``; None when the folder holds no run."""
    if not is_run(run_dir):
        return None
    return RunKind.of(RunStore(run_dir).params())


class JobIncomplete(WildChat50mError):
    """Some requests failed transiently; they were not stored, and a re-run sends them again."""


#: A job's engine stream stops after this many transient failures in a row (the server is likely down).
MAX_CONSECUTIVE_TRANSIENT = 64


class TransientFailures:
    """The one transient-failure policy of every job's engine stream (generation, judging).

    A result that failed transiently (:func:`~wildchat50m.engines.base.is_transient`: the server
    down, overloaded, timed out) is never stored: it is counted by kind, its shard stays open and
    a re-run sends it again. After ``limit`` of them in a row the stream stops (:attr:`gave_up`)
    rather than send every remaining request to a dead server. At the end,
    :meth:`raise_if_any` turns the count into the job's :class:`JobIncomplete`.
    """

    def __init__(self, limit: int = MAX_CONSECUTIVE_TRANSIENT) -> None:
        self.limit = limit
        self.kinds: Counter[str] = Counter()
        self.in_a_row = 0

    def skipped(self, result: ChatResult) -> bool:
        """Whether ``result`` failed transiently: then it is counted and must not be stored."""
        if not is_transient(result.error):
            self.in_a_row = 0
            return False
        self.kinds[result.error or ""] += 1
        self.in_a_row += 1
        return True

    @property
    def gave_up(self) -> bool:
        """Whether the last ``limit`` results all failed transiently: stop sending requests."""
        return self.in_a_row >= self.limit

    def raise_if_any(self, incomplete: type[JobIncomplete], requests: str, kept: str) -> None:
        """Raise ``incomplete`` when any request failed transiently, naming the kinds, what was
        kept and how to go on; ``requests`` names the requests (``judge request(s)``), ``kept``
        what was journaled (``answers``)."""
        if not self.kinds:
            return
        kinds = ", ".join(f"{kind} x{count}" for kind, count in self.kinds.most_common())
        stopped = f"; the job stopped after {self.limit} in a row" if self.gave_up else ""
        raise incomplete(
            f"{sum(self.kinds.values())} {requests} failed transiently ({kinds}) and were not stored"
            f"{stopped}; finished {kept} are journaled. Check the engine or server, then run the same "
            "command again."
        )


def job_shards(num_shards: int, job: tuple[int, int]) -> list[int]:
    """The shards job ``i`` of ``n`` owns: every n-th, so jobs never overlap."""
    index, count = job
    return [k for k in range(num_shards) if k % count == index]


def shard_lease(index: int) -> str:
    """The lease name of shard ``index``."""
    return f"shard-{index:05d}"


def staging_lease(job: tuple[int, int]) -> str:
    """The lease name of the staging of part ``job``'s input."""
    return f"staging-{job[0]}-of-{job[1]}"


@dataclass
class ShardOutcome:
    """One shard of a job's part: answered now (with its stats), or finished before and skipped."""

    index: int
    skipped: bool
    stats: dict[str, Any] | None = None


class ShardedJob(ABC):
    """One part of a run, safe to kill at any moment and run again.

    Subclasses set :attr:`kind` and implement :meth:`run_name`, :meth:`params`,
    :meth:`stage`, :meth:`answer_shards`, :meth:`detached` and :meth:`manifest_body`.
    """

    kind: ClassVar[RunKind]
    #: The :class:`TransientFailures` cut-off of this kind's engine streams.
    max_consecutive_transient: ClassVar[int] = MAX_CONSECUTIVE_TRANSIENT
    #: The kinds of run this class counts: its own :attr:`kind`, and any kind written in its shape.
    kinds: ClassVar[tuple[RunKind, ...]] = ()

    def __init_subclass__(cls, **options: Any) -> None:
        super().__init_subclass__(**options)
        for kind in cls.kinds:
            _JOB_CLASSES[kind] = cls

    def __init__(
        self,
        settings: Any,
        out: Path,
        engine_factory: Callable[[], Engine],
        *,
        job: tuple[int, int] = (0, 1),
        progress: bool = False,
        log: Log = silent,
        lease_timeout: float = DEFAULT_LEASE_TIMEOUT,
    ) -> None:
        """``settings`` is the kind's frozen settings dataclass; it has ``num_shards``.

        ``lease_timeout``: seconds without a heartbeat after which another worker may take over
        a shard this job's worker leased (see :mod:`wildchat50m.leases`).
        """
        index, count = job
        if not 0 <= index < count:
            raise InvalidSettingError(f"job {index}/{count}: the index must be in 0..{count - 1}")
        if count > settings.num_shards:
            raise InvalidSettingError(
                f"{count} jobs but only {settings.num_shards} shards: raise --num-shards"
            )
        self.settings = settings
        self.num_shards: int = settings.num_shards
        self.store = RunStore(Path(out) / self.run_name())
        self.engine_factory = engine_factory
        self.job = job
        self.progress = progress
        self.log = log
        self.lease_timeout = lease_timeout
        #: How to resume this job, for the messages of a stopped run.
        self.resume_command = "run the same command again"
        self._engine: Engine | None = None
        self._leases: Leases | None = None

    def __getstate__(self) -> dict[str, Any]:
        # A detached copy travels to other processes: its leases (a thread) and engine stay here.
        return {**self.__dict__, "_leases": None, "_engine": None}

    # -- what a kind of job says

    @abstractmethod
    def run_name(self) -> str:
        """The run's folder under the output directory (from :attr:`settings`)."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Everything that decides the results; a resumed run must give the same."""

    @abstractmethod
    def stage(self, shards: list[int]) -> None:
        """Write this part's input shards through :meth:`RunStore.stage`."""

    @abstractmethod
    def answer_shards(self, indices: list[int]) -> dict[int, Any]:
        """Answer and commit staged shards; the stats (with ``to_dict()``) of each shard committed."""

    @abstractmethod
    def detached(self) -> ShardedJob:
        """A copy without reader, log or engine, to be pickled to a worker that answers shards."""

    @classmethod
    @abstractmethod
    def manifest_body(cls, markers: list[dict[str, Any]]) -> dict[str, Any]:
        """The kind's own counts, from the committed shards' markers."""

    def on_engine_ready(self, engine: Engine) -> None:  # noqa: B027 (optional hook)
        """Called once the engine is built (e.g. to remember its tokenizer's special tokens)."""

    # -- the job

    @property
    def shards(self) -> list[int]:
        return job_shards(self.num_shards, self.job)

    @property
    def leases(self) -> Leases:
        """This worker's leases in the run directory (made on first use, in the process that works)."""
        if self._leases is None:
            self._leases = Leases(self.store.lease_folder, self.lease_timeout)
            self.store.before_commit = self._check_lease
            self.store.after_commit = self._release_lease
        return self._leases

    def _check_lease(self, index: int) -> None:
        if shard_lease(index) in self.leases.held:
            self.leases.check(shard_lease(index))

    def _release_lease(self, index: int) -> None:
        self.leases.release(shard_lease(index))

    def lease_lost(self, index: int) -> bool:
        """Whether another worker took over this worker's lease of shard ``index``."""
        return self._leases is not None and shard_lease(index) in self._leases.lost

    def storage_faults(self) -> AbstractContextManager[None]:
        """A context in which a full, read-only or unwritable run directory ends in one clear line."""
        return storage_faults(self.store.root, self.resume_command)

    def prepare(self) -> list[int]:
        """Record the parameters, stage this part's input once, and list its unfinished shards.

        Of several workers, the first stages and the others wait for its ``staged`` marker. A
        committed shard whose file no longer matches its marker is named in the log and
        forgotten, so that it is answered again.
        """
        with self.storage_faults():
            self.store.claim({**self.params(), "kind": str(self.kind)})
            self._stage_once()
            self._forget_damaged()
        return self.unfinished()

    def _stage_once(self) -> None:
        told = False
        while not self.store.is_staged(self.job):
            if self.leases.acquire(staging_lease(self.job)):
                try:
                    if not self.store.is_staged(self.job):
                        self.stage(self.shards)
                finally:
                    self.leases.release(staging_lease(self.job))
                return
            if not told:
                self.log("another worker is staging the input; waiting for it")
                told = True
            time.sleep(self.leases.poll_seconds)

    def _forget_damaged(self) -> None:
        for index in self.shards:
            if self.store.shard_damage(index, self.num_shards) is None:
                continue
            if not self.leases.acquire(shard_lease(index)):
                continue  # another worker holds it: it is answering it again
            try:
                damage = self.store.shard_damage(index, self.num_shards)
                if damage is not None:
                    self.log(f"shard {index} of {self.store.root} was damaged: {damage}; answering it again")
                    self.store.discard_shard(index, self.num_shards)
            finally:
                self.leases.release(shard_lease(index))

    def unfinished(self) -> list[int]:
        """This part's shards with no committed marker (a marker is checked once, by :meth:`prepare`)."""
        return [k for k in self.shards if not self.store.marker_path(k).exists()]

    def run(self) -> list[ShardOutcome]:
        """Stage, answer the part's unfinished shards (shared with any other worker), write the manifest."""
        self.prepare()
        try:
            with self.storage_faults():
                committed = self.answer_leased()
        finally:
            self.close()
        with self.storage_faults():
            write_manifest(self.store)
        return [
            ShardOutcome(
                k, skipped=k not in committed, stats=stats.to_dict() if (stats := committed.get(k)) else None
            )
            for k in self.shards
        ]

    def answer_leased(self) -> dict[int, Any]:
        """Answer unfinished shards under leases until the part is complete; the stats of those done here.

        A worker that finds every unfinished shard leased waits, and takes over a shard whose
        lease goes stale. The engine is built only once a shard is leased.
        """
        committed: dict[int, Any] = {}
        told = False
        while todo := self.unfinished():
            first = next(self._lease_shards(todo), None)
            if first is None:
                if not told:
                    self.log(
                        f"{len(todo)} shard(s) are being answered by other workers; waiting to take over "
                        f"any whose worker stops (lease timeout {self.lease_timeout:g} s)"
                    )
                    told = True
                time.sleep(self.leases.poll_seconds)
                continue
            told = False
            rest = (k for k in todo if k != first)
            try:
                committed.update(self.answer_shards(_chain(first, self._lease_shards(rest))))
            except LeaseLost as lost:
                self.log(str(lost))
        # A worker killed between a commit and its release left a lease behind: clear what is stale.
        for index in self.shards:
            if self.leases.path(shard_lease(index)).exists():
                self.leases.remove_if_stale(shard_lease(index))
        return committed

    def _lease_shards(self, candidates: Iterable[int]) -> Iterator[int]:
        """Lease the ``candidates`` one at a time as they are asked for, skipping any another worker holds."""
        for index in candidates:
            if self.store.marker_path(index).exists() or not self.leases.acquire(shard_lease(index)):
                continue
            if self.store.marker_path(index).exists():  # committed between the look and the lease
                self.leases.release(shard_lease(index))
                continue
            previous = self.leases.taken_over.pop(shard_lease(index), None)
            if previous is not None:
                self.log(
                    f"shard {index}: took over the lease of {previous.get('host')} pid "
                    f"{previous.get('pid')}, whose heartbeat stopped more than {self.lease_timeout:g} s ago"
                )
            yield index

    def run_shard(self, index: int) -> Any:
        """Answer one staged shard and commit it, under its lease; None when another live worker holds it.

        Safe on any worker that sees the run directory (the Ray executor's actors).
        """
        if next(self._lease_shards([index]), None) is None:
            return None
        try:
            return self.answer_shards([index]).get(index)
        finally:
            self.leases.release(shard_lease(index))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self.engine_factory()
            self.on_engine_ready(self._engine)
        return self._engine

    def engine_description(self) -> dict[str, Any] | None:
        """What the engine says about itself, for a shard's marker (None before it is built)."""
        return self._engine.describe() if self._engine is not None else None

    def close(self) -> None:
        """Shut the engine down and give back every lease still held."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._leases is not None:
            self._leases.close()


def _chain(first: int, rest: Iterator[int]) -> Iterator[int]:
    yield first
    yield from rest


def write_manifest(store: RunStore) -> dict[str, Any]:
    """Build the run's manifest from its committed shards and write it: the one writer, for every kind.

    Each worker writes it once, when it leaves the run. Workers that finish together may build
    theirs from different sets of markers; one that sees the markers change between building and
    writing builds and writes again, so the manifest last written counts every shard committed
    before it, whichever worker wrote it.
    """
    while True:
        before = store.counted_files()
        manifest = store.save_manifest(build_manifest(store))
        if store.counted_files() == before:
            return manifest


def build_manifest(store: RunStore) -> dict[str, Any]:
    """A run's manifest: its parameters, kind, shards, input report, the kind's counts, throughput.

    The kind's counts come from the job class of the kind the run records (:attr:`RunKind.job_class`).
    """
    params = store.params()
    job_class = RunKind.of(params).job_class
    markers = store.markers()
    staged = store.staged_reports()
    totals = ShardCounts.total(markers)
    seconds = totals.generation_seconds
    tokens = totals.prompt_tokens + totals.completion_tokens
    engines = [marker["engine"] for marker in markers if marker.get("engine")]
    body = job_class.manifest_body(markers)
    throughput = {
        "generation_seconds": round(seconds, 3),
        "tokens_per_second": round(tokens / seconds, 2) if seconds else None,
        **body.pop("throughput", {}),
    }
    return {
        "wildchat50m_version": __version__,
        "kind": params.get("kind"),
        "params": params,
        "shards": {
            "total": params["num_shards"],
            "finished": len(markers),
            "staged_rows": sum(sum(report["rows_per_shard"].values()) for report in staged),
        },
        "input": staged[0]["reader"] if staged else {},
        "skip_reasons": (staged[0]["reader"].get("reasons", {}) if staged else {}),
        **body,
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "throughput": throughput,
        "accelerators": markers[0].get("accelerators") if markers else None,
        "engine": engines[0] if engines else None,
        "libraries": library_versions(),
    }


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("pyarrow", "datasets", "torch", "transformers", "vllm", "httpx2", "httpx"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def accelerators() -> dict[str, Any]:
    """What the answers were computed on, as far as can be told without importing torch needlessly."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return {"kind": "gpu", "count": len(names), "names": sorted(set(names))}
    return {"kind": "cpu", "count": 1, "names": [_cpu_name()]}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{platform.machine()} ({os.cpu_count()} cores)"
