"""Write an analysis table as markdown and CSV, and its chart as PNG.

Every analysis hands a list of rows (dicts sharing their keys) to
``write_table``; charts use matplotlib's non-interactive Agg backend, imported
only when a chart is drawn.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured markdown table; floats printed with four decimals."""
    columns = list(columns or (rows[0].keys() if rows else []))
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = (_cell(row.get(column)).replace("|", "\\|") for column in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(
    rows: Sequence[Mapping[str, Any]], out_dir: Path, name: str, columns: Sequence[str] | None = None
) -> tuple[Path, Path]:
    """Write ``<name>.md`` and ``<name>.csv`` under ``out_dir``; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = list(columns or (rows[0].keys() if rows else []))
    markdown = out_dir / f"{name}.md"
    markdown.write_text(markdown_table(rows, columns), encoding="utf-8")
    table = out_dir / f"{name}.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return markdown, table


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
