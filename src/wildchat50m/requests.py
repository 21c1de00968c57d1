"""The requests stage: one chat request per user turn, within the DGM's token budget.

Two history modes:

* ``original`` (the paper's): turn *t* sees the conversation as it stood in
  WildChat, the original assistant answers as history. All turns are
  independent.
* ``self``: turn *t* sees this DGM's own answers to turns 1..t-1, so turns
  are generated in waves.

Prompts that do not fit ``max_input_tokens`` lose their oldest turns first,
then the oldest remaining message is cut at a token boundary (its end kept);
the current user message is cut, from the middle, only when it alone is too
long. Cutting works on the model's own token ids and decodes with special
tokens skipped, and the cut prompt only ever goes to the engine: stored user
text is always the original WildChat text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from wildchat50m.engines.base import Tokenizer

HistoryMode = Literal["original", "self"]
HISTORY_MODES: tuple[str, ...] = ("original", "self")
#: What replaces the middle of a current user message that alone exceeds the budget.
CUT_MARK = "\n[...]\n"

Message = dict[str, str]


@dataclass(frozen=True)
class Turn:
    """Where user turn ``index`` (0-based) sits in a conversation."""

    index: int
    user_position: int
    answer_position: int | None


def turns_of(conversation: Sequence[dict[str, Any]]) -> list[Turn]:
    """Every user turn, with the position of the assistant message answering it (None at the end)."""
    turns = []
    for position, message in enumerate(conversation):
        if message["role"] == "user":
            following = position + 1
            answer = (
                following
                if following < len(conversation) and conversation[following]["role"] == "assistant"
                else None
            )
            turns.append(Turn(len(turns), position, answer))
    return turns


def turn_key(conversation_hash: str, turn: int) -> str:
    """The key of one request: conversation and 0-based user turn."""
    return f"{conversation_hash}:{turn}"


def prompt_messages(
    conversation: Sequence[dict[str, Any]],
    turn: Turn,
    *,
    own_answers: Sequence[str] | None = None,
    system_prompt: str | None = None,
) -> list[Message]:
    """The messages the model sees for ``turn``, ending on its user message.

    ``own_answers`` (history mode ``self``) replaces the assistant answers of
    earlier turns with this DGM's own, in order. A run-level ``system_prompt``
    is used only when the conversation has no system message of its own.
    """
    messages: list[Message] = []
    answer_index = 0
    for position in range(turn.user_position + 1):
        message = conversation[position]
        content = message["content"]
        if message["role"] == "assistant" and own_answers is not None:
            content = own_answers[answer_index]
        if message["role"] == "assistant":
            answer_index += 1
        messages.append({"role": message["role"], "content": content})
    if system_prompt and (not messages or messages[0]["role"] != "system"):
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


@dataclass(frozen=True)
class FittedPrompt:
    messages: list[Message]
    truncated: bool
    current_cut: bool
    tokens: int


class CharTokenizer:
    """A conservative stand-in when the engine's tokenizer is remote (OpenAI-compatible servers).

    It over-counts (one token per ``chars_per_token`` characters, plus a
    per-message overhead) so a prompt it accepts fits the real tokenizer too.
    """

    def __init__(self, chars_per_token: float = 2.5, per_message: int = 8):
        self.chars_per_token = chars_per_token
        self.per_message = per_message

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        return (
            sum(math.ceil(len(m["content"]) / self.chars_per_token) + self.per_message for m in messages) + 4
        )

    def encode(self, text: str) -> list[int]:
        step = max(1, int(self.chars_per_token))
        return [ord(text[i]) for i in range(0, len(text), step)] if text else []

    def decode(self, ids: Sequence[int]) -> str:
        raise NotImplementedError("CharTokenizer cuts by characters; see fit_prompt")

    @property
    def special_tokens(self) -> tuple[str, ...]:
        return ()


def cut_text(tokenizer: Tokenizer, text: str, keep: int, where: Literal["tail", "middle"]) -> str:
    """``text`` reduced to about ``keep`` tokens of its end (or its head and tail around a mark)."""
    if isinstance(tokenizer, CharTokenizer):
        chars = int(keep * tokenizer.chars_per_token)
        if where == "tail":
            return text[len(text) - chars :] if chars > 0 else ""
        return text[: chars // 2] + CUT_MARK + text[len(text) - chars // 2 :]
    ids = tokenizer.encode(text)
    if where == "tail":
        piece = tokenizer.decode(ids[len(ids) - keep :]) if keep > 0 else ""
        return piece.lstrip("\ufffd")
    head, tail = keep // 2, keep - keep // 2
    return (
        tokenizer.decode(ids[:head]).rstrip("\ufffd")
        + CUT_MARK
        + tokenizer.decode(ids[len(ids) - tail :]).lstrip("\ufffd")
    )


def largest_fitting(fits: Any, upper: int) -> int:
    """The largest k in [0, upper] with fits(k) true, for a monotone predicate (0 if none)."""
    low, high = 0, upper
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def replaced_content(messages: list[Message], position: int, content: str) -> list[Message]:
    return [*messages[:position], {**messages[position], "content": content}, *messages[position + 1 :]]


def fit_prompt(messages: Sequence[Message], tokenizer: Tokenizer, max_input_tokens: int) -> FittedPrompt:
    """Fit ``messages`` into ``max_input_tokens`` as the module docstring describes."""
    current = dict(messages[-1])
    system = [dict(messages[0])] if messages[0]["role"] == "system" and len(messages) > 1 else []
    history = [dict(m) for m in messages[len(system) : -1]]

    def count(history_part: list[Message], last: Message) -> int:
        return tokenizer.count_chat_tokens([*system, *history_part, last])

    tokens = count(history, current)
    if tokens <= max_input_tokens:
        return FittedPrompt([*system, *history, current], False, False, tokens)
    # Drop whole turns (user message + answer) from the front while more than one remains.
    while len(history) > 2 and count(history, current) > max_input_tokens:
        history = history[2:]
    # Then cut the remaining messages, oldest first, at a token boundary, keeping their ends.
    for position in range(len(history)):
        if count(history, current) <= max_input_tokens:
            break
        original = history[position]["content"]
        if count(replaced_content(history, position, ""), current) > max_input_tokens:
            history = replaced_content(history, position, "")
            continue

        def fits(
            keep: int, snapshot: list[Message] = history, position: int = position, text: str = original
        ) -> bool:
            return (
                count(replaced_content(snapshot, position, cut_text(tokenizer, text, keep, "tail")), current)
                <= max_input_tokens
            )

        keep = largest_fitting(fits, len(tokenizer.encode(original)))
        history = replaced_content(history, position, cut_text(tokenizer, original, keep, "tail"))
    if count(history, current) > max_input_tokens:
        history = []
    tokens = count(history, current)
    if tokens <= max_input_tokens:
        return FittedPrompt([*system, *history, current], True, False, tokens)
    # The current user message alone is too long: keep its head and tail.
    size = len(tokenizer.encode(current["content"]))

    def current_fits(keep: int) -> bool:
        return (
            count([], {**current, "content": cut_text(tokenizer, current["content"], keep, "middle")})
            <= max_input_tokens
        )

    keep = largest_fitting(current_fits, size)
    current = {**current, "content": cut_text(tokenizer, current["content"], keep, "middle")}
    return FittedPrompt([*system, current], True, True, count([], current))
