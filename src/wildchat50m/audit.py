"""What a run directory proves about itself: the audit of a finished run, and the progress of one in progress.

:func:`verify_run` (``wildchat50m runs verify``) re-reads everything a run
recorded and checks it against what is on disk: every staged conversation
appears exactly once in the output, every user turn has an answer or a
failure with its kind, the shard markers add up to the manifest, every
checksum matches, and no stray file remains (an old lease, a partial write,
an orphaned journal or data file).

:func:`run_progress` (``wildchat50m runs show`` on a run in progress) reads the
leases, markers and journals: the shards done, leased (by whom, heartbeat age)
and waiting, the answers per second over the last minutes, and the time left.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from wildchat50m.errors import WildChat50mError
from wildchat50m.jobs import RunKind, build_manifest
from wildchat50m.leases import DEFAULT_LEASE_TIMEOUT, LeaseState, lease_states
from wildchat50m.requests import turns_of
from wildchat50m.runstore import MANIFEST_FILE, MarkerError, RunStore

#: The window of the answers-per-second figure of a run in progress.
RATE_WINDOW_SECONDS = 300.0
#: Manifest fields that tell who wrote it and when, not what the markers count.
WRITER_FIELDS = ("wildchat50m_version", "libraries", "written_at")


class AuditError(WildChat50mError):
    """A run does not prove itself: its audit found problems (listed in the message)."""


@dataclass
class RunAudit:
    """The findings about one run: the problems (empty when it proves itself) and what was checked."""

    root: Path
    problems: list[str] = field(default_factory=list)
    shards: int = 0
    conversations: int = 0
    turns: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        if self.ok:
            return (
                f"{self.root}: ok ({self.shards} shards, {self.conversations:,} conversations, "
                f"{self.turns:,} user turns; every checksum matches, nothing stray)"
            )
        lines = [f"{self.root}: {len(self.problems)} problem(s)"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def verify_run(root: Path) -> RunAudit:
    """Audit the finished run at ``root`` (see the module's docstring for what is checked)."""
    store = RunStore(Path(root))
    audit = RunAudit(store.root)
    params = store.params()
    kind = RunKind.of(params)
    total = int(params["num_shards"])
    audit.shards = total
    markers = {marker["shard"]: marker for marker in store.markers()}
    staged = _staged_hashes(store, total, audit)
    seen: Counter[str] = Counter()
    for index in range(total):
        marker = markers.get(index)
        if marker is None:
            audit.problems.append(f"shard {index} is not committed (no {store.marker_path(index).name})")
            continue
        damage = store.shard_damage(index, total)
        if damage is not None:
            audit.problems.append(f"shard {index}: {damage}")
            continue
        table = pq.read_table(store.output_path(index, total))
        if table.num_rows != marker.get("rows"):
            audit.problems.append(
                f"shard {index}: {table.num_rows} rows, its marker says {marker.get('rows')}"
            )
        if kind.holds_answers:
            hashes = table.column("conversation_hash").to_pylist()
            seen.update(hashes)
            for problem in _unanswered_turns(index, table.to_pylist()):
                audit.problems.append(problem)
        else:
            seen.update(set(table.column("conversation_hash").to_pylist()))
    audit.conversations = sum(seen.values()) if kind.holds_answers else len(seen)
    _compare_conversations(staged, seen, kind, audit)
    _compare_manifest(store, kind, audit)
    audit.problems += [f"stray file: {note}" for note in stray_files(store, markers, total)]
    return audit


def _staged_hashes(store: RunStore, total: int, audit: RunAudit) -> Counter[str] | None:
    """Every staged conversation's hash (None when the inputs are gone, e.g. an imported run)."""
    paths = [store.input_path(index, total) for index in range(total)]
    if not any(path.exists() for path in paths):
        return None
    hashes: Counter[str] = Counter()
    for index, path in enumerate(paths):
        if not path.exists():
            audit.problems.append(f"shard {index}: its staged input {path} is missing")
            continue
        hashes.update(pq.read_table(path, columns=["conversation_hash"]).column(0).to_pylist())
    return hashes


def _unanswered_turns(index: int, rows: list[dict[str, Any]]) -> Iterable[str]:
    for row in rows:
        conversation = row["conversation"]
        for turn in turns_of(conversation):
            where = f"shard {index}: conversation {row['conversation_hash']} turn {turn.index}"
            if turn.answer_position is None or turn.answer_position >= len(conversation):
                yield f"{where} has no answer"
                continue
            answer = conversation[turn.answer_position]
            if answer.get("finish_reason") == "error":
                if not answer.get("error"):
                    yield f"{where} failed without saying how (no error kind)"
            elif not isinstance(answer.get("content"), str) or answer.get("finish_reason") is None:
                yield f"{where} has neither an answer nor a failure with its kind"


def _compare_conversations(
    staged: Counter[str] | None, seen: Counter[str], kind: RunKind, audit: RunAudit
) -> None:
    twice = sorted(h for h, count in seen.items() if count > 1)
    if twice:
        audit.problems.append(f"{len(twice)} conversation(s) appear more than once, e.g. {twice[0]}")
    if staged is None:
        return
    missing = sorted(set(staged) - set(seen))
    extra = sorted(set(seen) - set(staged))
    if missing and kind.holds_answers:
        audit.problems.append(
            f"{len(missing)} staged conversation(s) are not in the output, e.g. {missing[0]}"
        )
    if extra:
        audit.problems.append(f"{len(extra)} output conversation(s) were never staged, e.g. {extra[0]}")


def _compare_manifest(store: RunStore, kind: RunKind, audit: RunAudit) -> None:
    """The manifest on disk against the one its markers make now (:func:`~wildchat50m.jobs.build_manifest`,
    the manifest's one builder): every count, counter and derived figure must agree."""
    path = store.manifest_path
    if not path.exists():
        audit.problems.append(f"no {MANIFEST_FILE}: the run never finished; run the same command again")
        return
    try:
        rebuilt = json.loads(json.dumps(build_manifest(store)))
    except MarkerError as error:
        audit.problems.append(str(error))
        return
    audit.turns = rebuilt["turns" if kind.holds_answers else "judgments"]
    manifest = store.manifest()
    for name, counted in rebuilt.items():
        if name not in WRITER_FIELDS and manifest.get(name) != counted:
            audit.problems.append(
                f"{MANIFEST_FILE} records {name} {_short(manifest.get(name))}, its shard markers "
                f"{_short(counted)}"
            )


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def stray_files(store: RunStore, markers: dict[int, dict[str, Any]], total: int) -> list[str]:
    """Files a finished run should not hold: leases, partial writes, orphaned journals and data files."""
    root = store.root
    notes = [f"{path} (a lease left by a stopped worker)" for path in store.lease_folder.glob("*")]
    notes += [f"{path} (a partial write)" for path in root.rglob("*.partial")]
    for index, path in store.journal_files().items():
        if index in markers:
            notes.append(f"{path} (the journal of a committed shard)")
    expected = {store.output_path(index, total) for index in markers}
    for path in store.output_files():
        if path not in expected:
            notes.append(f"{path} (a data file without a marker)")
    return notes


# ---------------------------------------------------------------- progress


@dataclass
class RunProgress:
    """A run in progress: its shards by state, who holds the leased ones, its recent speed."""

    total_shards: int
    done: list[int]
    leased: dict[int, LeaseState]
    waiting: list[int]
    turns_total: int | None
    turns_answered: int
    answers_per_second: float | None
    lease_timeout: float

    @property
    def seconds_left(self) -> float | None:
        if not self.answers_per_second or self.turns_total is None:
            return None
        return max(0, self.turns_total - self.turns_answered) / self.answers_per_second

    def report(self) -> str:
        lines = [
            f"  progress            {len(self.done)} shard(s) done, {len(self.leased)} leased, "
            f"{len(self.waiting)} waiting (of {self.total_shards})"
        ]
        for index, state in sorted(self.leased.items()):
            holder = state.holder
            stale = " - STALE, free to take over" if state.stale(self.lease_timeout) else ""
            devices = f", devices {holder['devices']}" if holder.get("devices") else ""
            lines.append(
                f"    shard {index:<5} {holder.get('host', '?')} pid {holder.get('pid', '?')}{devices}, "
                f"heartbeat {state.heartbeat_age:.0f} s ago{stale}"
            )
        answered = f"{self.turns_answered:,}" + (f" of {self.turns_total:,}" if self.turns_total else "")
        rate = f"{self.answers_per_second:.2f}" if self.answers_per_second else "no answer"
        left = self.seconds_left
        eta = _duration(left) if left is not None else "unknown"
        lines.append(f"  answers             {answered} user turns; {rate}/s over the last "
                     f"{RATE_WINDOW_SECONDS / 60:.0f} min; about {eta} left")  # fmt: skip
        return "\n".join(lines)


def run_progress(
    root: Path, lease_timeout: float = DEFAULT_LEASE_TIMEOUT, now: float | None = None
) -> RunProgress:
    """The progress of the run at ``root`` from its markers, leases and journals."""
    store = RunStore(Path(root))
    now = time.time() if now is None else now
    total = int(store.params()["num_shards"])
    markers = {marker["shard"]: marker for marker in store.markers()}
    leases = {
        int(state.name.split("-")[1]): state
        for state in lease_states(store.lease_folder)
        if state.name.startswith("shard-") and state.name.split("-")[1].isdigit()
    }
    leases = {index: state for index, state in leases.items() if index not in markers}
    waiting = [k for k in range(total) if k not in markers and k not in leases]
    answered, recent = 0, 0.0
    since = now - RATE_WINDOW_SECONDS
    starts = []
    for marker in markers.values():
        turns = marker.get("turns", marker.get("judgments", 0))
        answered += turns
        start, end = marker.get("answered_from"), marker.get("committed_at")
        if start is None or end is None:
            continue
        starts.append(start)
        if end > since:
            # Its answers, spread evenly over the time it was answered, that fall in the window.
            recent += turns * max(0.0, min(end, now) - max(start, since)) / max(end - start, 1e-6)
    for index in range(total):
        if index not in markers:
            times = _journal_times(store.journal_path(index))
            answered += len(times)
            recent += sum(at >= since for at in times)
            starts += times[:1]
    staged = store.staged_reports()
    turns_total = staged[0]["reader"].get("accepted_user_turns") if staged else None
    window = min(RATE_WINDOW_SECONDS, now - min(starts)) if starts else 0.0
    rate = recent / window if window > 0 and recent else None
    return RunProgress(total, sorted(markers), leases, waiting, turns_total, answered, rate, lease_timeout)


def _journal_times(path: Path) -> list[float]:
    """When each entry of a journal was appended (the lines being written are skipped)."""
    if not path.exists():
        return []
    times = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "at" in entry:
            times.append(float(entry["at"]))
    return times


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
