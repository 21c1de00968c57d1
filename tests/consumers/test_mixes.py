"""SFT mixes through the real command line: specs, filters, draws, blends, length control, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from datasets import load_dataset
from wildchat50m.builders.repository import build_repository

from wildchat50m.mixes.synthetic import (
    conversation_hash,
    write_config_run,
    write_mmlu_auxiliary_train,
    write_tulu_algebra,
)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """A repository (Qwen2.5-72B 600 rows with long answers, Llama-3.3-70B 500 with short ones) and
    MMLU auxiliary train / Tulu 3 algebra fixtures in their Hub shapes, a few MMLU rows malformed."""
    root = tmp_path_factory.mktemp("mix-sources")
    runs = [
        write_config_run(root / "runs", "Qwen2.5-72B", 600, answer_chars=400, failed_every=31),
        write_config_run(root / "runs", "Llama-3.3-70B", 500, answer_chars=150, failed_every=37),
    ]
    build_repository(root / "repo", runs)
    mmlu = write_mmlu_auxiliary_train(root / "mmlu" / "auxiliary_train.parquet", 200)
    table = pq.read_table(mmlu)
    broken = pa.table(
        {
            "question": ["Which is right?", "", "Which letter?"],
            "subject": ["x", "x", "x"],
            "choices": [["a", "b"], ["a", "b"], ["only one"]],
            "answer": pa.array([7, 0, 0], pa.int64()),
        }
    )
    pq.write_table(pa.concat_tables([table, broken]), mmlu)
    write_tulu_algebra(root / "algebra.parquet", 50)
    return root


def write_spec(directory: Path, document: dict) -> Path:
    path = directory / "spec.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def mix_rows(out: Path) -> list[dict]:
    return pq.read_table(out / "data").to_pylist()


def repo_rows(sources: Path, config: str) -> dict[str, dict]:
    table = pq.ParquetDataset(sorted((sources / "repo" / "data" / config).glob("train-*.parquet"))).read()
    return {row["conversation_hash"]: row for row in table.to_pylist()}


def test_the_recipes_are_listed_and_re_wild_has_the_table_1_counts(cli_in_process):
    listed = cli_in_process("mix", "list").stdout
    for recipe in ("re-wild", "scaling-100k", "scaling-250k", "scaling-500k", "blend-q72-l70"):
        assert recipe in listed
    shown = yaml.safe_load(cli_in_process("mix", "show", "re-wild").stdout)
    counts = {source["name"]: source["count"] for source in shown["sources"]}
    assert counts == {
        "wildchat-qwen2.5-72b": 246_750,
        "mmlu-auxiliary-train": 99_800,
        "tulu-3-personahub-algebra": 20_000,
    }
    assert shown["sources"][0]["config"] == "Qwen2.5-72B"
    missing = cli_in_process("mix", "show", "re-wilde", expect=1).stderr
    assert "neither a spec file nor a built-in recipe" in missing and "re-wild" in missing


def test_a_spec_with_every_kind_of_source_builds_a_loadable_dataset_with_provenance(cli, sources, tmp_path):
    exclude = tmp_path / "held-out.txt"
    excluded = [conversation_hash(i) for i in range(0, 120, 3)]
    exclude.write_text("# held-out eval prompts\n" + "\n".join(excluded) + "\n")
    spec = write_spec(
        tmp_path,
        {
            "name": "every-kind",
            "seed": 7,
            "repository": str(sources / "repo"),
            "sources": [
                {
                    "name": "chat",
                    "kind": "wildchat50m",
                    "config": "Q72",  # the paper's abbreviation resolves through the registry
                    "count": 60,
                    "filters": {
                        "languages": ["English", "Russian"],
                        "exclude_toxic": True,
                        "max_turns": 2,
                        "exclude_hashes": "held-out.txt",  # relative to the spec file
                    },
                },
                {"name": "mmlu", "kind": "multiple_choice", "path": str(sources / "mmlu"), "count": 150},
                {
                    "name": "algebra",
                    "kind": "chat",
                    "path": str(sources / "algebra.parquet"),
                    "id_field": "id",
                },
            ],
        },
    )
    result = cli("mix", "build", str(spec), "--out", "mix")
    out = tmp_path / "mix"
    assert "chat: 60 rows" in result.stdout and "260 rows in 1 file(s)" in result.stdout

    rows = mix_rows(out)
    by_source = {name: [r for r in rows if r["source"] == name] for name in ("chat", "mmlu", "algebra")}
    assert {name: len(part) for name, part in by_source.items()} == {"chat": 60, "mmlu": 150, "algebra": 50}

    originals = repo_rows(sources, "Qwen2.5-72B")
    for row in by_source["chat"]:
        original = originals[row["conversation_hash"]]
        assert row["dgm"] == "Qwen2.5-72B"
        assert original["language"] in ("English", "Russian") and not original["toxic"]
        assert original["turn"] <= 2 and row["conversation_hash"] not in excluded
        assert (row["first_turn_index"], row["last_turn_index"]) == (0, original["turn"] - 1)
        assert row["messages"] == [
            {"role": m["role"], "content": m["content"]} for m in original["conversation"]
        ]

    question = next(r for r in by_source["mmlu"])["messages"]
    assert [m["role"] for m in question] == ["user", "assistant"]
    assert "\nA. option w for" in question[0]["content"] and "\nD. option z for" in question[0]["content"]
    assert question[1]["content"][:3] in ("A. ", "B. ", "C. ", "D. ")
    assert all(r["conversation_hash"].startswith("personahub_") for r in by_source["algebra"])

    record = json.loads((out / "mix.json").read_text())
    chat, mmlu, algebra = record["sources"]
    # Every row read is accounted for: drawn, or left out under exactly one reason.
    for source in record["sources"]:
        assert source["rows_read"] == source["drawn"] + sum(source["reasons"].values())
    assert chat["reasons"]["filtered_excluded_hash"] > 0 and chat["reasons"]["failed_answer"] > 0
    assert {"filtered_language", "filtered_toxic", "filtered_too_many_turns"} <= set(chat["reasons"])
    assert mmlu["reasons"] == {"unmappable_row": 3, "filtered_not_sampled": 50}
    assert algebra["reasons"] == {}

    loaded = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.num_rows == 260 and loaded.column_names == [
        "messages", "source", "dgm", "conversation_hash", "first_turn_index", "last_turn_index",
    ]  # fmt: skip
    card = (out / "README.md").read_text()
    assert "| chat | wildchat50m |" in card and "seed 7" in card


def test_draws_are_deterministic_nested_and_change_with_the_seed(cli, sources, tmp_path):
    spec = write_spec(
        tmp_path,
        {
            "name": "draw",
            "sources": [{"name": "s", "kind": "wildchat50m", "config": "Qwen2.5-72B", "count": 200}],
        },
    )
    cli("mix", "build", str(spec), "--repository", str(sources / "repo"), "--out", "a", "--seed", "1")
    cli("mix", "build", str(spec), "--repository", str(sources / "repo"), "--out", "b", "--seed", "1")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert [(tmp_path / "a" / f).read_bytes() for f in files] == [
        (tmp_path / "b" / f).read_bytes() for f in files
    ]

    cli("mix", "build", str(spec), "--repository", str(sources / "repo"), "--out", "c", "--seed", "2")
    first = {r["conversation_hash"] for r in mix_rows(tmp_path / "a")}
    other_seed = {r["conversation_hash"] for r in mix_rows(tmp_path / "c")}
    assert len(first) == len(other_seed) == 200 and first != other_seed

    smaller = write_spec(
        tmp_path,
        {
            "name": "draw",
            "sources": [{"name": "s", "kind": "wildchat50m", "config": "Qwen2.5-72B", "count": 50}],
        },
    )
    cli("mix", "build", str(smaller), "--repository", str(sources / "repo"), "--out", "d", "--seed", "1")
    assert {r["conversation_hash"] for r in mix_rows(tmp_path / "d")} < first


def test_a_count_larger_than_the_source_fails_naming_it_before_writing(cli, sources, tmp_path):
    result = cli(
        "mix", "build", "scaling-100k", "--repository", str(sources / "repo"), "--out", "mix", expect=1
    )
    assert "source 'wildchat-100k'" in result.stderr and "Qwen2.5-72B" in result.stderr
    assert "100,000" in result.stderr and "eligible rows" in result.stderr
    assert not (tmp_path / "mix").exists() and not list(tmp_path.glob(".mix*"))

    result = cli(
        "mix", "build", "re-wild", "--repository", str(sources / "repo"), "--out", "rewild",
        "--source-path", f"mmlu-auxiliary-train={sources / 'mmlu'}", expect=1,
    )  # fmt: skip
    assert "wildchat-qwen2.5-72b" in result.stderr and "246,750" in result.stderr
    assert not (tmp_path / "rewild").exists()


def test_blends_take_equal_parts_over_disjoint_or_the_same_conversations(cli, sources, tmp_path):
    for mode in ("disjoint", "same"):
        spec = write_spec(
            tmp_path,
            {
                "name": f"blend-{mode}",
                "repository": str(sources / "repo"),
                "sources": [
                    {
                        "name": "q72-l70",
                        "kind": "blend",
                        "configs": ["Q72", "L70"],
                        "conversations": mode,
                        "count": 201,
                    }
                ],
            },
        )
        cli("mix", "build", str(spec), "--out", mode)
        rows = mix_rows(tmp_path / mode)
        by_dgm = {
            dgm: {r["conversation_hash"] for r in rows if r["dgm"] == dgm}
            for dgm in ("Qwen2.5-72B", "Llama-3.3-70B")
        }
        assert len(rows) == 201
        assert (len(by_dgm["Qwen2.5-72B"]), len(by_dgm["Llama-3.3-70B"])) == (101, 100)
        llama = repo_rows(sources, "Llama-3.3-70B")
        assert all(h in llama for h in by_dgm["Qwen2.5-72B"])  # only conversations both DGMs answered
        if mode == "disjoint":
            assert not by_dgm["Qwen2.5-72B"] & by_dgm["Llama-3.3-70B"]
        else:
            assert by_dgm["Llama-3.3-70B"] < by_dgm["Qwen2.5-72B"]
        originals = {dgm: repo_rows(sources, dgm) for dgm in by_dgm}
        for row in rows:
            original = originals[row["dgm"]][row["conversation_hash"]]
            assert row["messages"][-1]["content"] == original["conversation"][-1]["content"]


def test_length_control_cuts_every_answer_to_the_other_dgms_answer(cli, sources, tmp_path):
    spec = write_spec(
        tmp_path,
        {
            "name": "truncated",
            "repository": str(sources / "repo"),
            "sources": [
                {"name": "q72-cut", "kind": "wildchat50m", "config": "Qwen2.5-72B", "count": 150,
                 "length_limit_config": "Llama-3.3-70B"},
            ],
        },
    )  # fmt: skip
    cli("mix", "build", str(spec), "--out", "mix")
    qwen, llama = repo_rows(sources, "Qwen2.5-72B"), repo_rows(sources, "Llama-3.3-70B")
    cut = 0
    for row in mix_rows(tmp_path / "mix"):
        answers = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
        originals = [
            m["content"] for m in qwen[row["conversation_hash"]]["conversation"] if m["role"] == "assistant"
        ]
        limits = [
            m["content"] for m in llama[row["conversation_hash"]]["conversation"] if m["role"] == "assistant"
        ]
        for answer, original, limit in zip(answers, originals, limits, strict=True):
            assert answer == original[: len(limit)]
            cut += len(answer) < len(original)
    assert cut > 0
    record = json.loads((tmp_path / "mix" / "mix.json").read_text())["sources"][0]
    assert (
        record["length_limit_config"] == "Llama-3.3-70B" and record["reasons"]["no_reference_answer"] >= 100
    )


def test_nested_mmlu_columns_and_allow_lists_are_read(cli, sources, tmp_path):
    nested = pq.read_table(sources / "mmlu" / "auxiliary_train.parquet").slice(0, 40).combine_chunks()
    pq.write_table(
        pa.table(
            {"train": pa.StructArray.from_arrays([c.chunk(0) for c in nested.columns], nested.column_names)}
        ),
        tmp_path / "n.parquet",
    )
    allowed = [conversation_hash(i) for i in range(40)]  # conversation 30 has a failed answer (30 % 31)
    spec = write_spec(
        tmp_path,
        {
            "name": "nested",
            "repository": str(sources / "repo"),
            "sources": [
                {"name": "mmlu", "kind": "multiple_choice", "path": "n.parquet", "count": 40,
                 "question_field": "train.question", "choices_field": "train.choices",
                 "answer_field": "train.answer"},
                {"name": "allowed", "kind": "wildchat50m", "config": "Qwen2.5-72B",
                 "filters": {"hashes": allowed}},
            ],
        },
    )  # fmt: skip
    cli("mix", "build", str(spec), "--out", "mix")
    rows = mix_rows(tmp_path / "mix")
    assert sum(r["source"] == "mmlu" for r in rows) == 40
    chosen = {r["conversation_hash"] for r in rows if r["source"] == "allowed"}
    assert chosen == set(allowed) - {conversation_hash(30)}


def test_invalid_specs_fail_with_the_key_named(cli, tmp_path):
    spec = write_spec(
        tmp_path,
        {"name": "bad", "sources": [{"name": "s", "kind": "wildchat50m", "config": "Q72", "count": 5,
                                     "fraction": 0.5, "filter": {"exclude_toxic": True}}]},
    )  # fmt: skip
    result = cli("mix", "build", str(spec), "--out", "mix", expect=1)
    assert "sources.0.wildchat50m.filter: Extra inputs are not permitted" in result.stderr
    assert not (tmp_path / "mix").exists()
    spec = write_spec(tmp_path, {"name": "bad", "sources": [{"name": "s", "kind": "csv", "path": "x"}]})
    assert "sources.0" in cli("mix", "build", str(spec), "--out", "mix", expect=1).stderr
