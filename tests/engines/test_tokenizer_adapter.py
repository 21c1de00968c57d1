"""The tokenizer adapter decodes as the Hugging Face tokenizer's own ``decode`` does, minus its id checks."""

from __future__ import annotations

import random

from wildchat50m.engines.transformers_engine import TransformersTokenizer
from wildchat50m.source import ConversationReader
from wildchat50m.tiny import tiny_chat_model


def test_cut_token_ids_decode_as_the_hugging_face_tokenizer_decodes_them():
    tokenizer = TransformersTokenizer.from_pretrained(str(tiny_chat_model("tiny-a")))
    texts = [m["content"] for row in ConversationReader(None).rows() for m in row["conversation"]][:300]
    rng = random.Random(0)
    for text in texts:
        ids = tokenizer.encode(text)
        prompt = tokenizer.chat_ids([{"role": "user", "content": text[:200]}])  # special tokens skipped
        for cut in (ids, ids[rng.randrange(len(ids) + 1) :], ids[: rng.randrange(len(ids) + 1)], prompt):
            assert tokenizer.decode(cut) == tokenizer.hf.decode(list(cut), skip_special_tokens=True)
