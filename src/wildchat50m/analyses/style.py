"""Style inheritance, Table 3 of the paper, for any configs or generated outputs.

Sources are configs of a repository (their answers to the same seeded sample of
conversations, every turn) or files of generated answers (``NAME=FILE``: JSON Lines with an
``answer``, ``response`` or ``resps`` field, where ``resps`` is what ``lm_eval
--log_samples`` writes, or parquet with an ``answer`` or ``response`` column). The upper
table counts the style features per source; the lower gives the proportional frequency of
chosen pairs (A, B) per feature and its mean, MPF.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from wildchat50m.analyses import sources
from wildchat50m.metrics import style

ANSWER_FIELDS = ("answer", "response", "resps")


def _answer_of(record: dict[str, Any], where: str) -> str | None:
    for name in ANSWER_FIELDS:
        if name in record:
            value = record[name]
            while isinstance(value, list):  # lm-eval's resps: [[answer]] per document
                value = value[0] if value else None
            if value is not None and not isinstance(value, str):
                raise sources.AnalysisError(f"{where}: field {name!r} holds {type(value).__name__}, not text")
            return value
    raise sources.AnalysisError(f"{where}: no answer field; expected one of {', '.join(ANSWER_FIELDS)}")


def file_answers(path: Path) -> Iterator[str | None]:
    """The answers of a generated-outputs file, streamed."""
    if not path.is_file():
        raise sources.AnalysisError(f"{path}: no such file")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        handle = pq.ParquetFile(path)
        column = next((name for name in ANSWER_FIELDS[:2] if name in handle.schema_arrow.names), None)
        if column is None:
            raise sources.AnalysisError(f"{path}: no column named {' or '.join(ANSWER_FIELDS[:2])}")
        for batch in handle.iter_batches(columns=[column]):
            yield from batch.column(0).to_pylist()
        return
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise sources.AnalysisError(f"{path}:{number}: not JSON ({error.msg})") from None
                if not isinstance(record, dict):
                    raise sources.AnalysisError(f"{path}:{number}: expected a JSON object per line")
                yield _answer_of(record, f"{path}:{number}")


def count_rows(
    repo: Path | None,
    configs: Sequence[str] | None,
    files: Sequence[tuple[str, Path]],
    *,
    sample: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Table 3's upper half: one row of feature counts per source, plus its number of answers."""
    rows = []
    if repo is not None:
        chosen = sources.choose_configs(repo, configs)
        connection = sources.connect()
        hashes = sources.sample_hashes(connection, repo, chosen, sample, seed, min_configs=len(chosen))
        for config in chosen:
            answers = sources.all_answers(connection, repo, config, hashes)
            rows.append({"source": config, "answers": len(answers), **style.total_counts(answers)})
    for name, path in files:
        answers = list(file_answers(path))
        rows.append({"source": name, "answers": len(answers), **style.total_counts(answers)})
    if not rows:
        raise sources.AnalysisError("give a repository (--repo) or generated answers (--answers NAME=FILE)")
    return rows


def pf_rows(
    counts: Sequence[dict[str, Any]], pairs: Sequence[tuple[str, str]] | None
) -> list[dict[str, Any]]:
    """Table 3's lower half: PF(A, B) per feature and MPF, for the pairs (default: every A before B)."""
    by_source = {row["source"]: row for row in counts}
    names = list(by_source)
    chosen = list(pairs) if pairs else list(itertools.combinations(names, 2))
    rows = []
    for a, b in chosen:
        missing = [n for n in (a, b) if n not in by_source]
        if missing:
            raise sources.AnalysisError(f"pair {a}:{b} names unknown source(s) {missing}; sources: {names}")
        pf = style.proportional_frequency(by_source[a], by_source[b])
        rows.append({"pair": f"{a} / {b}", **pf, "MPF": style.mean_proportional_frequency(pf)})
    return rows


def write_style(counts: Sequence[dict[str, Any]], pfs: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    from wildchat50m.analyses.report import bar_chart, write_table

    written = list(write_table(counts, out_dir, "style_counts", ("source", "answers", *style.FEATURES)))
    if pfs:
        written += write_table(pfs, out_dir, "style_pf", ("pair", *style.FEATURES, "MPF"))
        written.append(
            bar_chart(
                pfs,
                out_dir / "style.png",
                label="pair",
                series=(*style.FEATURES, "MPF"),
                title="Proportional frequency of style features (1 = same style)",
                ylabel="PF",
                reference_line=1.0,
            )
        )
    else:
        written.append(
            bar_chart(
                counts,
                out_dir / "style.png",
                label="source",
                series=style.TAGS,
                title="Style features per source",
                ylabel="count",
            )
        )
    return written
