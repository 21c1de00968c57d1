"""Judging factors (packaged in ``data/factors.yaml``, extended with ``--factors FILE``) and the
judge's prompt for one answer (``cards/judge_prompt.md.j2``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from wildchat50m.engines.base import Tokenizer
from wildchat50m.errors import WildChat50mError
from wildchat50m.requests import CUT_MARK, Message, cut_text, largest_within, replaced_content
from wildchat50m.resources import cards_dir, package_path

PROMPT_TEMPLATE = "judge_prompt.md.j2"


class JudgingError(WildChat50mError):
    """The judgment run cannot start as asked; the message says what to do."""


# ---------------------------------------------------------------- factors


@dataclass(frozen=True)
class Factor:
    """One judging factor: its name, a one-line description and the rubric the judge reads."""

    name: str
    description: str
    rubric: str

    @property
    def slug(self) -> str:
        """The factor as it appears in a config name (see :func:`factor_slug`)."""
        return factor_slug(self.name)


def factor_slug(name: str) -> str:
    """A factor's name as it appears in a config name: ``Logical Correctness`` -> ``Logical-Correctness``."""
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def factors_file() -> Path:
    """The factors shipped with the package."""
    return package_path("wildchat50m.data") / "factors.yaml"


def _read_factors(path: Path) -> list[tuple[Factor, bool]]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise JudgingError(f"{path}: cannot read the factors file: {error}") from error
    entries = data.get("factors") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise JudgingError(f"{path}: expected a top-level 'factors:' list")
    factors = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise JudgingError(f"{path}: factor #{number} is not a mapping")
        missing = [k for k in ("name", "description", "rubric") if not str(entry.get(k) or "").strip()]
        if missing:
            raise JudgingError(f"{path}: factor #{number} lacks {', '.join(missing)}")
        factor = Factor(str(entry["name"]).strip(), str(entry["description"]).strip(), str(entry["rubric"]))
        factors.append((factor, bool(entry.get("override", False))))
    return factors


def load_factors(extra_files: Iterable[Path] = ()) -> dict[str, Factor]:
    """The packaged factors, then each extra file's: new names are added, reused ones need ``override``."""
    factors = {factor.name: factor for factor, _ in _read_factors(factors_file())}
    for path in extra_files:
        for factor, override in _read_factors(Path(path)):
            if factor.name in factors and not override:
                raise JudgingError(
                    f"{path}: factor {factor.name!r} already exists; add 'override: true' to replace it"
                )
            factors[factor.name] = factor
    return factors


def get_factor(factors: Mapping[str, Factor], name: str) -> Factor:
    """A factor by name (case and separators ignored)."""
    wanted = re.sub(r"[^a-z0-9]", "", name.lower())
    for factor in factors.values():
        if re.sub(r"[^a-z0-9]", "", factor.name.lower()) == wanted:
            return factor
    raise JudgingError(
        f"unknown factor {name!r}; known: {', '.join(factors)} (or add one with --factors FILE)"
    )


# ---------------------------------------------------------------- prompt


@dataclass(frozen=True)
class JudgePrompt:
    """The judge's chat messages for one answer, fitted to the judge's context.

    ``fitted``: the conversation before the judged turn was shortened (oldest turns dropped, then
    cut). ``cut``: the judged user message or answer itself was cut (the row's ``judge_input_cut``).
    """

    messages: list[dict[str, str]]
    fitted: bool
    cut: bool
    tokens: int | None = None


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(cards_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def _char_cut(text: str, max_chars: int) -> tuple[str, bool]:
    """``text`` with at most ``max_chars`` characters: head and tail kept around ``[...]``."""
    if len(text) <= max_chars:
        return text, False
    half = max(1, max_chars // 2)
    return f"{text[:half]}\n[...]\n{text[-half:]}", True


def judge_messages(
    factor: Factor,
    question: str,
    answer: str,
    max_chars: int,
    *,
    history: Sequence[Message] = (),
    tokenizer: Tokenizer | None = None,
    max_input_tokens: int | None = None,
) -> JudgePrompt:
    """The judge's prompt for one answer (``cards/judge_prompt.md.j2``), within ``max_input_tokens``.

    Question and answer are first cut to ``max_chars`` characters each. Then, with a tokenizer and a
    budget, the budget rules of generation apply (:mod:`wildchat50m.requests`): the oldest turns of
    the conversation before the judged turn go first, then its oldest remaining messages are cut at
    a token boundary (their ends kept), then it goes altogether; only when the judged turn alone is
    too long is it cut from the middle: the user's message to at most a quarter of the room, the
    answer to the rest.
    """
    template = _environment().get_template(PROMPT_TEMPLATE)
    question, question_cut = _char_cut(question, max_chars)
    answer, answer_cut = _char_cut(answer, max_chars)
    cut = question_cut or answer_cut
    conversation = [{"role": m["role"], "content": m["content"] or ""} for m in history]

    def render(past: Sequence[Message], asked: str, answered: str) -> list[dict[str, str]]:
        prompt = template.render(factor=factor, history=past, question=asked, answer=answered)
        return [{"role": "user", "content": prompt}]

    if tokenizer is None or max_input_tokens is None:
        return JudgePrompt(render(conversation, question, answer), False, cut)

    def count(past: Sequence[Message], asked: str, answered: str) -> int:
        return tokenizer.count_chat_tokens(render(past, asked, answered))

    def fits(past: Sequence[Message], asked: str = question, answered: str = answer) -> bool:
        return count(past, asked, answered) <= max_input_tokens

    if fits(conversation):
        return JudgePrompt(
            render(conversation, question, answer), False, cut, count(conversation, question, answer)
        )
    alone = count([], question, answer)
    if alone > max_input_tokens:
        conversation = []  # the judged turn alone is over: no earlier turn can stay
    # Drop the oldest turns by their own token counts first (one encoding each), then by exact counts.
    sizes = [len(tokenizer.encode(m["content"])) + 2 for m in conversation]
    while len(conversation) > 2 and alone + sum(sizes) > max_input_tokens:
        conversation, sizes = conversation[2:], sizes[2:]
    while len(conversation) > 2 and not fits(conversation):
        conversation = conversation[2:]
    for position in range(len(conversation)):
        if fits(conversation):
            break
        original = conversation[position]["content"]
        emptied = count(replaced_content(conversation, position, ""), question, answer)
        if emptied > max_input_tokens:
            conversation = replaced_content(conversation, position, "")
            continue

        def kept(
            keep: int, snapshot: list[Message] = conversation, position: int = position, text: str = original
        ) -> int:
            cut_past = replaced_content(snapshot, position, cut_text(tokenizer, text, keep, "tail"))
            return count(cut_past, question, answer)

        keep = largest_within(
            kept, max_input_tokens, len(tokenizer.encode(original)), max_input_tokens - emptied
        )
        conversation = replaced_content(conversation, position, cut_text(tokenizer, original, keep, "tail"))
    if not fits(conversation):
        conversation = []
    if fits(conversation):
        return JudgePrompt(
            render(conversation, question, answer), True, cut, count(conversation, question, answer)
        )
    # The judged turn alone is too long.
    room = max_input_tokens - count([], "", "")
    if room < 2:
        raise JudgingError(
            f"the judge's prompt template alone takes {count([], '', '')} tokens, more than the "
            f"{max_input_tokens} the judge's context leaves for it; raise --max-model-len or lower "
            "--max-new-tokens"
        )
    question_tokens = len(tokenizer.encode(question))
    if question_tokens > room // 4:
        if fits([], cut_text(tokenizer, question, room // 4, "middle"), answer):
            keep = largest_within(
                lambda k: count([], cut_text(tokenizer, question, k, "middle"), answer),
                max_input_tokens,
                question_tokens,
                max_input_tokens - count([], CUT_MARK, answer),
            )
        else:
            keep = room // 4
        question = cut_text(tokenizer, question, keep, "middle")
    if not fits([], question, answer):
        keep = largest_within(
            lambda k: count([], question, cut_text(tokenizer, answer, k, "middle")),
            max_input_tokens,
            len(tokenizer.encode(answer)),
            max_input_tokens - count([], question, CUT_MARK),
        )
        answer = cut_text(tokenizer, answer, keep, "middle")
    return JudgePrompt(render([], question, answer), True, True, count([], question, answer))
