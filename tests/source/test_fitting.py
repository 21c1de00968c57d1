"""Prompt fitting tokenizes each message once per conversation and fits exactly as rendering every prompt did.

The reference below is the fitting as it was before :class:`PromptFitter`: every
candidate prompt rendered through the chat template and tokenized whole. The new
fitting must give the same prompts, the same counts, and the real template's ids.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wildchat50m.engines.transformers_engine import TransformersTokenizer
from wildchat50m.requests import (
    CUT_MARK,
    FittedPrompt,
    PromptFitter,
    prompt_messages,
    template_shape,
    turns_of,
)
from wildchat50m.resources import sample_file
from wildchat50m.tiny import CHAT_TEMPLATE, tiny_chat_model


class CountingTokenizer(TransformersTokenizer):
    """The tiny-a tokenizer, counting the texts it tokenizes (whole prompts and plain texts apart)
    and the tokens it makes of them."""

    def __init__(self, hf) -> None:
        super().__init__(hf)
        self.calls: Counter[str] = Counter()
        self.tokens = 0

    def chat_ids(self, messages):
        self.calls["prompt"] += 1
        ids = super().chat_ids(messages)
        self.tokens += len(ids)
        return ids

    def encode(self, text):
        self.calls["text"] += 1
        ids = super().encode(text)
        self.tokens += len(ids)
        return ids


def reference_fit(messages, tokenizer, max_input_tokens) -> FittedPrompt:
    """The fitting before this change, verbatim in behaviour: every candidate counted by rendering it."""
    current = dict(messages[-1])
    system = [dict(messages[0])] if messages[0]["role"] == "system" and len(messages) > 1 else []
    history = [dict(m) for m in messages[len(system) : -1]]

    def count(history_part, last):
        return tokenizer.count_chat_tokens([*system, *history_part, last])

    def cut(text, keep, where):
        ids = tokenizer.encode(text)
        if where == "tail":
            return (tokenizer.decode(ids[len(ids) - keep :]) if keep > 0 else "").lstrip("\ufffd")
        head, tail = keep // 2, keep - keep // 2
        return (
            tokenizer.decode(ids[:head]).rstrip("\ufffd")
            + CUT_MARK
            + tokenizer.decode(ids[len(ids) - tail :]).lstrip("\ufffd")
        )

    def largest(fits, upper):
        low, high = 0, upper
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if fits(middle) else (low, middle - 1)
        return low

    def replaced(items, position, content):
        return [*items[:position], {**items[position], "content": content}, *items[position + 1 :]]

    tokens = count(history, current)
    if tokens <= max_input_tokens:
        return FittedPrompt([*system, *history, current], False, False, tokens)
    while len(history) > 2 and count(history, current) > max_input_tokens:
        history = history[2:]
    for position in range(len(history)):
        if count(history, current) <= max_input_tokens:
            break
        original = history[position]["content"]
        if count(replaced(history, position, ""), current) > max_input_tokens:
            history = replaced(history, position, "")
            continue
        snapshot = history
        keep = largest(
            lambda k, s=snapshot, p=position, t=original: (
                count(replaced(s, p, cut(t, k, "tail")), current) <= max_input_tokens
            ),
            len(tokenizer.encode(original)),
        )
        history = replaced(history, position, cut(original, keep, "tail"))
    if count(history, current) > max_input_tokens:
        history = []
    tokens = count(history, current)
    if tokens <= max_input_tokens:
        return FittedPrompt([*system, *history, current], True, False, tokens)
    text = current["content"]
    keep = largest(
        lambda k: count([], {**current, "content": cut(text, k, "middle")}) <= max_input_tokens,
        len(tokenizer.encode(text)),
    )
    current = {**current, "content": cut(text, keep, "middle")}
    return FittedPrompt([*system, current], True, True, count([], current))


@pytest.fixture(scope="module")
def hf_tokenizer():
    return TransformersTokenizer.from_pretrained(tiny_chat_model("tiny-a")).hf


def fit_both(conversation, old, fitter, system_prompt=None) -> Counter[str]:
    """Every turn of ``conversation`` fitted by the reference (tokenizer ``old``) and by ``fitter``;
    returns how many prompts kept everything, lost turns or messages, or had their last message cut."""
    budget, outcomes = fitter.max_input_tokens, Counter()
    for turn in turns_of(conversation):
        messages = prompt_messages(conversation, turn, system_prompt=system_prompt)
        expected = reference_fit(messages, old, budget)
        outcomes["current cut" if expected.current_cut else "cut" if expected.truncated else "whole"] += 1
        fitted = fitter.fit(messages)
        assert (fitted.messages, fitted.truncated, fitted.current_cut, fitted.tokens) == (
            expected.messages,
            expected.truncated,
            expected.current_cut,
            expected.tokens,
        )
        assert fitted.token_ids is not None
        tokens = old.tokens
        assert list(fitted.token_ids) == old.chat_ids(fitted.messages)
        old.calls["prompt"] -= 1  # that check is not the reference's own work
        old.tokens = tokens
    return outcomes


def test_the_sample_fits_as_before_with_each_message_tokenized_once_per_conversation(hf_tokenizer):
    rows = pq.read_table(sample_file(), columns=["conversation"]).column("conversation").to_pylist()
    conversations = [[dict(m) for m in row] for row in rows if row and any(m["role"] == "user" for m in row)]
    old, new, answers = CountingTokenizer(hf_tokenizer), CountingTokenizer(hf_tokenizer), 0
    assert template_shape(new) is not None  # learned once per model, checked on a few probe prompts
    assert 0 < new.calls["prompt"] <= 40
    new.calls.clear()
    # The job's budget over the whole sample, and a tight one over part of it, so that dropping
    # and cutting happen on real text.
    for budget, count in ((3072, len(conversations)), (200, 120)):
        fitter = PromptFitter(new, budget)
        for conversation in conversations[:count]:
            fit_both(conversation, old, fitter)
            answers += len(turns_of(conversation))
    assert answers > 1000
    # The reference renders and tokenizes a whole prompt more than once per answer ...
    assert old.calls["prompt"] > 1.2 * answers
    # ... the new fitting only for the first prompts it checks against the real template (32 a fitter).
    assert new.calls["prompt"] == 2 * 32
    # Plain texts: each message once per conversation, plus the searches of cut messages.
    assert new.calls["text"] < old.calls["text"] + old.calls["prompt"]


#: Short texts of letters, spaces, scripts, emoji and the tiny template's own tokens (whole and in parts).
TEXT = st.lists(
    st.sampled_from([*"abc xyz\n\t  .,!?éßж北京語🙂", "<|end|>", "<|user|>", "<|", "|>", "\ufffd"]),
    max_size=40,
).map(lambda parts: "".join(parts) * 3)
LONG_TEXT = st.integers(200, 1500).map(lambda n: " ".join(f"mot{i} 文{i % 7}" for i in range(n)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    turns=st.lists(st.tuples(st.one_of(TEXT, LONG_TEXT), st.one_of(TEXT, LONG_TEXT)), min_size=1, max_size=6),
    system=st.one_of(st.none(), TEXT),
    ends_on_user=st.booleans(),
    budget=st.sampled_from([40, 120, 400, 3072]),
)
def test_random_conversations_fit_as_before(hf_tokenizer, turns, system, ends_on_user, budget):
    conversation = [{"role": "system", "content": system}] if system is not None else []
    for user, assistant in turns:
        conversation += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    if ends_on_user:
        conversation.append({"role": "user", "content": "and now?"})
    fitter = PromptFitter(CountingTokenizer(hf_tokenizer), budget)
    fit_both(conversation, CountingTokenizer(hf_tokenizer), fitter, "Be brief." if system is None else None)


#: Pieces of long texts that must be cut: words, scripts without spaces, 4-byte emoji and joined
#: ones, right-to-left text, the tiny template's own tokens whole and in parts, the cut mark itself.
PIECES = [
    "hello", " world", " ", "\n", "\t", "  ", ".", "北京欢迎你", "日本語のテキスト", "мир", "مرحبا",
    "नमस्ते", "🙂", "👩\u200d👩\u200d👧", "—", "ßé", "<|end|>", "<|user|>", "<|assistant|>",
    "<|begin_of_text|>", "<|system|>", "<|", "|>", CUT_MARK, "\ufffd", "x" * 30,
]  # fmt: skip
CUT_TEXT = st.lists(st.sampled_from(PIECES), min_size=40, max_size=400).map("".join)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    turns=st.lists(st.tuples(st.one_of(CUT_TEXT, TEXT), CUT_TEXT), min_size=1, max_size=3),
    last=CUT_TEXT,
    system=st.one_of(st.none(), TEXT),
    budget=st.sampled_from([24, 60, 150, 300]),
)
def test_over_budget_prompts_are_cut_as_before(hf_tokenizer, turns, last, system, budget):
    """Long, multilingual, template-token-laden prompts over the budget: cut searches on every turn."""
    conversation = [{"role": "system", "content": system}] if system is not None else []
    for user, assistant in turns:
        conversation += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    conversation.append({"role": "user", "content": last})
    fitter = PromptFitter(CountingTokenizer(hf_tokenizer), budget)
    outcomes = fit_both(conversation, CountingTokenizer(hf_tokenizer), fitter)
    assert outcomes["whole"] < sum(outcomes.values())


class WordyDecoding(CountingTokenizer):
    """A tokenizer whose decoding adds a word after each full stop: a cut text then re-tokenizes
    longer than its ids, the more so the more it keeps."""

    def decode(self, ids):
        return super().decode(ids).replace(".", ". so")


def test_a_tokenizer_whose_decoding_adds_words_is_cut_as_before(hf_tokenizer):
    """Re-tokenizing a cut text gives more tokens than its ids: the cut is still the old one."""
    fitter = PromptFitter(WordyDecoding(hf_tokenizer), 300)
    text = "".join(PIECES) + "It is. So it goes. " * 100
    conversation = [{"role": "user", "content": text}, {"role": "assistant", "content": text[::-1]}]
    conversation.append({"role": "user", "content": text[7:]})
    assert fit_both(conversation, WordyDecoding(hf_tokenizer), fitter)["current cut"] == 2


def test_a_template_that_changes_contents_is_counted_by_rendering_and_fits_the_same(hf_tokenizer):
    trimming = CHAT_TEMPLATE.replace("message['content']", "message['content'] | trim")
    hf = TransformersTokenizer.from_pretrained(tiny_chat_model("tiny-a")).hf
    hf.chat_template = trimming
    tokenizer = CountingTokenizer(hf)
    assert template_shape(tokenizer) is None
    conversation = [{"role": "user", "content": "  spaced  "}, {"role": "assistant", "content": " a "}] * 3
    conversation.append({"role": "user", "content": " end "})
    for turn in turns_of(conversation):
        messages = prompt_messages(conversation, turn)
        assert PromptFitter(tokenizer, 25).fit(messages) == reference_fit(messages, tokenizer, 25)


def test_a_misread_template_is_caught_by_the_check_and_the_prompt_redone(hf_tokenizer):
    tokenizer = CountingTokenizer(hf_tokenizer)
    fitter = PromptFitter(tokenizer, 3072)
    assert fitter.shape is not None
    # Pretend the shape was learned wrong: one token too few before the first message.
    right = fitter.shape.opening["user"]
    wrong = dataclasses.replace(right, fixed=right.fixed[1:])
    fitter.shape = dataclasses.replace(fitter.shape, opening={**fitter.shape.opening, "user": wrong})
    messages = [{"role": "user", "content": "hello"}]
    tokenizer.calls.clear()
    fitted = fitter.fit(messages)
    assert fitter.shape is None, "the check against the real template must disable the misread shape"
    assert tokenizer.calls["prompt"] == 2, "the check, then the prompt counted by rendering it"
    assert fitted == reference_fit(messages, tokenizer, 3072)


def test_a_cut_costs_a_few_counts_near_the_budget_not_a_bisection(hf_tokenizer):
    """A message forty times the budget, as the current message or in the history: the search
    steers by each count (over by n tokens, drop about n), so it counts two or three cuts near
    the budget where a bisection over the message's 12,000 tokens would count about fourteen."""
    long = " ".join(f"mot{i} 文{i % 7}" for i in range(1500))

    def chat(*contents):
        return [{"role": ("user", "assistant")[i % 2], "content": c} for i, c in enumerate(contents)]

    prompts = [chat(long), chat(long, "ok", "and?"), chat("hi", long, "and?")]
    for messages in prompts:
        tokenizer = CountingTokenizer(hf_tokenizer)
        fitter = PromptFitter(tokenizer, 300, checked=0)
        tokenizer.calls.clear()  # learning the template's shape is the model's, not the prompt's
        fitted = fitter.fit(messages)
        expected = reference_fit(messages, CountingTokenizer(hf_tokenizer), 300)
        assert dataclasses.replace(fitted, token_ids=None) == expected
        assert expected.truncated and fitted.tokens == 300
        # The prompt's messages once (the long one as a piece of the template and once on its own
        # for its token ids), then the cuts the search counts.
        assert tokenizer.calls["text"] <= len(messages) + 1 + 3
