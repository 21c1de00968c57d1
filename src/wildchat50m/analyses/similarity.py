"""Response similarity between DGMs, the protocol of the paper's Appendix A.

``models`` configs are drawn at random (seeded) from the repository. For each, up to
``answers`` conversations it answered are drawn, and its first answer to each is compared
with the first answers of ``references`` other drawn models to the same conversation
(themselves drawn at random per conversation), with ROUGE-1 F1, ROUGE-L F1 and METEOR. A
model's row gives the mean and standard deviation over its (answer, reference) pairs.
Every text is tokenized once, however many comparisons it takes part in.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wildchat50m.analyses import sources
from wildchat50m.metrics import meteor, rouge

COLUMNS = (
    "config",
    "answers",
    "pairs",
    "rouge1_mean",
    "rouge1_std",
    "rougeL_mean",
    "rougeL_std",
    "meteor_mean",
    "meteor_std",
    "meteor_stages",
)


@dataclass(frozen=True)
class SimilaritySettings:
    models: int = 25
    answers: int = 500
    references: int = 4
    seed: int = 0


def _std(values: Sequence[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


def similarity_rows(
    repo: Path, configs: Sequence[str] | None, settings: SimilaritySettings
) -> list[dict[str, Any]]:
    """One row per drawn model: its similarity to the other models' answers."""
    available = sources.choose_configs(repo, configs)
    if len(available) < 2:
        raise sources.AnalysisError(
            f"similarity needs at least two configs; {repo} has {', '.join(available)}"
        )
    rng = random.Random(settings.seed)
    chosen = sorted(rng.sample(available, min(settings.models, len(available))))
    references = min(settings.references, len(chosen) - 1)
    connection = sources.connect()
    # Enough shared conversations that every model finds `answers` of them with `references` others.
    hashes = sources.sample_hashes(
        connection, repo, chosen, settings.answers * 2, settings.seed, min_configs=references + 1
    )
    answers = {config: sources.first_answers(connection, repo, config, hashes) for config in chosen}
    tokenizer = rouge.RougeTokenizer()
    encoded: dict[str, rouge.RougeText] = {}
    tokens: dict[str, list[str]] = {}

    def prepared(text: str) -> tuple[rouge.RougeText, list[str]]:
        if text not in encoded:
            encoded[text], tokens[text] = tokenizer.encode(text), meteor.tokenize(text)
        return encoded[text], tokens[text]

    rows = []
    for config in chosen:
        scores: dict[str, list[float]] = {"rouge1": [], "rougeL": [], "meteor": []}
        stages: set[str] = set()
        used = 0
        for conversation_hash in hashes:
            if used == settings.answers:
                break
            answer = answers[config].get(conversation_hash)
            others = [c for c in chosen if c != config and conversation_hash in answers[c]]
            if answer is None or len(others) < references:
                continue
            used += 1
            pair_rng = random.Random(f"{settings.seed}:{config}:{conversation_hash}")
            answer_rouge, answer_tokens = prepared(answer)
            for other in pair_rng.sample(others, references):
                reference_rouge, reference_tokens = prepared(answers[other][conversation_hash])
                similarity = rouge.rouge_f1(reference_rouge, answer_rouge)
                scored = meteor.meteor_tokens(reference_tokens, answer_tokens)
                scores["rouge1"].append(similarity.rouge1)
                scores["rougeL"].append(similarity.rougeL)
                scores["meteor"].append(scored.score)
                stages.update(scored.stages)
        row: dict[str, Any] = {"config": config, "answers": used, "pairs": len(scores["rouge1"])}
        for metric, values in scores.items():
            row[f"{metric}_mean"] = statistics.fmean(values) if values else None
            row[f"{metric}_std"] = _std(values) if values else None
        row["meteor_stages"] = "+".join(s for s in ("exact", "stem", "synonym") if s in stages)
        rows.append(row)
    return rows


def write_similarity(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    from wildchat50m.analyses.report import bar_chart, write_table

    markdown, table = write_table(rows, out_dir, "similarity", COLUMNS)
    chart = bar_chart(
        rows,
        out_dir / "similarity.png",
        label="config",
        series=("rouge1_mean", "rougeL_mean", "meteor_mean"),
        errors={"rouge1_mean": "rouge1_std", "rougeL_mean": "rougeL_std", "meteor_mean": "meteor_std"},
        title="Similarity to other DGMs' answers (mean ± std over pairs)",
        ylabel="score",
    )
    return [markdown, table, chart]
