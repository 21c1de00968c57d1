"""The embedded default: what every command reads when given no input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from wildchat50m.reasons import Invalid
from wildchat50m.registry import load_registry
from wildchat50m.resources import malformed_sample_file, sample_dir, sample_file
from wildchat50m.schema import WILDCHAT_SCHEMA
from wildchat50m.source import ConversationReader

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return list(ConversationReader().rows())


def test_the_sample_has_the_exact_schema_and_every_row_is_valid(sample):
    assert pq.read_schema(sample_file()).remove_metadata() == WILDCHAT_SCHEMA
    assert len(sample) == pq.read_metadata(sample_file()).num_rows >= 300


def test_the_sample_covers_what_real_wildchat_rows_contain(sample):
    languages = Counter(row["language"] for row in sample)
    assert len(languages) >= 6
    turns = [row["turn"] for row in sample]
    assert min(turns) == 1 and max(turns) == 25
    assert all(row["turn"] == sum(m["role"] == "user" for m in row["conversation"]) for row in sample)
    user_texts = [m["content"] for row in sample for m in row["conversation"] if m["role"] == "user"]
    assert any("```" in text for text in user_texts)
    assert any(re.search(r"<script\b", text) for text in user_texts)
    assert any(re.search(r"onerror\s*=", text) for text in user_texts)
    # Longer than any DGM's context window, even at several characters per token.
    widest = max(dgm.generation.max_model_len for dgm in load_registry() if dgm.generation)
    assert any(len(text) > 4 * widest for text in user_texts)
    assert any(row["toxic"] for row in sample) and any(row["redacted"] for row in sample)
    assert any(row["conversation"][-1]["role"] == "user" for row in sample)
    assert any(len({m["language"] for m in row["conversation"]}) > 1 for row in sample)


@pytest.mark.parametrize(
    "data,expected",
    [
        ("malformed.parquet", "malformed_expected.json"),
        ("malformed_messages.jsonl", "malformed_messages_expected.json"),
    ],
)
def test_each_malformed_row_gets_its_reason_code(data, expected):
    rejections = []
    reader = ConversationReader(sample_dir() / data, on_reject=rejections.append)
    accepted = sum(batch.num_rows for batch in reader.batches())
    truth = json.loads((sample_dir() / expected).read_text())
    assert {r.row: r.reason for r in rejections} == {e["row"]: e["reason"] for e in truth if e["reason"]}
    assert accepted == sum(1 for e in truth if e["reason"] is None)
    assert reader.report.rows_read == len(truth)


def test_the_malformed_sets_cover_every_reason_code():
    covered = set()
    for name in ("malformed_expected.json", "malformed_messages_expected.json"):
        covered |= {e["reason"] for e in json.loads((sample_dir() / name).read_text()) if e["reason"]}
    assert covered == {code.value for code in Invalid}


def test_other_chat_shapes_in_the_sample_are_read():
    for name in ("sharegpt_sample.jsonl", "messages_sample.jsonl"):
        reader = ConversationReader(sample_dir() / name)
        rows = list(reader.rows())
        assert len(rows) == 20 and reader.report.rejected == 0
        assert all(row["conversation"][0]["role"] in ("user", "system") for row in rows)


def test_the_generator_reproduces_the_shipped_sample(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_sample.py"), "--out", str(tmp_path)], check=True
    )
    for shipped in sorted(sample_dir().iterdir()):
        if shipped.suffix == ".parquet":
            assert pq.read_table(tmp_path / shipped.name).equals(pq.read_table(shipped)), shipped.name
        elif shipped.suffix in (".json", ".jsonl"):
            assert (tmp_path / shipped.name).read_bytes() == shipped.read_bytes(), shipped.name


def test_demo_reads_the_sample_and_two_tiny_models_answer_it(cli, demo_output):
    output = (demo_output / "demo-output.txt").read_text(encoding="utf-8")
    for code in ("missing_hash", "duplicate_hash", "roles_out_of_order", "too_long"):
        assert re.search(rf"^\s+{code}\s+\d+", output, re.M), code
    assert re.search(r"^\s+English\s+\d+", output, re.M)
    valid = pq.read_metadata(sample_file()).num_rows
    for name in ("tiny-a", "tiny-b"):
        manifest = json.loads((demo_output / "runs" / name / "manifest.json").read_text())
        assert manifest["conversations"] == valid
        assert manifest["shards"]["finished"] == manifest["shards"]["total"]
        assert f"{name}  (transformers engine" in output
    assert output.count("tok/s (in+out)") == 2
    assert re.search(r"^wildchat50m runs verify .+: 2 run\(s\) ok, [\d,]+ conversations", output, re.M)
    for name in ("tiny-a", "tiny-b"):
        assert re.search(rf'load_dataset\(".*wildchat-50m", "{name}"\): {valid:,} rows', output), name
    assert output.rstrip().splitlines()[-1].strip() == f"wildchat50m space {demo_output / 'wildchat-50m'}"
    cli("build", "--check", str(demo_output / "wildchat-50m"))


def test_the_demos_closing_hint_through_run_is_a_command_that_works_from_a_clone(tmp_path):
    """`./run demo` ends on `./run cli space wildchat-50m`; run it (its --help) as a newcomer would."""
    import os

    from wildchat50m.cli.demo import LAUNCHER_VARIABLE

    checkout = Path(__file__).resolve().parents[2]
    script = (checkout / "run").read_text(encoding="utf-8")
    launcher = re.search(r'^launcher="(.+)"$', script, re.M).group(1)
    assert launcher == "./run cli" and f"demo) {LAUNCHER_VARIABLE}=$launcher exec" in script
    # The environment this suite runs in is the one `./run` made; point `run` at it so it reuses it.
    env = {**os.environ, "WILDCHAT50M_VENV": sys.prefix}
    stamp = subprocess.run(
        "cat pyproject.toml run | sha256sum | cut -c1-16", shell=True, cwd=checkout, capture_output=True,
        text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not (Path(sys.prefix) / f".installed-{stamp}").exists():
        pytest.skip("the suite does not run in an environment `./run` made (`./run test` does)")
    hinted = subprocess.run(
        [*launcher.split(), "space", "--help"], cwd=checkout, env=env, capture_output=True, text=True
    )
    assert hinted.returncode == 0, hinted.stderr
    assert "side by side" in hinted.stdout


def test_read_writes_accepted_rows_and_rejections(cli, tmp_path):
    out, rejects = tmp_path / "kept.parquet", tmp_path / "rejects.jsonl"
    cli(
        "read",
        str(malformed_sample_file()),
        "--out",
        str(out),
        "--rejects",
        str(rejects),
        "--language",
        "English",
    )
    kept = pq.read_table(out)
    assert kept.schema.remove_metadata() == WILDCHAT_SCHEMA
    assert set(kept.column("language").to_pylist()) == {"English"}
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert {"row", "conversation_hash", "reason"} == set(lines[0])
    assert len(lines) + kept.num_rows == pq.read_metadata(malformed_sample_file()).num_rows
    assert not list(tmp_path.glob("*.partial"))
