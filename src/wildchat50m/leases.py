"""Leases: which worker answers which shard of a run, so that many workers share one run directory.

A worker claims a shard (or the staging of the input) with a lease file
``leases/<name>.lease``, created with an exclusive create (``O_CREAT | O_EXCL``:
of two workers racing for it, one wins). The file names its holder (host,
process, a random token, its devices). While the worker holds it, a heartbeat
thread touches the file's mtime every ``timeout / 10`` seconds; the lease is
released (deleted) when the shard is committed.

A lease whose mtime is older than the timeout belongs to a dead or hung
worker (so does one whose holder ran on this host and whose process is gone),
and another worker may take it over: it renames the file away (of
two takers, one rename succeeds), checks that what it renamed was still
stale, and creates its own lease. A worker that finds its lease file gone or
holding another token has lost the shard: it stops answering it and does not
commit it.

What this needs of the file system: an atomic exclusive create, an atomic
rename, and an mtime that a touch sets to the current time. Local file
systems, NFS v3 and later, Lustre and GPFS provide all three. The mtime is
compared with the reader's clock, so the nodes' clocks must agree to well
within the timeout (NTP does).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wildchat50m.errors import WildChat50mError

LEASE_SUFFIX = ".lease"
#: Five minutes: far longer than any pause of a live worker's heartbeat thread (a long prefill, a
#: garbage collection, a slow shared file system), and short next to a shard of a long run, which
#: takes hours; a dead worker's shard waits at most this long for another worker.
DEFAULT_LEASE_TIMEOUT = 300.0
#: Heartbeats per timeout: a lease survives nine missed heartbeats in a row.
HEARTBEATS_PER_TIMEOUT = 10
#: A waiting worker looks again at least this often: one stat (staging) or one look per unfinished
#: shard, only while no shard is free (the run's tail).
MAX_POLL_SECONDS = 2.0


class LeaseLost(WildChat50mError):
    """Another worker took over this worker's lease (its heartbeat was late); the shard is theirs now."""


@dataclass(frozen=True)
class Worker:
    """Who holds a lease: the host and process, a token unique to this worker, and its devices."""

    host: str
    pid: int
    token: str
    devices: str | None = None
    started: float = field(default_factory=time.time)

    @classmethod
    def this_process(cls) -> Worker:
        return cls(
            socket.gethostname(), os.getpid(), uuid.uuid4().hex, os.environ.get("CUDA_VISIBLE_DEVICES")
        )

    def describe(self) -> str:
        return f"{self.host} pid {self.pid}"


@dataclass(frozen=True)
class LeaseState:
    """A lease file as seen from outside: its holder and the age of its last heartbeat."""

    name: str
    holder: dict[str, Any]
    heartbeat_age: float

    def stale(self, timeout: float) -> bool:
        """No heartbeat for ``timeout`` seconds, or a holder on this host whose process is gone."""
        return self.heartbeat_age > timeout or self.holder_is_gone()

    def holder_is_gone(self) -> bool:
        """Whether the holder ran on this host and its process no longer exists (killed, crashed).

        Then nobody needs to wait for the timeout: a resumed job takes its dead predecessor's
        shards at once. A reused pid only makes the lease look alive until its timeout.
        """
        if self.holder.get("host") != socket.gethostname() or not isinstance(self.holder.get("pid"), int):
            return False
        try:
            os.kill(self.holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def read_lease(path: Path) -> LeaseState | None:
    """The lease at ``path``, or None when there is none (or it is being written or taken over)."""
    try:
        age = time.time() - path.stat().st_mtime
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        # Being written (or its writer died before writing): it goes stale like any other.
        holder = {}
    return LeaseState(path.name.removesuffix(LEASE_SUFFIX), holder, max(0.0, age))


def lease_states(folder: Path) -> list[LeaseState]:
    """Every lease in ``folder`` (a run's ``leases/``), by name."""
    if not folder.exists():
        return []
    states = (read_lease(path) for path in sorted(folder.glob(f"*{LEASE_SUFFIX}")))
    return [state for state in states if state is not None]


class Leases:
    """The leases one worker takes in one run directory, kept alive by one heartbeat thread."""

    def __init__(self, folder: Path, timeout: float = DEFAULT_LEASE_TIMEOUT, worker: Worker | None = None):
        if timeout <= 0:
            raise WildChat50mError(f"the lease timeout must be positive, not {timeout}")
        self.folder = Path(folder)
        self.timeout = timeout
        self.worker = worker or Worker.this_process()
        self.held: dict[str, Path] = {}
        self.lost: set[str] = set()
        #: The holders of the stale leases this worker took over, by lease name.
        self.taken_over: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def heartbeat_seconds(self) -> float:
        return self.timeout / HEARTBEATS_PER_TIMEOUT

    @property
    def poll_seconds(self) -> float:
        """How often a waiting worker looks again (for a staged input, a committed or stale shard)."""
        return min(self.heartbeat_seconds, MAX_POLL_SECONDS)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}{LEASE_SUFFIX}"

    # -- taking and giving back

    def acquire(self, name: str) -> bool:
        """Take the lease ``name`` if it is free or stale; False when a live worker holds it."""
        path = self.path(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        for _attempt in range(2):
            try:
                descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self.remove_if_stale(name):
                    return False
                continue
            # No fsync: the exclusive create is what claims the shard, and a lease lost in a machine
            # crash is no loss (its holder died with the machine; another worker takes the shard).
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(asdict(self.worker), handle)
            with self._lock:
                self.held[name] = path
                self.lost.discard(name)
            self._start_heartbeat()
            return True
        return False

    def remove_if_stale(self, name: str) -> bool:
        """Move a stale lease out of the way; True when the name may be free now."""
        path = self.path(name)
        state = read_lease(path)
        if state is None:
            return True
        if not state.stale(self.timeout):
            return False
        aside = path.with_name(f".{path.name}.{self.worker.token}.stale")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return True
        moved = read_lease(aside)
        if moved is not None and not moved.stale(self.timeout):
            # Between the look and the rename its holder beat, or a new worker took it: put it back.
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)
            aside.unlink()
            return False
        self.taken_over[name] = state.holder
        aside.unlink()
        return True

    def holds(self, name: str) -> bool:
        """Whether this worker still holds ``name``: its file is there and carries this worker's token."""
        if name not in self.held or name in self.lost:
            return False
        state = read_lease(self.path(name))
        if state is None or state.holder.get("token") != self.worker.token:
            with self._lock:
                self.lost.add(name)
            return False
        return True

    def check(self, name: str) -> None:
        """Raise :class:`LeaseLost` when this worker no longer holds ``name``."""
        if not self.holds(name):
            raise LeaseLost(
                f"the lease {self.path(name)} was taken over by another worker (this worker's heartbeat "
                f"was more than {self.timeout:g} s late); that worker answers it now"
            )

    def release(self, name: str) -> None:
        """Give ``name`` back (delete its file), if this worker still holds it."""
        if self.holds(name):
            self.path(name).unlink(missing_ok=True)
        with self._lock:
            self.held.pop(name, None)
            self.lost.discard(name)

    def close(self) -> None:
        """Stop the heartbeat and give back every lease still held (a clean exit, e.g. an error)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for name in list(self.held):
            self.release(name)
        self._stop.clear()

    # -- the heartbeat

    def _start_heartbeat(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            with self._lock:
                names = [name for name in self.held if name not in self.lost]
            for name in names:
                if self.holds(name):
                    with contextlib.suppress(FileNotFoundError):
                        os.utime(self.path(name))
