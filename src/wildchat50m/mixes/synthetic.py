"""Synthetic stand-ins, in the real shapes, for every source of the Re-Wild mix.

Tests and ``bench/mix_build.py`` build mixes offline from these:

- a WildChat-50m config: a finished run directory in the run-store layout
  (rows in :data:`~wildchat50m.schema.OUTPUT_SCHEMA`), which the repository
  builder turns into ``data/<config>/`` like any generated run;
- MMLU auxiliary train as ``cais/mmlu`` (config ``all``, split
  ``auxiliary_train``) has it: ``question``, ``subject``, ``choices``
  (list of strings), ``answer`` (class index 0-3);
- Tulu 3 Persona Hub algebra as ``allenai/tulu-3-sft-personas-algebra``
  has it: ``id``, ``prompt``, ``messages`` (list of content/role structs).

Rows are built from a small template table and repeated with fresh hashes,
so a quarter of a million conversations take seconds. Nothing here is real
text.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wildchat50m.jobs import RunKind, write_manifest
from wildchat50m.requests import HistoryMode
from wildchat50m.runstore import RunStore, ShardStats
from wildchat50m.schema import OUTPUT_SCHEMA
from wildchat50m.source import shard_of
from wildchat50m.synthetic import LANGUAGES, fake_hash, wildchat_row

#: The sizes of the real sources (MMLU auxiliary train; Tulu 3 Persona Hub algebra).
MMLU_AUXILIARY_TRAIN_ROWS = 99_842
TULU_ALGEBRA_ROWS = 20_000
MMLU_SUBJECTS = ("arc_easy", "arc_challenge", "obqa", "race", "mc_test")


def conversation_hash(index: int) -> str:
    """The hash of synthetic conversation ``index``: the same in every DGM's config, as in WildChat-50m."""
    return fake_hash("wildchat50m-synthetic", index)


def _answer(dgm: str, index: int, turn: int, chars: int, incompressible: bool = False) -> str:
    if incompressible:
        return random.Random(f"{dgm}:{index}:{turn}").randbytes(chars // 2 + 1).hex()[:chars]
    words = f"{dgm} answers turn {turn} of conversation {index}. "
    return (words * (1 + chars // len(words)))[
        : max(len(words), chars - (index * 7 + turn) % (chars // 3 + 1))
    ]


def _template_rows(
    dgm: str, count: int, answer_chars: int, failed_every: int, incompressible: bool = False
) -> list[dict[str, Any]]:
    """Conversations of 1-3 turns in rotating languages; every ``failed_every``-th has a failed last turn."""
    rows = []
    for index in range(count):
        turns = 1 + index % 3
        messages = []
        for turn in range(turns):
            messages.append(
                ("user", f"Question {turn} of conversation {index}: how does item {index % 101} work?")
            )
            messages.append(("assistant", _answer(dgm, index, turn, answer_chars, incompressible)))
        row = wildchat_row(
            conversation_hash(index),
            messages,
            language=LANGUAGES[index % len(LANGUAGES)],
            toxic=index % 23 == 0,
        )
        failed = failed_every > 0 and index % failed_every == failed_every - 1
        answers = [m for m in row["conversation"] if m["role"] == "assistant"]
        for position, message in enumerate(answers):
            fails = failed and position == len(answers) - 1
            message.update(
                content=None if fails else message["content"],
                finish_reason="error" if fails else "stop",
                prompt_tokens=40 * (position + 1),
                completion_tokens=None if fails else len(message["content"]) // 4,
                prompt_truncated=False,
                flags=[],
                cumulative_logprob=None,
                error="server_error" if fails else None,
            )
        row.update(dgm=dgm, history_mode=HistoryMode.ORIGINAL)
        rows.append(row)
    return rows


def write_config_run(
    runs: Path,
    dgm: str,
    rows: int,
    *,
    answer_chars: int = 300,
    failed_every: int = 97,
    template_rows: int = 4096,
    offset: int = 0,
    num_shards: int = 1,
    incompressible: bool = False,
) -> Path:
    """A finished run of ``dgm`` answering synthetic conversations 0..rows-1; returns its folder.

    With ``offset`` the hashes are those of conversations ``offset..offset+rows-1`` (the text is
    the same): a DGM that answered other conversations than the rest. With ``num_shards`` the
    conversations are split into shards by hash, as `generate` splits them. ``incompressible``
    answers are random hex digits, so that the files take on disk about what they take in memory
    (for measuring memory held per byte read).
    """
    from wildchat50m.generate import answers_run_params

    run_dir = Path(runs) / dgm
    store = RunStore(run_dir)
    store.claim(
        answers_run_params(
            dgm, kind=RunKind.GENERATION, engine="synthetic", source="wildchat50m.mixes.synthetic",
            model=f"synthetic/{dgm}", seed=0, num_shards=num_shards,
        )
    )  # fmt: skip
    template = pa.Table.from_pylist(
        _template_rows(dgm, min(template_rows, rows), answer_chars, failed_every, incompressible),
        schema=OUTPUT_SCHEMA,
    )
    position = OUTPUT_SCHEMA.get_field_index("conversation_hash")
    hashes = [conversation_hash(offset + i) for i in range(rows)]
    shard_ids = pa.array([shard_of(h, num_shards) for h in hashes], pa.int64())

    def chunks(shard: int, stats: ShardStats) -> Iterator[pa.Table]:
        for start in range(0, rows, template.num_rows):
            size = min(template.num_rows, rows - start)
            picked = pc.indices_nonzero(pc.equal(shard_ids.slice(start, size), shard))
            chunk_hashes = pa.array([hashes[start + i] for i in picked.to_pylist()], pa.string())
            chunk = template.take(picked).set_column(position, "conversation_hash", chunk_hashes)
            stats.conversations += chunk.num_rows
            yield chunk
            messages = pc.list_flatten(chunk.column("conversation"))
            answers = messages.filter(pc.equal(pc.struct_field(messages, "role"), "assistant"))
            stats.finish_reasons.update(pc.struct_field(answers, "finish_reason").to_pylist())
            stats.turns += pc.sum(chunk.column("turn")).as_py() or 0
            stats.prompt_tokens += pc.sum(pc.struct_field(answers, "prompt_tokens")).as_py() or 0
            stats.completion_tokens += pc.sum(pc.struct_field(answers, "completion_tokens")).as_py() or 0
        stats.errors["server_error"] = stats.finish_reasons.get("error", 0)

    for shard in range(num_shards):
        stats = ShardStats()
        store.commit(
            shard, num_shards, chunks(shard, stats), stats, {"accelerators": None, "engine": "synthetic"}
        )
    write_manifest(store)
    return run_dir


def build_synthetic_repository(repo: Path, configs: dict[str, int], **run_options: Any) -> Path:
    """A WildChat-50m repository built by the project's builder from synthetic runs (config -> rows)."""
    from wildchat50m.builders.repository import build_repository

    runs = Path(repo).parent / f".{Path(repo).name}-runs"
    run_dirs = [write_config_run(runs, dgm, rows, **run_options) for dgm, rows in configs.items()]
    build_repository(Path(repo), run_dirs, search_index=False)  # the mixes read no index
    return Path(repo)


def write_mmlu_auxiliary_train(path: Path, rows: int = MMLU_AUXILIARY_TRAIN_ROWS) -> Path:
    """MMLU auxiliary train in its Hub shape: question, subject, choices, answer (0-3)."""
    table = pa.table(
        {
            "question": [f"Synthetic question {i}: which option names item {i % 997}?" for i in range(rows)],
            "subject": [MMLU_SUBJECTS[i % len(MMLU_SUBJECTS)] for i in range(rows)],
            "choices": [[f"option {letter} for {i}" for letter in "wxyz"] for i in range(rows)],
            "answer": pa.array([i % 4 for i in range(rows)], pa.int64()),
        }
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return Path(path)


def write_tulu_algebra(path: Path, rows: int = TULU_ALGEBRA_ROWS) -> Path:
    """Tulu 3 Persona Hub algebra in its Hub shape: id, prompt, messages (content/role)."""
    prompts = [f"A persona asks: solve {i % 89}x + {i % 13} = {i % 211} for x." for i in range(rows)]
    message = pa.struct([("content", pa.string()), ("role", pa.string())])
    table = pa.table(
        {
            "id": [f"personahub_{fake_hash('algebra', i)[:24]}" for i in range(rows)],
            "prompt": prompts,
            "messages": pa.array(
                [
                    [
                        {"content": prompt, "role": "user"},
                        {"content": f"Step by step, x = {i}.", "role": "assistant"},
                    ]
                    for i, prompt in enumerate(prompts)
                ],
                pa.list_(message),
            ),
        }
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return Path(path)
