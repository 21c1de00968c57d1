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

Counting is the job's main host cost at WildChat size, so a
:class:`PromptFitter` tokenizes each message once per conversation: it
learns, once per model, the chat template's own text around the messages
(:class:`TemplateShape`, checked against the real template) and counts a
prompt as the template's fixed tokens plus the cached tokens of each message.
The final prompt's token ids are assembled from the same pieces and go to the
engine, so it is not tokenized again. A message that must be cut is tokenized once on its
own, and the search for its cut (:func:`largest_within`) counts two or three cuts near the
budget, steered by the counts, instead of bisecting over the whole message. Templates whose
shape cannot be learned (or whose pieces do not add up to the real tokenization) are counted
by rendering every prompt, as before: the fitted prompts are the same either way.
"""

from __future__ import annotations

import itertools
import math
import re
import weakref
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import jinja2

from wildchat50m.engines.base import TemplatedTokenizer, Tokenizer


class HistoryMode(StrEnum):
    """Which answers a prompt's earlier turns show (the ``history_mode`` column of a run's rows)."""

    #: WildChat's own answers, as the paper does: every turn of a conversation is ready at once.
    ORIGINAL = "original"
    #: The DGM's own earlier answers: a turn waits for the answer of the turn before it.
    SELF = "self"


#: What replaces the middle of a current user message that alone exceeds the budget.
CUT_MARK = "\n[...]\n"

Message = dict[str, str]


@dataclass(frozen=True)
class TurnPosition:
    """Where user turn ``index`` (0-based) sits in a conversation."""

    index: int
    user_position: int
    answer_position: int | None


def turns_of(conversation: Sequence[dict[str, Any]]) -> list[TurnPosition]:
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
            turns.append(TurnPosition(len(turns), position, answer))
    return turns


def turn_key(conversation_hash: str, turn: int) -> str:
    """The key of one request: conversation and 0-based user turn."""
    return f"{conversation_hash}:{turn}"


def prompt_messages(
    conversation: Sequence[dict[str, Any]],
    turn: TurnPosition,
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
    #: The chat template's token ids of ``messages``, when the fitter assembled them (see PromptFitter).
    token_ids: tuple[int, ...] | None = None


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


def cut_text(
    tokenizer: Tokenizer,
    text: str,
    keep: int,
    where: Literal["tail", "middle"],
    ids: Sequence[int] | None = None,
) -> str:
    """``text`` cut to about ``keep`` tokens: its end, or head and tail around a mark.

    ``ids`` are the text's token ids when the caller has them already (prompt fitting caches
    them per message); otherwise the text is tokenized here.
    """
    if isinstance(tokenizer, CharTokenizer):
        chars = int(keep * tokenizer.chars_per_token)
        if where == "tail":
            return text[len(text) - chars :] if chars > 0 else ""
        return text[: chars // 2] + CUT_MARK + text[len(text) - chars // 2 :]
    if ids is None:
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


def largest_within(count_at: Callable[[int], int], budget: int, upper: int, guess: int) -> int:
    """The largest k in [0, upper] with ``count_at(k) <= budget``, for counts that grow with k (0 if none).

    A bisection would count log2(upper) cuts, most of them far from the budget and long;
    here each count steers the next try (a prompt over the budget by n tokens drops about
    n, one under it by n adds about n), so a cut near ``guess`` costs two or three counts.
    Every decision rests on a real count: the k returned was counted within the budget (or
    is 0) and k + 1 over it (or is past ``upper``). Should the counts not close in after a
    few tries (a tokenizer whose cut texts re-tokenize much longer than their ids), it
    bisects what is left. On counts that grow with k this is the bisection's answer; on a
    tokenizer where a longer cut can count fewer tokens, it is still a cut that fits whose
    next one does not, though perhaps another than a bisection would stop at.
    """
    low, high = 0, upper + 1  # low fits (or is the answer when nothing does); high does not fit
    candidate, tries = guess, 0
    while high - low > 1:
        if tries >= _STEERED_TRIES:
            candidate = (low + high + 1) // 2
        candidate = min(max(candidate, low + 1), high - 1)
        counted = count_at(candidate)
        tries += 1
        if counted <= budget:
            low, candidate = candidate, candidate + max(1, budget - counted)
        else:
            high, candidate = candidate, candidate - max(1, counted - budget)
    return low


#: Counts :func:`largest_within` steers by before it bisects.
_STEERED_TRIES = 4


def replaced_content(messages: list[Message], position: int, content: str) -> list[Message]:
    return [*messages[:position], {**messages[position], "content": content}, *messages[position + 1 :]]


# ---------------------------------------------------------------- the template's shape

#: Contents no template changes, to find where a template puts each message's content.
_SENTINELS = tuple(f"WC50MSENTINEL{i}X" for i in range(4))
_LEARNED_SHAPES: tuple[tuple[str, ...], ...] = (
    ("user",),
    ("system", "user"),
    ("user", "assistant", "user"),
    ("system", "user", "assistant", "user"),
)


@dataclass(frozen=True)
class _Glue:
    """The template's own text between two contents, split where the tokenizer must split it.

    ``lead`` (before its first special token) is tokenized with the content before it,
    ``tail`` (after its last special token) with the content after it; ``fixed`` (from
    the first special token to the end of the last) always gives the same ids.
    """

    lead: str
    fixed: array
    tail: str


@dataclass(frozen=True)
class TemplateShape:
    """A chat template as text around the contents: opening + c0 + joint + c1 ... + closing.

    ``opening`` is keyed by the first message's role, ``joints`` by the roles of two
    consecutive messages and ``closing`` (generation prompt included) by the last role.
    """

    opening: dict[str, _Glue]
    joints: dict[tuple[str, str], _Glue]
    closing: dict[str, _Glue]
    start: array
    end: array

    @classmethod
    def learn(cls, tokenizer: TemplatedTokenizer) -> TemplateShape | None:
        """The shape of ``tokenizer``'s template, or None when it is not text around the contents
        (it changes contents, depends on positions, or its pieces do not add up to its tokenization)."""
        texts: dict[str, dict[Any, str]] = {"opening": {}, "joints": {}, "closing": {}}
        for roles in _LEARNED_SHAPES:
            messages = [{"role": r, "content": s} for r, s in zip(roles, _SENTINELS, strict=False)]
            try:
                text = tokenizer.chat_text(messages)
            except jinja2.TemplateError:
                continue  # the template refuses this shape (e.g. no system role): it is not learned
            parts = _split_on(text, _SENTINELS[: len(roles)])
            if parts is None:
                return None
            learned = [("opening", roles[0], parts[0]), ("closing", roles[-1], parts[-1])]
            learned += [
                ("joints", pair, part)
                for pair, part in zip(itertools.pairwise(roles), parts[1:-1], strict=True)
            ]
            for kind, key, part in learned:
                if texts[kind].setdefault(key, part) != part:
                    return None
        if "user" not in texts["opening"]:
            return None
        pattern = _special_pattern(tokenizer.special_tokens)
        glues: dict[str, dict[Any, _Glue]] = {}
        starts, ends = set(), set()
        for kind, by_key in texts.items():
            glues[kind] = {}
            for key, text in by_key.items():
                glue = _glue(tokenizer, pattern, text, kind)
                if glue is None:
                    return None
                glues[kind][key] = glue
                if kind == "opening":
                    starts.add(glue.lead)
                if kind == "closing":
                    ends.add(glue.tail)
        if len(starts) != 1 or len(ends) != 1:
            return None
        shape = cls(
            glues["opening"], glues["joints"], glues["closing"],
            array("l", tokenizer.encode(starts.pop())), array("l", tokenizer.encode(ends.pop())),
        )  # fmt: skip
        return shape if shape._agrees_on_probes(tokenizer) else None

    def _agrees_on_probes(self, tokenizer: TemplatedTokenizer) -> bool:
        """Whether assembled ids equal the real template's on awkward contents of every learned shape."""
        specials = [token for token in tokenizer.special_tokens if token][:3]
        contents = [
            "  leading and trailing spaces  ", "\n\nnew lines\n\n", "", "日本語のテキスト 🙂 — ok",
            " ".join(specials) + " in the middle", (specials[0] if specials else "") + "at the start",
            "at the end" + (specials[-1] if specials else ""), "\t tab\n", "x",
        ]  # fmt: skip
        pieces = _PieceCache(tokenizer)
        for number, roles in enumerate(_LEARNED_SHAPES):
            for offset in range(len(contents)):
                messages = [
                    {"role": role, "content": contents[(offset + number + i) % len(contents)]}
                    for i, role in enumerate(roles)
                ]
                ids = self.ids(messages, pieces)
                if ids is None:
                    break  # a shape the template refuses
                if ids.tolist() != list(tokenizer.chat_ids(messages)):
                    return False
        return True

    def glues(self, messages: Sequence[Message]) -> list[_Glue] | None:
        """The template's text before, between and after the contents (None for an unlearned shape)."""
        roles = [m["role"] for m in messages]
        opening = self.opening.get(roles[0])
        closing = self.closing.get(roles[-1])
        if opening is None or closing is None:
            return None
        glues = [opening]
        for pair in itertools.pairwise(roles):
            joint = self.joints.get(pair)
            if joint is None:
                return None
            glues.append(joint)
        glues.append(closing)
        return glues

    def count(self, messages: Sequence[Message], pieces: _PieceCache) -> int | None:
        glues = self.glues(messages)
        if glues is None:
            return None
        total = len(self.start) + len(self.end)
        for position, message in enumerate(messages):
            total += len(glues[position].fixed)
            total += len(pieces.ids(glues[position].tail, message["content"], glues[position + 1].lead))
        return total + len(glues[-1].fixed)

    def ids(self, messages: Sequence[Message], pieces: _PieceCache) -> array | None:
        glues = self.glues(messages)
        if glues is None:
            return None
        ids = array("l", self.start)
        for position, message in enumerate(messages):
            ids += glues[position].fixed
            ids += pieces.ids(glues[position].tail, message["content"], glues[position + 1].lead)
        ids += glues[-1].fixed
        ids += self.end
        return ids


def _split_on(text: str, sentinels: Sequence[str]) -> list[str] | None:
    """``text`` around each sentinel, in order (None when one is missing, repeated or changed)."""
    parts, position = [], 0
    for sentinel in sentinels:
        found = text.find(sentinel, position)
        if found < 0 or text.count(sentinel) != 1:
            return None
        parts.append(text[position:found])
        position = found + len(sentinel)
    parts.append(text[position:])
    return parts


def _special_pattern(special_tokens: Sequence[str]) -> re.Pattern[str] | None:
    tokens = sorted({t for t in special_tokens if t}, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in tokens)) if tokens else None


def _glue(tokenizer: Tokenizer, pattern: re.Pattern[str] | None, text: str, kind: str) -> _Glue | None:
    """Split the template text ``text`` at its first and last special token.

    Without a special token, an opening is tokenized with the first content and a
    closing with the last; a joint would join both neighbours, so nothing could be
    counted apart (None).
    """
    matches = list(pattern.finditer(text)) if pattern is not None else []
    if not matches:
        if kind == "opening":
            return _Glue("", array("l"), text)
        if kind == "closing":
            return _Glue(text, array("l"), "")
        return None
    first, last = matches[0].start(), matches[-1].end()
    return _Glue(text[:first], array("l", tokenizer.encode(text[first:last])), text[last:])


class _PieceCache:
    """Token ids of each content with the template text it is tokenized with, most recent kept.

    Bounded by the number of ids held, so a job's memory does not grow with its input.
    """

    def __init__(self, tokenizer: Tokenizer, max_ids: int = 4_000_000):
        self.tokenizer = tokenizer
        self.max_ids = max_ids
        self.held = 0
        self.pieces: OrderedDict[tuple[str, str, str], array] = OrderedDict()

    def ids(self, before: str, content: str, after: str) -> array:
        key = (before, content, after)
        ids = self.pieces.get(key)
        if ids is not None:
            self.pieces.move_to_end(key)
            return ids
        ids = array("l", self.tokenizer.encode(before + content + after))
        self.pieces[key] = ids
        self.held += len(ids)
        while self.held > self.max_ids and len(self.pieces) > 1:
            _, dropped = self.pieces.popitem(last=False)
            self.held -= len(dropped)
        return ids


_SHAPES: weakref.WeakKeyDictionary[Any, TemplateShape | None] = weakref.WeakKeyDictionary()


def template_shape(tokenizer: Tokenizer) -> TemplateShape | None:
    """The learned shape of ``tokenizer``'s chat template, once per tokenizer (None: count directly)."""
    if not isinstance(tokenizer, TemplatedTokenizer) or isinstance(tokenizer, CharTokenizer):
        return None
    try:
        return _SHAPES[tokenizer]
    except KeyError:
        shape = _SHAPES[tokenizer] = TemplateShape.learn(tokenizer)
        return shape
    except TypeError:  # not weak-referenceable: learn it without remembering
        return TemplateShape.learn(tokenizer)


# ---------------------------------------------------------------- fitting


class PromptFitter:
    """Fits the prompts of one job into its token budget, tokenizing each message once per conversation.

    The first ``checked`` prompts it assembles are compared with the real template's
    tokenization; should one differ, the fitter counts every later prompt by rendering
    it (the fitted prompt is redone that way too), so a template the shape misreads
    costs time, never a wrong prompt.
    """

    def __init__(self, tokenizer: Tokenizer, max_input_tokens: int, *, checked: int = 32):
        self.tokenizer = tokenizer
        self.max_input_tokens = max_input_tokens
        self.shape = template_shape(tokenizer)
        self.pieces = _PieceCache(tokenizer)
        self.to_check = checked
        self._encoded: OrderedDict[str, array] = OrderedDict()

    def fit(self, messages: Sequence[Message]) -> FittedPrompt:
        """Fit ``messages`` into the budget as the module docstring describes."""
        if self.shape is None:
            return _fit(
                messages,
                self.tokenizer,
                self.max_input_tokens,
                self.tokenizer.count_chat_tokens,
                self._ids_of,
            )
        shape, pieces = self.shape, self.pieces

        def count(prompt: Sequence[Message]) -> int:
            counted = shape.count(prompt, pieces)
            return self.tokenizer.count_chat_tokens(prompt) if counted is None else counted

        fitted = _fit(messages, self.tokenizer, self.max_input_tokens, count, self._ids_of)
        ids = shape.ids(fitted.messages, pieces)
        if ids is None:
            return fitted
        if self.to_check > 0:
            self.to_check -= 1
            assert isinstance(self.tokenizer, TemplatedTokenizer)
            if ids.tolist() != list(self.tokenizer.chat_ids(fitted.messages)):
                self.shape = None
                return self.fit(messages)
        return FittedPrompt(fitted.messages, fitted.truncated, fitted.current_cut, len(ids), tuple(ids))

    def _ids_of(self, text: str) -> Sequence[int]:
        """Token ids of a message being cut, remembered for the search and later turns (a few texts:
        the messages cut are the long ones)."""
        ids = self._encoded.get(text)
        if ids is None:
            ids = self._encoded[text] = array("l", self.tokenizer.encode(text))
            if len(self._encoded) > 8:
                self._encoded.popitem(last=False)
        return ids


def fit_prompt(messages: Sequence[Message], tokenizer: Tokenizer, max_input_tokens: int) -> FittedPrompt:
    """Fit one prompt (a job uses one :class:`PromptFitter` for all of its prompts instead)."""
    return PromptFitter(tokenizer, max_input_tokens).fit(messages)


def _fit(
    messages: Sequence[Message],
    tokenizer: Tokenizer,
    max_input_tokens: int,
    count_prompt: Callable[[Sequence[Message]], int],
    ids_of: Callable[[str], Sequence[int]],
) -> FittedPrompt:
    """The budget's rules (module docstring), with prompts counted by ``count_prompt``."""
    current = dict(messages[-1])
    system = [dict(messages[0])] if messages[0]["role"] == "system" and len(messages) > 1 else []
    history = [dict(m) for m in messages[len(system) : -1]]

    def count(history_part: list[Message], last: Message) -> int:
        return count_prompt([*system, *history_part, last])

    def cut(text: str, keep: int, where: Literal["tail", "middle"]) -> str:
        ids: Sequence[int] = [] if isinstance(tokenizer, CharTokenizer) else ids_of(text)
        return cut_text(tokenizer, text, keep, where, ids)

    def size(text: str) -> int:
        return len(tokenizer.encode(text)) if isinstance(tokenizer, CharTokenizer) else len(ids_of(text))

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
        emptied = count(replaced_content(history, position, ""), current)
        if emptied > max_input_tokens:
            history = replaced_content(history, position, "")
            continue

        def counted(
            keep: int, snapshot: list[Message] = history, position: int = position, text: str = original
        ) -> int:
            return count(replaced_content(snapshot, position, cut(text, keep, "tail")), current)

        keep = largest_within(counted, max_input_tokens, size(original), max_input_tokens - emptied)
        history = replaced_content(history, position, cut(original, keep, "tail"))
    if count(history, current) > max_input_tokens:
        history = []
    tokens = count(history, current)
    if tokens <= max_input_tokens:
        return FittedPrompt([*system, *history, current], True, False, tokens)
    # The current user message alone is too long: keep its head and tail.

    def current_counted(keep: int) -> int:
        return count([], {**current, "content": cut(current["content"], keep, "middle")})

    room = max_input_tokens - count([], {**current, "content": CUT_MARK})
    keep = largest_within(current_counted, max_input_tokens, size(current["content"]), room)
    current = {**current, "content": cut(current["content"], keep, "middle")}
    return FittedPrompt([*system, current], True, True, count([], current))
