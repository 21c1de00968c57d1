"""Turning conversations into requests: one per user turn, history modes, the token budget."""

from __future__ import annotations

import pytest

from wildchat50m.engines.transformers_engine import TransformersTokenizer
from wildchat50m.requests import CUT_MARK, CharTokenizer, fit_prompt, prompt_messages, turns_of
from wildchat50m.tiny import tiny_chat_model


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> TransformersTokenizer:
    return TransformersTokenizer.from_pretrained(tiny_chat_model("tiny-a"))


def conversation(*pairs: tuple[str, str]) -> list[dict]:
    return [{"role": role, "content": content} for role, content in pairs]


def test_every_user_turn_is_a_request_including_a_last_unanswered_one():
    chat = conversation(("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d"), ("user", "e"))
    turns = turns_of(chat)
    assert [(t.user_position, t.answer_position) for t in turns] == [(0, 1), (2, 3), (4, None)]
    assert prompt_messages(chat, turns[2]) == chat
    assert prompt_messages(chat, turns[1])[-1] == {"role": "user", "content": "c"}


def test_self_history_uses_the_dgms_own_earlier_answers_and_system_prompt_only_when_missing():
    chat = conversation(("user", "a"), ("assistant", "WildChat's b"), ("user", "c"))
    own = prompt_messages(chat, turns_of(chat)[1], own_answers=["my b"], system_prompt="Be brief.")
    assert own == conversation(("system", "Be brief."), ("user", "a"), ("assistant", "my b"), ("user", "c"))
    with_system = conversation(("system", "Mine."), ("user", "a"))
    assert (
        prompt_messages(with_system, turns_of(with_system)[0], system_prompt="Other.")[0]["content"]
        == "Mine."
    )


def test_a_prompt_that_fits_is_left_alone(tokenizer):
    chat = conversation(("user", "hello"), ("assistant", "hi"), ("user", "how are you?"))
    fitted = fit_prompt(chat, tokenizer, 200)
    assert fitted.messages == chat and not fitted.truncated
    assert fitted.tokens == tokenizer.count_chat_tokens(chat)


def test_oldest_turns_go_first_then_the_oldest_message_is_cut_keeping_its_end(tokenizer):
    old = " ".join(f"old{i}" for i in range(300))
    chat = conversation(
        ("user", old),
        ("assistant", "first answer"),
        ("user", "middle " * 40),
        ("assistant", "second"),
        ("user", "now?"),
    )
    budget = tokenizer.count_chat_tokens(chat[2:]) + 5
    fitted = fit_prompt(chat, tokenizer, budget)
    assert fitted.truncated and not fitted.current_cut
    assert fitted.messages[-1] == chat[-1]
    assert fitted.tokens <= budget
    assert [m["role"] for m in fitted.messages] == ["user", "assistant", "user"]

    tighter = tokenizer.count_chat_tokens(chat[2:]) - 20
    cut = fit_prompt(chat, tokenizer, tighter)
    assert cut.tokens <= tighter and cut.messages[-1] == chat[-1]
    first = cut.messages[0]["content"]
    assert 0 < len(first) < len(chat[2]["content"])
    assert chat[2]["content"].rstrip().endswith(first.strip()[-20:])


def test_a_current_message_too_long_alone_is_cut_from_the_middle_and_marked(tokenizer):
    text = "début " + "du texte 北京 " * 2000 + " la fin"
    fitted = fit_prompt(
        conversation(("user", "earlier"), ("assistant", "ok"), ("user", text)), tokenizer, 300
    )
    assert fitted.truncated and fitted.current_cut and fitted.tokens <= 300
    (only,) = fitted.messages
    assert only["content"].startswith("début") and only["content"].endswith("la fin")
    assert CUT_MARK in only["content"]


def test_cutting_never_introduces_special_tokens(tokenizer):
    """The original generator re-decoded prompts and leaked end-of-turn tokens; cutting here must not."""
    text = "Explain this log:\n" + "\n".join(f"[{i}] worker ok — 完成 ✅" for i in range(3000))
    fitted = fit_prompt(conversation(("user", text)), tokenizer, 256)
    for message in fitted.messages:
        assert not any(token in message["content"] for token in tokenizer.special_tokens)
        assert "\ufffd" not in message["content"]


def test_without_a_local_tokenizer_the_budget_uses_a_character_estimate():
    estimate = CharTokenizer(chars_per_token=2.0)
    chat = conversation(
        ("user", "Wie spät ist es? " * 50), ("assistant", "Es ist spät. " * 30), ("user", "Danke!")
    )
    fitted = fit_prompt(chat, estimate, 100)
    assert fitted.truncated and fitted.tokens <= 100 and fitted.messages[-1] == chat[-1]
    assert fitted.messages[0]["content"] in chat[0]["content"] + chat[1]["content"]
