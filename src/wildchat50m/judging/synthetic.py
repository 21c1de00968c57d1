"""Synthetic judgment runs, in the run-store layout a real judgment run leaves, for tests and benchmarks.

The repository builder turns such a run into ``data/judgments--<factor>--<judge>--<target>/`` like any
judgment run; the scores are whatever the caller puts in the table (no judge model is run).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wildchat50m import layout
from wildchat50m.jobs import RunKind, write_manifest
from wildchat50m.judging.factors import factor_slug
from wildchat50m.judging.job import JudgmentStats
from wildchat50m.judging.scores import JudgmentStatus, ScoreSource
from wildchat50m.runstore import RunStore
from wildchat50m.schema import JUDGMENT_SCHEMA


def judgment_rows(
    judge: str, factor: str, target: str, scores: dict[tuple[str, int], int | None]
) -> pa.Table:
    """Judgment rows of ``target`` by ``judge`` on ``factor``: a written score per (hash, turn_index), or None
    for a judgment whose text held no score (``unparsed``)."""
    records = []
    for (conversation_hash, turn), score in sorted(scores.items()):
        common = {
            "conversation_hash": conversation_hash, "turn_index": turn, "target": target, "judge": judge,
            "factor": factor, "judge_input_cut": False, "finish_reason": "stop", "prompt_tokens": 100,
            "completion_tokens": 8, "error": None, "distribution_flags": [],
        }  # fmt: skip
        if score is None:
            records.append({**common, "status": JudgmentStatus.UNPARSED, "judgment": "No verdict."})
            continue
        records.append(
            {
                **common, "status": JudgmentStatus.PARSED, "judgment": f"Fine.\nScore: {score}",
                "score": score,
                "score_probs": [1.0 if k == score else 0.0 for k in range(1, 11)],
                "expected_score": float(score), "score_mass": 1.0, "score_source": ScoreSource.GENERATED,
                "missing_scores": [],
            }
        )  # fmt: skip
    return pa.Table.from_pylist(records, schema=JUDGMENT_SCHEMA)


def write_judgment_run(runs: Path, table: pa.Table, *, judge: str, factor: str, target: str) -> Path:
    """A finished one-shard judgment run holding ``table`` (rows in ``JUDGMENT_SCHEMA``); its folder."""
    config = layout.judgment_config_name(factor_slug(factor), judge, target)
    store = RunStore(Path(runs) / config)
    params: dict[str, Any] = {
        "judge": judge, "model": f"synthetic/{judge}", "engine": "synthetic", "factor": factor,
        "factor_description": factor, "factor_rubric": factor, "target": target, "target_path": "",
        "target_files": {}, "temperature": 0.0, "top_p": 1.0, "seed": 0, "max_new_tokens": 512,
        "top_logprobs": 20, "max_chars": 6000, "max_model_len": None, "limit": None, "num_shards": 1,
        "engine_options": {},
        "config": config, "kind": str(RunKind.JUDGMENT),
    }  # fmt: skip
    store.claim(params)
    statuses = pc.value_counts(table.column("status")).flatten()
    sources = pc.value_counts(pc.drop_null(table.column("score_source"))).flatten()
    stats = JudgmentStats(
        conversations=len(pc.unique(table.column("conversation_hash"))),
        judgments=table.num_rows,
        statuses=Counter(dict(zip(*[c.to_pylist() for c in statuses], strict=True))),
        score_sources=Counter(dict(zip(*[c.to_pylist() for c in sources], strict=True))),
    )
    extra = {"engine": "synthetic", "answered": table.num_rows}
    store.commit(0, 1, [table], stats, extra, schema=JUDGMENT_SCHEMA)
    write_manifest(store)
    return store.root
