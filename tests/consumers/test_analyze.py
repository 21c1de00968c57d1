"""`wildchat50m analyze ...` on the demo's repository and runs: every analysis writes its tables and chart."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from wildchat50m.metrics import style as style_metrics

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def assert_chart(path: Path) -> None:
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert path.stat().st_size > 5_000


def assistant_messages(repo: Path, config: str) -> list[dict]:
    table = pq.ParquetDataset(sorted((repo / "data" / config).glob("*.parquet"))).read(
        columns=["conversation"]
    )
    return [m for c in table.column(0).to_pylist() for m in c if m["role"] == "assistant"]


def test_similarity_follows_appendix_a_on_the_demo_repository(cli, demo_output, tmp_path):
    out = tmp_path / "similarity"
    result = cli(
        "analyze", "similarity", "--repo", str(demo_output / "wildchat-50m"),
        "--models", "2", "--answers", "40", "--references", "1", "--seed", "7", "--out", str(out),
    )  # fmt: skip
    assert "| config | answers | pairs | rouge1_mean |" in result.stdout
    rows = read_csv(out / "similarity.csv")
    assert [row["config"] for row in rows] == ["tiny-a", "tiny-b"]
    for row in rows:
        assert row["answers"] == row["pairs"] == "40"
        for metric in ("rouge1", "rougeL", "meteor"):
            assert 0.0 <= float(row[f"{metric}_mean"]) <= 1.0
            assert float(row[f"{metric}_std"]) >= 0.0
        assert row["meteor_stages"].startswith("exact+stem")
    # With two models each is the other's only reference on the same 40 conversations, and
    # ROUGE F1 is symmetric, so both rows hold the same ROUGE means (METEOR is not symmetric).
    assert float(rows[0]["rouge1_mean"]) == pytest.approx(float(rows[1]["rouge1_mean"]), abs=1e-12)
    assert float(rows[0]["rougeL_mean"]) == pytest.approx(float(rows[1]["rougeL_mean"]), abs=1e-12)
    assert (out / "similarity.md").read_text().startswith("| config |")
    assert_chart(out / "similarity.png")


def test_style_counts_configs_and_generated_answers(cli, demo_output, tmp_path):
    repo = demo_output / "wildchat-50m"
    generated = tmp_path / "samples_wildchat50m_tiny-a.jsonl"
    answers = [m["content"] for m in assistant_messages(repo, "tiny-b")[:25]]
    generated.write_text(
        "".join(json.dumps({"doc_id": i, "resps": [[a]]}) + "\n" for i, a in enumerate(answers))
    )
    out = tmp_path / "style"
    cli(
        "analyze", "style", "--repo", str(repo), "--sample", "30", "--answers", f"mine={generated}",
        "--pair", "mine:tiny-b", "--pair", "tiny-a:tiny-b", "--out", str(out),
    )  # fmt: skip
    counts = {row["source"]: row for row in read_csv(out / "style_counts.csv")}
    assert set(counts) == {"tiny-a", "tiny-b", "mine"}
    assert counts["mine"]["answers"] == "25"
    assert {k: int(v) for k, v in counts["mine"].items() if k in style_metrics.FEATURES} == (
        style_metrics.total_counts(answers)
    )
    assert int(counts["tiny-a"]["answers"]) >= 30  # every turn of 30 conversations
    pfs = {row["pair"]: row for row in read_csv(out / "style_pf.csv")}
    assert list(pfs) == ["mine / tiny-b", "tiny-a / tiny-b"]
    a, b = counts["tiny-a"], counts["tiny-b"]
    expected = {f: style_metrics.proportion(int(a[f]), int(b[f])) for f in style_metrics.FEATURES}
    for feature, value in expected.items():
        assert float(pfs["tiny-a / tiny-b"][feature]) == pytest.approx(value, rel=1e-9)
    assert float(pfs["tiny-a / tiny-b"]["MPF"]) == pytest.approx(sum(expected.values()) / 10, rel=1e-9)
    assert_chart(out / "style.png")


def test_style_reports_bad_input_clearly(cli, demo_output, tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "no answer field"}\n')
    result = cli("analyze", "style", "--answers", f"x={broken}", expect=1)
    assert "no answer field; expected one of answer, response, resps" in result.stderr
    result = cli(
        "analyze", "style", "--repo", str(demo_output / "wildchat-50m"), "--config", "Qwen2.5-72B", expect=1
    )
    assert "has no config Qwen2.5-72B; it has: tiny-a, tiny-b" in result.stderr


def test_throughput_reads_the_run_manifests(cli, demo_output, tmp_path):
    out = tmp_path / "throughput"
    result = cli("analyze", "throughput", str(demo_output / "runs"), "--out", str(out))
    rows = {row["config"]: row for row in read_csv(out / "throughput.csv")}
    assert set(rows) == {"tiny-a", "tiny-b"}
    for config, row in rows.items():
        manifest = json.loads((demo_output / "runs" / config / "manifest.json").read_text())
        assert float(row["tokens_per_second"]) == manifest["throughput"]["tokens_per_second"]
        assert (
            float(row["seconds_per_1000_conversations"])
            == (manifest["throughput"]["seconds_per_1000_conversations"])
        )
        assert float(row["ctx_x_params"]) == float(row["max_model_len"]) * float(row["params_b"])
    summary = read_csv(out / "throughput_summary.csv")
    assert summary[0]["note"] == "needs 3 or more configs with both values"
    assert summary[2]["statistic"] == "input:output token ratio" and float(summary[2]["mean"]) > 0
    assert "tokens_per_second" in result.stdout
    assert_chart(out / "throughput.png")
    # The repository keeps a summary of each config's manifest: the same figures.
    cli("analyze", "throughput", str(demo_output / "wildchat-50m"), "--out", str(tmp_path / "from-repo"))
    from_repo = {row["config"]: row for row in read_csv(tmp_path / "from-repo" / "throughput.csv")}
    for config, row in rows.items():
        for column in ("tokens_per_second", "seconds_per_1000_conversations", "input_output_token_ratio"):
            assert float(from_repo[config][column]) == float(row[column]), column


def test_lengths_summarise_every_answer(cli, demo_output, tmp_path):
    repo, out = demo_output / "wildchat-50m", tmp_path / "lengths"
    cli("analyze", "lengths", "--repo", str(repo), "--out", str(out))
    rows = {row["config"]: row for row in read_csv(out / "lengths.csv")}
    for config in ("tiny-a", "tiny-b"):
        messages = assistant_messages(repo, config)
        answered = [m for m in messages if m["content"] is not None]
        assert int(rows[config]["answers"]) == len(answered)
        assert int(rows[config]["failed"]) == len(messages) - len(answered)
        assert float(rows[config]["tokens_max"]) == max(m["completion_tokens"] for m in answered)
        words = sum(len(m["content"].split()) for m in answered) / len(answered)
        assert float(rows[config]["words_mean"]) == pytest.approx(words, rel=1e-9)
    assert_chart(out / "lengths.png")
