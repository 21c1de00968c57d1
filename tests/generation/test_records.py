"""A shard's output rows, built in Arrow, hold exactly what the rows built one Python dict at a time held.

The reference below is how a row was built before :func:`answered_rows`: the input row as
Python objects, each answering assistant message replaced, a last answer appended, and the
rows converted back to Arrow. Both are written the way a commit writes them, and the files
must be the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import random

import pyarrow as pa
import pyarrow.parquet as pq

from wildchat50m.records import TurnOutcome, answer_flags, answered_rows
from wildchat50m.requests import turn_key, turns_of
from wildchat50m.schema import ANSWER_FIELDS, OUTPUT_SCHEMA, WILDCHAT_SCHEMA
from wildchat50m.source import ConversationReader

SPECIAL = ("<|pad|>",)


def reference_row(row, outcomes, *, dgm, history_mode):
    conversation = [dict(m) for m in row["conversation"]]
    null_answer = {name: None for name, _ in ANSWER_FIELDS}

    def answered(template, outcome, flags):
        return {
            **template,
            "content": None if outcome.failed else outcome.text,
            "finish_reason": "error" if outcome.failed else outcome.finish_reason,
            "prompt_tokens": outcome.prompt_tokens,
            "completion_tokens": outcome.completion_tokens,
            "prompt_truncated": outcome.prompt_truncated,
            "flags": flags,
            "cumulative_logprob": outcome.cumulative_logprob,
            "error": outcome.error,
        }

    messages = [{**m, **null_answer} for m in conversation]
    appended = None
    for turn, outcome in zip(turns_of(conversation), outcomes, strict=True):
        user = conversation[turn.user_position]
        flags = answer_flags(user["content"], outcome, SPECIAL)
        if turn.answer_position is not None:
            messages[turn.answer_position] = answered(messages[turn.answer_position], outcome, flags)
        else:
            template = {key: None for key in conversation[0]}
            template.update(
                role="assistant",
                language=user.get("language"),
                redacted=False,
                toxic=False,
                turn_identifier=user.get("turn_identifier"),
            )
            appended = answered(template, outcome, flags)
    if appended is not None:
        messages.append(appended)
    return {**row, "conversation": messages, "dgm": dgm, "history_mode": history_mode}


def some_outcome(rng: random.Random, prompt: str) -> TurnOutcome:
    kind = rng.randrange(6)
    if kind == 0:
        return TurnOutcome(None, "error", error="prompt_too_long", prompt_truncated=rng.random() < 0.5)
    text = [
        "A plain answer, long enough to have a script of its own.",
        "loop " * 20,
        "",
        "Это ответ на русском языке, в нём достаточно букв.",
        f"{prompt[:80]} <|im_end|>",
    ][kind - 1]
    return TurnOutcome(
        text,
        rng.choice(["stop", "length"]),
        prompt_tokens=rng.randrange(1, 3000),
        completion_tokens=rng.choice([None, rng.randrange(1, 800)]),
        cumulative_logprob=rng.choice([None, -rng.random() * 50]),
        prompt_truncated=rng.random() < 0.2,
        current_cut=rng.random() < 0.1,
        regenerated=rng.random() < 0.1,
    )


def outcomes_of(row, outcomes) -> list[TurnOutcome]:
    return [outcomes[turn_key(row["conversation_hash"], t.index)] for t in turns_of(row["conversation"])]


def committed_bytes(tables: list[pa.Table]) -> bytes:
    """The parquet file a commit writes of these row groups (zstd, one table per row group)."""
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, OUTPUT_SCHEMA, compression="zstd") as writer:
        for table in tables:
            writer.write_table(table.select(OUTPUT_SCHEMA.names).cast(OUTPUT_SCHEMA))
    return sink.getvalue()


def test_the_rows_of_the_sample_are_the_rows_the_dict_builder_made_byte_for_byte(tmp_path):
    rows = list(ConversationReader(None).rows())
    rng = random.Random(7)
    # Conversations that open with a system message, some of whose fields are null.
    for number, row in enumerate(rows[:30]):
        system = {**row["conversation"][0], "role": "system", "content": "Answer briefly.", "header": None}
        conversation = [system, *row["conversation"]]
        rows.append({**row, "conversation_hash": f"system-{number}", "conversation": conversation})
    outcomes = {}
    for row in rows:
        for turn in turns_of(row["conversation"]):
            prompt = row["conversation"][turn.user_position]["content"]
            outcomes[turn_key(row["conversation_hash"], turn.index)] = some_outcome(rng, prompt)
    # A staged input shard, as the job reads it back: parquet (lists named "element"), row groups.
    staged = tmp_path / "shard.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=WILDCHAT_SCHEMA), staged, row_group_size=100)
    stored = pq.read_table(staged)
    assert any(row["conversation"][-1]["role"] == "user" for row in rows)
    assert any(row["conversation"][0]["role"] == "system" for row in rows)

    built, expected = [], []
    for start in range(0, stored.num_rows, 128):
        group = stored.slice(start, 128)
        answered = answered_rows(group, outcomes, dgm="tiny-a", history_mode="self", special_tokens=SPECIAL)
        built.append(answered.table)
        references = [
            reference_row(row, outcomes_of(row, outcomes), dgm="tiny-a", history_mode="self")
            for row in group.to_pylist()
        ]
        expected.append(pa.Table.from_pylist(references, schema=OUTPUT_SCHEMA))
        answer_flag_lists = [
            m["flags"] for r in references for m in r["conversation"] if m["finish_reason"] is not None
        ]
        assert [flags for _, flags in answered.turns] == answer_flag_lists

    ours, theirs = committed_bytes(built), committed_bytes(expected)
    assert pq.read_table(io.BytesIO(ours)).to_pylist() == pq.read_table(io.BytesIO(theirs)).to_pylist()
    assert hashlib.sha256(ours).hexdigest() == hashlib.sha256(theirs).hexdigest()
