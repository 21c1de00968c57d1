"""The records stage: a WildChat row with one DGM's answers, and the flags on each answer.

The output row keeps every WildChat column as it was and changes only the
assistant messages: their content becomes the DGM's answer and they carry the
answer fields of :data:`~wildchat50m.schema.ANSWER_FIELDS`. A conversation that
ends on a user message gains one assistant message. A failed turn is stored
with null content, ``finish_reason = "error"`` and its error kind, never as an
empty string passed off as an answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from wildchat50m.engines.base import FINISH_ERROR
from wildchat50m.requests import turns_of
from wildchat50m.schema import ANSWER_FIELDS

#: Chat-template markers of the common model families; an answer that contains
#: one (or one of the model's own special tokens) leaked template text.
KNOWN_TEMPLATE_TOKENS: tuple[str, ...] = (
    "<|eot_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|begin_of_text|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|end|>",
    "<|user|>",
    "<|assistant|>",
    "<start_of_turn>",
    "<end_of_turn>",
    "[INST]",
    "[/INST]",
    "</s>",
)

FLAG_EMPTY = "empty"
FLAG_LENGTH = "length"
FLAG_REPETITION = "repetition"
FLAG_TEMPLATE_LEAK = "template_token_leak"
FLAG_LANGUAGE = "language_mismatch"
FLAG_CURRENT_CUT = "prompt_cut_current"
#: The user text the answer responds to holds template tokens: a defect of the
#: source data (the original releases re-decoded prompts), set on imported rows.
FLAG_USER_TEMPLATE_LEAK = "user_text_template_leak"
#: The answer was generated again by a re-generation run (``generate --from RUN --redo ...``).
FLAG_REGENERATED = "regenerated"
FLAGS: tuple[str, ...] = (
    FLAG_EMPTY,
    FLAG_LENGTH,
    FLAG_REPETITION,
    FLAG_TEMPLATE_LEAK,
    FLAG_LANGUAGE,
    FLAG_CURRENT_CUT,
    FLAG_USER_TEMPLATE_LEAK,
    FLAG_REGENERATED,
)


@dataclass(frozen=True)
class TurnOutcome:
    """What became of one user turn: the engine's answer or error, and how its prompt was fitted."""

    text: str | None
    finish_reason: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cumulative_logprob: float | None = None
    error: str | None = None
    prompt_truncated: bool = False
    current_cut: bool = False
    #: Generated again by a re-generation run (this one, or the run it was carried from).
    regenerated: bool = False
    #: Carried over from the run a re-generation run started from, not answered by this run.
    carried: bool = False

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- flags

_SCRIPTS = (
    ("han", re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")),
    ("kana", re.compile(r"[\u3040-\u30ff]")),
    ("hangul", re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")),
    ("cyrillic", re.compile(r"[\u0400-\u04ff]")),
    ("arabic", re.compile(r"[\u0600-\u06ff]")),
    ("greek", re.compile(r"[\u0370-\u03ff]")),
    ("hebrew", re.compile(r"[\u0590-\u05ff]")),
    ("devanagari", re.compile(r"[\u0900-\u097f]")),
    ("thai", re.compile(r"[\u0e00-\u0e7f]")),
    ("latin", re.compile(r"[A-Za-z\u00c0-\u024f]")),
)
_MIN_LETTERS = 20


def dominant_script(text: str) -> str | None:
    """The writing system most of the letters of ``text`` use, or None when too few letters.

    Japanese mixes kana and han: any kana share above a tenth makes it ``kana``.
    """
    counts = {name: len(pattern.findall(text)) for name, pattern in _SCRIPTS}
    total = sum(counts.values())
    if total < _MIN_LETTERS:
        return None
    if counts["kana"] > total / 10:
        return "kana"
    return max(counts, key=counts.__getitem__)


def repeats_in_a_loop(text: str, *, min_repeats: int = 4, min_span: int = 40, max_period: int = 120) -> bool:
    """True when the answer ends in one piece of text repeated over and over (a decoding loop)."""
    tail = text[-2000:]
    for period in range(1, max_period + 1):
        repeats = max(min_repeats, -(-min_span // period))
        span = period * repeats
        if span > len(tail):
            break
        window = tail[-span:]
        if window == window[:period] * repeats and window.strip():
            return True
    return False


def answer_flags(
    prompt: str,
    outcome: TurnOutcome,
    special_tokens: Sequence[str] = (),
    *,
    prompt_language: str | None = None,
) -> list[str]:
    """The validation flags of one answer; flagged answers are kept, flags are counted."""
    regenerated = [FLAG_REGENERATED] if outcome.regenerated else []
    if outcome.failed:
        return ([FLAG_CURRENT_CUT] if outcome.current_cut else []) + regenerated
    text = outcome.text or ""
    flags = []
    if not text.strip():
        flags.append(FLAG_EMPTY)
    if outcome.finish_reason == "length":
        flags.append(FLAG_LENGTH)
    if repeats_in_a_loop(text):
        flags.append(FLAG_REPETITION)
    if any(token and token in text for token in (*KNOWN_TEMPLATE_TOKENS, *special_tokens)):
        flags.append(FLAG_TEMPLATE_LEAK)
    asked, answered = dominant_script(prompt), dominant_script(text)
    if asked and answered and asked != answered and not _translation_request(prompt):
        flags.append(FLAG_LANGUAGE)
    if outcome.current_cut:
        flags.append(FLAG_CURRENT_CUT)
    return flags + regenerated


_TRANSLATE = re.compile(r"translat|перев|翻译|翻訳|traduc|übersetz|번역|ترجم", re.IGNORECASE)


def _translation_request(prompt: str) -> bool:
    return bool(_TRANSLATE.search(unicodedata.normalize("NFKC", prompt[:2000])))


# ---------------------------------------------------------------- records

_NULL_ANSWER = {name: None for name, _ in ANSWER_FIELDS}


def answered_message(template: Mapping[str, Any], outcome: TurnOutcome, flags: list[str]) -> dict[str, Any]:
    """An assistant message carrying the DGM's answer (or its failure) in place of WildChat's."""
    return {
        **template,
        "content": None if outcome.failed else outcome.text,
        "finish_reason": FINISH_ERROR if outcome.failed else outcome.finish_reason,
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "prompt_truncated": outcome.prompt_truncated,
        "flags": flags,
        "cumulative_logprob": outcome.cumulative_logprob,
        "error": outcome.error,
    }


def stored_outcome(message: Mapping[str, Any]) -> TurnOutcome:
    """The outcome an output row's assistant message was built from (it builds the same message again)."""
    flags = message.get("flags") or ()
    failed = message["error"] is not None
    return TurnOutcome(
        text=None if failed else message["content"],
        finish_reason=message["finish_reason"],
        prompt_tokens=message["prompt_tokens"],
        completion_tokens=message["completion_tokens"],
        cumulative_logprob=message["cumulative_logprob"],
        error=message["error"],
        prompt_truncated=bool(message["prompt_truncated"]),
        current_cut=FLAG_CURRENT_CUT in flags,
        regenerated=FLAG_REGENERATED in flags,
        carried=True,
    )


def build_record(
    row: Mapping[str, Any],
    outcomes: Sequence[TurnOutcome],
    *,
    dgm: str,
    history_mode: str,
    special_tokens: Sequence[str] = (),
) -> dict[str, Any]:
    """The output row of ``row`` given one outcome per user turn, in turn order."""
    conversation = [dict(m) for m in row["conversation"]]
    turns = turns_of(conversation)
    if len(outcomes) != len(turns):
        raise ValueError(f"{row['conversation_hash']}: {len(turns)} user turns but {len(outcomes)} outcomes")
    messages = [{**m, **_NULL_ANSWER} for m in conversation]
    appended = None
    for turn, outcome in zip(turns, outcomes, strict=True):
        user = conversation[turn.user_position]
        flags = answer_flags(user["content"], outcome, special_tokens)
        if turn.answer_position is not None:
            messages[turn.answer_position] = answered_message(messages[turn.answer_position], outcome, flags)
        else:
            template = {key: None for key in conversation[0]}
            template.update(
                role="assistant",
                language=user.get("language"),
                redacted=False,
                toxic=False,
                turn_identifier=user.get("turn_identifier"),
            )
            appended = answered_message(template, outcome, flags)
    if appended is not None:
        messages.append(appended)
    return {**row, "conversation": messages, "dgm": dgm, "history_mode": history_mode}
