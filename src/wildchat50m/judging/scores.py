"""Reading a judge's score: parsing ``Score: <n>``, and the probability of every score from the
top logprobs at the score position (pure arithmetic over the engine's results).

The conventions (``generated`` and ``forced_prefix`` sources, ``10`` split over ``1`` ``0``,
renormalisation) are described in :mod:`wildchat50m.judging`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wildchat50m.engines.base import ChatResult, TokenLogprob
from wildchat50m.schema import JUDGE_SCORES

SCORE_PREFIX = "Score: "
#: The last ``Score: <n>`` of a judgment; ``10`` is tried before ``1``, ``100`` is no score.
SCORE_PATTERN = re.compile(r"Score:\s*(10|[1-9])(?!\d)")


class JudgmentStatus(StrEnum):
    """The ``status`` column of a judgment (see :data:`wildchat50m.schema.JUDGMENT_SCHEMA`)."""

    #: The judge's text holds ``Score: <n>``.
    PARSED = "parsed"
    #: It does not (``score`` is null, never 0).
    UNPARSED = "unparsed"
    #: The judge failed (``error`` holds its :class:`~wildchat50m.engines.base.ErrorKind`).
    JUDGE_ERROR = "judge_error"
    #: The target has no answer to judge.
    NO_ANSWER = "no_answer"


class ScoreSource(StrEnum):
    """The ``score_source`` column: which position the score distribution was read at."""

    #: Where the judge wrote ``Score: <n>`` itself.
    GENERATED = "generated"
    #: After ``Score: `` appended to a judgment that held none.
    FORCED = "forced_prefix"


# ---------------------------------------------------------------- scores


def parse_score(text: str | None) -> tuple[int | None, int | None]:
    """The last ``Score: <n>`` of ``text``: (score, offset of its first digit), or (None, None)."""
    if not text:
        return None, None
    matches = list(SCORE_PATTERN.finditer(text))
    if not matches:
        return None, None
    last = matches[-1]
    return int(last.group(1)), last.start(1)


def _score_of_token(token: str) -> int | None:
    stripped = token.strip()
    if stripped.isdigit() and stripped == str(int(stripped)) and 1 <= int(stripped) <= 10:
        return int(stripped)
    return None


def zero_follows(top: Sequence[tuple[str, float]]) -> float:
    """Probability that the next token starts with ``0`` (``1`` then ``0`` spells ``10``)."""
    return sum(math.exp(logprob) for token, logprob in top if token.startswith("0"))


@dataclass
class ScoreDistribution:
    """The judge's probability of each score 1-10 at one position."""

    probs: list[float] | None
    mass: float
    missing: list[int]
    flags: list[str]

    @property
    def expected(self) -> float | None:
        if self.probs is None:
            return None
        return sum(score * p for score, p in zip(JUDGE_SCORES, self.probs, strict=True))


def score_distribution(
    top: Sequence[tuple[str, float]], ten_continuation: float | None = None
) -> ScoreDistribution:
    """The distribution over scores 1-10 from the top logprobs ``(token, logprob)`` at the score position.

    ``ten_continuation`` is the probability that ``0`` follows a ``1`` token
    (see the module notes); it matters only when ``10`` is not itself among
    the tokens, i.e. the tokenizer spells 10 with two tokens.
    """
    mass = dict.fromkeys(JUDGE_SCORES, 0.0)
    seen: set[int] = set()
    for token, logprob in top:
        score = _score_of_token(token)
        if score is not None and math.isfinite(logprob):
            mass[score] += math.exp(logprob)
            seen.add(score)
    flags: list[str] = []
    if 1 in seen and 10 not in seen:
        if ten_continuation is None:
            flags.append("ten_unresolved")
        else:
            q = min(max(ten_continuation, 0.0), 1.0)
            mass[10], mass[1] = mass[1] * q, mass[1] * (1 - q)
            if mass[10] > 0:
                seen.add(10)
    total = sum(mass.values())
    missing = [score for score in JUDGE_SCORES if score not in seen]
    if total <= 0:
        return ScoreDistribution(None, 0.0, list(JUDGE_SCORES), [*flags, "no_score_tokens"])
    if missing:
        flags.append("renormalised")
    return ScoreDistribution([mass[s] / total for s in JUDGE_SCORES], total, missing, flags)


def locate_score_token(tokens: Sequence[TokenLogprob]) -> tuple[int | None, bool]:
    """Index of the generated token that starts the last ``Score: <n>``, and whether it is clean.

    The score is searched in the concatenated token texts, so offsets map to
    tokens exactly. Clean means the token holds nothing but whitespace before
    the digit; otherwise its alternatives are not alternative scores.
    """
    text = "".join(token.token for token in tokens)
    _, offset = parse_score(text)
    if offset is None:
        return None, False
    start = 0
    for index, token in enumerate(tokens):
        end = start + len(token.token)
        if start <= offset < end:
            return index, not token.token[: offset - start].strip()
        start = end
    return None, False


# ---------------------------------------------------------------- raw results


class Entry(dict):
    """A journaled raw result, kept as a plain dict (the journal stores ``to_dict()``)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self)


def _top(token: TokenLogprob) -> list[list[Any]]:
    return [[text, logprob] for text, logprob in token.top]


def judgment_entry(result: ChatResult) -> Entry:
    """What is kept of the judge's answer: text, counts, and the top logprobs at the score position."""
    entry = Entry(
        **result.stored(),
        score_top=None,
        ten_top=None,
        logprobs_missing=False,
    )
    if result.failed or parse_score(result.text)[0] is None:
        return entry
    tokens = result.token_logprobs
    if not tokens or not any(token.top for token in tokens):
        entry["logprobs_missing"] = True
        return entry
    index, clean = locate_score_token(tokens)
    if index is None or not clean:
        return entry
    entry["score_top"] = _top(tokens[index])
    if _score_of_token(tokens[index].token) == 1 and index + 1 < len(tokens):
        entry["ten_top"] = _top(tokens[index + 1])
    return entry


def probe_entry(result: ChatResult) -> Entry:
    """A continued request's first token alternatives (and the next ones, when it wrote ``1``)."""
    tokens = result.token_logprobs or []
    entry = Entry(error=result.error, score_top=None, ten_top=None)
    if result.failed or not tokens:
        return entry
    entry["score_top"] = _top(tokens[0])
    if _score_of_token(tokens[0].token) == 1 and len(tokens) > 1:
        entry["ten_top"] = _top(tokens[1])
    return entry


def score_pairs(top: Any) -> list[tuple[str, float]]:
    return [(str(text), float(logprob)) for text, logprob in top or []]


def needs_ten_probe(top: Any, ten_top: Any) -> bool:
    scores = {_score_of_token(text) for text, _ in score_pairs(top)}
    return ten_top is None and 1 in scores and 10 not in scores
