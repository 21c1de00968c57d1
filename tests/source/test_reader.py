"""The reader: exact WildChat types in, valid rows out, every other row counted by reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wildchat50m.reasons import Filtered, Invalid
from wildchat50m.schema import WILDCHAT_SCHEMA
from wildchat50m.source import ColumnMapping, ConversationReader, Filters, SourceError, shard_of
from wildchat50m.synthetic import fake_hash, synthetic_conversations, wildchat_row, wildchat_table


def write(path, rows, **kwargs):
    pq.write_table(wildchat_table(rows), path, **kwargs)
    return path


def accepted_hashes(reader: ConversationReader) -> list[str]:
    return [h for batch in reader.batches() for h in batch.column("conversation_hash").to_pylist()]


@pytest.fixture
def sixty(tmp_path):
    """Sixty valid conversations, 1-3 user turns, six languages, some toxic."""
    return write(tmp_path / "sixty.parquet", list(synthetic_conversations(60, turns=3)))


def test_every_arrow_type_of_the_schema_survives_the_round_trip(tmp_path):
    row = wildchat_row(
        fake_hash("full"),
        [("user", "Bonjour <b>toi</b>"), ("assistant", "Salut !"), ("user", "```py\nprint(1)\n```")],
        language="French",
        toxic=True,
        redacted=True,
    )
    path = write(tmp_path / "one.parquet", [row])
    assert pq.read_schema(path).remove_metadata() == WILDCHAT_SCHEMA

    (batch,) = ConversationReader(path).batches()
    assert batch.schema == WILDCHAT_SCHEMA
    (back,) = batch.to_pylist()
    assert back == row
    moderation = back["openai_moderation"][0]
    assert moderation["categories"]["self-harm/intent"] is False
    assert moderation["category_scores"]["harassment/threatening"] == pytest.approx(0.91)
    assert moderation["categories"]["self_harm_intent"] is False
    assert back["header"]["accept-language"].startswith("en-US")
    assert back["conversation"][0]["header"]["user-agent"].startswith("Mozilla")
    assert back["conversation"][1]["timestamp"] is None
    assert back["timestamp"].tzinfo is not None


def test_files_with_other_field_order_and_wider_types_are_conformed(tmp_path):
    """Struct fields matched by name, large strings, nanosecond timestamps, int32 turns."""
    row = wildchat_row(fake_hash("loose"), [("user", "hi"), ("assistant", "hello")])
    table = wildchat_table([row])
    message = pa.struct(sorted(WILDCHAT_SCHEMA.field("conversation").type.value_type, key=lambda f: f.name))
    loose = pa.table(
        {
            "turn": pa.array([1], pa.int32()),
            "conversation_hash": pa.array([row["conversation_hash"]], pa.large_string()),
            "conversation": pa.array(table.column("conversation").to_pylist(), pa.list_(message)),
            "timestamp": pa.array([datetime(2023, 5, 1, tzinfo=UTC)], pa.timestamp("ns", tz="UTC")),
            "an_extra_column": [7],
        }
    )
    pq.write_table(loose, tmp_path / "loose.parquet")
    reader = ConversationReader(tmp_path / "loose.parquet")
    (back,) = reader.rows()
    assert back["conversation"] == row["conversation"]
    assert back["turn"] == 1
    assert reader.report.ignored_columns == ["an_extra_column"]
    assert "openai_moderation" in reader.report.filled_columns


def test_a_file_without_the_required_columns_is_a_clear_error(tmp_path):
    pq.write_table(pa.table({"text": ["hello"]}), tmp_path / "plain.parquet")
    with pytest.raises(SourceError, match="cannot tell the chat shape"):
        list(ConversationReader(tmp_path / "plain.parquet").batches())
    with pytest.raises(SourceError, match="neither a local file"):
        ConversationReader(tmp_path / "missing.parquet")


def test_each_defect_gets_its_reason_and_counts_add_up(tmp_path):
    ok = [("user", "fine"), ("assistant", "yes")]
    rows = [
        (wildchat_row(fake_hash(1), ok), None),
        (wildchat_row(None, ok), Invalid.MISSING_HASH),
        (wildchat_row("  ", ok), Invalid.MISSING_HASH),
        (wildchat_row(fake_hash(1), ok), Invalid.DUPLICATE_HASH),
        (wildchat_row(fake_hash(2), []), Invalid.NO_USER_TURN),
        (wildchat_row(fake_hash(3), [("assistant", "hello?")]), Invalid.NO_USER_TURN),
        (wildchat_row(fake_hash(4), [("assistant", "a"), ("user", "b")]), Invalid.ROLES_OUT_OF_ORDER),
        (wildchat_row(fake_hash(5), [("user", "a"), ("user", "b")]), Invalid.ROLES_OUT_OF_ORDER),
        (wildchat_row(fake_hash(6), [("user", "a"), ("tool", "b")]), Invalid.UNKNOWN_ROLE),
        (wildchat_row(fake_hash(7), [("user", "a"), ("system", "b")]), Invalid.UNKNOWN_ROLE),
        (wildchat_row(fake_hash(8), [("user", " \n\t")]), Invalid.EMPTY_USER_MESSAGE),
        (wildchat_row(fake_hash(9), [("user", None)]), Invalid.NON_STRING_CONTENT),
        (wildchat_row(fake_hash(10), [("user", "x" * 1_000_001)]), Invalid.TOO_LONG),
        (wildchat_row(fake_hash(11), [("user", "q"), ("assistant", "a")] * 501), Invalid.TOO_LONG),
        (wildchat_row(fake_hash(12), [("system", "be brief"), ("user", "hi")]), None),
        (wildchat_row(fake_hash(13), [("user", "a"), ("assistant", ""), ("user", "ends on user")]), None),
    ]
    path = write(tmp_path / "mixed.parquet", [row for row, _ in rows])
    seen = []
    reader = ConversationReader(path, on_reject=seen.append, batch_size=3)
    accepted = accepted_hashes(reader)

    assert accepted == [fake_hash(1), fake_hash(12), fake_hash(13)]
    assert {r.row: r.reason for r in seen} == {i: str(why) for i, (_, why) in enumerate(rows) if why}
    report = reader.report
    assert report.rows_read == len(rows) == report.accepted + report.rejected
    assert report.accepted_user_turns == 1 + 1 + 2


def test_filters_each_leave_out_what_they_say_and_count_it(sixty, tmp_path):
    allow = tmp_path / "allow.txt"
    allow.write_text("# English-only\n" + "\n".join(fake_hash(0, i) for i in range(0, 60, 2)) + "\n")
    cases = {
        Filtered.LANGUAGE: Filters(languages=frozenset({"english", "FRENCH"})),
        Filtered.TOXIC: Filters(exclude_toxic=True),
        Filtered.TOO_FEW_TURNS: Filters(min_turns=2),
        Filtered.TOO_MANY_TURNS: Filters(max_turns=2),
        Filtered.NOT_IN_ALLOW_LIST: Filters(allow_hashes=Filters.read_allow_list(allow)),
    }
    for reason, filters in cases.items():
        reader = ConversationReader(sixty, filters)
        rows = list(reader.rows())
        assert rows, reason
        assert reader.report.reasons == {reason.value: 60 - len(rows)}
        assert 60 - len(rows) > 0, reason
    english = list(ConversationReader(sixty, Filters(languages=frozenset({"English"}))).rows())
    assert {r["language"] for r in english} == {"English"}
    assert not [r for r in ConversationReader(sixty, Filters(exclude_toxic=True)).rows() if r["toxic"]]


def test_redacted_and_duplicate_first_messages(tmp_path):
    rows = [
        wildchat_row(fake_hash("a"), [("user", "Same question")]),
        wildchat_row(fake_hash("b"), [("user", "  Same question \n")]),
        wildchat_row(fake_hash("c"), [("user", "Contact NAME_1 at EMAIL_1")], redacted=True),
    ]
    path = write(tmp_path / "dups.parquet", rows)
    reader = ConversationReader(path, Filters(dedupe_first_message=True, exclude_redacted=True))
    assert accepted_hashes(reader) == [fake_hash("a")]
    assert reader.report.reasons == {"filtered_duplicate_first_message": 1, "filtered_redacted": 1}


def test_shards_partition_the_input_and_agree_with_shard_of(sixty):
    shards = [accepted_hashes(ConversationReader(sixty, Filters(shard=(i, 4)))) for i in range(4)]
    union = [h for shard in shards for h in shard]
    assert sorted(union) == sorted(accepted_hashes(ConversationReader(sixty)))
    assert len(set(union)) == len(union) == 60
    for index, shard in enumerate(shards):
        assert all(shard_of(h, 4) == index for h in shard)
        assert shard, "every shard of a 60-row input gets rows"


def test_the_sample_is_deterministic_whatever_the_order_and_batching(sixty, tmp_path):
    reversed_file = write(tmp_path / "reversed.parquet", list(reversed(pq.read_table(sixty).to_pylist())))
    draw = Filters(sample=10, seed=7)
    first = set(accepted_hashes(ConversationReader(sixty, draw, batch_size=7)))
    second = set(accepted_hashes(ConversationReader(reversed_file, draw, batch_size=64)))
    other_seed = set(accepted_hashes(ConversationReader(sixty, Filters(sample=10, seed=8))))
    assert len(first) == 10 and first == second and other_seed != first

    reader = ConversationReader(sixty, Filters(sample=10, seed=7, shard=(1, 2)))
    in_shard = set(accepted_hashes(reader))
    assert in_shard < first
    assert reader.report.reasons["filtered_not_sampled"] == 50


def test_messages_and_sharegpt_shapes_are_mapped(tmp_path):
    messages = tmp_path / "messages.jsonl"
    messages.write_text(
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}]})
        + "\n"
        + json.dumps({"messages": [{"role": "user", "content": [{"type": "image"}]}]})
        + "\n"
        + json.dumps({"no_messages": True})
        + "\n"
    )
    seen = []
    reader = ConversationReader(messages, on_reject=seen.append)
    (row,) = reader.rows()
    assert [(m["role"], m["content"]) for m in row["conversation"]] == [("user", "Hi"), ("assistant", "Hey")]
    assert len(row["conversation_hash"]) == 32 and row["turn"] == 1
    assert [(r.row, r.reason) for r in seen] == [(1, "non_string_content"), (2, "unmappable_row")]

    table = pa.table(
        {
            "id": ["x1", "x2"],
            "conversations": [
                [
                    {"from": "system", "value": "Be kind."},
                    {"from": "human", "value": "Hola"},
                    {"from": "gpt", "value": "¡Hola!"},
                ],
                [{"from": "human", "value": "Only a question"}],
            ],
        }
    )
    pq.write_table(table, tmp_path / "sharegpt.parquet")
    reader = ConversationReader(tmp_path / "sharegpt.parquet", mapping=ColumnMapping(hash_field="id"))
    rows = list(reader.rows())
    assert [r["conversation_hash"] for r in rows] == ["x1", "x2"]
    assert [m["role"] for m in rows[0]["conversation"]] == ["system", "user", "assistant"]
    assert rows[1]["turn"] == 1


def test_the_datasets_path_reads_the_same_rows_as_the_arrow_path(sixty, tmp_path):
    """The Hub path (datasets, streaming) exercised on a local directory, offline."""
    repo = tmp_path / "repo" / "data"
    repo.mkdir(parents=True)
    (repo / "train-00000-of-00001.parquet").write_bytes(sixty.read_bytes())
    filters = Filters(exclude_toxic=True, max_turns=2)
    via_arrow = ConversationReader(sixty, filters)
    via_datasets = ConversationReader(repo.parent, filters, via="datasets", batch_size=16)
    assert accepted_hashes(via_datasets) == accepted_hashes(via_arrow)
    assert via_datasets.report.reasons == via_arrow.report.reasons
