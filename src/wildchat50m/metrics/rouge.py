"""ROUGE-1 and ROUGE-L F1, equal to ``rouge-score``'s, fast for many-to-many comparisons.

``rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True).score(a, b)`` re-tokenizes
and re-stems both texts on every call and computes the longest common subsequence in pure
Python. Here every text is tokenized once (rouge-score's exact rule: lower-case, every run of
characters outside ``[a-z0-9]`` becomes a space, Porter stemming of tokens longer than three
characters, tokens that are no longer ``[a-z0-9]+`` after stemming dropped), each distinct
word is stemmed once, tokens become integer ids, and the LCS length comes from
``rapidfuzz.distance.LCSseq`` (C++). The F1 arithmetic is rouge-score's, operation for
operation, so the numbers are the same floats.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_NON_ALPHANUM = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")
_VALID_TOKEN = re.compile(r"^[a-z0-9]+$")


@dataclass(frozen=True)
class RougeText:
    """One text as rouge-score sees it: token ids in order, and their counts."""

    ids: tuple[int, ...]
    unigrams: Counter[int]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class RougeScore:
    """F1 of ROUGE-1 and ROUGE-L for one (reference, candidate) pair."""

    rouge1: float
    rougeL: float  # rouge-score's own name for the measure


def _fmeasure(precision: float, recall: float) -> float:
    """rouge_score.scoring.fmeasure."""
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


class RougeTokenizer:
    """rouge-score's default tokenizer with a stem cache and a vocabulary of token ids.

    Keep one instance for a whole comparison job: every word is stemmed once, however
    many texts it appears in.
    """

    def __init__(self, use_stemmer: bool = True):
        self.use_stemmer = use_stemmer
        self._stems: dict[str, str | None] = {}
        self._ids: dict[str, int] = {}
        self._stemmer: Any = None
        if use_stemmer:
            from nltk.stem import porter

            self._stemmer = porter.PorterStemmer()

    def _token(self, word: str) -> str | None:
        """The token a whitespace-separated word becomes, or None when rouge-score drops it."""
        if word in self._stems:
            return self._stems[word]
        stemmed = self._stemmer.stem(word) if self._stemmer is not None and len(word) > 3 else word
        kept = stemmed if _VALID_TOKEN.match(stemmed) else None
        self._stems[word] = kept
        return kept

    def tokens(self, text: str) -> list[str]:
        """The tokens rouge-score's ``tokenize.tokenize`` produces for ``text``."""
        words = _SPACES.split(_NON_ALPHANUM.sub(" ", text.lower()))
        return [token for token in map(self._token, words) if token is not None]

    def encode(self, text: str) -> RougeText:
        """Tokenize ``text`` once, for any number of comparisons."""
        ids = tuple(self._ids.setdefault(token, len(self._ids)) for token in self.tokens(text))
        return RougeText(ids, Counter(ids))


def rouge_f1(reference: RougeText, candidate: RougeText) -> RougeScore:
    """ROUGE-1 and ROUGE-L F1 of ``candidate`` against ``reference``.

    The same as rouge-score's ``score(target=reference, prediction=candidate)``.
    """
    from rapidfuzz.distance import LCSseq

    overlap = sum((reference.unigrams & candidate.unigrams).values())
    precision = overlap / max(len(candidate), 1)
    recall = overlap / max(len(reference), 1)
    rouge1 = _fmeasure(precision, recall)
    if not reference.ids or not candidate.ids:
        return RougeScore(rouge1, 0.0)
    lcs = LCSseq.similarity(reference.ids, candidate.ids)
    return RougeScore(rouge1, _fmeasure(lcs / len(candidate), lcs / len(reference)))


def rouge_pairs(references: Sequence[str], candidates: Sequence[str]) -> list[RougeScore]:
    """Scores of ``candidates[i]`` against ``references[i]``; repeated texts are tokenized once."""
    if len(references) != len(candidates):
        raise ValueError(f"{len(references)} references but {len(candidates)} candidates")
    tokenizer = RougeTokenizer()
    encoded: dict[str, RougeText] = {}

    def encode(text: str) -> RougeText:
        found = encoded.get(text)
        if found is None:
            found = encoded[text] = tokenizer.encode(text)
        return found

    return [rouge_f1(encode(r), encode(c)) for r, c in zip(references, candidates, strict=True)]


def pairwise_rouge_l(texts: Sequence[str]) -> list[list[float]]:
    """The symmetric matrix of ROUGE-L F1 between every two texts (Porter stemming on).

    The diagonal is 1.0, or 0.0 for a text with no tokens, as rouge-score scores a text
    against itself.
    """
    from rapidfuzz.distance import LCSseq

    tokenizer = RougeTokenizer()
    encoded = [tokenizer.encode(text).ids for text in texts]
    matrix = [[0.0] * len(texts) for _ in texts]
    for i, first in enumerate(encoded):
        matrix[i][i] = 1.0 if first else 0.0
        for j in range(i + 1, len(encoded)):
            second = encoded[j]
            if first and second:
                lcs = LCSseq.similarity(first, second)
                matrix[i][j] = matrix[j][i] = _fmeasure(lcs / len(second), lcs / len(first))
    return matrix
