"""Many workers, one run: shards leased, taken over from dead workers, each request generated once;
and runs that prove themselves (damaged shards, a full disk, `runs verify`).

Every worker here is a real `wildchat50m generate` process with the tiny transformers model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.runs import answers_by_hash, output_rows
from helpers.workers import (
    ledger_counts,
    observed_env,
    start_worker,
    stderr_of,
    wait_for_lease_with_answers,
)

from wildchat50m.engines.base import PAUSE, ChatResult, EngineDied
from wildchat50m.executors import device_groups
from wildchat50m.generate import GenerationSettings, Generator
from wildchat50m.requests import turns_of
from wildchat50m.source import ConversationReader, Filters, shard_of

#: 24 conversations in 6 shards: enough for three workers to share, small enough to be quick.
RUN = (
    "generate", "--sample", "24", "--seed", "3", "--max-new-tokens", "8", "--max-model-len", "384",
    "--temperature", "0", "--num-shards", "6", "--quiet",
)  # fmt: skip


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """One uninterrupted single-worker run: what every shared run must reproduce."""
    out = tmp_path_factory.mktemp("baseline")
    subprocess.run(
        [sys.executable, "-m", "wildchat50m", *RUN, "--out", str(out)], check=True, capture_output=True
    )
    return out / "tiny-a"


def all_turn_keys(run: Path) -> set[str]:
    return {
        f"{row['conversation_hash']}:{turn.index}"
        for row in output_rows(run)
        for turn in turns_of(row["conversation"])
    }


def finish(workers: list[subprocess.Popen]) -> list[int]:
    return [worker.wait(timeout=900) for worker in workers]


def test_three_workers_on_one_run_generate_each_request_exactly_once(baseline, tmp_path, cli):
    ledger = tmp_path / "ledger.txt"
    env = observed_env(WILDCHAT50M_TEST_LEDGER=str(ledger))
    out = tmp_path / "shared"
    workers = [start_worker([*RUN, "--out", str(out)], tmp_path, env, f"w{i}") for i in range(3)]

    assert finish(workers) == [0, 0, 0]  # every worker stays until the run is complete
    run = out / "tiny-a"
    assert answers_by_hash(run) == answers_by_hash(baseline)
    counts, by = ledger_counts(ledger)
    assert set(counts) == all_turn_keys(baseline)
    assert set(counts.values()) == {1}, "a request was generated twice"
    assert len({pid for pids in by.values() for pid in pids}) >= 2, "the workers shared the shards"
    staging = [stderr_of(tmp_path, f"w{i}").count("staging the input into") for i in range(3)]
    assert sorted(staging) == [0, 0, 1]
    assert "ok (6 shards, 24 conversations" in cli("runs", "verify", str(run)).stdout


def test_a_worker_killed_mid_shard_is_taken_over_after_the_lease_timeout(baseline, tmp_path):
    ledger = tmp_path / "ledger.txt"
    env = observed_env(WILDCHAT50M_TEST_LEDGER=str(ledger))
    out, run = tmp_path / "shared", tmp_path / "shared" / "tiny-a"
    command = [*RUN, "--out", str(out), "--lease-timeout", "3"]
    victim = start_worker(command, tmp_path, env, "victim")
    shard = wait_for_lease_with_answers(run, victim.pid)
    others = [start_worker(command, tmp_path, env, f"w{i}") for i in range(2)]
    # As if the victim ran on another node: its lease cannot be judged by its pid, only by its heartbeat.
    lease = run / "leases" / f"shard-{shard:05d}.lease"
    holder = json.loads(lease.read_text(encoding="utf-8"))
    moved = lease.with_name("elsewhere.tmp")
    moved.write_text(json.dumps({**holder, "host": "another-node"}), encoding="utf-8")
    os.replace(moved, lease)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()

    assert finish(others) == [0, 0]
    logs = stderr_of(tmp_path, "w0") + stderr_of(tmp_path, "w1")
    assert f"shard {shard}: took over the lease of another-node pid {victim.pid}" in logs
    assert "more than 3 s ago" in logs
    assert answers_by_hash(run) == answers_by_hash(baseline)
    counts, _ = ledger_counts(ledger)
    assert max(counts.values()) == 1, "the taker generated again what the victim had journaled"
    assert not list((run / "leases").glob("*.lease"))


def test_a_requeued_worker_takes_no_shard_its_live_predecessor_holds(baseline, tmp_path):
    ledger = tmp_path / "ledger.txt"
    env = observed_env(WILDCHAT50M_TEST_LEDGER=str(ledger))
    out, run = tmp_path / "shared", tmp_path / "shared" / "tiny-a"
    predecessor = start_worker([*RUN, "--out", str(out)], tmp_path, env, "predecessor")
    wait_for_lease_with_answers(run, predecessor.pid)
    held = {
        int(path.stem.split("-")[1])
        for path in (run / "leases").glob("shard-*.lease")
        if json.loads(path.read_text(encoding="utf-8") or "{}").get("pid") == predecessor.pid
    }
    requeued = start_worker([*RUN, "--out", str(out)], tmp_path, env, "requeued")

    assert finish([predecessor, requeued]) == [0, 0]
    assert held
    markers = {k: json.loads((run / "shards" / f"shard-{k:05d}.json").read_text()) for k in range(6)}
    assert {markers[k]["worker"]["pid"] for k in held} == {predecessor.pid}
    counts, by = ledger_counts(ledger)
    assert set(counts.values()) == {1}
    for key, pids in by.items():
        if shard_of(key.split(":")[0], 6) in held:
            assert pids == {predecessor.pid}, f"the requeued worker answered {key} of a held shard"
    assert answers_by_hash(run) == answers_by_hash(baseline)


def test_replicas_fill_the_machine_each_with_its_own_device_group(baseline, tmp_path, cli):
    # Two pretend GPUs: the CPU build of torch ignores them, and each replica gets one.
    result = cli("generate", *RUN[1:], "--out", str(tmp_path), "--replicas", "2",
                 env={"CUDA_VISIBLE_DEVICES": "0,1"})  # fmt: skip
    assert "starting 2 replica(s): replica 0 on 0, replica 1 on 1" in result.stderr
    run = tmp_path / "tiny-a"
    workers = {json.loads(p.read_text())["worker"]["pid"]: json.loads(p.read_text())["worker"]["devices"]
               for p in (run / "shards").glob("*.json")}  # fmt: skip
    assert set(workers.values()) <= {"0", "1"} and len(workers) == len(set(workers.values()))
    assert "6 of 6 finished" in result.stdout
    assert answers_by_hash(run) == answers_by_hash(baseline)


@pytest.mark.parametrize(
    ("size", "groups"),
    [
        (1, ["0", "1", "2", "3", "4", "5", "6", "7"]),
        (2, ["0,1", "2,3", "4,5", "6,7"]),
        (4, ["0,1,2,3", "4,5,6,7"]),
        (8, ["0,1,2,3,4,5,6,7"]),
    ],
)
def test_eight_gpus_split_into_groups_of_the_tensor_parallel_size(size, groups):
    gpus = [str(i) for i in range(8)]
    assert device_groups(gpus, size) == groups  # --replicas auto
    assert device_groups(gpus, size, 1) == groups[:1]
    with pytest.raises(Exception, match=f"need {(len(groups) + 1) * size} GPUs, but 8 are visible"):
        device_groups(gpus, size, len(groups) + 1)


def test_without_gpus_auto_is_one_replica_and_every_group_is_empty():
    assert device_groups([], 4) == [""]
    assert device_groups([], 1, 3) == ["", "", ""]


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("damage", "said"), [(flip_a_byte, "does not match its checksum"), (truncate, "is truncated")]
)
def test_a_damaged_shard_is_refused_by_build_reported_and_answered_again(
    baseline, tmp_path, cli, damage, said
):
    out = tmp_path / "runs"
    shutil.copytree(baseline.parent, out)
    run = out / "tiny-a"
    damage(run / "data" / "shard-00002-of-00006.parquet")

    refused = cli("build", str(run), "--repo", str(tmp_path / "repo"), expect=1)
    assert f"shard 2: {run}/data/shard-00002-of-00006.parquet {said}" in refused.stderr
    assert (
        "Nothing was written. Re-run the same `generate` command; it answers that shard again"
        in refused.stderr
    )
    assert "Traceback" not in refused.stderr and not (tmp_path / "repo").exists()
    report = cli("runs", "verify", str(run), expect=1)
    assert f"shard 2: {run}/data/shard-00002-of-00006.parquet {said}" in report.stdout

    resumed = cli("generate", *RUN[1:], "--out", str(out))
    assert f"shard 2 of {run} was damaged: {run}/data/shard-00002-of-00006.parquet {said}" in resumed.stderr
    assert answers_by_hash(run) == answers_by_hash(baseline)
    cli("runs", "verify", str(run))
    cli("build", str(run), "--repo", str(tmp_path / "repo"))


def test_a_full_disk_ends_in_one_line_and_the_resume_is_exact(baseline, tmp_path, cli):
    out = tmp_path / "runs"
    # About half a run's fsyncs pass (staging, a shard or two); then the disk is full.
    env = observed_env(WILDCHAT50M_TEST_ENOSPC_AFTER="30", WILDCHAT50M_TEST_FAULT_DIR=str(out))
    full = subprocess.run(
        [sys.executable, "-m", "wildchat50m", *RUN, "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path, env={**env, "HF_HOME": str(tmp_path / "hf-home")},
    )  # fmt: skip
    assert full.returncode == 1, full.stderr
    assert "Traceback" not in full.stderr
    last = full.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: {out}/tiny-a/") and ": no space left on the device. " in last
    assert f"resume with: wildchat50m {' '.join(RUN)} --out {out}" in last
    run = out / "tiny-a"
    kept = list((run / "shards").glob("*.json")) + list((run / "journal").glob("*.jsonl"))
    assert kept, "the disk filled up mid-run, with answers kept"
    assert not list(run.rglob("*.partial"))

    cli("generate", *RUN[1:], "--out", str(out))
    assert answers_by_hash(run) == answers_by_hash(baseline)
    cli("runs", "verify", str(run))


def test_runs_show_tells_the_progress_of_a_run_in_progress(tmp_path, cli):
    out, run = tmp_path / "runs", tmp_path / "runs" / "tiny-a"
    worker = start_worker([*RUN, "--out", str(out)], tmp_path, dict(os.environ), "worker")
    try:
        wait_for_lease_with_answers(run, worker.pid)
        shown = cli("runs", "show", str(run)).stdout
    finally:
        worker.kill()
        worker.wait()
    assert re.search(rf"shard \d+ +{socket.gethostname()} pid {worker.pid}, heartbeat \d+ s ago", shown)
    done, leased, waiting = map(
        int, re.search(r"(\d+) shard\(s\) done, (\d+) leased, (\d+) waiting", shown).groups()
    )
    assert leased >= 1 and done + leased + waiting == 6
    assert re.search(
        r"answers +\d+ of 69 user turns; [\d.]+/s over the last 5 min; about \d+ (s|min) left", shown
    )


class DyingEngine:
    """An engine that answers ``lives`` requests, then dies as vLLM's does (``EngineDeadError``)."""

    name = "dying"
    tokenizer = None

    def __init__(self, lives: int | None):
        self.lives = lives

    def generate(self, requests):
        for request in requests:
            if request is PAUSE:
                continue
            if self.lives is not None and self.lives <= 0:
                raise EngineDied("vLLM's engine died: RuntimeError: CUDA error: an illegal memory access")
            if self.lives is not None:
                self.lives -= 1
            yield ChatResult(
                request.key, f"answer {request.key}", "stop", prompt_tokens=3, completion_tokens=2
            )

    def describe(self) -> dict:
        return {"engine": self.name}

    def close(self) -> None:
        return None


def test_a_dead_engine_ends_the_job_with_its_cause_what_was_kept_and_the_resume(tmp_path):
    settings = GenerationSettings(
        dgm="tiny-a", model="dying", engine="dying", num_shards=3, max_new_tokens=8, max_input_tokens=512,
        max_model_len=1024,
    )  # fmt: skip
    reader = ConversationReader(None, Filters(sample=12, seed=7))
    dying = Generator(settings, tmp_path, reader, lambda: DyingEngine(lives=9))
    dying.resume_command = "wildchat50m generate --the-same-options"
    with pytest.raises(EngineDied) as died:
        dying.run()
    message = str(died.value)
    assert "\n" not in message
    assert message.startswith(
        "vLLM's engine died: RuntimeError: CUDA error: an illegal memory access. Kept: "
    )
    assert "answer(s) journaled" in message and message.endswith(
        "Resume with: wildchat50m generate --the-same-options"
    )
    assert not list((tmp_path / "tiny-a" / "leases").glob("*"))

    Generator(settings, tmp_path, None, lambda: DyingEngine(lives=None)).run()
    rows = output_rows(tmp_path / "tiny-a")
    assert len(rows) == 12
    assert all(m["content"] for r in rows for m in r["conversation"] if m["role"] == "assistant")


def test_a_manifest_written_while_another_worker_commits_counts_that_shard_too(baseline, tmp_path):
    """Two workers finish together: the one whose manifest missed the other's last commit writes again."""
    from wildchat50m.jobs import write_manifest
    from wildchat50m.runstore import RunStore

    run = Path(shutil.copytree(baseline, tmp_path / "tiny-a"))
    store = RunStore(run)
    last = store.marker_path(5)
    held_back = last.read_text(encoding="utf-8")
    last.unlink()
    save = store.save_manifest
    written: list[int] = []

    def save_while_the_other_worker_commits(manifest: dict) -> dict:
        written.append(manifest["shards"]["finished"])
        saved = save(manifest)
        if not last.exists():  # the other worker's commit lands between this build and its write
            last.write_text(held_back, encoding="utf-8")
        return saved

    store.save_manifest = save_while_the_other_worker_commits
    manifest = write_manifest(store)

    assert written == [5, 6]
    assert manifest["shards"]["finished"] == 6
    assert json.loads(store.manifest_path.read_text(encoding="utf-8"))["turns"] == manifest["turns"]
    assert manifest["turns"] == json.loads((baseline / "manifest.json").read_text(encoding="utf-8"))["turns"]


def test_runs_verify_checks_every_count_of_the_manifest_against_the_markers(baseline, tmp_path, cli):
    """Not only the totals: a finish reason or flag count the markers do not make is reported too."""
    run = tmp_path / "tiny-a"
    shutil.copytree(baseline, run)
    manifest = json.loads((run / "manifest.json").read_text())
    reasons = manifest["finish_reasons"]
    reason = next(iter(reasons))
    reasons[reason] += 1
    (run / "manifest.json").write_text(json.dumps(manifest))

    report = cli("runs", "verify", str(run), expect=1)
    assert "1 problem(s)" in report.stdout
    assert f'manifest.json records finish_reasons {{"{reason}": {reasons[reason]}' in report.stdout
    assert "its shard markers" in report.stdout
