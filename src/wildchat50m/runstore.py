"""The run store: atomic shards, a per-request journal, resume, and the run manifest.

Layout of one run (one DGM) under ``<out>/<config>/``::

    run.json                         the generation parameters; a re-run must match them
    inputs/shard-00003-of-00016.parquet   the conversations of shard 3 (WildChat schema)
    inputs/staged-<i>-of-<n>.json    job i of n staged its shards; holds the reader's report
    journal/shard-00003.jsonl        every finished request of an unfinished shard, appended
    data/shard-00003-of-00016.parquet     a finished shard (output schema), renamed into place
    shards/shard-00003.json          its checksum, size, counts and timings
    leases/shard-00003.lease         the worker answering shard 3 (see :mod:`wildchat50m.leases`)
    manifest.json                    everything above, aggregated (also by `wildchat50m runs show`)

A crash loses at most the requests in flight: finished shards are skipped, and
journaled requests are not sent again. A committed shard is trusted only while
its file matches the size and checksum its marker records.

:class:`RunStore` alone spells these names; every other module asks it for the
paths (:meth:`RunStore.output_files`, :meth:`RunStore.input_files`, ...).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Self, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from wildchat50m.errors import WildChat50mError
from wildchat50m.records import TurnOutcome
from wildchat50m.schema import OUTPUT_SCHEMA, WILDCHAT_SCHEMA

RUN_FILE = "run.json"
#: The rows staging holds, over all shards, before writing them out as row groups.
STAGING_BUFFER_BYTES = 256 << 20
MANIFEST_FILE = "manifest.json"
#: The folder of the workers' shard leases (written by :mod:`wildchat50m.leases`).
LEASE_FOLDER = "leases"


class RunMismatchError(WildChat50mError):
    """The output directory holds a run made with other generation parameters."""


class StorageError(WildChat50mError):
    """The run directory's file system refused a write: full, read-only, or not writable by this user."""


class MarkerError(WildChat50mError):
    """A finished shard's marker lacks a count its kind of run records (written by another version)."""


#: What the file system said, and what to do, for the faults a user can fix.
STORAGE_FAULTS: Mapping[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device", "free space there (or move the run directory to a "
                   "larger disk)"),
    errno.EDQUOT: ("the disk quota is exceeded", "free space within the quota (or move the run "
                   "directory)"),
    errno.EROFS: ("the file system is read-only", "remount it writable (or move the run directory)"),
    errno.EACCES: ("permission denied", "make the run directory writable by this user"),
    errno.EPERM: ("operation not permitted", "make the run directory writable by this user"),
}  # fmt: skip


def storage_fault(error: OSError) -> int | None:
    """The errno of ``error`` when it is one of :data:`STORAGE_FAULTS` (pyarrow puts it in the text)."""
    number = error.errno
    if number is None:
        found = re.search(r"\[errno (\d+)\]", str(error), re.IGNORECASE)
        number = int(found.group(1)) if found else None
    return number if number in STORAGE_FAULTS else None


@contextlib.contextmanager
def storage_faults(root: Path, resume: str) -> Iterator[None]:
    """Turn a storage fault under ``root`` into one :class:`StorageError` line: path, cause, fix, resume."""
    try:
        yield
    except OSError as error:
        number = storage_fault(error)
        if number is None:
            raise
        cause, fix = STORAGE_FAULTS[number]
        path = error.filename or root
        raise StorageError(
            f"{path}: {cause}. Finished answers are kept in {root}; {fix}, then resume with: {resume}"
        ) from None


_Written = TypeVar("_Written")


def with_path(error: OSError, path: Path) -> OSError:
    """``error`` naming ``path`` when it names no file (a failed write or fsync on an open handle)."""
    if error.filename or error.errno is None:
        return error
    return OSError(error.errno, error.strerror, str(path))


def fsync_directory(path: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise with_path(error, partial) from None
    fsync_directory(path.parent)


def atomic_write_table(path: Path, table: pa.Table, **parquet_options: Any) -> str:
    """Write a parquet file atomically (temp file, fsync, rename); returns its sha256."""

    def write(partial: Path) -> None:
        pq.write_table(table, partial, compression="zstd", **parquet_options)

    return _atomic_parquet(path, write)[0]


def atomic_write_rows(
    path: Path, rows: Iterable[dict[str, Any] | pa.Table], schema: pa.Schema, rows_per_group: int = 1024
) -> tuple[str, int]:
    """Write ``rows`` to a parquet file atomically as they come, so memory holds one row group, never
    the file; returns its sha256 and its number of rows.

    Rows given as dicts go in groups of ``rows_per_group``; a table (rows already in Arrow, as an
    import or a synthetic run makes them) is written as it is, in ``schema``.
    """
    # A writer killed mid-file leaves its partial behind; no other process writes this shard.
    for stale in path.parent.glob(f".{path.name}.*.partial"):
        stale.unlink(missing_ok=True)

    def write(partial: Path) -> int:
        written = 0
        with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
            group: list[dict[str, Any]] = []

            def flush() -> None:
                nonlocal written, group
                writer.write_table(pa.Table.from_pylist(group, schema=schema))
                written += len(group)
                group = []

            for row in rows:
                if isinstance(row, pa.Table):
                    if group:
                        flush()
                    writer.write_table(row.select(schema.names).cast(schema))
                    written += row.num_rows
                    continue
                group.append(row)
                if len(group) == rows_per_group:
                    flush()
            if group or not written:
                flush()
        return written

    return _atomic_parquet(path, write)


def _atomic_parquet(path: Path, write: Callable[[Path], _Written]) -> tuple[str, _Written]:
    """The atomic-write steps of every parquet file the run store writes: ``write`` fills a temp
    file, which is fsynced, hashed and renamed into place; a failure leaves no temp file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        written = write(partial)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        digest = file_sha256(partial)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise with_path(error, partial) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return digest, written


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _nothing(_index: int) -> None:
    """The run store's default commit hook (module-level, so a store pickles)."""


class NoRunError(WildChat50mError):
    """A path named as a run holds no run, nor a folder of runs."""


def find_runs(paths: Iterable[Path | str]) -> list[Path]:
    """Run directories: each path is one (it holds :data:`RUN_FILE`) or a folder of them."""
    runs: list[Path] = []
    for path in map(Path, paths):
        found = find_run_dirs(path)
        if not found:
            raise NoRunError(f"no run at {path} (a run directory holds {RUN_FILE})")
        runs.extend(found)
    return runs


def shard_name(index: int, count: int) -> str:
    return f"shard-{index:05d}-of-{count:05d}"


class Journal:
    """Append-only record of finished requests of one shard, replayed on resume.

    Each line is one JSON object; a line cut short by a crash is dropped on
    reopening (the file is truncated back to its last complete line). Lines
    are flushed at once and fsynced at most every ``sync_seconds``. Entries
    are generation outcomes unless ``decode`` rebuilds another kind (any
    object with ``to_dict()``) from its stored dict.

    The generation time of the shard is the span of each session (opening to
    last entry), unless entries are appended with the ``seconds`` they are
    charged with: a caller that feeds several shards through one engine at
    once charges each answer with the time since the previous answer, so the
    shards' times add up to the engine's time, not to a multiple of it.
    """

    def __init__(
        self,
        path: Path,
        sync_seconds: float = 1.0,
        decode: Callable[[dict[str, Any]], Any] = lambda stored: TurnOutcome(**stored),
    ):
        self.path = path
        self.sync_seconds = sync_seconds
        self.decode = decode
        path.parent.mkdir(parents=True, exist_ok=True)
        self.entries: dict[str, Any] = {}
        #: When the first entry still in the journal was appended (over every session); None when empty.
        self.first_at: float | None = None
        self.previous_seconds = 0.0
        self.charged_seconds: float | None = None
        self._recover()
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 (kept open across appends)
        self._session_start = time.time()
        self._last_at = self._session_start
        self._last_sync = 0.0
        self._write({"session": self._session_start})

    def _recover(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(len(complete))
        session_start = last_at = None
        for line in complete.decode("utf-8").splitlines():
            entry = json.loads(line)
            if "session" in entry:
                if session_start is not None and last_at is not None:
                    self.previous_seconds += max(0.0, last_at - session_start)
                session_start, last_at = entry["session"], entry["session"]
                continue
            self.entries[entry["key"]] = self.decode(entry["outcome"])
            last_at = entry["at"]
            self.first_at = last_at if self.first_at is None else self.first_at
            if "seconds" in entry:
                self.charged_seconds = (self.charged_seconds or 0.0) + entry["seconds"]
        if session_start is not None and last_at is not None:
            self.previous_seconds += max(0.0, last_at - session_start)

    def _write(self, entry: Mapping[str, Any]) -> None:
        try:
            self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            self._handle.flush()
            now = time.monotonic()
            if now - self._last_sync >= self.sync_seconds:
                os.fsync(self._handle.fileno())
                self._last_sync = now
        except OSError as error:
            raise with_path(error, self.path) from None

    def append(self, key: str, outcome: Any, seconds: float | None = None) -> None:
        """Record one finished request; ``seconds``: the engine time charged to it, if the caller says."""
        self._last_at = time.time()
        self.first_at = self._last_at if self.first_at is None else self.first_at
        self.entries[key] = outcome
        entry = {"key": key, "at": self._last_at, "outcome": outcome.to_dict()}
        if seconds is not None:
            entry["seconds"] = round(seconds, 6)
            self.charged_seconds = (self.charged_seconds or 0.0) + seconds
        self._write(entry)

    def generation_seconds(self) -> float:
        """Time spent generating this shard, over every session that worked on it."""
        if self.charged_seconds is not None:
            return self.charged_seconds
        return self.previous_seconds + (self._last_at - self._session_start)

    def close(self) -> None:
        if self._handle.closed:
            return
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as error:
            raise with_path(error, self.path) from None
        finally:
            with contextlib.suppress(OSError):
                self._handle.close()

    def remove(self) -> None:
        """Delete the journal of a committed shard; gone even when its last fsync fails (a full disk):
        the shard is committed, and a journal left behind would be a stray file of a finished run."""
        try:
            self.close()
        finally:
            self.path.unlink(missing_ok=True)


#: The metadata of a :class:`ShardCounts` counter added after markers were first written: a
#: marker without it (from a run made before it existed, with nothing to count there) reads as empty.
ADDED_LATER: Mapping[str, bool] = MappingProxyType({"added after markers were first written": True})


@dataclass
class ShardCounts:
    """The numbers and counters of one committed shard, as its marker records them.

    Every kind of run counts these; a kind's stats add their own fields (see :class:`ShardStats`).
    The marker is written from these fields (:meth:`RunStore.commit`) and read back into them
    (:meth:`from_marker`, :meth:`total`), so a field added here is written and read alike, and a
    marker that lacks one is an error, never a silent 0. The one exception is a counter made with
    ``metadata=ADDED_LATER``: it came after markers were first written, and a marker of a run made
    before it (which had nothing to count there) reads as empty, so older runs still build.
    """

    conversations: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generation_seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        values = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, float):
                value = round(value, 3)
            elif isinstance(value, Mapping):
                value = dict(value)
            values[item.name] = value
        return values

    @classmethod
    def from_marker(cls, marker: Mapping[str, Any]) -> Self:
        """The counts a shard's marker records; every field of this kind must be there."""
        missing = [
            item.name for item in fields(cls) if item.name not in marker and item.metadata != ADDED_LATER
        ]
        if missing:
            shard = marker.get("shard")
            raise MarkerError(
                f"the marker of shard {shard} records no {', '.join(missing)} (written by another "
                f"version); delete shards/shard-{shard:05d}.json to answer that shard again"
                if isinstance(shard, int)
                else f"a shard marker records no {', '.join(missing)} (written by another version)"
            )
        blank = cls()
        values = {}
        for item in fields(cls):
            value = marker.get(item.name)
            counter = isinstance(getattr(blank, item.name), Counter)
            values[item.name] = Counter(value or {}) if counter else value
        return cls(**values)

    @classmethod
    def total(cls, markers: Iterable[Mapping[str, Any]]) -> Self:
        """The counts of every shard of ``markers`` added up: numbers summed, counters merged."""
        total = cls()
        for marker in markers:
            shard = cls.from_marker(marker)
            for item in fields(cls):
                value = getattr(total, item.name)
                if isinstance(value, Counter):
                    value.update(getattr(shard, item.name))
                else:
                    setattr(total, item.name, value + getattr(shard, item.name))
        return total


@dataclass
class ShardStats(ShardCounts):
    """What one finished shard of answers (generated or imported) holds, for the manifest."""

    turns: int = 0
    truncated_prompts: int = 0
    finish_reasons: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    #: A re-generation run's answers by where they come from: ``regenerated`` or ``carried`` over.
    answers_by_origin: Counter[str] = field(default_factory=Counter, metadata=ADDED_LATER)


def is_run(path: Path) -> bool:
    """Whether ``path`` is a run directory (it holds the run's parameters)."""
    return (Path(path) / RUN_FILE).exists()


def find_run_dirs(path: Path) -> list[Path]:
    """The run at ``path``, or every run directly below it, in order; [] when there is none."""
    path = Path(path)
    return [path] if is_run(path) else sorted(p.parent for p in path.glob(f"*/{RUN_FILE}"))


class RunStore:
    """The files of one run; every write is atomic."""

    def __init__(self, root: Path):
        self.root = Path(root)
        #: Called with a shard's index just before it is committed (may raise to refuse), and just after.
        self.before_commit: Callable[[int], None] = _nothing
        self.after_commit: Callable[[int], None] = _nothing

    # -- the folders, for the modules that read them

    @property
    def lease_folder(self) -> Path:
        return self.root / LEASE_FOLDER

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_FILE

    def output_files(self) -> list[Path]:
        """The run's data files (finished shards, and any file left there without a marker), in order."""
        return sorted((self.root / "data").glob("shard-*.parquet"))

    def input_files(self) -> list[Path]:
        """The run's staged input shards, in order."""
        return sorted((self.root / "inputs").glob("shard-*.parquet"))

    def journal_files(self) -> dict[int, Path]:
        """The journal of every shard that has one, by shard index."""
        return {int(p.stem.split("-")[1]): p for p in sorted((self.root / "journal").glob("shard-*.jsonl"))}

    # -- parameters

    def claim(self, params: Mapping[str, Any]) -> None:
        """Record the run's parameters, or check them against the recorded ones."""
        path = self.root / RUN_FILE
        if path.exists():
            recorded = json.loads(path.read_text(encoding="utf-8"))
            differing = sorted(k for k in set(recorded) | set(params) if recorded.get(k) != params.get(k))
            if differing:
                details = "; ".join(
                    f"{k}: recorded {recorded.get(k)!r}, now {params.get(k)!r}" for k in differing
                )
                raise RunMismatchError(
                    f"{self.root} holds a run with other parameters ({details}). "
                    "Use another --out directory, or delete this one to start over."
                )
            return
        atomic_write_text(path, json.dumps(dict(params), indent=2, ensure_ascii=False, sort_keys=True))

    def save_manifest(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Stamp ``manifest`` with the time and write it atomically as the run's manifest.json
        (built by :func:`wildchat50m.jobs.write_manifest`, its one writer)."""
        manifest["written_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False))
        return manifest

    def manifest(self) -> dict[str, Any]:
        """The manifest last written (by this worker or another one on the run)."""
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def counted_files(self) -> list[tuple[str, int, int]]:
        """What a manifest is built from, as it stands now: every shard marker and staging report,
        with its size and change time (a marker rewritten after a damaged shard is redone differs)."""
        files = [
            *self.marker_path(0).parent.glob("shard-*.json"),
            *self.staged_marker((0, 1)).parent.glob("staged-*.json"),
        ]
        found = []
        for path in sorted(files):
            with contextlib.suppress(FileNotFoundError):
                facts = path.stat()
                found.append((str(path), facts.st_size, facts.st_mtime_ns))
        return found

    def params(self) -> dict[str, Any]:
        return json.loads((self.root / RUN_FILE).read_text(encoding="utf-8"))

    def save_special_tokens(self, tokens: tuple[str, ...] | list[str]) -> None:
        path = self.root / "special_tokens.json"
        if not path.exists():
            atomic_write_text(path, json.dumps(sorted(tokens), ensure_ascii=False))

    def special_tokens(self) -> tuple[str, ...] | None:
        path = self.root / "special_tokens.json"
        return tuple(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None

    # -- inputs

    def input_path(self, index: int, count: int) -> Path:
        return self.root / "inputs" / f"{shard_name(index, count)}.parquet"

    def staged_marker(self, job: tuple[int, int]) -> Path:
        return self.root / "inputs" / f"staged-{job[0]}-of-{job[1]}.json"

    def is_staged(self, job: tuple[int, int]) -> bool:
        return self.staged_marker(job).exists()

    def stage(
        self,
        batches: Iterator[pa.RecordBatch],
        job: tuple[int, int],
        shards: list[int],
        count: int,
        owner_of: Callable[[str, int], int],
        reader_report: Callable[[], Any],
        schema: pa.Schema = WILDCHAT_SCHEMA,
    ) -> dict[int, int]:
        """Stream accepted rows into this job's input shards, in bounded memory.

        Every shard is written to a temporary file first; all are renamed into
        place only when the input has been read to its end, and the job's
        ``staged`` marker comes last, so an interrupted staging starts over.
        """
        wanted = set(shards)
        folder = self.root / "inputs"
        folder.mkdir(parents=True, exist_ok=True)
        partials = {k: self.input_path(k, count).with_suffix(f".{os.getpid()}.partial") for k in shards}
        # A staging killed midway leaves its partials behind; only the staging lease's holder stages.
        for index in shards:
            for stale in folder.glob(f"{self.input_path(index, count).stem}.*.partial"):
                stale.unlink(missing_ok=True)
        writers = {k: pq.ParquetWriter(partials[k], schema, compression="zstd") for k in shards}
        rows = dict.fromkeys(shards, 0)
        # Each shard's rows are gathered into row groups of a bounded size: one row group per input
        # batch and shard would make a million rows into tens of thousands of tiny row groups, whose
        # metadata the writers hold until they close (GBs at a million conversations).
        flush_bytes = max(1 << 20, STAGING_BUFFER_BYTES // max(1, len(shards)))
        pending: dict[int, list[pa.RecordBatch]] = {k: [] for k in shards}
        pending_bytes = dict.fromkeys(shards, 0)

        def flush(index: int) -> None:
            if pending[index]:
                writers[index].write_table(pa.Table.from_batches(pending[index], schema=schema))
                pending[index], pending_bytes[index] = [], 0

        try:
            for batch in batches:
                owners: dict[int, list[int]] = {}
                for row, conversation_hash in enumerate(batch.column("conversation_hash").to_pylist()):
                    owners.setdefault(owner_of(conversation_hash, count), []).append(row)
                for index in wanted.intersection(owners):
                    part = batch.take(pa.array(owners[index], pa.int64()))
                    pending[index].append(part)
                    pending_bytes[index] += part.nbytes
                    rows[index] += part.num_rows
                    if pending_bytes[index] >= flush_bytes:
                        flush(index)
            for index in shards:
                flush(index)
        finally:
            for writer in writers.values():
                writer.close()
        for index in shards:
            os.replace(partials[index], self.input_path(index, count))
        fsync_directory(folder)
        report = {"job": list(job), "rows_per_shard": rows, "reader": reader_report().to_dict()}
        atomic_write_text(self.staged_marker(job), json.dumps(report, indent=2, ensure_ascii=False))
        return rows

    # -- outputs

    def output_path(self, index: int, count: int) -> Path:
        return self.root / "data" / f"{shard_name(index, count)}.parquet"

    def marker_path(self, index: int) -> Path:
        return self.root / "shards" / f"shard-{index:05d}.json"

    def journal_path(self, index: int) -> Path:
        return self.root / "journal" / f"shard-{index:05d}.jsonl"

    def is_done(self, index: int, count: int) -> bool:
        """A shard is done when its marker exists and its file has the recorded size and checksum."""
        return self.marker_path(index).exists() and self.shard_damage(index, count) is None

    def shard_damage(self, index: int, count: int) -> str | None:
        """What is wrong with a committed shard's file; None when it matches its marker or is uncommitted."""
        marker = self.marker_path(index)
        try:
            recorded = json.loads(marker.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            return f"its marker {marker} is not valid JSON"
        output = self.output_path(index, count)
        if not output.exists():
            return f"{output} is missing"
        size = output.stat().st_size
        expected = recorded.get("bytes")
        if expected is not None and size < expected:
            return f"{output} is truncated ({size:,} of {expected:,} bytes)"
        if expected is not None and size > expected:
            return f"{output} is {size:,} bytes, its marker records {expected:,} (a wrong or damaged copy)"
        if file_sha256(output) != recorded["sha256"]:
            return f"{output} does not match its checksum (a damaged or partial copy)"
        return None

    def discard_shard(self, index: int, count: int) -> None:
        """Forget a damaged committed shard (marker first, then file), so that it is answered again."""
        self.marker_path(index).unlink(missing_ok=True)
        self.output_path(index, count).unlink(missing_ok=True)

    def commit(
        self,
        index: int,
        count: int,
        records: Iterable[dict[str, Any] | pa.Table],
        stats: ShardCounts,
        extra: Mapping[str, Any],
        schema: pa.Schema = OUTPUT_SCHEMA,
    ) -> None:
        """Write a finished shard and then its marker; the journal may go after this.

        The one writer of shards and markers, for every kind of run (generated, judged, imported,
        synthetic). ``records`` may be a generator (of rows, or of Arrow tables): they are written
        as they come, and ``stats`` (a :class:`ShardStats`, or a kind's own :class:`ShardCounts`)
        is read only once they have all been written, so it may be filled on the way. ``extra``:
        what the marker records besides the counts (engine, worker, times).
        """
        self.before_commit(index)
        output = self.output_path(index, count)
        digest, rows = atomic_write_rows(output, records, schema)
        marker = {
            "shard": index,
            "of": count,
            "sha256": digest,
            "bytes": output.stat().st_size,
            "rows": rows,
            **stats.to_dict(),
            **extra,
        }
        atomic_write_text(self.marker_path(index), json.dumps(marker, indent=2, ensure_ascii=False))
        self.after_commit(index)

    def markers(self) -> list[dict[str, Any]]:
        folder = self.marker_path(0).parent
        if not folder.exists():
            return []
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("shard-*.json"))]

    def staged_reports(self) -> list[dict[str, Any]]:
        folder = self.root / "inputs"
        if not folder.exists():
            return []
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("staged-*.json"))]
