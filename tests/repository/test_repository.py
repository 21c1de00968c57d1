"""Building the Hub dataset repository from runs, loading it with datasets, and checking it."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from helpers.commands import wildchat50m
from wildchat50m.builders.repository import (
    BuildError,
    build_repository,
    check_repository,
    merge_sorted,
)

from wildchat50m.layout import read_front_matter
from wildchat50m.runstore import RunStore, atomic_write_table

# Tiny limits, so that 24 conversations already make several shards and row groups.
LIMITS = ("--max-row-group-bytes", "8000", "--max-shard-bytes", "20000")


def generate(dgm: str, out: Path, *, sample: int, max_new_tokens: int, cwd: Path) -> Path:
    wildchat50m(
        "generate", "--dgm", dgm, "--sample", str(sample), "--seed", "3",
        "--max-new-tokens", str(max_new_tokens), "--max-model-len", "384", "--temperature", "0",
        "--num-shards", "2", "--out", str(out), "--quiet", cwd=cwd,
    )  # fmt: skip
    return out / dgm


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Three finished runs (tiny-a, tiny-b, tiny-bench) and a repository built from the first two."""
    root = tmp_path_factory.mktemp("repository")
    generate("tiny-a", root / "runs", sample=24, max_new_tokens=8, cwd=root)
    generate("tiny-b", root / "runs", sample=24, max_new_tokens=8, cwd=root)
    generate("tiny-bench", root / "runs", sample=6, max_new_tokens=4, cwd=root)
    wildchat50m("build", "runs/tiny-a", "runs/tiny-b", "--repo", "repo", *LIMITS, cwd=root)
    return root


def copy_repo(work: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(work / "repo", tmp_path / "wildchat-50m"))


def file_bytes(repo: Path) -> dict[str, bytes]:
    return {str(p.relative_to(repo)): p.read_bytes() for p in sorted(repo.rglob("*")) if p.is_file()}


def run_rows(run_dir: Path) -> list[dict]:
    table = pq.ParquetDataset(sorted((run_dir / "data").glob("shard-*.parquet"))).read()
    return table.sort_by("conversation_hash").to_pylist()


def test_a_config_loads_with_datasets_as_the_run_wrote_it(work, tmp_path):
    repo, cache = work / "repo", str(tmp_path / "cache")
    loaded = load_dataset(str(repo), "tiny-a", split="train", cache_dir=cache)
    expected = run_rows(work / "runs" / "tiny-a")
    assert loaded.num_rows == 24
    assert loaded["conversation_hash"] == [row["conversation_hash"] for row in expected]
    assert loaded.data.table.to_pylist() == expected

    quarter = load_dataset(str(repo), "tiny-b", split="train[:25%]", cache_dir=cache)
    assert quarter.num_rows == 6

    streamed = load_dataset(str(repo), "tiny-a", split="train", streaming=True)
    assert next(iter(streamed))["conversation_hash"] == expected[0]["conversation_hash"]

    with pytest.raises(ValueError, match=r"'Qwen2.5-72B' not found.*tiny-a.*tiny-b"):
        load_dataset(str(repo), "Qwen2.5-72B", cache_dir=cache)


def test_the_order_rows_arrive_in_does_not_change_a_byte(work, tmp_path):
    """Building sorts externally (each run shard alone, then a streamed merge): shuffling the rows
    inside the run's shards gives the same files as the run as it was written."""
    run = Path(shutil.copytree(work / "runs" / "tiny-a", tmp_path / "runs" / "tiny-a"))
    shuffler = random.Random(7)
    store = RunStore(run)
    for marker in sorted((run / "shards").glob("shard-*.json")):
        facts = json.loads(marker.read_text())
        shard = store.output_path(facts["shard"], facts["of"])
        table = pq.read_table(shard)
        order = list(range(table.num_rows))
        shuffler.shuffle(order)
        facts["sha256"] = atomic_write_table(shard, table.take(order))
        facts["bytes"] = shard.stat().st_size
        marker.write_text(json.dumps(facts))
    wildchat50m("build", str(run), "--repo", "shuffled", *LIMITS, cwd=tmp_path)
    built = file_bytes(work / "repo" / "data" / "tiny-a")
    assert len(built) > 2
    assert file_bytes(tmp_path / "shuffled" / "data" / "tiny-a") == built


def test_merge_streams_sorted_files_in_batches_into_one_order(work, tmp_path):
    shards = sorted((work / "runs" / "tiny-a" / "data").glob("shard-*.parquet"))
    files = []
    for index, shard in enumerate(shards):
        files.append(tmp_path / f"sorted-{index}.parquet")
        pq.write_table(pq.read_table(shard).sort_by("conversation_hash"), files[-1], row_group_size=2)
    merged = list(merge_sorted(files, ["conversation_hash"], batch_rows=3))
    assert len(merged) > 2
    hashes = [h for table in merged for h in table.column("conversation_hash").to_pylist()]
    assert hashes == sorted(row["conversation_hash"] for row in run_rows(work / "runs" / "tiny-a"))


def test_configs_are_sharded_sorted_and_declared_in_the_readme(work):
    repo = work / "repo"
    shards = sorted((repo / "data" / "tiny-a").glob("train-*.parquet"))
    assert len(shards) > 1
    assert all(p.name.endswith(f"-of-{len(shards):05d}.parquet") for p in shards)
    assert sum(pq.read_metadata(p).num_row_groups for p in shards) > len(shards)

    front = read_front_matter(repo / "README.md")
    assert front["license"] == "other" and front["license_name"] == "ai2-impact-license-low-risk"
    assert [c["config_name"] for c in front["configs"]] == ["tiny-a", "tiny-b"]
    assert front["configs"][0]["default"] is True
    assert front["configs"][1]["data_files"] == [{"split": "train", "path": "data/tiny-b/train-*.parquet"}]
    info = {i["config_name"]: i for i in front["dataset_info"]}
    assert info["tiny-a"]["splits"] == [
        {"name": "train", "num_bytes": info["tiny-a"]["dataset_size"], "num_examples": 24}
    ]
    assert info["tiny-a"]["download_size"] == sum(p.stat().st_size for p in shards)
    assert not list(repo.glob("*.py"))


def test_the_card_table_has_one_row_per_config_from_the_run_manifests(work, tmp_path):
    repo = tmp_path / "three"
    wildchat50m("build", "runs/tiny-a", "runs/tiny-b", "runs/tiny-bench", "--repo", str(repo), cwd=work)
    readme = (repo / "README.md").read_text(encoding="utf-8")
    table = {
        line.split(" | ")[0][2:]: line.split(" | ")
        for line in readme.splitlines()
        if line.startswith("| tiny-")
    }
    assert sorted(table) == ["tiny-a", "tiny-b", "tiny-bench"]
    for config, new_tokens in (("tiny-a", 8), ("tiny-b", 8), ("tiny-bench", 4)):
        rows = run_rows(work / "runs" / config)
        cells = table[config]
        assert cells[3:5] == [f"{len(rows):,}", f"{sum(r['turn'] for r in rows):,}"]  # rows, user turns
        assert cells[12] == f"T=0, top_p=1, max_new={new_tokens}"
        assert cells[13] == "original"
    assert "2501.18511" in readme
    assert 'load_dataset("wildchat-50m", "tiny-a", split="train[:25%]")' in readme


def test_adding_a_config_leaves_the_others_byte_identical_and_rebuilding_changes_nothing(work, tmp_path):
    repo = copy_repo(work, tmp_path)
    before = file_bytes(repo)
    result = wildchat50m("build", str(work / "runs" / "tiny-bench"), "--repo", str(repo), *LIMITS, cwd=work)
    assert "3 config(s) (tiny-a, tiny-b, tiny-bench), default tiny-a" in result.stdout
    after = file_bytes(repo)
    untouched = {k: v for k, v in before.items() if k.startswith(("data/tiny-a/", "data/tiny-b/"))}
    assert {k: after[k] for k in untouched} == untouched
    assert after["README.md"] != before["README.md"]
    assert "| tiny-bench |" in after["README.md"].decode()

    wildchat50m("build", str(work / "runs" / "tiny-bench"), "--repo", str(repo), *LIMITS, cwd=work)
    assert file_bytes(repo) == after


def test_check_passes_on_a_built_repository(work):
    result = wildchat50m("build", "--check", "repo", cwd=work)
    assert "repo: OK (2 configs)" in result.stdout


def break_missing_shard(repo: Path) -> None:
    next((repo / "data" / "tiny-b").glob("train-00001-*.parquet")).unlink()


def break_num_examples(repo: Path) -> None:
    readme = repo / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8").replace("num_examples: 24", "num_examples: 25", 1))


def break_loading_script(repo: Path) -> None:
    (repo / "wildchat-50m.py").write_text("import datasets\n", encoding="utf-8")


def break_schema(repo: Path) -> None:
    for path in (repo / "data" / "tiny-b").glob("train-*.parquet"):
        table = pq.read_table(path)
        pq.write_table(table.drop_columns(["history_mode"]), path)


def break_order(repo: Path) -> None:
    path = next((repo / "data" / "tiny-a").glob("train-00000-*.parquet"))
    table = pq.read_table(path)
    pq.write_table(table.take(list(reversed(range(table.num_rows)))), path)


def break_uniqueness(repo: Path) -> None:
    path = next((repo / "data" / "tiny-a").glob("train-00000-*.parquet"))
    table = pq.read_table(path)
    pq.write_table(table.take([0, *range(table.num_rows)]), path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (break_order, "tiny-a: rows are not sorted by conversation_hash"),
        (break_uniqueness, "tiny-a: 1 duplicate conversation_hash value(s)"),
        (break_missing_shard, "tiny-b: shards missing or misnamed"),
        (break_num_examples, "tiny-a: README.md dataset_info says num_examples 25, the files hold 24"),
        (break_loading_script, "wildchat-50m.py: a loading script named after the repository"),
        (break_schema, "tiny-b: train-00000-of-"),
    ],
)
def test_check_lists_what_is_wrong_with_a_broken_copy(work, tmp_path, damage, message):
    repo = copy_repo(work, tmp_path)
    damage(repo)
    result = wildchat50m("build", "--check", str(repo), cwd=work, expect=1)
    assert message in result.stderr
    assert message in "\n".join(check_repository(repo))


def test_the_builder_refuses_a_repository_with_a_loading_script(work, tmp_path):
    repo = copy_repo(work, tmp_path)
    break_loading_script(repo)
    before = file_bytes(repo)
    with pytest.raises(BuildError, match=r"wildchat-50m\.py: datasets 4\+ refuses"):
        build_repository(repo, [work / "runs" / "tiny-bench"])
    assert file_bytes(repo) == before


LOAD_WITH_PINNED_DATASETS = """
import json, sys
import datasets
from datasets import load_dataset

repo, cache = sys.argv[1], sys.argv[2]
full = load_dataset(repo, "tiny-a", split="train", cache_dir=cache)
quarter = load_dataset(repo, "tiny-b", split="train[:25%]", cache_dir=cache)
first = next(iter(load_dataset(repo, "tiny-a", split="train", streaming=True)))
try:
    load_dataset(repo, "Qwen2.5-72B", cache_dir=cache)
    wrong = None
except ValueError as error:
    wrong = str(error)
print(json.dumps({
    "version": datasets.__version__,
    "hashes": [row["conversation_hash"] for row in full],
    "answers": [[m["content"] for m in row["conversation"]] for row in full],
    "quarter": quarter.num_rows,
    "streamed_first": first["conversation_hash"],
    "wrong_config": wrong,
}))
"""


def test_the_repository_loads_under_datasets_4_8_4_as_axolotl_pins_it(work, tmp_path):
    from helpers.pinned_envs import pinned_python

    python = pinned_python("datasets-4.8.4.txt")
    result = subprocess.run(
        [python, "-c", LOAD_WITH_PINNED_DATASETS, str(work / "repo"), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")},
    )
    loaded = __import__("json").loads(result.stdout)
    expected = run_rows(work / "runs" / "tiny-a")
    assert loaded["version"] == "4.8.4"
    assert loaded["hashes"] == [row["conversation_hash"] for row in expected]
    assert loaded["answers"] == [[m["content"] for m in row["conversation"]] for row in expected]
    assert loaded["quarter"] == 6
    assert loaded["streamed_first"] == expected[0]["conversation_hash"]
    assert "not found" in loaded["wrong_config"] and "tiny-a" in loaded["wrong_config"]


def test_a_build_from_python_keeps_the_search_index_in_step(work, tmp_path):
    """``build_repository`` called from a notebook adds the config to the Space's search index itself."""
    from wildchat50m.builders.search_index import INDEX_DIR, freshness, local_fingerprints, read_state

    repo = copy_repo(work, tmp_path)
    assert freshness(read_state(repo / INDEX_DIR), local_fingerprints(repo)).fresh

    report = build_repository(repo, [work / "runs" / "tiny-bench"])

    assert "added tiny-bench" in str(report.search_index)
    assert freshness(read_state(repo / INDEX_DIR), local_fingerprints(repo)).fresh
    left = build_repository(tmp_path / "without-index", [work / "runs" / "tiny-bench"], search_index=False)
    assert left.search_index is None and not (tmp_path / "without-index" / INDEX_DIR).exists()
