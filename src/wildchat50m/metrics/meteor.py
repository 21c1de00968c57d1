"""METEOR as Banerjee and Lavie (2005) define it, with the stages that ran reported.

Unigrams of the candidate are aligned to unigrams of the reference in stages, each stage
matching only words the earlier ones left: ``exact`` (same lower-cased word), ``stem``
(same Porter stem) and ``synonym`` (WordNet synonyms). Then

    P = m / len(candidate), R = m / len(reference)
    Fmean = 10 P R / (R + 9 P)                      (recall weighted 9:1)
    Penalty = 0.5 (chunks / m) ** 3                 (fragmentation)
    METEOR = Fmean (1 - Penalty)

where ``chunks`` is the fewest runs of matches adjacent and in the same order in both
texts. Within a stage, words are aligned as ``nltk.translate.meteor_score`` aligns them
(from the last candidate word back, each to the last unmatched equal reference word), so
the numbers agree with nltk's when the same stages run. (nltk looks synonyms up for the
stems the stem stage leaves; here, as in the paper by Banerjee and Lavie, for the words.)

The synonym stage needs the WordNet corpus. It runs only when WordNet is installed locally
(``nltk.download("wordnet")`` beforehand); nothing is ever downloaded at run time. Every
score carries the stages that produced it, so a table can say whether synonyms counted.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

ALPHA = 0.9
BETA = 3.0
GAMMA = 0.5

_WORDS = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class MeteorScore:
    """One METEOR score and the matching stages that ran to produce it."""

    score: float
    stages: tuple[str, ...]


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, the unigrams METEOR aligns."""
    return _WORDS.findall(text.lower())


@functools.cache
def installed_wordnet() -> Any | None:
    """nltk's WordNet reader when the corpus is installed locally, else None (never downloads)."""
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
    except (LookupError, ImportError, OSError):
        return None
    return wordnet


@functools.cache
def _stemmer() -> Any:
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer()


@functools.lru_cache(maxsize=1 << 17)
def _stem(word: str) -> str:
    """Porter stems, cached: many-to-many comparisons stem the same words again and again."""
    return _stemmer().stem(word)


def _align_stage(
    candidate: list[tuple[int, str]],
    reference: list[tuple[int, str]],
    related: Callable[[str], Iterable[str]],
) -> tuple[list[tuple[int, int]], set[int], set[int]]:
    """Align words of one stage: pairs of positions, and the candidate and reference positions used.

    From the last candidate word back, each word takes the last unmatched reference word
    among ``related(word)`` (the word itself, or its synonyms). Reference words are looked up
    through an index of their positions, so a stage costs linear time, not len x len.
    """
    positions: dict[str, list[int]] = {}
    for j, (_, word) in enumerate(reference):
        positions.setdefault(word, []).append(j)
    pairs: list[tuple[int, int]] = []
    used_candidate: set[int] = set()
    used_reference: set[int] = set()
    for i in range(len(candidate) - 1, -1, -1):
        best, best_word = -1, None
        for word in related(candidate[i][1]):
            found = positions.get(word)
            if found and found[-1] > best:
                best, best_word = found[-1], word
        if best_word is not None:
            positions[best_word].pop()
            pairs.append((candidate[i][0], reference[best][0]))
            used_candidate.add(candidate[i][0])
            used_reference.add(reference[best][0])
    return pairs, used_candidate, used_reference


def _itself(word: str) -> Iterable[str]:
    return (word,)


def _synonyms_of(wordnet: Any) -> Callable[[str], Iterable[str]]:
    def related(word: str) -> Iterable[str]:
        names = {
            lemma.name()
            for synset in wordnet.synsets(word)
            for lemma in synset.lemmas()
            if "_" not in lemma.name()
        }
        names.add(word)
        return names

    return related


def _chunks(pairs: Sequence[tuple[int, int]]) -> int:
    """Runs of matches that are adjacent in both texts, pairs sorted by candidate position."""
    return 1 + sum(
        1 for (ci, ri), (cj, rj) in itertools.pairwise(pairs) if not (cj == ci + 1 and rj == ri + 1)
    )


def meteor_tokens(
    reference: Sequence[str], candidate: Sequence[str], *, wordnet: Any | bool | None = True
) -> MeteorScore:
    """METEOR of a tokenized candidate against one tokenized reference.

    ``wordnet=True`` uses WordNet when it is installed locally, ``False`` or ``None`` never,
    and any object with nltk's ``synsets()`` interface is used as it is.
    """
    synonyms = installed_wordnet() if wordnet is True else (wordnet or None)
    cand = [(i, w.lower()) for i, w in enumerate(candidate)]
    ref = [(j, w.lower()) for j, w in enumerate(reference)]
    pairs: list[tuple[int, int]] = []
    stages = [("exact", lambda words: words, _itself), ("stem", _stemmed(_stem), _itself)]
    if synonyms is not None:
        stages.append(("synonym", lambda words: words, _synonyms_of(synonyms)))
    for _, view, related in stages:
        found, used_cand, used_ref = _align_stage(view(cand), view(ref), related)
        pairs += found
        cand = [(i, w) for i, w in cand if i not in used_cand]
        ref = [(j, w) for j, w in ref if j not in used_ref]
    pairs.sort()
    score = _formula(len(pairs), len(candidate), len(reference), pairs)
    return MeteorScore(score, tuple(name for name, _, _ in stages))


def _stemmed(stem: Callable[[str], str]) -> Callable[[list[tuple[int, str]]], list[tuple[int, str]]]:
    def view(words: list[tuple[int, str]]) -> list[tuple[int, str]]:
        return [(i, stem(w)) for i, w in words]

    return view


def _formula(
    matched: int, candidate_length: int, reference_length: int, pairs: Sequence[tuple[int, int]]
) -> float:
    if not matched or not candidate_length or not reference_length:
        return 0.0
    precision = float(matched) / candidate_length
    recall = float(matched) / reference_length
    fmean = (precision * recall) / (ALPHA * precision + (1 - ALPHA) * recall)
    fragmentation = float(_chunks(pairs)) / matched
    return (1 - GAMMA * fragmentation**BETA) * fmean


def meteor(reference: str, candidate: str, *, wordnet: Any | bool | None = True) -> MeteorScore:
    """METEOR of ``candidate`` against ``reference`` (raw texts, tokenized with :func:`tokenize`)."""
    return meteor_tokens(tokenize(reference), tokenize(candidate), wordnet=wordnet)


def meteor_multi(
    references: Iterable[str], candidate: str, *, wordnet: Any | bool | None = True
) -> MeteorScore:
    """The best METEOR of ``candidate`` over several references, as nltk's ``meteor_score``."""
    scores = [meteor(reference, candidate, wordnet=wordnet) for reference in references]
    if not scores:
        raise ValueError("meteor_multi needs at least one reference")
    return max(scores, key=lambda s: s.score)
