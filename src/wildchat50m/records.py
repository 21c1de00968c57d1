"""The records stage: a WildChat row with one DGM's answers, and the flags on each answer.

The output row keeps every WildChat column as it was and changes only the
assistant messages: their content becomes the DGM's answer and they carry the
answer fields of :data:`~wildchat50m.schema.ANSWER_FIELDS`. A conversation that
ends on a user message gains one assistant message. A failed turn is stored
with null content, ``finish_reason = "error"`` and its error kind, never as an
empty string passed off as an answer.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from wildchat50m.engines.base import FINISH_ERROR
from wildchat50m.requests import turn_key, turns_of
from wildchat50m.schema import ANSWER_FIELDS, MESSAGE, OUTPUT_MESSAGE, OUTPUT_SCHEMA

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
        # Every field is a plain value: a shallow copy is dataclasses.asdict's result, without its
        # recursion (this runs once per journaled answer).
        return {name: getattr(self, name) for name in _OUTCOME_FIELDS}


_OUTCOME_FIELDS = tuple(item.name for item in fields(TurnOutcome))

# ---------------------------------------------------------------- flags

#: Each writing system and the code point ranges of its letters (the ranges do not overlap).
_SCRIPTS: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (
    ("han", ((0x4E00, 0x9FFF), (0x3400, 0x4DBF))),
    ("kana", ((0x3040, 0x30FF),)),
    ("hangul", ((0xAC00, 0xD7AF), (0x1100, 0x11FF))),
    ("cyrillic", ((0x0400, 0x04FF),)),
    ("arabic", ((0x0600, 0x06FF),)),
    ("greek", ((0x0370, 0x03FF),)),
    ("hebrew", ((0x0590, 0x05FF),)),
    ("devanagari", ((0x0900, 0x097F),)),
    ("thai", ((0x0E00, 0x0E7F),)),
    ("latin", ((0x41, 0x5A), (0x61, 0x7A), (0x00C0, 0x024F))),
)
_MIN_LETTERS = 20
#: Every letter of a script maps to its script's first letter, so one ``str.translate`` and a
#: ``count`` per script count the letters of each (a script's first letter is itself a letter of it,
#: and no other character maps to it).
_TO_FIRST_LETTER = {
    code: chr(ranges[0][0])
    for _, ranges in _SCRIPTS
    for start, end in ranges
    for code in range(start, end + 1)
}
_ASCII_LETTERS = bytes(range(0x41, 0x5B)) + bytes(range(0x61, 0x7B))


def dominant_script(text: str) -> str | None:
    """The writing system most of the letters of ``text`` use, or None when too few letters.

    Japanese mixes kana and han: any kana share above a tenth makes it ``kana``.
    """
    if text.isascii():  # only Latin letters: count them at C speed
        letters = len(text) - len(text.encode("ascii").translate(None, _ASCII_LETTERS))
        return "latin" if letters >= _MIN_LETTERS else None
    marked = text.translate(_TO_FIRST_LETTER)
    counts = {name: marked.count(chr(ranges[0][0])) for name, ranges in _SCRIPTS}
    total = sum(counts.values())
    if total < _MIN_LETTERS:
        return None
    if counts["kana"] > total / 10:
        return "kana"
    return max(counts, key=counts.__getitem__)


@functools.cache
def _loop_spans(min_repeats: int, min_span: int, max_period: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """For each period, the span :func:`repeats_in_a_loop` checks (the period repeated
    ``max(min_repeats, ceil(min_span / period))`` times; index 0 unused), and the largest span of
    the periods up to each one (rising, so a bisection finds the first period whose span is too long)."""
    spans = [0] + [period * max(min_repeats, -(-min_span // period)) for period in range(1, max_period + 1)]
    return tuple(spans), tuple(itertools.accumulate(spans[1:], max))


def repeats_in_a_loop(text: str, *, min_repeats: int = 4, min_span: int = 40, max_period: int = 120) -> bool:
    """True when the answer ends in one piece of text repeated over and over (a decoding loop).

    ``min_repeats`` is at least 2 (one piece alone is no repetition). The periods tried go up to
    the first whose span is longer than the tail. A span of the tail is one piece repeated when it
    equals itself shifted by the period, which needs the tail's last character to recur one period
    earlier: only those periods are compared.
    """
    if min_repeats < 2:
        raise ValueError(f"a loop repeats its piece at least twice, not min_repeats={min_repeats}")
    tail = text[-2000:]
    spans, widest = _loop_spans(min_repeats, min_span, max_period)
    tried = bisect.bisect_right(widest, len(tail))
    if not tried:
        return False
    last = tail[-1]
    before = tail[-1 - tried : -1]  # before[i] is one period of (tried - i) characters before the last
    end = tried
    while (found := before.rfind(last, 0, end)) >= 0:
        period = tried - found
        window = tail[-spans[period] :]
        if window[period:] == window[:-period] and not window.isspace():
            return True
        end = found
    return False


@functools.cache
def _leak_markers(special_tokens: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(token for token in (*KNOWN_TEMPLATE_TOKENS, *special_tokens) if token))


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
    if any(token in text for token in _leak_markers(tuple(special_tokens))):
        flags.append(FLAG_TEMPLATE_LEAK)
    answered = dominant_script(text)
    asked = dominant_script(prompt) if answered else None
    if asked and answered and asked != answered and not _translation_request(prompt):
        flags.append(FLAG_LANGUAGE)
    if outcome.current_cut:
        flags.append(FLAG_CURRENT_CUT)
    return flags + regenerated


_TRANSLATE = re.compile(r"translat|перев|翻译|翻訳|traduc|übersetz|번역|ترجم", re.IGNORECASE)


def _translation_request(prompt: str) -> bool:
    return bool(_TRANSLATE.search(unicodedata.normalize("NFKC", prompt[:2000])))


# ---------------------------------------------------------------- records


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


@dataclass(frozen=True)
class AnsweredRows:
    """Output rows in Arrow, and the outcome and flags of each of their user turns, in row and turn order."""

    table: pa.Table
    turns: list[tuple[TurnOutcome, list[str]]]


def answered_rows(
    rows: pa.Table,
    outcomes: Mapping[str, TurnOutcome],
    *,
    dgm: str,
    history_mode: str,
    special_tokens: Sequence[str] = (),
) -> AnsweredRows:
    """The output rows of input ``rows`` (WildChat columns), with the outcome of each user turn
    taken from ``outcomes`` by :func:`~wildchat50m.requests.turn_key`.

    Built column by column, without turning rows into Python objects: every column but
    ``conversation`` is the input's own; of a conversation, each assistant message that answers a
    user turn gets the answer's content and answer fields (WildChat's other fields of it kept),
    every other message keeps its content and has null answer fields, and a conversation that ends
    on a user message gains an assistant message (the user message's language and turn
    identifier, not redacted, not toxic, null elsewhere).
    """
    conversation = rows.column("conversation").combine_chunks()
    flat = pc.list_flatten(conversation)
    columns_of = dict(zip((f.name for f in flat.type), flat.flatten(), strict=True))
    lengths = pc.list_value_length(conversation).to_pylist()
    roles = columns_of["role"].to_pylist()
    hashes = rows.column("conversation_hash").to_pylist()
    # Per output message: where its WildChat fields come from (an input message, or the k-th message
    # appended: index len(flat) + k), where its content comes from (an input message, or the k-th
    # answer: index len(flat) + k), and its answer fields (None on messages that answer nothing).
    source: list[int] = []
    content_source: list[int] = []
    answer_at: list[int | None] = []
    offsets = [0]
    answered_users: list[int] = []
    appended_users: list[int] = []
    found: list[TurnOutcome] = []
    start = 0
    for conversation_hash, length in zip(hashes, lengths, strict=True):
        end = start + length
        turns = turns_of([{"role": role} for role in roles[start:end]])
        answers = {}
        for turn in turns:
            outcome = outcomes[turn_key(conversation_hash, turn.index)]
            answered_users.append(start + turn.user_position)
            if turn.answer_position is not None:
                answers[start + turn.answer_position] = len(found)
            elif turn.index != len(turns) - 1:
                raise ValueError(
                    f"{conversation_hash}: user turn {turn.index} has no answer and is not the last"
                )
            found.append(outcome)
        for position in range(start, end):
            answer = answers.get(position)
            source.append(position)
            content_source.append(position if answer is None else len(flat) + answer)
            answer_at.append(answer)
        if turns and turns[-1].answer_position is None:
            source.append(len(flat) + len(appended_users))
            content_source.append(len(flat) + len(found) - 1)
            answer_at.append(len(found) - 1)
            appended_users.append(start + turns[-1].user_position)
        offsets.append(len(source))
        start = end
    prompts = columns_of["content"].take(pa.array(answered_users, pa.int64())).to_pylist()
    flags = [
        answer_flags(prompt, outcome, special_tokens) for prompt, outcome in zip(prompts, found, strict=True)
    ]
    appended = _appended_messages(columns_of, appended_users)
    taken = pa.concat_arrays([flat, appended]).take(pa.array(source, pa.int64()))
    wildchat_fields = dict(zip((f.name for f in taken.type), taken.flatten(), strict=True))
    texts = pa.array([None if o.failed else o.text for o in found], pa.string())
    wildchat_fields["content"] = pa.concat_arrays([columns_of["content"], texts]).take(
        pa.array(content_source, pa.int64())
    )
    children = [*(wildchat_fields[f.name] for f in MESSAGE), *_answer_fields(found, flags, answer_at)]
    messages = pa.StructArray.from_arrays(children, fields=list(OUTPUT_MESSAGE))
    answered = pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), messages, type=pa.list_(OUTPUT_MESSAGE)
    )
    columns = {name: rows.column(name) for name in rows.column_names}
    columns["conversation"] = answered
    columns["dgm"] = pa.array([dgm] * rows.num_rows, pa.string())
    columns["history_mode"] = pa.array([str(history_mode)] * rows.num_rows, pa.string())
    table = pa.table({name: columns[name] for name in OUTPUT_SCHEMA.names})
    return AnsweredRows(table, list(zip(found, flags, strict=True)))


def _appended_messages(columns_of: Mapping[str, pa.Array], users: list[int]) -> pa.StructArray:
    """The assistant messages appended after the user messages at ``users`` (flat positions)."""
    taken = pa.array(users, pa.int64())
    values = {
        "role": pa.array(["assistant"] * len(users), pa.string()),
        "language": columns_of["language"].take(taken),
        "redacted": pa.array([False] * len(users), pa.bool_()),
        "toxic": pa.array([False] * len(users), pa.bool_()),
        "turn_identifier": columns_of["turn_identifier"].take(taken),
    }
    arrays = [values.get(name, pa.nulls(len(users), array.type)) for name, array in columns_of.items()]
    return pa.StructArray.from_arrays(arrays, fields=[MESSAGE.field(name) for name in columns_of])


def _answer_fields(
    outcomes: list[TurnOutcome], flags: list[list[str]], answer_at: list[int | None]
) -> list[pa.Array]:
    """The answer fields of every output message (null where ``answer_at`` names no answer)."""
    values: dict[str, list[Any]] = {name: [] for name, _ in ANSWER_FIELDS}
    for answer in answer_at:
        if answer is None:
            for column in values.values():
                column.append(None)
            continue
        outcome = outcomes[answer]
        values["finish_reason"].append(FINISH_ERROR if outcome.failed else outcome.finish_reason)
        values["prompt_tokens"].append(outcome.prompt_tokens)
        values["completion_tokens"].append(outcome.completion_tokens)
        values["prompt_truncated"].append(outcome.prompt_truncated)
        values["flags"].append(flags[answer])
        values["cumulative_logprob"].append(outcome.cumulative_logprob)
        values["error"].append(outcome.error)
    return [pa.array(values[name], type_) for name, type_ in ANSWER_FIELDS]
