"""Style features of markdown answers and their proportional frequency (Table 3 of the paper).

Each answer is rendered from markdown to HTML with the ``markdown`` library and its start
tags are counted: ``strong``, ``em``, ``ol``, ``ul``, ``h1``-``h4`` and ``p``. The tenth
feature, ``len``, is the answer's length in whitespace-separated words (the paper does not
define its unit; proportional frequencies, being ratios, do not depend on it).

The proportional frequency of feature F for rows A and B is ``A[F] / B[F]``, printed by the
paper as 1 where both counts are 0 (so 0/0 = 1) and 0 where only A's is; where only B's is
0 it is infinite. The mean proportional frequency (MPF) is the mean over the ten features.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser

TAGS: tuple[str, ...] = ("strong", "em", "ol", "ul", "h1", "h2", "h3", "h4", "p")
FEATURES: tuple[str, ...] = (*TAGS, "len")


class _TagCounter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.counts = dict.fromkeys(TAGS, 0)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.counts:
            self.counts[tag] += 1


def render_html(markdown_text: str) -> str:
    """The HTML the ``markdown`` library renders.

    Extensions: fenced code (a ``#`` inside code is no heading), tables, and sane lists
    (a bullet right after a numbered item starts a new ``ul``, as chat models mean it).
    """
    import markdown

    return markdown.markdown(markdown_text, extensions=["fenced_code", "tables", "sane_lists"])


def style_counts(answer: str | None) -> dict[str, int]:
    """The ten features of one answer; a missing answer counts as empty."""
    text = answer or ""
    parser = _TagCounter()
    parser.feed(render_html(text))
    parser.close()
    return {**parser.counts, "len": len(text.split())}


def total_counts(answers: Iterable[str | None]) -> dict[str, int]:
    """The features summed over many answers (one row of Table 3's upper half)."""
    totals = dict.fromkeys(FEATURES, 0)
    for answer in answers:
        for feature, count in style_counts(answer).items():
            totals[feature] += count
    return totals


def proportion(a: float, b: float) -> float:
    """``a / b`` with the paper's rules: 0/0 = 1, x/0 = inf for x > 0."""
    if b == 0:
        return 1.0 if a == 0 else math.inf
    return a / b


def proportional_frequency(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    """PF(A, B) for every feature: one row of Table 3's lower half."""
    missing = [f for f in FEATURES if f not in a or f not in b]
    if missing:
        raise KeyError(f"feature counts lack {missing}; expected all of {FEATURES}")
    return {feature: proportion(a[feature], b[feature]) for feature in FEATURES}


def mean_proportional_frequency(pf: Mapping[str, float]) -> float:
    """MPF: the mean of the ten proportional frequencies."""
    return sum(pf[feature] for feature in FEATURES) / len(FEATURES)
