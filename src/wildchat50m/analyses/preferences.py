"""Preference rates between judged models, mean scores and rank flips (the paper's Table 4).

Definitions, as in section 3.3 of the paper:

* Preference rate of A over B (``PrefRt``): the share, 0-100, of the shared
  turns on which A's score is strictly higher than B's. Ties count for
  neither, so ``PrefRt(A, B) + PrefRt(B, A) = 100 - tie rate``.
* Mean score: a model's mean score over the shared turns.
* FlipCt between pairs (A, B) and (C, D): the turns on which the two pairs
  are ranked in opposite directions, each strictly (A > B and C < D, or
  A < B and C > D). A tie on either side is not a flip ("flips the ranking,
  rather than simply breaking a tie"). The paper's row ``L70: None`` counts
  flips of (L8B:L70, L8B:Q72) against (L70:None, L8B:Q72): swapping the SFT
  model for its DGM reverses the ranking.

Turns are the judged ``(conversation_hash, turn_index)`` pairs; only turns that
every compared model has a score for are used, and every excluded turn is
counted under a reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wildchat50m.analyses.sources import AnalysisError

#: Which number is compared: the parsed score (the paper's) or the expected score of the distribution.
SCORE_COLUMNS = {"parsed": "score", "expected": "expected_score"}

TurnKey = tuple[str, int]


@dataclass
class ScoreTable:
    """Scores of several models on the turns they share."""

    models: list[str]
    turns: list[TurnKey]
    scores: dict[str, list[float]]
    excluded: Counter[str] = field(default_factory=Counter)


def shared_scores(
    rows: Sequence[Mapping[str, Any]], models: Sequence[str] | None = None, score: str = "parsed"
) -> ScoreTable:
    """Scores per model (``target``) on the turns every model has a score for.

    ``rows`` are judgment rows (``conversation_hash``, ``turn_index``, ``target``,
    ``status`` and the score column). A turn some model lacks or could not
    score is excluded and counted: ``missing_<model>``, ``<status>_<model>``.
    """
    column = SCORE_COLUMNS[score]
    by_model: dict[str, dict[TurnKey, Any]] = {}
    statuses: dict[str, dict[TurnKey, str]] = {}
    for row in rows:
        key = (row["conversation_hash"], int(row["turn_index"]))
        by_model.setdefault(row["target"], {})[key] = row[column]
        statuses.setdefault(row["target"], {})[key] = row["status"]
    chosen = list(models) if models else sorted(by_model)
    unknown = [m for m in chosen if m not in by_model]
    if unknown:
        raise AnalysisError(
            f"no judgments of {', '.join(unknown)}; judged models: {', '.join(sorted(by_model))}"
        )
    if len(chosen) < 2:
        raise AnalysisError(
            f"preferences need at least two judged models, found {', '.join(chosen) or 'none'}"
        )
    every_turn = sorted({key for model in chosen for key in by_model[model]})
    excluded: Counter[str] = Counter()
    turns = []
    for key in every_turn:
        reasons = []
        for model in chosen:
            if key not in by_model[model]:
                reasons.append(f"missing_{model}")
            elif by_model[model][key] is None:
                reasons.append(f"{statuses[model][key]}_{model}")
        if reasons:
            excluded.update(reasons)
            excluded["turns_excluded"] += 1
        else:
            turns.append(key)
    scores = {model: [float(by_model[model][key]) for key in turns] for model in chosen}
    return ScoreTable(chosen, turns, scores, excluded)


def preference_rate(a: Sequence[float], b: Sequence[float]) -> float:
    """100 x the share of turns where ``a`` is strictly higher than ``b``."""
    if len(a) != len(b):
        raise AnalysisError("both models must be scored on the same turns")
    if not a:
        return float("nan")
    return 100.0 * sum(x > y for x, y in zip(a, b, strict=True)) / len(a)


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def flip_count(a: Sequence[float], b: Sequence[float], c: Sequence[float], d: Sequence[float]) -> int:
    """Turns where pair (a, b) and pair (c, d) are ranked strictly and in opposite directions."""
    return sum(_sign(w - x) * _sign(y - z) < 0 for w, x, y, z in zip(a, b, c, d, strict=True))


def preference_table(table: ScoreTable) -> list[dict[str, Any]]:
    """One row per model, like Table 4: mean score, then PrefRt over every other model."""
    rows = []
    for model in table.models:
        row: dict[str, Any] = {
            "model": model,
            "mean_score": _mean(table.scores[model]),
            "turns": len(table.turns),
        }
        for other in table.models:
            row[f"PrefRt-{other}"] = (
                None if other == model else preference_rate(table.scores[model], table.scores[other])
            )
        rows.append(row)
    return rows


def flip_table(table: ScoreTable, pairs: Sequence[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    """FlipCt for each ``(A, B, C, D)``: pair (A, B) against pair (C, D)."""
    rows = []
    for a, b, c, d in pairs:
        missing = [m for m in (a, b, c, d) if m not in table.scores]
        if missing:
            raise AnalysisError(
                f"--flip names {', '.join(missing)}, not among the models {', '.join(table.models)}"
            )
        s = table.scores
        rows.append(
            {"pair": f"{a} vs {b}", "against": f"{c} vs {d}", "FlipCt": flip_count(s[a], s[b], s[c], s[d]),
             "turns": len(table.turns)}
        )  # fmt: skip
    return rows


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def heatmap_matrix(table: ScoreTable) -> list[list[float | None]]:
    """PrefRt of each row model over each column model (None on the diagonal)."""
    return [
        [None if a == b else preference_rate(table.scores[a], table.scores[b]) for b in table.models]
        for a in table.models
    ]


def run_preferences(
    paths: Sequence[Path],
    out_dir: Path,
    *,
    models: Sequence[str] | None = None,
    judge: str | None = None,
    factor: str | None = None,
    score: str = "parsed",
    flips: Sequence[tuple[str, str, str, str]] = (),
) -> dict[str, Any]:
    """Read judgments, write ``preferences.{md,csv}``, ``flips.{md,csv}`` and ``preferences.png``."""
    from wildchat50m.analyses.report import heatmap_png, write_table
    from wildchat50m.judging import read_judgments

    columns = ["conversation_hash", "turn_index", "target", "judge", "factor", "status", SCORE_COLUMNS[score]]
    rows = one_judge_and_factor(read_judgments(paths, columns).to_pylist(), judge, factor)
    table = shared_scores(rows, models, score)
    if not table.turns:
        raise AnalysisError(f"no turn is scored for all of {', '.join(table.models)}: {dict(table.excluded)}")
    preferences = preference_table(table)
    written = list(write_table(preferences, out_dir, "preferences"))
    flip_rows = flip_table(table, flips)
    if flip_rows:
        written += write_table(flip_rows, out_dir, "flips")
    judge_name, factor_name = rows[0]["judge"], rows[0]["factor"]
    written.append(
        heatmap_png(
            heatmap_matrix(table),
            table.models,
            table.models,
            out_dir / "preferences.png",
            title=f"Preference rate of row over column (%)\njudge {judge_name}, {factor_name}, "
            f"{len(table.turns)} turns",
        )
    )
    return {
        "judge": judge_name,
        "factor": factor_name,
        "turns": len(table.turns),
        "excluded": dict(table.excluded),
        "preferences": preferences,
        "flips": flip_rows,
        "files": [str(p) for p in written],
    }


def one_judge_and_factor(
    rows: list[dict[str, Any]], judge: str | None, factor: str | None
) -> list[dict[str, Any]]:
    """Rows of one judge and one factor: comparing scores across judges or factors means nothing."""
    rows = [
        r
        for r in rows
        if (judge is None or r["judge"] == judge) and (factor is None or r["factor"] == factor)
    ]
    combos = sorted({(r["judge"], r["factor"]) for r in rows})
    if not combos:
        raise AnalysisError("no judgments match the given --judge/--factor")
    if len(combos) > 1:
        listed = ", ".join(f"{j} on {f}" for j, f in combos)
        raise AnalysisError(
            f"judgments of several judges or factors ({listed}); choose with --judge and --factor"
        )
    return rows
