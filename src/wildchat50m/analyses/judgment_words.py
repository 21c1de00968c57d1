"""Words that distinguish the judgments of two models (the paper's Figures 3 and 4).

On the turns where the judge gave the two models different scores, count the
words of each model's judgments and rank the words by how much more often
they occur (per judgment) in one model's judgments than in the other's.
Common words (articles, pronouns, auxiliaries) are left out. A negated word
is counted separately from the word itself: in "not clear", "lacks no
detail" or "isn't accurate" the word after the negation within a short
window becomes ``not clear``, ``not detail``, ``not accurate``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from wildchat50m.analyses.sources import AnalysisError

WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
NEGATIONS = frozenset({"not", "no", "never", "without", "cannot", "nor", "hardly"})
#: Words after a negation that the negation reaches (the first non-common word among them).
NEGATION_WINDOW = 3
COMMON_WORDS = frozenset(
    """
    a an the and or but if then than that this these those there here of to in on at by for from with as
    is are was were be been being am do does did done has have had having it its it's itself i me my we
    our you your he she they them their his her which who whom whose what when where why how so such
    very too also just only more most some any each other into about over under up down out off again
    further once both all can will would should could may might must shall s t score assistant
    answer response user's user model judgment
    """.split()  # noqa: SIM905 (a word list reads best as text)
)


def words(text: str) -> list[str]:
    """The counted words of one judgment: lower-cased, common words dropped, negations attached.

    ``n't`` contractions negate like ``not`` (``isn't accurate`` -> ``not accurate``).
    """
    tokens = WORD.findall(text.lower())
    counted: list[str] = []
    pending_negation = 0
    for token in tokens:
        if token in NEGATIONS or token.endswith("n't"):
            pending_negation = NEGATION_WINDOW
            continue
        if token in COMMON_WORDS:
            pending_negation = max(0, pending_negation - 1)
            continue
        counted.append(f"not {token}" if pending_negation else token)
        pending_negation = 0
    return counted


def distinguishing_words(
    rows: Sequence[Mapping[str, Any]],
    first: str,
    second: str,
    *,
    top: int = 15,
    min_count: int = 2,
    score: str = "score",
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Words more common in ``first``'s judgments, then those more common in ``second``'s.

    Only turns both models were scored on, with different scores, count
    (``score`` names the column compared: ``score`` or ``expected_score``).
    Each word's rate is its count per judgment; rows are ranked by the
    difference of rates. Returns the rows and the counts of turns used and
    left out.
    """
    by_model: dict[str, dict[tuple[str, int], Mapping[str, Any]]] = {}
    for row in rows:
        by_model.setdefault(row["target"], {})[(row["conversation_hash"], int(row["turn_index"]))] = row
    for model in (first, second):
        if model not in by_model:
            raise AnalysisError(f"no judgments of {model}; judged models: {', '.join(sorted(by_model))}")
    counts = Counter[str]()
    shared = sorted(set(by_model[first]) & set(by_model[second]))
    differing = []
    for key in shared:
        a, b = by_model[first][key], by_model[second][key]
        if a[score] is None or b[score] is None:
            counts["turns_without_both_scores"] += 1
        elif a[score] == b[score]:
            counts["turns_with_equal_scores"] += 1
        else:
            differing.append((a, b))
    counts["turns_compared"] = len(differing)
    counts["turns_not_shared"] = len(set(by_model[first]) ^ set(by_model[second]))
    if not differing:
        return [], dict(counts)
    first_words = _count(a["judgment"] for a, _ in differing)
    second_words = _count(b["judgment"] for _, b in differing)
    judgments = len(differing)
    ranked = []
    for word in set(first_words) | set(second_words):
        n_first, n_second = first_words[word], second_words[word]
        if n_first + n_second < min_count:
            continue
        difference = (n_first - n_second) / judgments
        if difference == 0:
            continue
        ranked.append(
            {
                "word": word,
                "more_common_in": first if difference > 0 else second,
                f"count_{first}": n_first,
                f"count_{second}": n_second,
                "rate_difference": difference,
            }
        )
    ranked.sort(key=lambda r: (-abs(r["rate_difference"]), r["word"]))
    chosen = [r for r in ranked if r["more_common_in"] == first][:top]
    chosen += [r for r in ranked if r["more_common_in"] == second][:top]
    return chosen, dict(counts)


def _count(texts: Iterable[str | None]) -> Counter[str]:
    counter: Counter[str] = Counter()
    for text in texts:
        counter.update(words(text or ""))
    return counter


def bar_chart_png(rows: Sequence[Mapping[str, Any]], first: str, second: str, path: Path, title: str) -> Path:
    """Two horizontal bar panels, like Figures 3 and 4: the words more common in each model's judgments."""
    from wildchat50m.analyses.report import pyplot, save_figure

    plt = pyplot()
    panels = [(first, [r for r in rows if r["more_common_in"] == first])]
    panels.append((second, [r for r in rows if r["more_common_in"] == second]))
    height = max(3.0, 0.3 * max(len(p[1]) for p in panels) + 1.5)
    figure, axes = plt.subplots(1, 2, figsize=(11, height))
    for ax, (model, chosen) in zip(axes, panels, strict=True):
        labels = [r["word"] for r in chosen][::-1]
        values = [abs(r["rate_difference"]) for r in chosen][::-1]
        ax.barh(range(len(values)), values, color="tab:blue" if model == first else "tab:orange")
        ax.set_yticks(range(len(labels)), labels=labels)
        ax.set_xlabel("occurrences per judgment, difference")
        ax.set_title(f"more common in {model} judgments", fontsize=9)
    figure.suptitle(title, fontsize=10)
    return save_figure(figure, path)


def run_judgment_words(
    paths: Sequence[Path],
    out_dir: Path,
    first: str,
    second: str,
    *,
    judge: str | None = None,
    factor: str | None = None,
    top: int = 15,
    min_count: int = 2,
    score: str = "parsed",
) -> dict[str, Any]:
    """Read judgments, write ``judgment_words.{md,csv}`` and ``judgment_words.png``."""
    from wildchat50m.analyses.preferences import SCORE_COLUMNS, one_judge_and_factor
    from wildchat50m.analyses.report import write_table
    from wildchat50m.judging import read_judgments

    column = SCORE_COLUMNS[score]
    columns = ["conversation_hash", "turn_index", "target", "judge", "factor", "status", column, "judgment"]
    rows = one_judge_and_factor(read_judgments(paths, columns).to_pylist(), judge, factor)
    chosen, counts = distinguishing_words(rows, first, second, top=top, min_count=min_count, score=column)
    columns_out = ["word", "more_common_in", f"count_{first}", f"count_{second}", "rate_difference"]
    written = list(write_table(chosen, out_dir, "judgment_words", columns_out))
    title = (
        f"Judgment words, judge {rows[0]['judge']} on {rows[0]['factor']}: "
        f"{counts['turns_compared']} turns with different scores"
    )
    written.append(bar_chart_png(chosen, first, second, out_dir / "judgment_words.png", title))
    return {"counts": counts, "words": chosen, "files": [str(p) for p in written]}
