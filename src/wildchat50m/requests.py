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
engine, so it is not tokenized again. Templates whose shape cannot be learned
(or whose pieces do not add up to the real tokenization) are counted by
rendering every prompt, as before: the fitted prompts are the same either way.

A cut searches, by bisection, for the most tokens of the message that fit.
Its candidates are estimated from the message's own ids and only those near
the answer are tokenized (:class:`_ShapeCounting`): the search makes the same
probes with the same outcomes as counting each candidate in full, so the cut is
the one it always was. A message far longer than the budget is tokenized once,
on its own (its ids are what a cut needs), and its count within the template
bounded from them.
"""

from __future__ import annotations

import bisect
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


def largest_fitting(fits: Callable[[int], bool], upper: int) -> int:
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

    def known(self, before: str, content: str, after: str) -> array | None:
        """The ids already held for this piece, without tokenizing it."""
        return self.pieces.get((before, content, after))


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

#: A message of at least this many characters per token of the budget is tokenized on its own
#: first: it will be cut or dropped, cutting needs its own ids, and its count with the template's
#: text around it is then bounded from them (see _ShapeCounting.exceeds) instead of tokenized again.
LONG_MESSAGE_CHARS_PER_TOKEN = 4
#: How many tokens re-tokenizing text can gain or lose at one junction (where a cut, the cut
#: mark, the template's text or a special token skipped by decoding meets the text next to it),
#: taken as a range that holds 0: any two junctions' gains differ by at most this much too.
JUNCTION_TOKENS = 1
#: Cuts of at most this many ids are short: their junctions may interact, so none is taken as shared.
_SHORT_CUT = 8
#: The most bytes of one character a cut can leave on its side (UTF-8 has at most 4 per character).
_STRAY_BYTES = 3


class _Counting:
    """How :func:`_fit` counts candidate prompts: every one in full with ``count_prompt``.

    That is how prompts were fitted before :class:`PromptFitter`, and still how they are when a
    template's shape is unknown or the tokenizer is the character estimate.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        count_prompt: Callable[[Sequence[Message]], int],
        ids_of: Callable[[str], Sequence[int]],
    ) -> None:
        self.tokenizer = tokenizer
        self.count_prompt = count_prompt
        self.ids_of = ids_of

    def count(self, prompt: Sequence[Message]) -> int:
        return self.count_prompt(prompt)

    def exceeds(self, prompt: Sequence[Message], budget: int) -> bool:
        return self.count(prompt) > budget

    def count_within(self, prompt: Sequence[Message], budget: int) -> int | None:
        """The count of ``prompt`` if it fits the budget, else None."""
        counted = self.count(prompt)
        return counted if counted <= budget else None

    def cut(self, text: str, keep: int, where: Literal["tail", "middle"]) -> str:
        ids: Sequence[int] = [] if isinstance(self.tokenizer, CharTokenizer) else self.ids_of(text)
        return cut_text(self.tokenizer, text, keep, where, ids)

    def size(self, text: str) -> int:
        if isinstance(self.tokenizer, CharTokenizer):
            return len(self.tokenizer.encode(text))
        return len(self.ids_of(text))

    def largest_cut(
        self, prompt: list[Message], position: int, where: Literal["tail", "middle"], budget: int
    ) -> int:
        """The keep :func:`largest_fitting` finds for cutting ``prompt[position]`` into the budget."""
        text = prompt[position]["content"]

        def fits(keep: int) -> bool:
            return self.count(replaced_content(prompt, position, self.cut(text, keep, where))) <= budget

        return largest_fitting(fits, self.size(text))


class _EstimateMissed(Exception):
    """A real count fell outside the bounds of its estimate (internal: the fitter stops estimating)."""


class _ShapeCounting(_Counting):
    """Counting from the learned template shape, tokenizing a cut search's candidates only near its answer.

    A candidate cut is estimated from the ids of the message being cut: the real count of the
    prompt at a keep already counted, plus the ids that decoding keeps (special ones are skipped)
    between the two keeps. Re-tokenizing a cut text can differ from its ids only at its junctions
    (the cut ends, the mark, the template's text, each skipped special token), by at most
    ``JUNCTION_TOKENS`` at each, and by the stray bytes of a character a cut splits (at most
    ``_STRAY_BYTES``). A candidate whose estimate is farther than that bound from the budget is
    decided by the estimate; the others are counted for real. The binary search thus makes the
    same probes with the same outcomes as when every probe was counted, so it finds the same cut.
    Each real count is also checked against the estimates from every count before it, the empty
    cut's included (so a drift over the whole message shows, not only one near the answer); one
    outside its bound raises :class:`_EstimateMissed`, and the fitter redoes the prompt and every
    later one counting each candidate. That check sees a tokenizer that breaks the assumption
    near the answers it counts; a break only at far candidates, and only there, would go unseen,
    which is why the bound is taken generously.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        shape: TemplateShape,
        pieces: _PieceCache,
        ids_of: Callable[[str], Sequence[int]],
        hidden_of: Callable[[str], list[int]],
        *,
        long_chars: int,
        estimating: bool = True,
    ) -> None:
        super().__init__(tokenizer, tokenizer.count_chat_tokens, ids_of)
        self.shape = shape
        self.pieces = pieces
        self.hidden_of = hidden_of
        self.long_chars = long_chars
        self.estimating = estimating
        self._glue_sizes: dict[str, int] = {}

    def count(self, prompt: Sequence[Message]) -> int:
        counted = self.shape.count(prompt, self.pieces)
        return self.tokenizer.count_chat_tokens(prompt) if counted is None else counted

    def exceeds(self, prompt: Sequence[Message], budget: int) -> bool:
        """Whether ``prompt`` is over the budget; a long message not tokenized with its template text yet
        is counted from its own ids (bounded at its junctions), which decides unless it is close."""
        glues = self.shape.glues(prompt)
        if glues is None or not self.estimating:
            return self.count(prompt) > budget
        total = len(self.shape.start) + len(self.shape.end) + len(glues[-1].fixed)
        slack = 0
        for position, message in enumerate(prompt):
            before, content, after = glues[position].tail, message["content"], glues[position + 1].lead
            total += len(glues[position].fixed)
            known = self.pieces.known(before, content, after)
            if known is not None or len(content) < self.long_chars:
                total += len(known if known is not None else self.pieces.ids(before, content, after))
                continue
            total += self._glue_size(before) + len(self.ids_of(content)) + self._glue_size(after)
            slack += JUNCTION_TOKENS * (bool(before) + bool(after))
        if total - slack > budget:
            return True
        if total + slack <= budget:
            return False
        counted = self.count(prompt)
        if abs(counted - total) > slack:
            raise _EstimateMissed
        return counted > budget

    def count_within(self, prompt: Sequence[Message], budget: int) -> int | None:
        return None if self.exceeds(prompt, budget) else self.count(prompt)

    def _glue_size(self, text: str) -> int:
        size = self._glue_sizes.get(text)
        if size is None:
            size = self._glue_sizes[text] = len(self.tokenizer.encode(text)) if text else 0
        return size

    def largest_cut(
        self, prompt: list[Message], position: int, where: Literal["tail", "middle"], budget: int
    ) -> int:
        if not self.estimating:
            return super().largest_cut(prompt, position, where, budget)
        text = prompt[position]["content"]
        ids = self.ids_of(text)
        hidden = self.hidden_of(text)
        length = len(ids)

        def kept(keep: int) -> tuple[tuple[int, int], ...]:
            """The spans of ``ids`` a cut keeps."""
            if where == "tail":
                return ((length - keep, length),)
            return ((0, keep // 2), (length - (keep - keep // 2), length))

        def hidden_in(start: int, stop: int) -> int:
            return bisect.bisect_left(hidden, stop) - bisect.bisect_left(hidden, start) if hidden else 0

        def visible(keep: int) -> int:
            return sum(stop - start - hidden_in(start, stop) for start, stop in kept(keep))

        def bound(keep: int, other: int) -> int:
            """How many tokens the cuts keeping ``keep`` and ``other`` may count apart from their ids."""
            spans = list(zip(kept(keep), kept(other), strict=True))
            # A skipped special token kept by one cut only joins its neighbours in that cut.
            joined = sum(hidden_in(min(a[0], b[0]), max(a[0], b[0])) for a, b in spans)
            joined += sum(hidden_in(min(a[1], b[1]), max(a[1], b[1])) for a, b in spans)
            # A cut inside a character drops its stray bytes, ids that decoding makes "\ufffd".
            ragged = sum(
                splits_character(a[0], "start") + splits_character(b[0], "start") for a, b in spans[-1:]
            )
            ragged += sum(
                splits_character(a[1], "end") + splits_character(b[1], "end") for a, b in spans[:-1]
            )
            if min(keep, other) > _SHORT_CUT:
                # The ends that moved (a cut end at the same id is the same junction in both).
                moved = sum(a[0] != b[0] for a, b in spans[-1:]) + sum(a[1] != b[1] for a, b in spans[:-1])
                junctions = joined + moved
            else:
                # A short or empty cut: every junction of both (cut ends, the mark, the template's text).
                every = {"tail": (1, 2), "middle": (2, 4)}[where]
                junctions = joined + every[keep > 0] + every[other > 0]
            return JUNCTION_TOKENS * junctions + _STRAY_BYTES * ragged

        def splits_character(at: int, side: Literal["start", "end"]) -> bool:
            if at in (0, length):
                return False
            if side == "start":
                return self.tokenizer.decode(ids[at : at + _STRAY_BYTES + 1]).startswith("\ufffd")
            return self.tokenizer.decode(ids[max(0, at - _STRAY_BYTES - 1) : at]).endswith("\ufffd")

        counted: dict[int, int] = {}

        def real(keep: int) -> int:
            counted[keep] = self.count(replaced_content(prompt, position, self.cut(text, keep, where)))
            return counted[keep]

        real(0)  # the empty cut ("" or the mark alone): a few tokens

        def estimate(keep: int, other: int) -> tuple[int, int]:
            """The count at ``keep`` from the real count at ``other``, and its bound."""
            return counted[other] + visible(keep) - visible(other), bound(keep, other)

        def fits(keep: int) -> bool:
            if keep not in counted:
                guess, bound = estimate(keep, min(counted, key=lambda other: abs(other - keep)))
                if guess - bound > budget:
                    return False
                if guess + bound <= budget:
                    return True
                # Checked against every count so far (the empty cut's too, so a drift over the
                # whole message shows, not only one near here).
                others = list(counted)
                actual = real(keep)
                for other in others:
                    guess, bound = estimate(keep, other)
                    if abs(actual - guess) > bound:
                        raise _EstimateMissed
            return counted[keep] <= budget

        return largest_fitting(fits, length)


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
        #: Whether cut searches and long messages are estimated from ids (until an estimate misses).
        self.estimating = True
        self._encoded: OrderedDict[str, array] = OrderedDict()
        self._hidden: dict[str, list[int]] = {}
        self._hidden_ids: frozenset[int] | None = None

    def fit(self, messages: Sequence[Message]) -> FittedPrompt:
        """Fit ``messages`` into the budget as the module docstring describes."""
        if self.shape is None:
            plain = _Counting(self.tokenizer, self.tokenizer.count_chat_tokens, self._ids_of)
            return _fit(messages, self.max_input_tokens, plain)
        shape, pieces = self.shape, self.pieces
        counting = _ShapeCounting(
            self.tokenizer, shape, pieces, self._ids_of, self._hidden_of,
            long_chars=LONG_MESSAGE_CHARS_PER_TOKEN * self.max_input_tokens, estimating=self.estimating,
        )  # fmt: skip
        try:
            fitted = _fit(messages, self.max_input_tokens, counting)
        except _EstimateMissed:
            self.estimating = False
            return self.fit(messages)
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
        """Token ids of a long message or one being cut, remembered for the search and later turns
        (a few texts: these are the long ones)."""
        ids = self._encoded.get(text)
        if ids is None:
            ids = self._encoded[text] = array("l", self.tokenizer.encode(text))
            if len(self._encoded) > 8:
                dropped, _ = self._encoded.popitem(last=False)
                self._hidden.pop(dropped, None)
        return ids

    def _hidden_of(self, text: str) -> list[int]:
        """Where ``text``'s ids hold a token that decoding skips (a special token), in order."""
        hidden = self._hidden.get(text)
        if hidden is None:
            ids = self._ids_of(text)
            if self._hidden_ids is None:
                self._hidden_ids = _skipped_ids(self.tokenizer)
            skipped = self._hidden_ids
            hidden = self._hidden[text] = (
                [i for i, token in enumerate(ids) if token in skipped] if skipped else []
            )
        return hidden


def _skipped_ids(tokenizer: Tokenizer) -> frozenset[int]:
    """The ids of special tokens that decoding drops (between two letters, so a decoder that adds
    or trims text at the ends does not hide it)."""
    letter = tokenizer.encode("x")
    plain = tokenizer.decode([*letter, *letter])
    skipped = set()
    for token in tokenizer.special_tokens:
        ids = tokenizer.encode(token)
        if len(ids) == 1 and tokenizer.decode([*letter, *ids, *letter]) == plain:
            skipped.add(ids[0])
    return frozenset(skipped)


def fit_prompt(messages: Sequence[Message], tokenizer: Tokenizer, max_input_tokens: int) -> FittedPrompt:
    """Fit one prompt (a job uses one :class:`PromptFitter` for all of its prompts instead)."""
    return PromptFitter(tokenizer, max_input_tokens).fit(messages)


def _fit(messages: Sequence[Message], max_input_tokens: int, counting: _Counting) -> FittedPrompt:
    """The budget's rules (module docstring), with candidate prompts counted by ``counting``."""
    current = dict(messages[-1])
    system = [dict(messages[0])] if messages[0]["role"] == "system" and len(messages) > 1 else []
    history = [dict(m) for m in messages[len(system) : -1]]

    def exceeds(history_part: list[Message], last: Message) -> bool:
        return counting.exceeds([*system, *history_part, last], max_input_tokens)

    tokens = counting.count_within([*system, *history, current], max_input_tokens)
    if tokens is not None:
        return FittedPrompt([*system, *history, current], False, False, tokens)
    # Drop whole turns (user message + answer) from the front while more than one remains.
    while len(history) > 2 and exceeds(history, current):
        history = history[2:]
    # Then cut the remaining messages, oldest first, at a token boundary, keeping their ends.
    for position in range(len(history)):
        if not exceeds(history, current):
            break
        original = history[position]["content"]
        if exceeds(replaced_content(history, position, ""), current):
            history = replaced_content(history, position, "")
            continue
        prompt = [*system, *history, current]
        keep = counting.largest_cut(prompt, len(system) + position, "tail", max_input_tokens)
        history = replaced_content(history, position, counting.cut(original, keep, "tail"))
    if exceeds(history, current):
        history = []
    tokens = counting.count_within([*system, *history, current], max_input_tokens)
    if tokens is not None:
        return FittedPrompt([*system, *history, current], True, False, tokens)
    # The current user message alone is too long: keep its head and tail.
    keep = counting.largest_cut([*system, current], len(system), "middle", max_input_tokens)
    current = {**current, "content": counting.cut(current["content"], keep, "middle")}
    return FittedPrompt([*system, current], True, True, counting.count([*system, current]))
