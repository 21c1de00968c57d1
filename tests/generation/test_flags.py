"""An answer's flags: what each one catches, and the fast checks flag exactly as the plain definitions did.

The references below are the checks as they were written first (one regular expression per
writing system; every period's repeated piece built and compared). The checks the job runs
per answer are quicker ways to the same result, so they must agree on every text.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from wildchat50m.records import (
    FLAG_EMPTY,
    FLAG_LANGUAGE,
    FLAG_LENGTH,
    FLAG_REPETITION,
    FLAG_TEMPLATE_LEAK,
    TurnOutcome,
    answer_flags,
    dominant_script,
    repeats_in_a_loop,
)
from wildchat50m.source import ConversationReader

REFERENCE_SCRIPTS = (
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


def reference_script(text: str) -> str | None:
    counts = {name: len(pattern.findall(text)) for name, pattern in REFERENCE_SCRIPTS}
    total = sum(counts.values())
    if total < 20:
        return None
    if counts["kana"] > total / 10:
        return "kana"
    return max(counts, key=counts.__getitem__)


def reference_loop(text: str, min_repeats: int = 4, min_span: int = 40, max_period: int = 120) -> bool:
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


#: Letters of every script the check knows, their neighbours just outside the ranges, spaces and marks.
CHARACTERS = st.sampled_from(
    [
        *"aZéÿĀɏɐ ¿\t\n.,!?0",
        *("\u4e00", "\u9fff", "\u3400", "\u4dbf", "\u3040", "\u30ff", "\u3100", "\uac00", "\ud7af"),
        *("\u1100", "\u11ff", "\u0400", "\u04ff", "\u0500", "\u0600", "\u06ff", "\u0370", "\u03ff"),
        *("\u0590", "\u05ff", "\u0900", "\u097f", "\u0e00", "\u0e7f", "\u00bf", "\u00c0", "\u2019"),
        *("\U0001f600", "\u3000", "\u00a0"),
    ]
)
TEXTS = st.text(CHARACTERS, max_size=300) | st.text(max_size=200)


@st.composite
def looping_texts(draw) -> str:
    """A text that may end in a piece repeated a few times, with a short tail after it."""
    piece = draw(
        st.text(st.sampled_from("ab \n\t.x"), min_size=1, max_size=130) | st.text(min_size=1, max_size=20)
    )
    repeats = draw(st.integers(1, 50))
    before = draw(st.text(st.sampled_from("abc x"), max_size=2100))
    after = draw(st.text(st.sampled_from("ab \n"), max_size=3))
    return before + piece * repeats + after


def test_the_sample_texts_get_the_script_and_loop_they_got_before():
    texts = [m["content"] for row in ConversationReader(None).rows() for m in row["conversation"]]
    assert any(not text.isascii() for text in texts)
    for text in texts:
        assert dominant_script(text) == reference_script(text)
        assert repeats_in_a_loop(text) == reference_loop(text)


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_any_text_gets_the_script_it_got_before(text):
    assert dominant_script(text) == reference_script(text)


@settings(max_examples=600, deadline=None)
@given(looping_texts() | TEXTS)
def test_any_text_is_seen_looping_as_before(text):
    assert repeats_in_a_loop(text) == reference_loop(text)


@settings(max_examples=200, deadline=None)
@given(looping_texts(), st.integers(2, 6), st.integers(1, 90), st.integers(1, 150))
def test_other_loop_bounds_are_kept_as_before(text, min_repeats, min_span, max_period):
    kept = {"min_repeats": min_repeats, "min_span": min_span, "max_period": max_period}
    assert repeats_in_a_loop(text, **kept) == reference_loop(text, **kept)


def test_each_flag_names_what_is_wrong_with_an_answer():
    def flags(
        text: str | None, finish: str = "stop", prompt: str = "Tell me about the sea, please, briefly."
    ) -> list[str]:
        return answer_flags(prompt, TurnOutcome(text, finish), special_tokens=("<|pad|>",))

    assert flags("The sea is large and salty, and it covers most of the planet.") == []
    assert flags(" \n ") == [FLAG_EMPTY]
    assert flags("The sea is", "length") == [FLAG_LENGTH]
    assert flags("The sea is " + "wet and " * 12) == [FLAG_REPETITION]
    assert FLAG_REPETITION not in flags("The sea is" + " " * 80)  # a run of spaces is not a loop
    assert flags("The sea <|im_end|> is large") == [FLAG_TEMPLATE_LEAK]
    assert flags("The sea <|pad|> is large") == [FLAG_TEMPLATE_LEAK]  # the model's own special token
    assert flags("Море большое и солёное, оно покрывает большую часть планеты.") == [FLAG_LANGUAGE]
    translate = "Translate into Russian: the sea is large and salty."
    assert flags("Море большое и солёное, оно покрывает большую часть планеты.", prompt=translate) == []
    assert answer_flags("question", TurnOutcome(None, "error", error="timeout")) == []
