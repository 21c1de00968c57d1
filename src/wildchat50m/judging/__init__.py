"""LLM judgments: a judge model scores each answer of a target (a DGM's config or run) on one factor.

As in the paper (section 3.3), the judge writes a short judgment ending in
``Score: <n>`` (1-10), and the probability of every score is read from the
top logprobs of the token after ``Score: ``. Data flows one way::

    target rows (output schema) -> staged judgment inputs (shards by conversation_hash)
      -> judge requests (one per answered user turn) -> engine (top logprobs)
      -> journaled raw results -> judgment rows (schema.JUDGMENT_SCHEMA) -> atomic shards + manifest

The run store's guarantees hold: shards are committed atomically, finished
requests are journaled and not sent again after a kill, and the manifest
counts every status. A judgment whose text holds no parsable score is stored
as ``unparsed`` with its raw text, never as a zero.

Reading the score distribution:

* ``generated``: the judge's own text holds ``Score: <n>``; the distribution
  comes from the top logprobs at the position of ``<n>``.
* ``forced_prefix``: the text holds no score (tiny or unruly judges), or the
  score shares a token with other text. A second request continues the
  judgment with ``"\\nScore: "`` as the start of the assistant message and the
  distribution is read at the first continued token. The row says so in
  ``score_source``; its ``score`` stays null.
* A score token is one whose text, stripped of whitespace, is ``1`` .. ``10``.
  Where ``10`` is not a single token (e.g. tokenizers that split digits), it
  is ``1`` followed by ``0``: the mass of ``1`` is split with the probability
  ``q`` that ``0`` follows. ``q`` is read at the next generated position when
  the judge wrote ``1`` there, else from one more continued request
  (``...Score: 1``) -- flag ``ten_probed``. If ``q`` cannot be had, the flag
  is ``ten_unresolved``.
* The ten probabilities are normalised over the score tokens seen (the raw
  mass on score tokens is kept in ``score_mass``): a proper distribution when
  all ten scores were among the top logprobs; otherwise the missing scores are
  listed and the row is flagged ``renormalised``.

The package is split by concern: :mod:`.factors` (factors and the judge's prompt),
:mod:`.scores` (reading a score and its distribution), :mod:`.job` (the judgment job and its
manifest) and :mod:`.read` (reading judgments back).
"""

from wildchat50m.judging.factors import (
    Factor,
    JudgingError,
    factor_slug,
    factors_file,
    get_factor,
    judge_messages,
    load_factors,
)
from wildchat50m.judging.job import (
    JudgeSettings,
    JudgingIncomplete,
    JudgmentJob,
    JudgmentStats,
    target_digests,
    target_files,
)
from wildchat50m.judging.read import judgment_files, read_judgments
from wildchat50m.judging.scores import (
    SCORE_PREFIX,
    JudgmentStatus,
    ScoreDistribution,
    ScoreSource,
    locate_score_token,
    parse_score,
    score_distribution,
    zero_follows,
)

__all__ = [
    "SCORE_PREFIX",
    "Factor",
    "JudgeSettings",
    "JudgingError",
    "JudgingIncomplete",
    "JudgmentJob",
    "JudgmentStats",
    "JudgmentStatus",
    "ScoreDistribution",
    "ScoreSource",
    "factor_slug",
    "factors_file",
    "get_factor",
    "judge_messages",
    "judgment_files",
    "load_factors",
    "locate_score_token",
    "parse_score",
    "read_judgments",
    "score_distribution",
    "target_digests",
    "target_files",
    "zero_follows",
]
