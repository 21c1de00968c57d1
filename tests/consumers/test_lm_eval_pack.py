"""The lm-eval task pack: rendered from the registry, held-out prompts, and the real `lm_eval` CLI on CPU."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers.pinned_envs import checkout_site, pinned_python

from wildchat50m import heldout
from wildchat50m.registry import load_registry

TASK_METRICS = (
    "rouge1", "rougeL", "meteor",
    *(f"style_{f}" for f in ("strong", "em", "ol", "ul", "h1", "h2", "h3", "h4", "p", "len")),
    *(f"pf_{f}" for f in ("strong", "em", "ol", "ul", "h1", "h2", "h3", "h4", "p", "len")),
    "mpf",
)  # fmt: skip
GROUP_METRICS = ("rouge1", "rougeL", "meteor", "mpf")
FRACTION = "0.05"


def load_task_yaml(path: Path) -> dict:
    """The YAML as lm-eval reads it; `!function` left as text."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")
    return yaml.load(path.read_text(), Loader=Loader)


def test_tasks_path_renders_one_task_per_registry_dgm(cli, tmp_path):
    directory = Path(cli("eval", "tasks-path").stdout.strip())
    registry = load_registry()
    for dgm in registry:
        task = load_task_yaml(directory / f"wildchat50m_{dgm.config}.yaml")
        assert task["task"] == f"wildchat50m_{dgm.config}"
        assert task["metadata"]["dgm"] == dgm.config
        assert task["class"] == "!function wildchat50m_task.WildChatTask"
        assert task["output_type"] == "generate_until"
    group = load_task_yaml(directory / "wildchat50m.yaml")
    assert set(registry.configs) <= {t.removeprefix("wildchat50m_") for t in group["task"]}
    assert [m["metric"] for m in group["aggregate_metric_list"]] == list(GROUP_METRICS)
    assert (directory / "wildchat50m_task.py").is_file()

    own = tmp_path / "mine.yaml"
    own.write_text(
        "dgms:\n  - config: My-Model-8B\n    hf_id: me/my-model-8b\n    family: llama\n    params_b: 8\n"
        "    license: llama3.1\n    post_training: sft\n    generation: {max_model_len: 8192, "
        "tensor_parallel_size: 1, dtype: bfloat16, quantization: null, temperature: 0.7, top_p: 0.9, "
        "max_new_tokens: 1638}\n"
    )
    with_own = Path(
        cli(
            "--registry", str(own), "eval", "tasks-path", "--dgm", "My-Model-8B", "--dgm", "Q72"
        ).stdout.strip()
    )
    assert with_own != directory
    assert (
        load_task_yaml(with_own / "wildchat50m_My-Model-8B.yaml")["metadata"]["dgm_hf_id"] == "me/my-model-8b"
    )
    assert load_task_yaml(with_own / "wildchat50m.yaml")["task"] == [
        "wildchat50m_My-Model-8B", "wildchat50m_Qwen2.5-72B"
    ]  # fmt: skip


def test_heldout_hashes_are_a_seeded_subset_by_hash(cli, demo_output, tmp_path):
    repo = demo_output / "wildchat-50m"
    out = tmp_path / "heldout.txt"
    cli("eval", "heldout", "--repo", str(repo), "--out", str(out), "--fraction", FRACTION, "--seed", "3")
    hashes = out.read_text().split()
    assert hashes and all(heldout.is_heldout(h, float(FRACTION), 3) for h in hashes)
    everything = heldout.heldout_hashes(repo, fraction=1.0)
    assert len(everything) > 100
    assert set(hashes) == {h for h in everything if heldout.is_heldout(h, float(FRACTION), 3)}
    again = cli("eval", "heldout", "--repo", str(repo), "--fraction", FRACTION, "--seed", "3").stdout.split()
    assert again == hashes
    other_seed = cli(
        "eval", "heldout", "--repo", str(repo), "--fraction", FRACTION, "--seed", "4"
    ).stdout.split()
    assert set(other_seed) != set(hashes)
    result = cli("eval", "heldout", "--repo", str(tmp_path), expect=1)
    assert "is not a repository built by `wildchat50m build`" in result.stderr


@pytest.fixture(scope="module")
def lm_eval_env(tmp_path_factory) -> dict[str, str]:
    """lm-eval 0.4.13 in its cached environment, with this checkout on PYTHONPATH."""
    python = pinned_python("lm-eval-0.4.13.txt")
    site = checkout_site(tmp_path_factory.mktemp("site"))
    return {"python": str(python), "PYTHONPATH": str(site)}


def run_lm_eval(env: dict[str, str], args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    lm_eval = Path(env["python"]).parent / "lm_eval"
    result = subprocess.run(
        [str(lm_eval), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={
            **os.environ,
            "PYTHONPATH": env["PYTHONPATH"],
            "HF_HOME": str(cwd / "hf-home"),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        },
        timeout=1800,
    )
    assert result.returncode == 0, (
        f"exit {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
    )
    return result


def results_of(output_dir: Path) -> tuple[dict, list[dict]]:
    (results_file,) = output_dir.rglob("results_*.json")
    samples = [
        json.loads(line)
        for path in output_dir.rglob("samples_*.jsonl")
        for line in path.read_text().splitlines()
    ]
    return json.loads(results_file.read_text()), samples


@pytest.mark.slow
def test_lm_eval_cli_scores_a_tiny_model_against_the_demo_dgms(cli, demo_output, lm_eval_env, tmp_path):
    from wildchat50m.tiny import tiny_chat_model

    tasks_dir = cli(
        "eval", "tasks-path", "--repo", str(demo_output / "wildchat-50m"), "--max-gen-toks", "24"
    ).stdout.strip()
    model = tiny_chat_model("tiny-a")
    metadata = json.dumps({"repo": str(demo_output / "wildchat-50m"), "heldout_fraction": float(FRACTION)})
    common = [
        "--model", "hf", "--model_args", f"pretrained={model},dtype=float32", "--device", "cpu",
        "--include_path", tasks_dir, "--limit", "5", "--metadata", metadata, "--log_samples",
    ]  # fmt: skip

    chat = run_lm_eval(lm_eval_env, [*common, "--tasks", "wildchat50m", "--apply_chat_template",
                                     "--output_path", str(tmp_path / "chat")], tmp_path)  # fmt: skip
    results, samples = results_of(tmp_path / "chat")
    for task in ("wildchat50m_tiny-a", "wildchat50m_tiny-b"):
        for metric in TASK_METRICS:
            value = results["results"][task][f"{metric},none"]
            assert isinstance(value, float | int), (task, metric, value)
            assert re.search(rf"\|{metric} *\|", chat.stdout), f"{metric} missing from the printed table"
        assert results["n-samples"][task]["effective"] == 5
    for metric in GROUP_METRICS:
        assert isinstance(results["results"]["wildchat50m"][f"{metric},none"], float)
    stages = results["configs"]["wildchat50m_tiny-a"]["metadata"]["meteor_stages"]
    assert stages in ("exact+stem", "exact+stem+synonym")
    # Real multi-turn prompts through the model's own chat template, not one flattened user message.
    prompts = [s["arguments"]["gen_args_0"]["arg_0"] for s in samples]
    assert all(p.startswith("<|begin_of_text|><|user|>\n") and p.endswith("<|assistant|>\n") for p in prompts)
    multi_turn = [s for s in samples if len(s["doc"]["messages"]) > 1]
    assert multi_turn, "the held-out sample should hold a multi-turn conversation"
    for sample in multi_turn:
        prompt = sample["arguments"]["gen_args_0"]["arg_0"]
        assert prompt.count("<|user|>") == sum(m["role"] == "user" for m in sample["doc"]["messages"])
        assert (
            prompt.count("<|assistant|>")
            == sum(m["role"] == "assistant" for m in sample["doc"]["messages"]) + 1
        )

    run_lm_eval(lm_eval_env, [*common, "--tasks", "wildchat50m_tiny-b", "--limit", "2",
                              "--output_path", str(tmp_path / "plain")], tmp_path)  # fmt: skip
    results, samples = results_of(tmp_path / "plain")
    assert set(TASK_METRICS) <= {key.split(",")[0] for key in results["results"]["wildchat50m_tiny-b"]}
    for sample in samples:
        prompt = sample["arguments"]["gen_args_0"]["arg_0"]
        assert prompt.startswith("User: ") and prompt.endswith("\n\nAssistant:")
