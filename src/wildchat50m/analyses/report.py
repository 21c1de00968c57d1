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


def save_figure(figure: Any, path: Path) -> Path:
    """Lay out ``figure``, write it as a PNG at ``path`` and free it."""
    plt = pyplot()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def heatmap_png(
    matrix: Sequence[Sequence[float | None]],
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    path: Path,
    *,
    title: str = "",
    value_format: str = "{:.1f}",
    vmin: float = 0.0,
    vmax: float = 100.0,
) -> Path:
    """A heat map of ``matrix`` (None cells left blank), each cell annotated with its value."""
    plt = pyplot()
    import math

    values = [[math.nan if v is None else float(v) for v in row] for row in matrix]
    width = max(4.0, 1.2 * len(column_labels) + 2.5)
    height = max(3.0, 0.8 * len(row_labels) + 1.5)
    figure, axes = plt.subplots(figsize=(width, height))
    image = axes.imshow(values, cmap="viridis", vmin=vmin, vmax=vmax)
    axes.set_xticks(range(len(column_labels)), labels=list(column_labels), rotation=30, ha="right")
    axes.set_yticks(range(len(row_labels)), labels=list(row_labels))
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if not math.isnan(value):
                shade = "white" if value < (vmin + vmax) / 2 else "black"
                axes.text(j, i, value_format.format(value), ha="center", va="center", color=shade)
    figure.colorbar(image, ax=axes)
    if title:
        axes.set_title(title, fontsize=9)
    return save_figure(figure, path)


def bar_chart(
    rows: Sequence[Mapping[str, Any]],
    out_path: Path,
    *,
    label: str,
    series: Sequence[str],
    errors: Mapping[str, str] | None = None,
    title: str = "",
    ylabel: str = "",
    reference_line: float | None = None,
) -> Path:
    """A grouped bar chart: one group per row (named by ``row[label]``), one bar per series column.

    ``errors`` maps a series to the column holding its error bar (e.g. a standard deviation);
    ``reference_line`` draws a dashed horizontal line (e.g. 1.0 for proportional frequency).
    Non-finite values are drawn as empty bars.
    """
    import math

    plt = pyplot()
    labels = [str(row[label]) for row in rows]
    width = 0.8 / max(1, len(series))
    figure, axes = plt.subplots(figsize=(max(6.0, 0.6 * len(labels) * max(1, len(series)) + 2), 4.5))
    for index, column in enumerate(series):
        values = [row.get(column) for row in rows]
        heights = [v if isinstance(v, int | float) and math.isfinite(v) else 0.0 for v in values]
        offsets = [i + (index - (len(series) - 1) / 2) * width for i in range(len(labels))]
        spread = None
        if errors and column in errors:
            spread = [float(row.get(errors[column]) or 0.0) for row in rows]
        axes.bar(offsets, heights, width, yerr=spread, capsize=3 if spread else 0, label=column)
    if reference_line is not None:
        axes.axhline(reference_line, color="grey", linestyle="--", linewidth=1)
    axes.set_xticks(range(len(labels)))
    axes.set_xticklabels(
        labels, rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center"
    )
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    if len(series) > 1:
        axes.legend(fontsize="small")
    return save_figure(figure, out_path)
