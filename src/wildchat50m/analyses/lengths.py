"""Answer-length distributions per config: tokens, words and characters of every answer.

Computed in DuckDB over all assistant messages of each config (nothing loaded into Python
but the summary); failed turns (null content) are counted, not measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wildchat50m.analyses import sources

#: A run of characters that Python's ``str.isspace`` does not call whitespace: words as
#: ``str.split()`` counts them, and as the style features' ``len`` does.
WORD = r"[^\s\x{0b}\x{1c}-\x{1f}\x{85}\p{Z}]+"
COLUMNS = (
    "config",
    "answers",
    "failed",
    "tokens_mean",
    "tokens_p10",
    "tokens_p50",
    "tokens_p90",
    "tokens_max",
    "words_mean",
    "words_p50",
    "chars_mean",
    "chars_p50",
)


def length_rows(repo: Path, configs: Sequence[str] | None) -> list[dict[str, Any]]:
    connection = sources.connect()
    rows = []
    for config in sources.choose_configs(repo, configs):
        answers = f"""
            SELECT message.content AS content, message.completion_tokens AS tokens,
                   len(regexp_extract_all(message.content, '{WORD}')) AS words
            FROM ({sources.assistant_messages_sql(repo, config)})
        """
        record = connection.execute(
            f"""
            SELECT count(content), count(*) - count(content),
                   avg(tokens), quantile_cont(tokens, 0.1), quantile_cont(tokens, 0.5),
                   quantile_cont(tokens, 0.9), max(tokens),
                   avg(words), quantile_cont(words, 0.5),
                   avg(length(content)), quantile_cont(length(content), 0.5)
            FROM ({answers})
            """
        ).fetchone()
        rows.append(dict(zip(COLUMNS, (config, *record), strict=True)))
    return rows


def write_lengths(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    from wildchat50m.analyses.report import bar_chart, write_table

    markdown, table = write_table(rows, out_dir, "lengths", COLUMNS)
    chart = bar_chart(
        rows,
        out_dir / "lengths.png",
        label="config",
        series=("tokens_p10", "tokens_p50", "tokens_p90"),
        title="Answer length in tokens (10th, 50th, 90th percentile)",
        ylabel="completion tokens",
    )
    return [markdown, table, chart]
