"""`generate --executor ray`: engine replicas on a local Ray instance answer the job's shards.

The run store's guarantees must not depend on the executor: the same answers
as a local run, a manifest written by the driver, nothing left to do on a
re-run, and a failed shard that leaves committed shards alone.
"""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("ray")

from helpers.judgments import assert_same_judgments, judgments_by_turn
from helpers.runs import answers_by_hash, output_rows
from test_generate import FAST

from wildchat50m.source import ConversationReader, Filters

#: Smaller than test_generate's slice: Ray's start-up already costs a few seconds on 2 cores.
SMALL = ("--sample", "16", "--seed", "3")
RAY = ("--executor", "ray", "--replicas", "2")
#: No usage-stats reporting from the local Ray instance (the tests run offline).
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}


def test_ray_replicas_give_the_local_answers_and_a_rerun_finds_nothing_to_do(tmp_path, cli):
    local, distributed = tmp_path / "local", tmp_path / "ray"
    cli("generate", *SMALL, *FAST, "--out", str(local), "--quiet")
    first = cli("generate", *SMALL, *FAST, *RAY, "--out", str(distributed), "--quiet", env=RAY_ENV)
    assert "answering 4 shard(s) on Ray with 2 replica(s)" in first.stderr
    assert "4 of 4 finished" in first.stdout

    run = distributed / "tiny-a"
    assert answers_by_hash(run) == answers_by_hash(local / "tiny-a")
    rows = output_rows(run)
    assert len(rows) == 16 and len({r["conversation_hash"] for r in rows}) == 16
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    expected = json.loads((local / "tiny-a" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["shards"] == {"total": 4, "finished": 4, "staged_rows": 16}
    for key in ("conversations", "turns", "prompt_tokens", "completion_tokens", "finish_reasons", "flags"):
        assert manifest[key] == expected[key], key
    assert not list((run / "journal").glob("*.jsonl"))

    again = cli("generate", *SMALL, *FAST, *RAY, "--out", str(distributed), "--quiet", env=RAY_ENV)
    assert "nothing to run" in again.stderr and "answering" not in again.stderr
    assert "4 of 4 finished" in again.stdout


def test_a_failed_shard_stops_the_ray_run_and_the_rerun_resumes(tmp_path, cli):
    from helpers.openai_server import FakeChatServer, http_error

    inputs = list(ConversationReader(None, Filters(sample=16, seed=3)).rows())
    out = tmp_path / "remote"
    with FakeChatServer() as server:
        remote = (*SMALL, *FAST, *RAY, "--engine", "openai", "--model", "fake/chat-model", "--out", str(out))
        remote = (*remote, "--base-url", server.base_url, "--max-retries", "1")
        server.inject_always(inputs[0]["conversation"][0]["content"], http_error(503))
        failed = cli("generate", *remote, expect=1, env=RAY_ENV)
        assert re.search(r"Error: shard \d+: 1 request\(s\) failed transiently", failed.stderr)
        assert "run the same command again" in failed.stderr
        data = out / "tiny-a" / "data"
        committed = {p.name: p.stat().st_mtime_ns for p in data.glob("*.parquet")}
        assert len(committed) < 4
        server.always.clear()
        cli("generate", *remote, env=RAY_ENV)

    # Shards committed before the failure were not answered again.
    assert {name: (data / name).stat().st_mtime_ns for name in committed} == committed
    rows = output_rows(out / "tiny-a")
    assert sorted(r["conversation_hash"] for r in rows) == sorted(r["conversation_hash"] for r in inputs)
    answers = [m for r in rows for m in r["conversation"] if m["role"] == "assistant"]
    assert [m["error"] for m in answers if m["error"]] == []


def test_a_judgment_run_on_ray_gives_the_local_judgments(tmp_path, cli):
    runs = tmp_path / "runs"
    cli("generate", *SMALL, *FAST, "--out", str(runs), "--quiet")
    judge = ("judge", "--target", str(runs / "tiny-a"), "--max-new-tokens", "8", "--top-logprobs", "4000",
             "--num-shards", "4", "--quiet")  # fmt: skip
    cli(*judge, "--out", str(tmp_path / "local"))
    first = cli(*judge, *RAY, "--out", str(tmp_path / "ray"), env=RAY_ENV)
    assert "answering 4 shard(s) on Ray with 2 replica(s)" in first.stderr

    config = "judgments--Factuality--tiny-a--tiny-a"
    local = judgments_by_turn(tmp_path / "local" / config)
    assert_same_judgments(judgments_by_turn(tmp_path / "ray" / config), local)
    manifest = json.loads((tmp_path / "ray" / config / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "judgment" and manifest["shards"]["finished"] == 4
    assert manifest["judgments"] == len(local)
