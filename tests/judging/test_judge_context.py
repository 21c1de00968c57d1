"""A judge whose context is small (1,024 tokens) over the sample's longest conversations.

Every judge prompt is fitted to the context with generation's budget rules, leaving room for the
judgment and the forced ``Score: `` continuation, so the engine refuses none of them; the
manifest counts the prompts that were fitted and cut.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from helpers.commands import wildchat50m

from wildchat50m.resources import package_path

CONTEXT = 1024
MAX_NEW_TOKENS = 16


def longest_conversations(count: int) -> list[str]:
    """The hashes of the sample's ``count`` conversations with the most characters."""
    sample = pq.read_table(package_path("wildchat50m.data.sample") / "wildchat_sample.parquet")
    messages = pc.list_flatten(sample.column("conversation"))
    lengths = pc.fill_null(pc.utf8_length(pc.struct_field(messages, "content")), 0).to_numpy()
    parents = pc.list_parent_indices(sample.column("conversation")).to_numpy()
    totals: dict[int, int] = {}
    for parent, length in zip(parents.tolist(), lengths.tolist(), strict=True):
        totals[parent] = totals.get(parent, 0) + length
    longest = sorted(totals, key=lambda row: (-totals[row], row))[:count]
    return [sample.column("conversation_hash")[row].as_py() for row in longest]


def test_a_small_context_judge_refuses_no_prompt_and_the_manifest_counts_the_fitted_ones(tmp_path: Path):
    hashes = longest_conversations(4)
    (tmp_path / "longest.txt").write_text("\n".join(hashes) + "\n")
    wildchat50m(
        "generate", "--dgm", "tiny-a", "--allow-list", "longest.txt", "--max-new-tokens", "4",
        "--max-model-len", "512", "--temperature", "0", "--num-shards", "1", "--out", "runs", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    wildchat50m(
        "judge", "--judge", "tiny-a", "--target", "runs/tiny-a", "--max-model-len", str(CONTEXT),
        "--max-new-tokens", str(MAX_NEW_TOKENS), "--top-logprobs", "20", "--num-shards", "1",
        "--out", "judgments", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    run = tmp_path / "judgments" / "judgments--Factuality--tiny-a--tiny-a"
    rows = pq.read_table(next((run / "data").glob("*.parquet"))).to_pylist()
    answered = [row for row in rows if row["status"] != "no_answer"]
    assert len({row["conversation_hash"] for row in rows}) == len(hashes) and answered
    assert [row for row in answered if row["status"] == "judge_error" or row["error"]] == []
    # Every prompt left room for the judgment and the forced continuation within the context.
    assert all(row["prompt_tokens"] + MAX_NEW_TOKENS < CONTEXT for row in answered)

    manifest = json.loads((run / "manifest.json").read_text())
    fit = manifest["prompt_fit"]
    assert fit["cut"] == sum(row["judge_input_cut"] for row in answered) > 0
    assert fit["fitted"] > 0  # earlier turns shortened, the judged turn whole
    assert fit["fitted"] + fit["cut"] <= len(answered)
    assert manifest["statuses"]["judge_error"] == 0
    assert max(row["prompt_tokens"] for row in answered) > CONTEXT // 2  # the room was used, not wasted
