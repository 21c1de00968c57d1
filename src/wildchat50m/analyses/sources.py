"""Reading a built repository with DuckDB: configs, seeded hash samples, answers.

Queries stream over a config's data files (:class:`wildchat50m.layout.Repository`); Python
only ever holds the sampled rows.
Sampling is by ``md5("<seed>:<conversation_hash>")``, so a seed picks the same
conversations on every machine and for every config.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wildchat50m.errors import WildChat50mError
from wildchat50m.layout import Repository


class AnalysisError(WildChat50mError):
    """An analysis cannot run on the input as given; the message says what to do."""


def connect() -> Any:
    import duckdb

    return duckdb.connect()


def choose_configs(repo: Path, wanted: Sequence[str] | None) -> list[str]:
    """The repository's answer configs, or the wanted ones after checking that they exist."""
    return Repository.open(repo).choose(wanted)


def files_sql(repo: Path, config: str) -> str:
    """A ``read_parquet`` over one config's files, for a FROM clause."""
    paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in Repository(repo).data_files(config))
    return f"read_parquet([{paths}])"


def assistant_messages_sql(repo: Path, config: str) -> str:
    """One row per assistant message: hash, position among the assistant messages (1 = first), message."""
    return f"""
        SELECT conversation_hash, m AS message,
               row_number() OVER (PARTITION BY conversation_hash ORDER BY pos) AS answer_index
        FROM (
            SELECT conversation_hash, unnest(conversation) AS m, unnest(range(len(conversation))) AS pos
            FROM {files_sql(repo, config)}
        )
        WHERE m.role = 'assistant'
    """


def sample_hashes(
    connection: Any, repo: Path, configs: Sequence[str], count: int, seed: int, *, min_configs: int
) -> list[str]:
    """Up to ``count`` hashes answered (first answer not null) by at least ``min_configs`` of the configs.

    The lowest ``md5(seed:hash)`` first: a seeded draw independent of file order.
    """
    union = " UNION ALL ".join(
        f"SELECT conversation_hash FROM ({assistant_messages_sql(repo, c)}) "
        "WHERE answer_index = 1 AND message.content IS NOT NULL"
        for c in configs
    )
    rows = connection.execute(
        f"""
        SELECT conversation_hash FROM ({union})
        WHERE conversation_hash IS NOT NULL
        GROUP BY conversation_hash HAVING count(*) >= ?
        ORDER BY md5(? || ':' || conversation_hash), conversation_hash
        LIMIT ?
        """,
        [min_configs, str(seed), count],
    ).fetchall()
    return [row[0] for row in rows]


def _wanted(connection: Any, hashes: Sequence[str]) -> None:
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE wanted AS SELECT unnest(?::VARCHAR[]) AS conversation_hash",
        [list(hashes)],
    )


def first_answers(connection: Any, repo: Path, config: str, hashes: Sequence[str]) -> dict[str, str]:
    """The first assistant answer of each given conversation (null answers left out)."""
    _wanted(connection, hashes)
    rows = connection.execute(
        f"""
        SELECT conversation_hash, message.content FROM ({assistant_messages_sql(repo, config)})
        SEMI JOIN wanted USING (conversation_hash) WHERE answer_index = 1
        """
    ).fetchall()
    return {h: a for h, a in rows if a is not None}


def all_answers(connection: Any, repo: Path, config: str, hashes: Sequence[str]) -> list[str | None]:
    """Every assistant answer of the given conversations, in hash and turn order (nulls kept)."""
    _wanted(connection, hashes)
    rows = connection.execute(
        f"""
        SELECT message.content FROM ({assistant_messages_sql(repo, config)})
        SEMI JOIN wanted USING (conversation_hash) ORDER BY conversation_hash, answer_index
        """
    ).fetchall()
    return [row[0] for row in rows]
