"""WildChat rows made up on the spot, for tests, benchmarks and fixtures.

Every field of :data:`~wildchat50m.schema.WILDCHAT_SCHEMA` is filled, the
moderation structs included, so what is built here exercises the same types
as the real dataset. Nothing here is real WildChat text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from wildchat50m.schema import DETOXIFY_FIELDS, MODERATION_CATEGORIES, WILDCHAT_SCHEMA

Message = tuple[str, str | None]

EPOCH = datetime(2023, 4, 9, tzinfo=UTC)


def fake_hash(*parts: object) -> str:
    """A 32-hex-character conversation hash derived from ``parts``."""
    return hashlib.md5(":".join(map(str, parts)).encode("utf-8")).hexdigest()


def moderation_entry(flagged: bool = False) -> dict[str, Any]:
    """One ``openai_moderation`` entry with all 18 categories."""
    return {
        "categories": {name: flagged and name.startswith("harassment") for name in MODERATION_CATEGORIES},
        "category_scores": {
            name: (0.91 if flagged and name.startswith("harassment") else 1e-5)
            for name in MODERATION_CATEGORIES
        },
        "flagged": flagged,
    }


def detoxify_entry(toxic: bool = False) -> dict[str, float]:
    """One ``detoxify_moderation`` entry with its seven scores."""
    return {name: (0.88 if toxic and name in ("toxicity", "insult") else 2e-4) for name in DETOXIFY_FIELDS}


def wildchat_row(
    conversation_hash: str | None,
    messages: Sequence[Message],
    *,
    language: str = "English",
    toxic: bool = False,
    redacted: bool = False,
    model: str = "gpt-4-0314",
    when: datetime = EPOCH,
    country: str | None = "Germany",
) -> dict[str, Any]:
    """A complete WildChat row for ``messages`` given as (role, content) pairs."""
    header = {"accept-language": "en-US,en;q=0.9", "user-agent": "Mozilla/5.0 (X11; Linux x86_64)"}
    conversation = []
    turn_identifier = int(fake_hash(conversation_hash)[:12], 16)
    for position, (role, content) in enumerate(messages):
        is_user = role == "user"
        if is_user:
            turn_identifier += 1
        conversation.append(
            {
                "content": content,
                "role": role,
                "language": language,
                "redacted": redacted,
                "toxic": toxic,
                "turn_identifier": turn_identifier,
                "timestamp": when + timedelta(minutes=position) if is_user else None,
                "country": country if is_user else None,
                "state": None,
                "hashed_ip": fake_hash("ip", conversation_hash) + fake_hash("ip2", conversation_hash)
                if is_user
                else None,
                "header": header if is_user else None,
            }
        )
    return {
        "conversation_hash": conversation_hash,
        "model": model,
        "timestamp": when + timedelta(minutes=max(len(messages) - 1, 0)),
        "conversation": conversation,
        "turn": sum(1 for role, _ in messages if role == "user"),
        "language": language,
        "openai_moderation": [moderation_entry(toxic and role == "user") for role, _ in messages],
        "detoxify_moderation": [detoxify_entry(toxic and role == "user") for role, _ in messages],
        "toxic": toxic,
        "redacted": redacted,
        "state": None,
        "country": country,
        "hashed_ip": fake_hash("ip", conversation_hash) + fake_hash("ip2", conversation_hash),
        "header": header,
    }


def wildchat_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows as a table in exactly the WildChat schema."""
    return pa.Table.from_pylist(list(rows), schema=WILDCHAT_SCHEMA)


LANGUAGES = ("English", "Chinese", "Russian", "French", "Spanish", "German")


def synthetic_conversations(count: int, *, seed: int = 0, turns: int = 2) -> Iterator[dict[str, Any]]:
    """``count`` cheap, valid conversations with distinct hashes and rotating languages."""
    for index in range(count):
        messages: list[Message] = []
        for turn in range(1 + (index % turns)):
            messages.append(("user", f"Question {turn} of conversation {index} (seed {seed})?"))
            messages.append(("assistant", f"Answer {turn} to conversation {index}."))
        yield wildchat_row(
            fake_hash(seed, index),
            messages,
            language=LANGUAGES[index % len(LANGUAGES)],
            toxic=index % 17 == 0,
        )


def write_synthetic_parquet(path: str, rows: int, *, seed: int = 0, chunk: int = 10_000) -> None:
    """Write ``rows`` synthetic conversations to one parquet file in bounded memory.

    One template chunk is built once; each further chunk reuses it with fresh
    hashes, so a million rows take seconds, not minutes.
    """
    template = wildchat_table(list(synthetic_conversations(min(chunk, rows), seed=seed)))
    position = WILDCHAT_SCHEMA.get_field_index("conversation_hash")
    with pq.ParquetWriter(path, WILDCHAT_SCHEMA, compression="zstd") as writer:
        written = 0
        while written < rows:
            size = min(chunk, rows - written)
            hashes = pa.array([fake_hash(seed, "row", written + i) for i in range(size)], pa.string())
            writer.write_table(template.slice(0, size).set_column(position, "conversation_hash", hashes))
            written += size
