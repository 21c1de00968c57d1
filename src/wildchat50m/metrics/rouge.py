"""ROUGE-L between answers: rouge-score's F1 with Porter stemming."""

from __future__ import annotations

from collections.abc import Sequence


def pairwise_rouge_l(texts: Sequence[str]) -> list[list[float]]:
    """The symmetric matrix of ROUGE-L F1 (Porter stemming) between every pair of ``texts``; diagonal 1.0."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    size = len(texts)
    matrix = [[1.0] * size for _ in range(size)]
    for i in range(size):
        for j in range(i + 1, size):
            matrix[i][j] = matrix[j][i] = scorer.score(texts[i], texts[j])["rougeL"].fmeasure
    return matrix
