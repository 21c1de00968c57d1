#!/usr/bin/env python
"""Write the embedded sample of ``wildchat50m`` deterministically.

The embedded sample is the default input of every command, so that every
command runs on a fresh machine without downloading WildChat. Every text in it
is composed here from the phrase banks in ``tools/sample_banks/*.yaml`` (one
file per language plus shared banks, loaded once at import into the frozen
dataclasses below) with seeded ``random.Random`` instances (string seeds, which
Python hashes with SHA-512, so ``PYTHONHASHSEED`` plays no part); hashes come
from ``hashlib``. Running the script twice gives byte-identical files; editing
a bank changes the sample, so regenerate and commit both.

Files written (into ``src/wildchat50m/data/sample/`` unless ``--out`` says
otherwise):

* ``wildchat_sample.parquet``: valid conversations in the exact WildChat-1M
  Arrow schema, in a dozen languages, with code, hostile HTML, markdown, very
  long prompts, Unicode, toxic and redacted rows.
* ``malformed.parquet`` and ``malformed_expected.json``: one row per invalid
  case (and a few valid edge cases) with the reason code the reader must give.
* ``malformed_messages.jsonl`` and ``malformed_messages_expected.json``: the
  same for rows in the common ``messages`` shape.
* ``sharegpt_sample.jsonl`` and ``messages_sample.jsonl``: valid conversations
  in the ShareGPT and ``messages`` shapes.

Usage::

    .venv/bin/python tools/make_sample.py [--out DIR]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import random
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, is_dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from wildchat50m.reasons import Invalid
from wildchat50m.schema import DETOXIFY_FIELDS, MESSAGE, MODERATION_CATEGORIES, WILDCHAT_SCHEMA

SEED = "wildchat50m-sample-v1"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "wildchat50m" / "data" / "sample"
N_CONVERSATIONS = 336

MESSAGE_FIELDS: tuple[str, ...] = tuple(MESSAGE.field(i).name for i in range(MESSAGE.num_fields))
ROW_FIELDS: tuple[str, ...] = tuple(WILDCHAT_SCHEMA.names)

Slots = dict[str, str]


@dataclass(frozen=True)
class Template:
    """A prompt and its answer; the slot values of one option are drawn together."""

    prompt: str
    answer: str
    options: tuple[Slots, ...] = ({},)


@dataclass(frozen=True)
class ToxicTemplate:
    """A mildly hostile prompt (placeholders in brackets) and a calm reply."""

    prompt: str
    answer: str
    category: str


@dataclass(frozen=True)
class CodeTask:
    """A programming question with the code the user pasted and a corrected version."""

    name: str
    fence: str
    question: str
    code_in: str
    error: str
    explanation: str
    code_out: str
    write: str


@dataclass(frozen=True)
class LongTurn:
    """A request pasting a very long document (the prompt's ``{body}`` slot) and a short reply."""

    language: str
    kind: str
    prompt: str
    answer: str


@dataclass(frozen=True)
class LangBank:
    """Everything needed to compose conversations in one language."""

    name: str
    accept: tuple[str, ...]
    places: tuple[tuple[str | None, str | None], ...]
    greetings: tuple[tuple[str, str], ...]
    openers: tuple[Template, ...]
    followups: tuple[Template, ...]
    sentences: tuple[str, ...]
    table_headers: tuple[str, str, str]
    translate_prompt: str
    code_ask_err: str
    code_ask_plain: str
    code_answer: str
    toxic: tuple[ToxicTemplate, ...]
    redacted: tuple[Template, ...]
    html_ask: tuple[str, ...] = ()
    html_answer: tuple[str, ...] = ()
    emoji: tuple[Template, ...] = ()
    story: tuple[Template, ...] = ()
    story_more: tuple[str, ...] = ()
    story_sentences: tuple[str, ...] = ()
    math: tuple[str, str] | None = None
    long_summary: str = ""


# ---------------------------------------------------------------------------
# Phrase banks (tools/sample_banks/*.yaml)
# ---------------------------------------------------------------------------

BANK_DIR = Path(__file__).resolve().parent / "sample_banks"
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: A bank of texts (sentences, templates, prompts) in the order the file lists them.
Texts = tuple[str, ...]


@functools.cache
def read_bank_file(name: str) -> dict[str, Any]:
    """The parsed YAML of one file of ``BANK_DIR`` (each file is read once)."""
    with (BANK_DIR / name).open(encoding="utf-8") as stream:
        return yaml.load(stream, Loader=YAML_LOADER)


@functools.cache
def field_types(dataclass_type: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass (cached: the loader asks for them thousands of times)."""
    return get_type_hints(dataclass_type)


def from_data(kind: Any, data: Any, where: str) -> Any:
    """Rebuild a value of the annotated type ``kind`` from its YAML form, found at ``where``.

    YAML gives lists and mappings; the banks are tuples, dicts and frozen dataclasses (hashable and
    comparable, as the generator uses them). Every text must be a string: an unquoted ``yes`` or
    ``12`` in a bank file is an error here rather than a surprise in the sample.
    """
    origin, args = get_origin(kind), get_args(kind)
    if is_dataclass(kind) or origin is dict:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a mapping, got {data!r}")
        if origin is dict:
            return {key: from_data(args[1], value, f"{where}.{key}") for key, value in data.items()}
        hints = field_types(kind)
        return kind(
            **{name: from_data(hints[name], value, f"{where}.{name}") for name, value in data.items()}
        )
    if origin is tuple:
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list, got {data!r}")
        kinds = (args[0],) * len(data) if args[-1] is Ellipsis else args
        if len(kinds) != len(data):
            raise ValueError(f"{where}: expected {len(kinds)} items, got {len(data)}")
        items = enumerate(zip(kinds, data, strict=True))
        return tuple(from_data(k, item, f"{where}[{i}]") for i, (k, item) in items)
    if origin in (Union, UnionType):
        if data is None and type(None) in args:
            return None
        (inner,) = (arg for arg in args if arg is not type(None))
        return from_data(inner, data, where)
    if not isinstance(data, kind):
        raise ValueError(f"{where}: expected {kind.__name__}, got {data!r}")
    return data


def load_bank(kind: Any, file: str, key: str | None = None) -> Any:
    """A whole bank file (one language) or one top-level entry of a shared bank file, as ``kind``."""
    data = read_bank_file(file)
    return from_data(kind, data if key is None else data[key], f"{file}:{key or ''}")


#: Browser user agents of the visitors (the first one for every malformed row).
USER_AGENTS: Texts = load_bank(Texts, "shared.yaml", "user_agents")
#: System prompts of the first rows of the ShareGPT and ``messages`` samples.
SYSTEM_PROMPTS: Texts = load_bank(Texts, "shared.yaml", "system_prompts")
#: Emoji appended to some English prompts.
EMOJI_EXTRAS: Texts = load_bank(Texts, "shared.yaml", "emoji_extras")
#: How a chapter heading reads in each language that has serial stories.
CHAPTER_HEADINGS: dict[str, str] = load_bank(dict[str, str], "shared.yaml", "chapter_headings")
#: The same five sentences in every language, for translation requests.
PARALLEL: dict[str, Texts] = load_bank(dict[str, Texts], "translation.yaml", "parallel")
#: How an English speaker names each language in a request.
ENGLISH_NAMES: dict[str, str] = load_bank(dict[str, str], "translation.yaml", "english_names")
#: Programming questions, asked in every language.
CODE_TASKS: tuple[CodeTask, ...] = load_bank(tuple[CodeTask, ...], "code_tasks.yaml", "code_tasks")
#: Hostile HTML the viewer must neutralise; every element appears in the sample.
HOSTILE_HTML: Texts = load_bank(Texts, "html.yaml", "hostile_html")
#: Harmless page snippets the hostile HTML is wrapped in (slots ``title``, ``text``, ``hostile``).
HTML_WRAPPERS: Texts = load_bank(Texts, "html.yaml", "html_wrappers")
HTML_TEXTS: tuple[tuple[str, str], ...] = load_bank(tuple[tuple[str, str], ...], "html.yaml", "html_texts")
#: English table comparisons (an answer style of their own: a markdown table).
COMPARISONS: tuple[Slots, ...] = load_bank(tuple[Slots, ...], "tables.yaml", "comparisons")
TABLE_PROMPTS: Texts = load_bank(Texts, "tables.yaml", "table_prompts")
#: Marks in the last column of generated tables.
TABLE_MARKS: Texts = load_bank(Texts, "tables.yaml", "table_marks")
#: Lines of the very long pasted documents: a server log, an English and a Chinese report, German minutes.
LOG_MESSAGES: Texts = load_bank(Texts, "long_documents.yaml", "log_messages")
LOG_ERRORS: Texts = load_bank(Texts, "long_documents.yaml", "log_errors")
LOG_THREADS: Texts = load_bank(Texts, "long_documents.yaml", "log_threads")
LOG_LOGGERS: Texts = load_bank(Texts, "long_documents.yaml", "log_loggers")
REPORT_SECTIONS: Texts = load_bank(Texts, "long_documents.yaml", "report_sections")
REPORT_SENTENCES: Texts = load_bank(Texts, "long_documents.yaml", "report_sentences")
ZH_REPORT: Texts = load_bank(Texts, "long_documents.yaml", "zh_report")
DE_MINUTES: Texts = load_bank(Texts, "long_documents.yaml", "de_minutes")
#: The requests pasting those documents, one for each entry of ``LONG_SPECS``.
LONG_TURNS: tuple[LongTurn, ...] = load_bank(tuple[LongTurn, ...], "long_documents.yaml", "long_turns")

ENGLISH: LangBank = load_bank(LangBank, "english.yaml")
CHINESE: LangBank = load_bank(LangBank, "chinese.yaml")
RUSSIAN: LangBank = load_bank(LangBank, "russian.yaml")
FRENCH: LangBank = load_bank(LangBank, "french.yaml")
SPANISH: LangBank = load_bank(LangBank, "spanish.yaml")
GERMAN: LangBank = load_bank(LangBank, "german.yaml")
JAPANESE: LangBank = load_bank(LangBank, "japanese.yaml")
PORTUGUESE: LangBank = load_bank(LangBank, "portuguese.yaml")
ARABIC: LangBank = load_bank(LangBank, "arabic.yaml")
KOREAN: LangBank = load_bank(LangBank, "korean.yaml")
ITALIAN: LangBank = load_bank(LangBank, "italian.yaml")
TURKISH: LangBank = load_bank(LangBank, "turkish.yaml")
BANKS: dict[str, LangBank] = {
    bank.name: bank
    for bank in (
        ENGLISH,
        CHINESE,
        RUSSIAN,
        FRENCH,
        SPANISH,
        GERMAN,
        JAPANESE,
        PORTUGUESE,
        ARABIC,
        KOREAN,
        ITALIAN,
        TURKISH,
    )
}


# ---------------------------------------------------------------------------
# Shape of the sample
# ---------------------------------------------------------------------------

#: Model checkpoints by period, as WildChat's collection switched between them.
MODEL_PERIODS: tuple[tuple[datetime, tuple[tuple[str, int], ...]], ...] = (
    (datetime(2023, 4, 9, tzinfo=UTC), (("gpt-3.5-turbo-0301", 80), ("gpt-4-0314", 20))),
    (datetime(2023, 6, 27, tzinfo=UTC), (("gpt-3.5-turbo-0613", 80), ("gpt-4-0314", 20))),
    (datetime(2023, 11, 6, tzinfo=UTC), (("gpt-3.5-turbo-0613", 75), ("gpt-4-1106-preview", 25))),
    (datetime(2024, 2, 1, tzinfo=UTC), (("gpt-3.5-turbo-0613", 70), ("gpt-4-0125-preview", 30))),
)
FIRST_DAY = datetime(2023, 4, 9, tzinfo=UTC)
LAST_DAY = datetime(2024, 4, 29, tzinfo=UTC)

#: How many sample conversations start in each language (English most common, as in WildChat).
LANGUAGE_COUNTS: dict[str, int] = {
    "English": 140,
    "Chinese": 52,
    "Russian": 34,
    "French": 18,
    "Spanish": 18,
    "German": 14,
    "Japanese": 12,
    "Portuguese": 12,
    "Arabic": 10,
    "Korean": 10,
    "Italian": 8,
    "Turkish": 8,
}


# ---------------------------------------------------------------------------
# Text composition
# ---------------------------------------------------------------------------

NO_SPACE_LANGUAGES = frozenset({"Chinese", "Japanese"})


def join_sentences(language: str, sentences: Sequence[str]) -> str:
    """Join sentences the way the language writes them (no spaces in Chinese and Japanese)."""
    return ("" if language in NO_SPACE_LANGUAGES else " ").join(sentences)


class Deck:
    """Draws phrases without repeating one until all have been used, then reshuffles."""

    def __init__(self, rng: random.Random, items: Sequence[str]) -> None:
        self.rng = rng
        self.items = list(items)
        self.pool: list[str] = []

    def draw(self, count: int) -> list[str]:
        """``count`` distinct phrases (at most as many as there are)."""
        out: list[str] = []
        while len(out) < min(count, len(self.items)):
            if not self.pool:
                self.pool = list(self.items)
                self.rng.shuffle(self.pool)
            item = self.pool.pop()
            if item not in out:
                out.append(item)
        return out


def first_line(text: str) -> str:
    """The first prose line of an answer, without markdown decoration, for follow-up answers."""
    for raw in text.splitlines():
        line = raw.strip()
        if (
            not line
            or line.startswith(("#", "|", "```", "$$", "<", "/imagine"))
            or line.endswith((":", "："))
        ):
            continue
        line = line.lstrip("-*0123456789. ").replace("**", "")
        if len(line) > 240:
            line = line[:240].rsplit(" ", 1)[0] + "…"
        if line:
            return line
    return ""


def auto_slots(rng: random.Random, bank: LangBank, prev: str, needed: Sequence[str]) -> Slots:
    """The automatic slots a template uses, in order of appearance, drawn from one deck of sentences.

    Available: ``n`` and ``k`` (small numbers), ``para``/``para2``/``para3`` (paragraphs), ``list`` (``n``
    numbered items), ``bullets``/``bullets2``, ``table`` and ``prev`` (the previous answer's first line).
    """
    deck = Deck(rng, bank.sentences)
    n = rng.randint(2, 5)
    slots: Slots = {"n": str(n), "k": str(rng.randint(1, 4))}
    for name in needed:
        if name in slots:
            continue
        if name.startswith("para"):
            slots[name] = join_sentences(bank.name, deck.draw(rng.randint(2, 4)))
        elif name == "list":
            slots[name] = "\n".join(f"{i}. {s}" for i, s in enumerate(deck.draw(n), 1))
        elif name.startswith("bullets"):
            slots[name] = "\n".join(f"- {s}" for s in deck.draw(3 if name == "bullets" else 2))
        elif name == "table":
            header = "| {} | {} | {} |\n|---|---|---|".format(*bank.table_headers)
            picks = deck.draw(3)
            rows = "\n".join(f"| {i} | {s} | {rng.choice(TABLE_MARKS)} |" for i, s in enumerate(picks, 1))
            slots[name] = f"{header}\n{rows}"
        elif name == "prev":
            slots[name] = first_line(prev) or deck.draw(1)[0]
    return slots


def field_names(*texts: str) -> list[str]:
    """The replacement fields of format strings, in order of first appearance."""
    names: dict[str, None] = {}
    for text in texts:
        for _, name, _, _ in string.Formatter().parse(text):
            if name:
                names.setdefault(name, None)
    return list(names)


def fill(
    template: Template, rng: random.Random, bank: LangBank, prev: str = "", **extra: str
) -> tuple[str, str]:
    """Fill a template's prompt and answer from one drawn option plus the automatic slots."""
    option = rng.choice(template.options)
    needed = [name for name in field_names(template.prompt, template.answer) if name not in option]
    slots = auto_slots(rng, bank, prev, needed)
    slots.update(extra)
    slots.update(option)
    return template.prompt.format(**slots), template.answer.format(**slots)


def story_paragraph(rng: random.Random, bank: LangBank, state: ConversationState) -> str:
    """A paragraph of story sentences about the story's hero, without repeats until the deck runs out."""
    deck = state.story_decks.setdefault(bank.name, Deck(rng, bank.story_sentences))
    chosen = deck.draw(rng.randint(3, 4))
    return join_sentences(
        bank.name, [s.format(name=state.story_name, place=state.story_place) for s in chosen]
    )


@dataclass
class Turn:
    """One user message and the assistant reply to it, before metadata is attached."""

    user: str
    answer: str
    user_language: str
    answer_language: str
    toxic_category: str | None = None
    redacted: bool = False


@dataclass
class ConversationState:
    """What later turns of a conversation need to know about earlier ones."""

    prev: str = ""
    greeted: bool = False
    story_name: str = ""
    story_place: str = ""
    chapter: int = 2
    code_task: CodeTask | None = None
    code_tasks_used: list[CodeTask] = field(default_factory=list)
    story_decks: dict[str, Deck] = field(default_factory=dict)


def next_code_task(rng: random.Random, state: ConversationState) -> CodeTask:
    """A programming task not yet asked in this conversation (all again once every one was asked)."""
    fresh = [task for task in CODE_TASKS if task not in state.code_tasks_used] or list(CODE_TASKS)
    return rng.choice(fresh)


def code_turn(rng: random.Random, bank: LangBank, task: CodeTask) -> tuple[str, str]:
    """A programming question about ``task`` and its answer, in the bank's language."""
    if bank.name == "English":
        mode = rng.choice(("err", "plain", "write", "unfenced"))
        if mode == "write":
            prompt = task.write
        elif mode == "unfenced":
            prompt = f"{task.question}\n{task.code_in}\n{task.error}".rstrip()
        elif mode == "err" and task.error:
            prompt = bank.code_ask_err.format(
                question=task.question, fence=task.fence, code=task.code_in, error=task.error
            )
        else:
            prompt = bank.code_ask_plain.format(question=task.question, fence=task.fence, code=task.code_in)
        tail = rng.choice(
            (
                "Let me know if you want tests for it.",
                "This keeps the original behaviour but avoids the problem.",
                "If you're on an older version, tell me which one and I'll adapt it.",
                "",
            )
        )
        answer = bank.code_answer.format(
            explanation=task.explanation, fence=task.fence, code=task.code_out, tail=tail
        ).rstrip()
        return prompt, answer
    template = bank.code_ask_err if task.error else bank.code_ask_plain
    prompt = template.format(name=task.name, fence=task.fence, code=task.code_in, error=task.error)
    return prompt, bank.code_answer.format(fence=task.fence, code=task.code_out)


def math_turn(rng: random.Random, bank: LangBank) -> tuple[str, str]:
    """A linear equation with an integer solution, worked step by step."""
    assert bank.math is not None
    a = rng.randint(2, 9)
    x = rng.randint(-10, 15)
    b = rng.randint(1, 30)
    c = a * x + b
    values = {"a": str(a), "b": str(b), "c": str(c), "cb": str(c - b), "x": str(x)}
    return bank.math[0].format(**values), bank.math[1].format(**values)


def translate_turn(rng: random.Random, bank: LangBank) -> tuple[str, str, str]:
    """A translation request; the answer is in the target language."""
    i = rng.randrange(len(PARALLEL["English"]))
    if bank.name == "English":
        target = rng.choice(sorted(ENGLISH_NAMES))
        prompt = bank.translate_prompt.format(target=ENGLISH_NAMES[target], src=PARALLEL["English"][i])
    else:
        target = "English"
        prompt = bank.translate_prompt.format(src=PARALLEL[bank.name][i])
    return prompt, PARALLEL[target][i], target


def html_turn(rng: random.Random, bank: LangBank, hostiles: Sequence[str]) -> tuple[str, str]:
    """A prompt with raw, partly hostile HTML, and an answer that (mostly) fences a cleaned version."""
    title, text = rng.choice(HTML_TEXTS)
    wrapper = rng.choice(HTML_WRAPPERS)
    html = wrapper.format(title=title, text=text, hostile="\n  ".join(hostiles))
    clean = wrapper.format(title=title, text=text, hostile="<!-- active content removed -->")
    text_md = text.replace("<b>", "**").replace("</b>", "**").replace("<i>", "*").replace("</i>", "*")
    hostile_short = hostiles[0] if len(hostiles[0]) <= 70 else hostiles[0][:67] + "..."
    prompt = rng.choice(bank.html_ask).format(html=html)
    answer = rng.choice(bank.html_answer).format(
        hostile_short=hostile_short, hostile=hostiles[0], clean=clean, title=title, text_md=text_md
    )
    return prompt, answer


def chat_turn(
    rng: random.Random, bank: LangBank, state: ConversationState, greet: bool
) -> tuple[str, str, str]:
    """An opening request: a template, a translation, an equation, or (if allowed) a greeting."""
    roll = rng.random()
    if greet and roll < 0.12:
        state.greeted = True
        prompt, answer = rng.choice(bank.greetings)
        return prompt, answer, bank.name
    if roll < 0.22:
        return translate_turn(rng, bank)
    if roll < 0.28 and bank.math is not None:
        prompt, answer = math_turn(rng, bank)
        return prompt, answer, bank.name
    prompt, answer = fill(rng.choice(bank.openers), rng, bank)
    if bank.name == "English" and rng.random() < 0.08:
        prompt = f"{prompt} {rng.choice(EMOJI_EXTRAS)}"
    return prompt, answer, bank.name


def story_opening(rng: random.Random, bank: LangBank, state: ConversationState) -> tuple[str, str]:
    """The first request of a serial story."""
    template = rng.choice(bank.story)
    option = rng.choice(template.options)
    state.story_name, state.story_place = option["name"], option["place"]
    parts = {f"story{i}": story_paragraph(rng, bank, state) for i in (1, 2, 3)}
    slots = {**option, **parts}
    return template.prompt.format(**slots), template.answer.format(**slots)


def story_more(rng: random.Random, bank: LangBank, state: ConversationState) -> tuple[str, str]:
    """A request to continue the story, answered with the next chapter."""
    prompt = rng.choice(bank.story_more).format(chapter=state.chapter)
    body = "\n\n".join(story_paragraph(rng, bank, state) for _ in range(rng.randint(1, 3)))
    heading = CHAPTER_HEADINGS.get(bank.name, "{n}").format(n=state.chapter)
    answer = f"## {heading}\n\n{body}"
    state.chapter += 1
    return prompt, answer


# ---------------------------------------------------------------------------
# Very long prompts (a pasted log, report, CSV, module, JSON dump)
# ---------------------------------------------------------------------------


def log_text(rng: random.Random, target: int) -> str:
    """A server log of about ``target`` characters with a crash building up in it."""
    when = datetime(2023, 11, 2, 1, 12, 0, tzinfo=UTC)
    lines: list[str] = []
    total = 0
    while total < target:
        when += timedelta(milliseconds=rng.randint(3, 2500))
        progress = total / target
        level = rng.choices(
            ("INFO", "DEBUG", "WARN", "ERROR"), (70, 10, 12 + 20 * progress, 3 + 15 * progress)
        )[0]
        values = {
            "id": str(rng.randint(1000, 999_999)),
            "ms": str(rng.randint(2, 30_000)),
            "n": str(rng.randint(1, 9)),
            "a": str(rng.randint(1, 5)),
            "k": str(rng.randint(0, 9)),
            "w": str(rng.randint(1, 64)),
        }
        text = (rng.choice(LOG_ERRORS) if level == "ERROR" else rng.choice(LOG_MESSAGES)).format(**values)
        thread = rng.choice(LOG_THREADS).format(**values)
        stamp = f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"
        line = f"{stamp} {level:<5} [{thread}] {rng.choice(LOG_LOGGERS)}: {text}"
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)


def report_text(rng: random.Random, target: int) -> str:
    """A long, dull business report of about ``target`` characters."""
    parts = ["# Annual Operations Review", ""]
    total = 0
    section = 0
    while total < target:
        section += 1
        title = REPORT_SECTIONS[(section - 1) % len(REPORT_SECTIONS)]
        parts.append(f"## {section}. {title}")
        for _ in range(rng.randint(2, 4)):
            sentences = []
            for template in rng.sample(REPORT_SENTENCES, rng.randint(3, 6)):
                sentences.append(
                    template.format(
                        quarter=f"Q{rng.randint(1, 4)} {rng.choice((2022, 2023))}",
                        region=rng.choice(("North", "South", "East", "West", "Central", "Coastal")),
                        moved=rng.choice(("rose", "fell", "increased", "decreased", "grew")),
                        pct=f"{rng.uniform(0.5, 24):.1f}",
                        team=rng.choice(
                            ("logistics", "support", "platform", "sales", "finance", "procurement")
                        ),
                        n=rng.randint(2, 40),
                        m=rng.randint(41, 900),
                        score=f"{rng.uniform(3.1, 4.8):.1f}",
                    )
                )
            parts.append(" ".join(sentences))
            parts.append("")
        total = sum(len(p) + 1 for p in parts)
    return "\n".join(parts).rstrip()


def csv_text(rng: random.Random, target: int) -> str:
    """A sales export of about ``target`` characters, with a few anomalies to find."""
    lines = ["date,region,product,units,unit_price,revenue"]
    total = len(lines[0])
    day = datetime(2023, 1, 1, tzinfo=UTC)
    products = {"Widget A": 9.99, "Widget B": 14.5, "Gadget Pro": 49.0, "Cable 2m": 4.25, "Stand": 19.9}
    while total < target:
        for region in ("North", "South", "East", "West"):
            product = rng.choice(sorted(products))
            units = rng.randint(0, 400)
            if rng.random() < 0.004:
                units = -units
            price = products[product]
            revenue = "" if rng.random() < 0.003 else f"{units * price:.2f}"
            line = f"{day:%Y-%m-%d},{region},{product},{units},{price:.2f},{revenue}"
            lines.append(line)
            if rng.random() < 0.003:
                lines.append(line)
            total += len(line) + 1
        day += timedelta(days=1)
    return "\n".join(lines)


def module_text(rng: random.Random, target: int) -> str:
    """A long Python module of small functions, one of which has a mutable default argument."""
    names = ("temperature", "pressure", "humidity", "voltage", "latency", "throughput", "altitude", "speed")
    parts = ['"""Sensor helpers for the ingestion pipeline."""', "", "from __future__ import annotations", ""]
    total = 0
    i = 0
    bug_at = rng.randint(8, 20)
    while total < target:
        i += 1
        name = f"{names[i % len(names)]}_{i}"
        if i == bug_at:
            parts.append(
                f"def collect_{name}(reading: float, bucket: list[float] = []) -> list[float]:\n"
                f'    """Append a {name} reading to the current bucket."""\n'
                "    bucket.append(reading)\n"
                "    return bucket\n"
            )
        else:
            scale = rng.choice((1.0, 10.0, 100.0))
            parts.append(
                f"def normalize_{name}(values: list[float], scale: float = {scale}) -> list[float]:\n"
                f'    """Scale {name} readings into the 0..{scale:g} range."""\n'
                "    if not values:\n"
                "        return []\n"
                "    lo, hi = min(values), max(values)\n"
                "    span = (hi - lo) or 1.0\n"
                f"    return [round((v - lo) / span * scale, {rng.randint(1, 4)}) for v in values]\n"
            )
        parts.append("")
        total = sum(len(p) + 1 for p in parts)
    return "\n".join(parts).rstrip() + "\n"


def json_text(rng: random.Random, target: int) -> str:
    """A pretty-printed API response of about ``target`` characters."""
    records: list[dict[str, Any]] = []
    total = 0
    while total < target:
        n = len(records) + 1
        record = {
            "id": n,
            "sku": f"SKU-{rng.randint(10000, 99999)}",
            "title": rng.choice(("Desk lamp", "Notebook", "Backpack", "Water bottle", "Headphones")),
            "price": {"amount": round(rng.uniform(3, 250), 2), "currency": rng.choice(("EUR", "USD"))},
            "tags": rng.sample(["new", "sale", "eco", "bestseller", "limited", "bundle"], rng.randint(0, 3)),
            "stock": None if rng.random() < 0.05 else rng.randint(0, 500),
            "updated_at": f"2024-0{rng.randint(1, 3)}-{rng.randint(10, 28)}T{rng.randint(10, 23)}:00:00Z",
        }
        records.append(record)
        total += len(json.dumps(record, indent=2)) + 4
    return json.dumps({"page": 1, "total": len(records), "items": records}, indent=2, ensure_ascii=False)


def chinese_report_text(rng: random.Random, target: int) -> str:
    """A long Chinese business report of about ``target`` characters."""
    parts = ["# 年度经营情况报告", ""]
    total = 0
    section = 0
    titles = (
        "总体情况",
        "市场分析",
        "区域表现",
        "生产运营",
        "人力资源",
        "财务状况",
        "风险提示",
        "下一步计划",
    )
    while total < target:
        section += 1
        parts.append(f"## {section}、{titles[(section - 1) % len(titles)]}")
        for _ in range(rng.randint(2, 4)):
            sentences = [
                t.format(
                    year=rng.choice((2022, 2023)),
                    q=rng.randint(1, 4),
                    region=rng.choice(("华东", "华南", "华北", "西南", "东北")),
                    dir=rng.choice(("增长", "下降")),
                    pct=f"{rng.uniform(0.5, 30):.1f}",
                    team=rng.choice(("销售", "研发", "物流", "客服", "采购")),
                    n=rng.randint(2, 40),
                    m=rng.randint(50, 900),
                    score=f"{rng.uniform(3.2, 4.9):.1f}",
                )
                for t in rng.sample(ZH_REPORT, rng.randint(3, 6))
            ]
            parts.append("".join(sentences))
            parts.append("")
        total = sum(len(p) + 1 for p in parts)
    return "\n".join(parts).rstrip()


def german_minutes_text(rng: random.Random, target: int) -> str:
    """Long German club meeting minutes of about ``target`` characters."""
    months = ("Januar", "Februar", "März", "April", "Mai", "Juni", "September", "Oktober", "November")
    parts: list[str] = []
    total = 0
    meeting = 0
    while total < target:
        meeting += 1
        parts.append(f"Protokoll der Vorstandssitzung Nr. {meeting}")
        for top in range(1, rng.randint(4, 7)):
            sentences = [
                t.format(
                    m=rng.randint(40, 900),
                    n=rng.randint(2, 30),
                    day=rng.randint(1, 28),
                    month=rng.choice(months),
                )
                for t in rng.sample(DE_MINUTES, rng.randint(2, 4))
            ]
            parts.append(f"TOP {top}: " + " ".join(sentences))
        parts.append("")
        total = sum(len(p) + 1 for p in parts)
    return "\n".join(parts).rstrip()


#: The document each (kind, language) of ``LONG_SPECS`` pastes.
DOCUMENT_WRITERS: dict[tuple[str, str], Callable[[random.Random, int], str]] = {
    ("log", "English"): log_text,
    ("log", "Russian"): log_text,
    ("doc", "English"): report_text,
    ("doc", "Chinese"): chinese_report_text,
    ("doc", "German"): german_minutes_text,
    ("csv", "English"): csv_text,
    ("code", "English"): module_text,
    ("json", "English"): json_text,
}


def long_turn(rng: random.Random, kind: str, language: str, target: int) -> tuple[str, str]:
    """A prompt of roughly ``target`` characters (longer than any context window) and a short reply."""
    turn = {(t.kind, t.language): t for t in LONG_TURNS}[kind, language]
    body = DOCUMENT_WRITERS[kind, language](rng, target)
    return turn.prompt.format(body=body), turn.answer


# ---------------------------------------------------------------------------
# Conversation plans
# ---------------------------------------------------------------------------

#: (language, kind of document, characters): prompts far beyond any context window.
LONG_SPECS: tuple[tuple[str, str, int], ...] = (
    ("English", "log", 21_500),
    ("English", "doc", 118_000),
    ("English", "csv", 46_000),
    ("English", "code", 33_000),
    ("English", "json", 64_000),
    ("Chinese", "doc", 38_000),
    ("Russian", "log", 82_000),
    ("German", "doc", 27_000),
)
HTML_LANGUAGES: tuple[str, ...] = ("English",) * 11 + ("Chinese", "Chinese", "Russian", "Russian", "Spanish")
EMOJI_LANGUAGES: tuple[str, ...] = ("English",) * len(ENGLISH.emoji) + (
    "Japanese",
    "Japanese",
    "Korean",
    "Spanish",
    "Portuguese",
)
#: How many conversations have each number of user turns: most 1-3, some 4-10, a few up to 25.
TURN_COUNTS: dict[int, int] = {
    1: 150,
    2: 60,
    3: 40,
    4: 16,
    5: 14,
    6: 10,
    7: 8,
    8: 8,
    9: 7,
    10: 7,
    11: 2,
    12: 2,
    13: 1,
    14: 1,
    15: 2,
    16: 1,
    18: 1,
    20: 2,
    22: 1,
    23: 1,
    25: 2,
}
N_TOXIC = 20
N_REDACTED = 17
N_END_ON_USER = 34
N_MIXED = 18
N_EMPTY_ANSWER = 5


@dataclass
class Plan:
    """What one sample conversation will contain, decided before any text is composed."""

    language: str
    kind: str
    turns: int = 1
    variant: int = 0
    hostiles: tuple[str, ...] = ()
    long_kind: str = ""
    long_chars: int = 0
    mixed_with: str | None = None
    switch_at: int | None = None
    toxic: bool = False
    redacted: bool = False
    end_on_user: bool = False
    empty_answer: bool = False


def kind_weights(language: str) -> dict[str, int]:
    """How often each kind of conversation starts in a language."""
    if language == "English":
        return {"chat": 60, "code": 22, "table": 9, "story": 9}
    if language in ("Chinese", "Russian"):
        return {"chat": 60, "code": 28, "story": 12}
    if language == "Spanish":
        return {"chat": 75, "code": 15, "story": 10}
    return {"chat": 80, "code": 20}


def make_plans(rng: random.Random) -> list[Plan]:
    """Decide languages, kinds, turn counts and flags for every sample conversation."""
    remaining = dict(LANGUAGE_COUNTS)
    assert sum(remaining.values()) == N_CONVERSATIONS == sum(TURN_COUNTS.values())
    pool = [turns for turns, count in TURN_COUNTS.items() for _ in range(count)]
    rng.shuffle(pool)

    def take(limit: int) -> int:
        return pool.pop(next(i for i, v in enumerate(pool) if v <= limit))

    plans: list[Plan] = []
    for language, long_kind, chars in LONG_SPECS:
        plans.append(Plan(language, "long", take(2), long_kind=long_kind, long_chars=chars))
    for j, language in enumerate(HTML_LANGUAGES):
        hostiles = tuple(h for i, h in enumerate(HOSTILE_HTML) if i % len(HTML_LANGUAGES) == j)
        plans.append(Plan(language, "html", take(3), hostiles=hostiles))
    seen: Counter[str] = Counter()
    for language in EMOJI_LANGUAGES:
        plans.append(Plan(language, "emoji", take(3), variant=seen[language]))
        seen[language] += 1
    for plan in plans:
        remaining[plan.language] -= 1
    for language, count in remaining.items():
        for _ in range(count):
            turns = pool.pop()
            weights = kind_weights(language)
            if turns >= 6 and "story" in weights and rng.random() < 0.5:
                kind = "story"
            else:
                kind = rng.choices(list(weights), list(weights.values()))[0]
            plans.append(Plan(language, kind, turns))
    assert not pool

    ordinary = [p for p in plans if p.kind not in ("long", "html", "emoji")]
    for plan in rng.sample([p for p in ordinary if p.turns >= 2], N_MIXED):
        plan.mixed_with = (
            rng.choice(("Chinese", "Spanish", "Russian", "French"))
            if plan.language == "English"
            else "English"
        )
        plan.switch_at = rng.randint(1, plan.turns - 1)
    not_long = [p for p in plans if p.kind != "long"]
    for plan in rng.sample(not_long, N_TOXIC):
        plan.toxic = True
    for plan in rng.sample([p for p in not_long if not p.toxic], N_REDACTED):
        plan.redacted = True
    for plan in rng.sample(plans, N_END_ON_USER):
        plan.end_on_user = True
    candidates = [p for p in not_long if not p.toxic and (p.turns >= 2 or not p.end_on_user)]
    for plan in rng.sample(candidates, N_EMPTY_ANSWER):
        plan.empty_answer = True

    rng.shuffle(plans)
    # Keep the first rows short and ordinary, so that a quick demo on the first few rows stays quick.
    late = [i for i in range(40, len(plans)) if plans[i].kind not in ("long",) and plans[i].turns <= 3]
    for i in range(40):
        if plans[i].kind == "long" or plans[i].turns > 10:
            j = late.pop(rng.randrange(len(late)))
            plans[i], plans[j] = plans[j], plans[i]
    return plans


def compose_turns(plan: Plan, rng: random.Random) -> list[Turn]:
    """Compose the text of every turn of a planned conversation."""
    state = ConversationState()
    turns: list[Turn] = []
    for t in range(plan.turns):
        switched = plan.switch_at is not None and t >= plan.switch_at
        language = plan.mixed_with if switched and plan.mixed_with else plan.language
        bank = BANKS[language]
        answer_language = language
        if t == 0 or t == plan.switch_at:
            if plan.kind == "long":
                user, answer = long_turn(rng, plan.long_kind, language, plan.long_chars)
            elif plan.kind == "html" and t == 0:
                user, answer = html_turn(rng, bank, plan.hostiles)
            elif plan.kind == "emoji" and t == 0:
                user, answer = fill(bank.emoji[plan.variant], rng, bank)
            elif plan.kind == "code":
                state.code_task = next_code_task(rng, state)
                state.code_tasks_used.append(state.code_task)
                user, answer = code_turn(rng, bank, state.code_task)
            elif plan.kind == "table" and t == 0:
                option = rng.choice(COMPARISONS)
                user = rng.choice(TABLE_PROMPTS).format(a=option["a"], b=option["b"].lower())
                answer = (
                    f"Here's a side-by-side comparison:\n\n| Aspect | {option['a']} | {option['b']} |\n"
                    f"|---|---|---|\n{option['rows']}\n\n**Bottom line:** {option['verdict']}"
                )
            elif plan.kind == "story" and bank.story:
                user, answer = story_opening(rng, bank, state)
            else:
                user, answer, answer_language = chat_turn(rng, bank, state, greet=t == 0)
        elif state.greeted:
            state.greeted = False
            user, answer, answer_language = chat_turn(rng, bank, state, greet=False)
        elif plan.kind == "code" and rng.random() < 0.5:
            state.code_task = next_code_task(rng, state)
            state.code_tasks_used.append(state.code_task)
            user, answer = code_turn(rng, bank, state.code_task)
            if bank.name == "English" and rng.random() < 0.5:
                user = f"another question: {user}"
        elif plan.kind == "story" and bank.story_sentences and state.story_name:
            user, answer = story_more(rng, bank, state)
        else:
            user, answer = fill(rng.choice(bank.followups), rng, bank, prev=state.prev)
        state.prev = answer
        turns.append(Turn(user, answer, language, answer_language))

    if plan.toxic:
        t = rng.randrange(len(turns))
        bank = BANKS[turns[t].user_language]
        hostile = rng.choice(bank.toxic)
        turns[t] = Turn(hostile.prompt, hostile.answer, bank.name, bank.name, toxic_category=hostile.category)
    if plan.redacted:
        t = 0 if rng.random() < 0.6 else rng.randrange(len(turns))
        bank = BANKS[turns[t].user_language]
        user, answer = fill(rng.choice(bank.redacted), rng, bank)
        turns[t] = Turn(user, answer, bank.name, bank.name, redacted=True)
    return turns


# ---------------------------------------------------------------------------
# Moderation scores
# ---------------------------------------------------------------------------

#: Each category's twin shares one score: ``self-harm/intent`` and ``self_harm_intent`` are the same thing.
CANONICAL: dict[str, str] = {name: name.replace("/", "_").replace("-", "_") for name in MODERATION_CATEGORIES}
CANONICAL_ORDER: tuple[str, ...] = tuple(dict.fromkeys(CANONICAL.values()))

#: Score ranges of the categories a flagged message triggers, by the category it offends.
FLAG_PROFILES: dict[str, dict[str, tuple[float, float]]] = {
    "harassment": {
        "harassment": (0.82, 0.99),
        "harassment_threatening": (0.08, 0.7),
        "violence": (0.01, 0.2),
    },
    "hate": {"hate": (0.78, 0.97), "harassment": (0.55, 0.9), "hate_threatening": (0.01, 0.1)},
    "violence": {"violence": (0.85, 0.99), "violence_graphic": (0.55, 0.92), "harassment": (0.01, 0.2)},
}
DETOX_PROFILES: dict[str, dict[str, tuple[float, float]]] = {
    "harassment": {
        "toxicity": (0.86, 0.99),
        "insult": (0.6, 0.96),
        "obscene": (0.2, 0.85),
        "threat": (0.01, 0.4),
        "severe_toxicity": (0.01, 0.12),
    },
    "hate": {
        "toxicity": (0.82, 0.98),
        "identity_attack": (0.6, 0.92),
        "insult": (0.4, 0.85),
        "severe_toxicity": (0.02, 0.15),
    },
    "violence": {"toxicity": (0.7, 0.95), "threat": (0.5, 0.9), "severe_toxicity": (0.01, 0.1)},
}


def moderation(rng: random.Random, category: str | None) -> tuple[dict[str, Any], dict[str, float]]:
    """One OpenAI moderation entry and one Detoxify entry; ``category`` makes the message flagged."""
    canonical = {name: 10 ** rng.uniform(-7.0, -3.2) for name in CANONICAL_ORDER}
    detox = {name: 10 ** rng.uniform(-4.5, -2.4) for name in DETOXIFY_FIELDS}
    if category is not None:
        for name, (low, high) in FLAG_PROFILES[category].items():
            canonical[name] = rng.uniform(low, high)
        for name, (low, high) in DETOX_PROFILES[category].items():
            detox[name] = rng.uniform(low, high)
    scores = {name: canonical[CANONICAL[name]] for name in MODERATION_CATEGORIES}
    categories = {name: score > 0.5 for name, score in scores.items()}
    entry = {"categories": categories, "category_scores": scores, "flagged": any(categories.values())}
    return entry, detox


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------


@dataclass
class User:
    """One (hashed) visitor; several conversations may come from the same one."""

    hashed_ip: str
    country: str | None
    state: str | None
    header: dict[str, str]


@dataclass
class RowBuilder:
    """Attach WildChat metadata (times, ids, users, moderation) to composed turns."""

    rng: random.Random
    next_turn_id: int = 100_000
    users: dict[str, list[User]] = field(default_factory=dict)
    user_count: int = 0

    def user(self, language: str) -> User:
        """A returning visitor now and then, otherwise a new one."""
        known = self.users.setdefault(language, [])
        if known and self.rng.random() < 0.25:
            return self.rng.choice(known)
        bank = BANKS[language]
        self.user_count += 1
        country, state = self.rng.choice(bank.places)
        header = {"accept-language": self.rng.choice(bank.accept), "user-agent": self.rng.choice(USER_AGENTS)}
        new = User(sha256_hex(f"{SEED}:visitor:{self.user_count}"), country, state, header)
        known.append(new)
        return new

    def turn_id(self) -> int:
        """A fresh, increasing turn identifier."""
        self.next_turn_id += self.rng.randint(1, 4000)
        return self.next_turn_id

    def row(self, index: int, plan: Plan, turns: Sequence[Turn]) -> dict[str, Any]:
        """The full WildChat row for one planned conversation."""
        rng = self.rng
        visitor = self.user(plan.language)
        span = int((LAST_DAY - FIRST_DAY).total_seconds())
        when = FIRST_DAY + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000))
        model = pick_model(rng, when)
        empty_at = -1
        if plan.empty_answer:
            answered = len(turns) - (1 if plan.end_on_user else 0)
            empty_at = rng.randrange(answered)
        messages: list[dict[str, Any]] = []
        openai: list[dict[str, Any]] = []
        detoxify: list[dict[str, float]] = []
        last = when
        for t, turn in enumerate(turns):
            if t:
                when = last + timedelta(seconds=rng.randint(20, 900), microseconds=rng.randrange(1_000_000))
            turn_id = self.turn_id()
            messages.append(
                {
                    "content": turn.user,
                    "role": "user",
                    "language": turn.user_language,
                    "redacted": turn.redacted,
                    "toxic": turn.toxic_category is not None,
                    "turn_identifier": turn_id,
                    "timestamp": when,
                    "country": visitor.country,
                    "state": visitor.state,
                    "hashed_ip": visitor.hashed_ip,
                    "header": dict(visitor.header),
                }
            )
            entry, detox = moderation(rng, turn.toxic_category)
            openai.append(entry)
            detoxify.append(detox)
            last = when
            if plan.end_on_user and t == len(turns) - 1:
                break
            answer_time = None
            if rng.random() < 0.3:
                answer_time = when + timedelta(
                    seconds=rng.randint(2, 60), microseconds=rng.randrange(1_000_000)
                )
                last = answer_time
            answer = "" if t == empty_at else turn.answer
            messages.append(
                {
                    "content": answer,
                    "role": "assistant",
                    "language": turn.answer_language,
                    "redacted": turn.redacted and "NAME_" in answer,
                    "toxic": False,
                    "turn_identifier": turn_id,
                    "timestamp": answer_time,
                    "country": None,
                    "state": None,
                    "hashed_ip": None,
                    "header": None,
                }
            )
            entry, detox = moderation(rng, None)
            openai.append(entry)
            detoxify.append(detox)
        for message in messages:
            assert tuple(message) == MESSAGE_FIELDS
        row = {
            "conversation_hash": md5_hex(f"{SEED}:conversation:{index}"),
            "model": model,
            "timestamp": last,
            "conversation": messages,
            "turn": sum(1 for m in messages if m["role"] == "user"),
            "language": plan.language,
            "openai_moderation": openai,
            "detoxify_moderation": detoxify,
            "toxic": any(m["toxic"] for m in messages) or any(e["flagged"] for e in openai),
            "redacted": any(m["redacted"] for m in messages),
            "state": visitor.state,
            "country": visitor.country,
            "hashed_ip": visitor.hashed_ip,
            "header": dict(visitor.header),
        }
        assert tuple(row) == ROW_FIELDS
        return row


def md5_hex(text: str) -> str:
    """32 lowercase hex characters."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def sha256_hex(text: str) -> str:
    """64 lowercase hex characters."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pick_model(rng: random.Random, when: datetime) -> str:
    """The GPT checkpoint WildChat used at that time."""
    choices = MODEL_PERIODS[0][1]
    for start, period_choices in MODEL_PERIODS:
        if when >= start:
            choices = period_choices
    names = [name for name, _ in choices]
    return rng.choices(names, [weight for _, weight in choices])[0]


def build_sample() -> list[dict[str, Any]]:
    """All rows of ``wildchat_sample.parquet``."""
    plans = make_plans(random.Random(f"{SEED}:plans"))
    builder = RowBuilder(random.Random(f"{SEED}:metadata"))
    rows = []
    for index, plan in enumerate(plans):
        turns = compose_turns(plan, random.Random(f"{SEED}:text:{index}"))
        rows.append(builder.row(index, plan, turns))
    hashes = [row["conversation_hash"] for row in rows]
    assert len(set(hashes)) == len(hashes)
    return rows


# ---------------------------------------------------------------------------
# Malformed WildChat rows
# ---------------------------------------------------------------------------

Expected = dict[str, Any]


def plain_row(
    conversation_hash: str | None,
    messages: Sequence[tuple[str | None, str | None]],
    when: datetime,
    language: str = "English",
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """A WildChat-schema row with the given (role, content) messages and plausible metadata."""
    rng = rng or random.Random(f"{SEED}:plain:{conversation_hash}")
    visitor_ip = sha256_hex(f"{SEED}:malformed-visitor:{conversation_hash}")
    header = {"accept-language": "en-US,en;q=0.9", "user-agent": USER_AGENTS[0]}
    quiet, quiet_detox = moderation(rng, None)
    rows: list[dict[str, Any]] = []
    turn_id = 900_000
    last = when
    for i, (role, content) in enumerate(messages):
        is_user = role == "user"
        if is_user or i == 0:
            turn_id += 1
        stamp = when + timedelta(seconds=30 * i) if role != "assistant" else None
        last = stamp or last
        rows.append(
            {
                "content": content,
                "role": role,
                "language": language,
                "redacted": False,
                "toxic": False,
                "turn_identifier": turn_id,
                "timestamp": stamp,
                "country": "United States" if role != "assistant" else None,
                "state": "Oregon" if role != "assistant" else None,
                "hashed_ip": visitor_ip if role != "assistant" else None,
                "header": dict(header) if role != "assistant" else None,
            }
        )
    row = {
        "conversation_hash": conversation_hash,
        "model": "gpt-3.5-turbo-0613",
        "timestamp": last,
        "conversation": rows,
        "turn": sum(1 for m in rows if m["role"] == "user"),
        "language": language,
        "openai_moderation": [quiet] * len(rows),
        "detoxify_moderation": [quiet_detox] * len(rows),
        "toxic": False,
        "redacted": False,
        "state": "Oregon",
        "country": "United States",
        "hashed_ip": visitor_ip,
        "header": dict(header),
    }
    assert tuple(row) == ROW_FIELDS
    return row


def build_malformed() -> tuple[list[dict[str, Any]], list[Expected]]:
    """Rows covering every ``Invalid`` code a WildChat row can earn, with valid edge cases mixed in."""
    base = datetime(2023, 9, 14, 8, 30, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    expected: list[Expected] = []

    def add(
        reason: Invalid | None,
        why: str,
        conversation_hash: str | None,
        messages: Sequence[tuple[str | None, str | None]],
        language: str = "English",
    ) -> str | None:
        when = base + timedelta(hours=len(rows))
        rows.append(plain_row(conversation_hash, messages, when, language))
        expected.append(
            {"row": len(expected), "reason": None if reason is None else reason.value, "why": why}
        )
        return conversation_hash

    def key(name: str) -> str:
        return md5_hex(f"{SEED}:malformed:{name}")

    hi = [("user", "How do I boil an egg?"), ("assistant", "Put it in boiling water for 7-9 minutes.")]
    first_valid = add(None, "ordinary two-message conversation", key("valid-1"), hi)
    add(Invalid.MISSING_HASH, "conversation_hash is null", None, hi)
    add(Invalid.MISSING_HASH, "conversation_hash is the empty string", "", hi)
    shared = add(
        None,
        "valid; its hash is reused by a later row (this first occurrence stays valid)",
        key("valid-2"),
        [("user", "Name three primary colours."), ("assistant", "Red, yellow and blue.")],
    )
    add(
        Invalid.DUPLICATE_HASH,
        "reuses the hash of row 3 with a different conversation",
        shared,
        [("user", "What is the capital of Peru?"), ("assistant", "Lima.")],
    )
    add(Invalid.NO_USER_TURN, "empty conversation list", key("empty"), [])
    add(
        Invalid.NO_USER_TURN,
        "only assistant messages",
        key("assistant-only"),
        [("assistant", "Hello! How can I help?"), ("assistant", "Are you still there?")],
    )
    add(
        None,
        "valid edge: ends on a user message (odd length, last turn unanswered)",
        key("ends-on-user"),
        [
            ("user", "Tell me a joke."),
            ("assistant", "Why did the scarecrow win an award? He was outstanding in his field."),
            ("user", "another one"),
        ],
    )
    add(
        Invalid.ROLES_OUT_OF_ORDER,
        "assistant speaks first",
        key("assistant-first"),
        [("assistant", "Hi, I'm your assistant."), ("user", "Hi, what's 2 + 2?"), ("assistant", "4.")],
    )
    add(
        Invalid.ROLES_OUT_OF_ORDER,
        "two user messages in a row",
        key("user-user"),
        [("user", "Translate 'cat' into French."), ("user", "and 'dog'?"), ("assistant", "chat, chien")],
    )
    add(
        Invalid.ROLES_OUT_OF_ORDER,
        "two assistant messages in a row",
        key("assistant-assistant"),
        [
            ("user", "Give me a word that rhymes with 'moon'."),
            ("assistant", "Spoon."),
            ("assistant", "Or tune."),
            ("user", "thanks"),
        ],
    )
    add(
        Invalid.UNKNOWN_ROLE,
        "a message with role 'tool'",
        key("tool"),
        [
            ("user", "What's the weather in Oslo?"),
            ("tool", '{"temp_c": 4, "sky": "overcast"}'),
            ("assistant", "It's 4 °C and overcast in Oslo."),
        ],
    )
    add(
        Invalid.UNKNOWN_ROLE,
        "a message with role 'narrator'",
        key("narrator"),
        [
            ("user", "Let's play a story game."),
            ("assistant", "Great! You are in a dark cave."),
            ("narrator", "A torch flickers."),
            ("user", "I pick up the torch."),
        ],
    )
    add(
        Invalid.UNKNOWN_ROLE,
        "a 'system' message that is not the first message",
        key("late-system"),
        [
            ("user", "Summarise this article for me."),
            ("assistant", "Sure, please paste it."),
            ("system", "You are a pirate."),
            ("user", "Here it is: ..."),
        ],
    )
    add(
        None,
        "valid edge: a leading 'system' message, then user/assistant",
        key("leading-system"),
        [("system", "You are a concise assistant."), ("user", "Capital of Japan?"), ("assistant", "Tokyo.")],
    )
    add(
        Invalid.EMPTY_USER_MESSAGE,
        "user content is the empty string",
        key("empty-user"),
        [("user", ""), ("assistant", "It looks like your message was empty. What would you like to ask?")],
    )
    add(
        Invalid.EMPTY_USER_MESSAGE,
        "user content is whitespace only",
        key("blank-user"),
        [("user", "  \n\t "), ("assistant", "Did you mean to send something?")],
    )
    add(
        Invalid.EMPTY_USER_MESSAGE,
        "the second user message is empty",
        key("empty-second-user"),
        [
            ("user", "Recommend a sci-fi book."),
            ("assistant", "Try 'The Left Hand of Darkness'."),
            ("user", ""),
            ("assistant", "Anything else?"),
        ],
    )
    add(
        None,
        "valid edge: the user message is a single emoji",
        key("emoji-only"),
        [("user", "🤔"), ("assistant", "Looks like you're thinking about something! What's on your mind?")],
    )
    add(
        Invalid.NON_STRING_CONTENT,
        "user content is null",
        key("null-user"),
        [("user", None), ("assistant", "Hello?")],
    )
    add(
        Invalid.NON_STRING_CONTENT,
        "the second user message's content is null",
        key("null-second-user"),
        [("user", "Hi!"), ("assistant", "Hello! How can I help?"), ("user", None), ("assistant", "...")],
    )
    add(
        Invalid.NON_STRING_CONTENT,
        "an assistant message's content is null",
        key("null-assistant"),
        [("user", "What's 7 times 8?"), ("assistant", None)],
    )
    many = []
    for i in range(601):
        many.append(("user", f"Question {i + 1}: what is {i} + {i}?"))
        many.append(("assistant", f"{i} + {i} = {2 * i}."))
    add(Invalid.TOO_LONG, f"{len(many)} messages (more than 1000)", key("many-messages"), many)
    chunk = "All work and no play makes a very long prompt. " * 10_000
    huge = [
        ("user", chunk),
        ("assistant", "That is a lot of repeated text."),
        ("user", chunk + chunk),
        ("assistant", "Still the same sentence."),
    ]
    total = sum(len(content) for _, content in huge)
    add(Invalid.TOO_LONG, f"{total} characters in total (more than 1,000,000)", key("many-chars"), huge)
    add(
        None,
        "valid edge: an empty assistant answer is fine",
        key("empty-assistant"),
        [("user", "Write nothing."), ("assistant", ""), ("user", "ok, now write 'hi'"), ("assistant", "hi")],
    )
    add(
        Invalid.DUPLICATE_HASH,
        "reuses the hash of row 0",
        first_valid,
        [("user", "How long should I boil an egg?"), ("assistant", "About 8 minutes for a firm yolk.")],
    )
    add(
        Invalid.NO_USER_TURN,
        "only a leading system message",
        key("system-only"),
        [("system", "You are a helpful assistant.")],
    )
    add(
        None,
        "valid edge: Chinese conversation with a mixed-language second turn",
        key("mixed-language"),
        [
            ("user", "你好"),
            ("assistant", "你好！有什么可以帮你的？"),
            ("user", "Can you answer in English?"),
            ("assistant", "Of course! How can I help?"),
        ],
        language="Chinese",
    )
    return rows, expected


# ---------------------------------------------------------------------------
# JSONL rows in the "messages" and ShareGPT shapes
# ---------------------------------------------------------------------------


def build_malformed_messages() -> tuple[list[dict[str, Any]], list[Expected]]:
    """Rows in the common ``messages`` shape, valid and invalid, with the expected reason of each."""
    cases: list[tuple[dict[str, Any], Invalid | None, str]] = []

    def case(row: dict[str, Any], reason: Invalid | None, why: str) -> None:
        cases.append((row, reason, why))

    def ident(n: int) -> str:
        return f"mm-{n:04d}"

    def msg(role: str, content: Any) -> dict[str, Any]:
        return {"role": role, "content": content}

    case(
        {
            "id": ident(0),
            "messages": [
                msg("user", "What's a good name for a goldfish?"),
                msg("assistant", "How about Bubbles, Finn or Captain Nemo?"),
            ],
        },
        None,
        "ordinary valid row",
    )
    case(
        {
            "id": ident(1),
            "messages": [
                msg("system", "You answer in one sentence."),
                msg("user", "Why is the sea salty?"),
                msg(
                    "assistant",
                    "Rivers carry dissolved minerals into it, and evaporation leaves the salt behind.",
                ),
            ],
        },
        None,
        "valid: leading system message",
    )
    case(
        {
            "id": ident(2),
            "messages": [
                msg(
                    "user",
                    [
                        {"type": "text", "text": "Describe this picture"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                    ],
                ),
                msg("assistant", "A grey cat asleep on a windowsill."),
            ],
        },
        Invalid.NON_STRING_CONTENT,
        "user content is a list of content parts (multimodal)",
    )
    case(
        {"id": ident(3), "messages": [msg("user", "Say hi"), msg("assistant", ["Hi", "there"])]},
        Invalid.NON_STRING_CONTENT,
        "assistant content is a list of strings",
    )
    case(
        {"id": ident(4), "messages": [msg("user", None), msg("assistant", "Hello?")]},
        Invalid.NON_STRING_CONTENT,
        "user content is null",
    )
    case(
        {"id": ident(5), "messages": [msg("user", 42), msg("assistant", "42 is a fine number.")]},
        Invalid.NON_STRING_CONTENT,
        "user content is an integer",
    )
    case(
        {"id": ident(6), "dialogue": [msg("user", "hi"), msg("assistant", "hello")]},
        Invalid.UNMAPPABLE_ROW,
        "no 'messages' key",
    )
    case(
        {"id": ident(7), "messages": "user: hi\nassistant: hello"},
        Invalid.UNMAPPABLE_ROW,
        "'messages' is a string, not a list",
    )
    case(
        {"id": ident(8), "messages": {"role": "user", "content": "hi"}},
        Invalid.UNMAPPABLE_ROW,
        "'messages' is an object, not a list",
    )
    case(
        {"id": ident(9), "messages": [{"content": "hi"}, msg("assistant", "hello")]},
        Invalid.UNMAPPABLE_ROW,
        "a message has no 'role'",
    )
    case(
        {"id": ident(10), "messages": ["hi", "hello"]},
        Invalid.UNMAPPABLE_ROW,
        "messages are strings, not objects",
    )
    case(
        {
            "id": ident(11),
            "messages": [
                msg("user", "Tell me a fun fact."),
                msg("assistant", "Octopuses have three hearts."),
                msg("user", "another one"),
            ],
        },
        None,
        "valid: ends on a user message",
    )
    case(
        {
            "id": ident(12),
            "messages": [msg("user", "ما هي عاصمة المغرب؟ 🇲🇦"), msg("assistant", "عاصمة المغرب هي الرباط.")],
        },
        None,
        "valid: Arabic with an emoji flag",
    )
    case({"id": ident(13), "messages": []}, Invalid.NO_USER_TURN, "empty messages list")
    case(
        {"id": ident(14), "messages": [msg("assistant", "Hello!"), msg("user", "hi")]},
        Invalid.ROLES_OUT_OF_ORDER,
        "assistant speaks first",
    )
    case(
        {"id": ident(15), "messages": [msg("user", "   "), msg("assistant", "Yes?")]},
        Invalid.EMPTY_USER_MESSAGE,
        "user content is whitespace only",
    )
    case(
        {
            "id": ident(16),
            "messages": [
                msg("user", "Что такое фотосинтез?"),
                msg("assistant", "Это процесс, при котором растения превращают свет в энергию."),
                msg("user", "А кратко?"),
                msg("assistant", "Свет → сахар + кислород."),
            ],
        },
        None,
        "valid: Russian, two turns",
    )
    rows = [row for row, _, _ in cases]
    expected = [
        {"row": i, "reason": None if reason is None else reason.value, "why": why}
        for i, (_, reason, why) in enumerate(cases)
    ]
    return rows, expected


SHAPE_LANGUAGES: tuple[str, ...] = (
    "English",
    "English",
    "English",
    "English",
    "English",
    "English",
    "Chinese",
    "Chinese",
    "Chinese",
    "Russian",
    "Russian",
    "Spanish",
    "French",
    "German",
    "Japanese",
    "Portuguese",
    "Arabic",
    "Korean",
    "Italian",
    "Turkish",
)


def build_shape_rows(shape: str) -> list[dict[str, Any]]:
    """Valid conversations in the ShareGPT (``shape='sharegpt'``) or ``messages`` shape."""
    rows: list[dict[str, Any]] = []
    for i, language in enumerate(SHAPE_LANGUAGES):
        rng = random.Random(f"{SEED}:{shape}:{i}")
        kind = "code" if i % 4 == 1 else "chat"
        plan = Plan(language, kind, rng.choice((1, 1, 2, 2, 3)))
        turns = compose_turns(plan, rng)
        messages: list[tuple[str, str]] = []
        if i < len(SYSTEM_PROMPTS):
            messages.append(("system", SYSTEM_PROMPTS[i]))
        for turn in turns:
            messages.extend((("user", turn.user), ("assistant", turn.answer)))
        if i == len(SHAPE_LANGUAGES) - 1:
            messages.pop()
        if shape == "sharegpt":
            names = {"system": "system", "user": "human", "assistant": "gpt"}
            rows.append(
                {
                    "id": f"sharegpt-{i + 1:05d}",
                    "conversations": [{"from": names[role], "value": text} for role, text in messages],
                }
            )
        else:
            rows.append(
                {
                    "id": f"msg-{i + 1:05d}",
                    "messages": [{"role": role, "content": text} for role, text in messages],
                }
            )
    return rows


# ---------------------------------------------------------------------------
# Writing and reporting
# ---------------------------------------------------------------------------


def write_parquet(rows: list[dict[str, Any]], path: Path) -> pa.Table:
    """Write rows in exactly ``WILDCHAT_SCHEMA``, zstd-compressed."""
    table = pa.Table.from_pylist(rows, schema=WILDCHAT_SCHEMA)
    assert table.schema.equals(WILDCHAT_SCHEMA)
    pq.write_table(table, path, compression="zstd", compression_level=19)
    return table


def write_json(data: Any, path: Path) -> None:
    """Pretty JSON, UTF-8, with a final newline."""
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_jsonl(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """One JSON object per line, UTF-8."""
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts worth checking at a glance."""
    chars = [sum(len(m["content"]) for m in row["conversation"]) for row in rows]
    message_languages: Counter[str] = Counter()
    for row in rows:
        message_languages.update(m["language"] for m in row["conversation"])
    return {
        "rows": len(rows),
        "languages": dict(Counter(row["language"] for row in rows).most_common()),
        "message_languages": dict(message_languages.most_common()),
        "mixed_language_rows": sum(
            1 for row in rows if len({m["language"] for m in row["conversation"]}) > 1
        ),
        "turns": dict(sorted(Counter(row["turn"] for row in rows).items())),
        "toxic": sum(row["toxic"] for row in rows),
        "redacted": sum(row["redacted"] for row in rows),
        "ends_on_user": sum(1 for row in rows if row["conversation"][-1]["role"] == "user"),
        "empty_assistant_messages": sum(
            1 for row in rows for m in row["conversation"] if m["role"] == "assistant" and not m["content"]
        ),
        "rows_over_20k_chars": sorted(c for c in chars if c > 20_000),
        "models": dict(sorted(Counter(row["model"] for row in rows).items())),
        "with_code_fence": sum(1 for row in rows if any("```" in m["content"] for m in row["conversation"])),
        "with_script_tag": sum(
            1 for row in rows if any("<script" in m["content"] for m in row["conversation"])
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write every sample file into ``--out`` (the package's sample folder by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="folder to write into (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    sample = build_sample()
    write_parquet(sample, out / "wildchat_sample.parquet")
    malformed, malformed_expected = build_malformed()
    write_parquet(malformed, out / "malformed.parquet")
    write_json(malformed_expected, out / "malformed_expected.json")
    messages_rows, messages_expected = build_malformed_messages()
    write_jsonl(messages_rows, out / "malformed_messages.jsonl")
    write_json(messages_expected, out / "malformed_messages_expected.json")
    write_jsonl(build_shape_rows("sharegpt"), out / "sharegpt_sample.jsonl")
    write_jsonl(build_shape_rows("messages"), out / "messages_sample.jsonl")

    report = {
        "sample": summarize(sample),
        "malformed_reasons": dict(Counter(str(e["reason"]) for e in malformed_expected)),
        "malformed_messages_reasons": dict(Counter(str(e["reason"]) for e in messages_expected)),
        "files": {
            p.name: p.stat().st_size
            for p in sorted(out.iterdir())
            if p.suffix in (".parquet", ".json", ".jsonl")
        },
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
