"""The Axolotl plugin, run by Axolotl itself (`axolotl preprocess`) in its own pinned environment.

The environment (axolotl 0.21.0 on Python 3.12, datasets 5.0.1, transformers 5.20.1, CPU
torch) is built once from ``tests/envs/axolotl-0.21.0.txt`` and cached
outside the clone; this checkout goes on its ``PYTHONPATH``. The example
YAMLs shipped with the plugin are adapted to a tiny local model and a
repository built here from synthetic runs.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from datasets import load_from_disk
from helpers.pinned_envs import checkout_site, pinned_python
from transformers import AutoTokenizer
from wildchat50m.builders.repository import build_repository

from wildchat50m.mixes.synthetic import write_config_run, write_mmlu_auxiliary_train, write_tulu_algebra
from wildchat50m.resources import package_path
from wildchat50m.tiny import tiny_chat_model

COUNTS = {"wildchat-qwen2.5-72b": 50, "mmlu-auxiliary-train": 30, "tulu-3-personahub-algebra": 20}
PLUGIN = "wildchat50m.hub_plugins.axolotl.WildChat50mPlugin"
IGNORED = -100


@pytest.fixture(scope="module")
def axolotl(tmp_path_factory) -> dict:
    """Axolotl's interpreter, this checkout as a site dir, a tiny model, a repository and two fixture sets."""
    root = tmp_path_factory.mktemp("axolotl")
    python = pinned_python("axolotl-0.21.0.txt")
    run = write_config_run(root / "runs", "Qwen2.5-72B", 120, answer_chars=200, failed_every=10)
    build_repository(root / "repo", [run])
    write_mmlu_auxiliary_train(root / "mmlu.parquet", 60)
    write_tulu_algebra(root / "algebra.parquet", 40)
    return {
        "root": root,
        "axolotl": python.parent / "axolotl",
        "site": checkout_site(root / "site"),
        "model": tiny_chat_model("tiny-a"),
    }


def example(name: str, env: dict, work: Path, **changes) -> Path:
    """A shipped example YAML adapted to the CPU: the tiny model and its own chat template, no bf16."""
    config = yaml.safe_load((package_path("wildchat50m.hub_plugins.axolotl.examples") / name).read_text())
    for key in ("special_tokens", "gradient_checkpointing_kwargs"):
        config.pop(key)
    config.update(
        base_model=str(env["model"]),
        chat_template="tokenizer_default",
        sequence_len=1024,
        bf16=False,
        flash_attention=False,
        gradient_checkpointing=False,
        wildchat50m_repository=str(env["root"] / "repo"),
        dataset_prepared_path=str(work / "prepared"),
        output_dir=str(work / "out"),
        **changes,
    )
    path = work / "config.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def preprocess(env: dict, config: Path, expect_success: bool = True) -> str:
    result = subprocess.run(
        [str(env["axolotl"]), "preprocess", str(config)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=900,
        env={
            **os.environ,
            "PYTHONPATH": str(env["site"]),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "AXOLOTL_DO_NOT_TRACK": "1",
            "HF_HOME": str(config.parent / "hf-home"),
        },
    )
    log = result.stdout + result.stderr
    assert (result.returncode == 0) == expect_success, log[-5000:]
    return log


def prepared(work: Path):
    (folder,) = [p for p in (work / "prepared").iterdir() if (p / "dataset_info.json").exists()]
    return load_from_disk(str(folder))


def assert_plugin_registered(log: str) -> None:
    assert f"Plugin loaded successfully: {PLUGIN}" in log
    assert "Failed to load plugin" not in log


def test_re_wild_example_preprocesses_a_mix_with_its_rows_per_source_and_user_turns_masked(axolotl, tmp_path):
    spec = tmp_path / "tiny-re-wild.yaml"
    document = {
        "name": "tiny-re-wild",
        "sources": [
            {
                "name": "wildchat-qwen2.5-72b",
                "kind": "wildchat50m",
                "config": "Qwen2.5-72B",
                "count": 50,
            },
            {
                "name": "mmlu-auxiliary-train",
                "kind": "multiple_choice",
                "path": "mmlu.parquet",
                "count": 30,
            },
            {
                "name": "tulu-3-personahub-algebra",
                "kind": "chat",
                "path": "algebra.parquet",
                "count": 20,
            },
        ],
    }
    for source in document["sources"]:
        source["count"] = COUNTS[source["name"]]
    spec.write_text(yaml.safe_dump(document))
    for name in ("mmlu.parquet", "algebra.parquet"):
        (tmp_path / name).symlink_to(axolotl["root"] / name)
    config = example(
        "re-wild-llama-3.1-8b.yaml",
        axolotl,
        tmp_path,
        wildchat50m_mix=str(spec),
        wildchat50m_filters={"exclude_toxic": True},  # applies to the mix's WildChat-50m sources
    )
    log = preprocess(axolotl, config)

    assert_plugin_registered(log)
    assert "WildChat-50m plugin added 1 dataset(s)" in log
    mix_dir = tmp_path / "prepared" / "wildchat50m-mix-tiny-re-wild-seed0"
    record = json.loads((mix_dir / "mix.json").read_text())["sources"]
    drawn = {s["name"]: s["drawn"] for s in record}
    assert record[0]["reasons"]["filtered_toxic"] > 0 and record[0]["reasons"]["failed_answer"] > 0

    dataset = prepared(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(axolotl["model"])
    kinds = {"wildchat-qwen2.5-72b": 0, "mmlu-auxiliary-train": 0, "tulu-3-personahub-algebra": 0}
    for row in dataset:
        ids, labels = row["input_ids"], row["labels"]
        text = tokenizer.decode(ids)
        trained = tokenizer.decode([t for t, label in zip(ids, labels, strict=True) if label != IGNORED])
        masked = tokenizer.decode([t for t, label in zip(ids, labels, strict=True) if label == IGNORED])
        if "answers turn" in text:
            kinds["wildchat-qwen2.5-72b"] += 1
            assert "answers turn" in trained and "Question" not in trained and "Question" in masked
        elif "Synthetic question" in text:
            kinds["mmlu-auxiliary-train"] += 1
            assert "option" in trained and "Synthetic question" not in trained
        else:
            kinds["tulu-3-personahub-algebra"] += 1
            assert "Step by step" in trained and "persona asks" in masked and "persona asks" not in trained
    assert (
        kinds
        == drawn
        == {"wildchat-qwen2.5-72b": 50, "mmlu-auxiliary-train": 30, "tulu-3-personahub-algebra": 20}
    )


def test_configs_with_a_split_go_through_the_row_filtering_chat_template_strategy(axolotl, tmp_path):
    config = example(
        "single-dgm-250k-llama-3.1-8b.yaml",
        axolotl,
        tmp_path,
        wildchat50m_configs=[{"config": "Q72", "split": "train"}],
        wildchat50m_filters={"languages": ["English", "Russian"], "exclude_toxic": True},
    )
    log = preprocess(axolotl, config)
    assert_plugin_registered(log)
    assert "wildchat50m.hub_plugins.axolotl.prompt_strategy" in log

    table = pq.ParquetDataset(
        sorted((axolotl["root"] / "repo" / "data" / "Qwen2.5-72B").glob("*.parquet"))
    ).read()
    answers = pc.list_flatten(table.column("conversation"))
    keep = [
        row["language"] in ("English", "Russian")
        and not row["toxic"]
        and all(m["content"] is not None for m in row["conversation"])
        for row in table.select(["language", "toxic", "conversation"]).to_pylist()
    ]
    assert pc.sum(pc.is_null(pc.struct_field(answers, "content"))).as_py() > 0  # failed turns exist to drop
    assert prepared(tmp_path).num_rows == sum(keep) < table.num_rows


def test_a_plugin_key_of_the_wrong_type_fails_with_a_clear_message(axolotl, tmp_path):
    config = example(
        "single-dgm-250k-llama-3.1-8b.yaml",
        axolotl,
        tmp_path,
        wildchat50m_configs=[{"config": "Q72", "count": "a quarter million"}],
    )
    log = preprocess(axolotl, config, expect_success=False)
    assert_plugin_registered(log)
    assert "invalid WildChat-50m plugin keys" in log
    assert "wildchat50m_configs.0.count: Input should be a valid integer" in log
    assert not (tmp_path / "prepared").exists()
