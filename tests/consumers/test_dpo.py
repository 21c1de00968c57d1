"""DPO on a pairs config, as the README's two-command paths run it: `wildchat50m pairs`, then TRL or Axolotl.

Both run in the Axolotl 0.21.0 environment (``tests/envs/axolotl-0.21.0.txt``; Axolotl depends on
TRL, so no environment is added for it), with a tiny random-weight model on the CPU. The pairs
config is read as it is: TRL's ``DPOTrainer`` takes the ``load_dataset`` result, Axolotl the YAML
dataset entry of the plugin's DPO example (``type: chat_template.default``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from datasets import load_from_disk
from helpers.commands import wildchat50m
from helpers.pinned_envs import checkout_site, pinned_python
from transformers import AutoTokenizer
from wildchat50m.builders.repository import build_repository

from wildchat50m.judging.synthetic import judgment_rows, write_judgment_run
from wildchat50m.mixes.synthetic import write_config_run
from wildchat50m.resources import package_path
from wildchat50m.tiny import tiny_chat_model

SCRIPT = Path(__file__).parent / "scripts" / "trl_dpo_train.py"
CONFIG = "pairs--tiny-a-vs-tiny-b"
CONVERSATIONS = 12


@pytest.fixture(scope="module")
def dpo(tmp_path_factory) -> dict:
    """Axolotl's environment, this checkout as a site dir, a tiny model, and a repository with pairs."""
    root = tmp_path_factory.mktemp("dpo")
    python = pinned_python("axolotl-0.21.0.txt")
    answers = [
        write_config_run(root / "runs", dgm, CONVERSATIONS, answer_chars=chars, failed_every=0)
        for dgm, chars in (("tiny-a", 80), ("tiny-b", 160))
    ]
    judgments = []
    for offset, run in enumerate(answers):
        scores = {key: 1 + (index * 7 + offset * 4) % 10 for index, key in enumerate(user_turns(run))}
        rows = judgment_rows("J", "Factuality", run.name, scores)
        judgments.append(
            write_judgment_run(root / "runs", rows, judge="J", factor="Factuality", target=run.name)
        )
    runs = [*answers, *judgments]
    build_repository(root / "repo", runs)
    wildchat50m(
        "pairs", "repo", "--dgm", "tiny-a", "--dgm", "tiny-b", "--factor", "Factuality", "--turns", "all",
        "--name", "tiny-a-vs-tiny-b", cwd=root,
    )  # fmt: skip
    return {
        "root": root,
        "python": python,
        "site": checkout_site(root / "site"),
        "model": tiny_chat_model("tiny-a"),
        "environment": {
            **os.environ,
            "PYTHONPATH": str(root / "site"),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "AXOLOTL_DO_NOT_TRACK": "1",
            "TOKENIZERS_PARALLELISM": "false",
        },
    }


def user_turns(run: Path) -> list[tuple[str, int]]:
    """Every (conversation_hash, turn) of a run's conversations."""
    import pyarrow.parquet as pq

    table = pq.read_table(next((run / "data").glob("*.parquet")), columns=["conversation_hash", "turn"])
    return [
        (conversation_hash, turn)
        for conversation_hash, turns in zip(*(c.to_pylist() for c in table.columns), strict=True)
        for turn in range(turns)
    ]


def pairs_rows(dpo: dict) -> list[dict]:
    import pyarrow.parquet as pq

    return (
        pq.ParquetDataset(sorted((dpo["root"] / "repo" / "data" / CONFIG).glob("*.parquet")))
        .read()
        .to_pylist()
    )


def test_trl_dpo_trainer_trains_two_steps_on_the_pairs_config_as_loaded(dpo, tmp_path):
    command = [dpo["python"], SCRIPT, dpo["root"] / "repo", CONFIG, dpo["model"], tmp_path, "2"]
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=1200,
        env={**dpo["environment"], "HF_HOME": str(tmp_path / "hf")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report["losses"]) == 2 and all(math.isfinite(loss) for loss in report["losses"])
    rows = {(row["conversation_hash"], row["turn_index"]): row for row in pairs_rows(dpo)}
    assert len(report["prompts"]) == len(rows) and any(turn > 0 for turn in report["turns"])
    for conversation_hash, turn, prompt in zip(
        report["hashes"], report["turns"], report["prompts"], strict=True
    ):
        messages = rows[(conversation_hash, turn)]["prompt"]
        assert len(messages) == 2 * turn + 1
        # Every turn of the conversation up to the judged one is in the tokenized prompt, in order.
        positions = [prompt.find(message["content"]) for message in messages]
        assert -1 not in positions and positions == sorted(positions), (conversation_hash, turn)


def test_axolotl_preprocesses_the_dpo_example_over_the_pairs_config(dpo, tmp_path):
    example = package_path("wildchat50m.hub_plugins.axolotl.examples") / "dpo-pairs-llama-3.1-8b.yaml"
    config = yaml.safe_load(example.read_text())
    assert config["rl"] == "dpo" and config["datasets"][0]["type"] == "chat_template.default"
    for key in ("special_tokens", "gradient_checkpointing_kwargs"):
        config.pop(key, None)
    config.update(
        base_model=str(dpo["model"]), chat_template="tokenizer_default", sequence_len=1024, bf16=False,
        flash_attention=False, gradient_checkpointing=False, dataset_prepared_path=str(tmp_path / "prepared"),
        output_dir=str(tmp_path / "out"),
    )  # fmt: skip
    config["datasets"][0].update(path=str(dpo["root"] / "repo" / "data" / CONFIG))
    path = tmp_path / "dpo.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [str(dpo["python"].parent / "axolotl"), "preprocess", str(path)], cwd=tmp_path, capture_output=True,
        text=True, timeout=900, env={**dpo["environment"], "HF_HOME": str(tmp_path / "hf")},
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]

    (folder,) = [p for p in (tmp_path / "prepared").iterdir() if (p / "dataset_info.json").exists()]
    prepared = load_from_disk(str(folder))
    rows = pairs_rows(dpo)
    assert prepared.num_rows == len(rows)
    tokenizer = AutoTokenizer.from_pretrained(dpo["model"])
    by_key = {(row["conversation_hash"], row["turn_index"]): row for row in rows}
    for row in prepared:
        source = by_key[(row["conversation_hash"], row["turn_index"])]
        # The prompt is the conversation rendered by the chat template, ending on the generation prompt.
        expected = tokenizer.apply_chat_template(source["prompt"], add_generation_prompt=True, tokenize=False)
        assert row["prompt"] == expected
        assert row["chosen"].startswith(source["chosen"][0]["content"])
        assert row["rejected"].startswith(source["rejected"][0]["content"])
        for text in (row["prompt"], row["chosen"], row["rejected"]):
            assert tokenizer(text, add_special_tokens=False)["input_ids"]
