"""``wildchat50m analyze``: the paper's analyses, each writing a table and a chart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from wildchat50m.cli.common import registry_of, with_options


@click.group()
def analyze() -> None:
    """The paper's analyses: each subcommand writes a markdown/CSV table and a PNG chart."""


def _judgment_sources(command: Any) -> Any:
    """Options shared by the judgment analyses: where the judgments are, which judge and factor."""
    options = [
        click.argument("judgments", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)),
        click.option("--judge", help="Use this judge's judgments (needed when several judges are present)."),
        click.option(
            "--factor", help="Use this factor's judgments (needed when several factors are present)."
        ),
        click.option(
            "--out",
            default="analysis",
            show_default=True,
            type=click.Path(file_okay=False, path_type=Path),
            help="Folder for the table (markdown and CSV) and the PNG.",
        ),
    ]
    return with_options(command, options)


@analyze.command()
@_judgment_sources
@click.option(
    "--model",
    "models",
    multiple=True,
    help="A judged model (target config) to compare; repeatable. Default: every judged model.",
)
@click.option(
    "--score",
    type=click.Choice(["parsed", "expected"]),
    default="parsed",
    show_default=True,
    help="parsed: the judge's written score (the paper's); expected: the mean of its score distribution.",
)
@click.option(
    "--flip",
    "flips",
    nargs=4,
    multiple=True,
    metavar="A B C D",
    help="FlipCt of pair (A, B) against pair (C, D): turns ranked strictly in opposite directions. "
    "E.g. --flip L8B-L70 L8B-Q72 L70 L8B-Q72; repeatable.",
)
def preferences(
    judgments: tuple[Path, ...],
    judge: str | None,
    factor: str | None,
    out: Path,
    models: tuple[str, ...],
    score: str,
    flips: tuple[tuple[str, str, str, str], ...],
) -> None:
    """Preference rates between judged models, mean scores and FlipCt (the paper's Table 4).

    JUDGMENTS are judgment runs, judgments--* config folders or repositories
    holding them. PrefRt of A over B is the share (0-100) of the turns all
    compared models were scored on where A's score is strictly higher; ties
    count for neither. Writes preferences.md/.csv, flips.md/.csv (with
    --flip) and preferences.png, a heat map of PrefRt.
    """
    from wildchat50m.analyses.preferences import run_preferences

    result = run_preferences(
        list(judgments), out, models=models or None, judge=judge, factor=factor, score=score, flips=flips
    )
    from wildchat50m.analyses.report import markdown_table

    click.echo(f"judge {result['judge']} on {result['factor']}: {result['turns']} shared turns")
    if result["excluded"]:
        click.echo("excluded: " + ", ".join(f"{k} {v}" for k, v in sorted(result["excluded"].items())))
    click.echo(markdown_table(result["preferences"]))
    if result["flips"]:
        click.echo(markdown_table(result["flips"]))
    click.echo("wrote " + ", ".join(result["files"]))


@analyze.command("judgment-words")
@_judgment_sources
@click.option("--first", required=True, help="The first judged model (target config).")
@click.option("--second", required=True, help="The second judged model.")
@click.option("--top", type=click.IntRange(min=1), default=15, show_default=True, help="Words per model.")
@click.option(
    "--min-count", type=click.IntRange(min=1), default=2, show_default=True, help="Fewer: left out."
)
@click.option(
    "--score",
    type=click.Choice(["parsed", "expected"]),
    default="parsed",
    show_default=True,
    help="Which scores must differ: the written ones (the paper's) or the expected scores.",
)
def judgment_words(
    judgments: tuple[Path, ...],
    judge: str | None,
    factor: str | None,
    out: Path,
    first: str,
    second: str,
    top: int,
    min_count: int,
    score: str,
) -> None:
    """Words that distinguish the judgments of two models (the paper's Figures 3 and 4).

    Only turns where the two models got different scores count. Words are
    ranked by the difference of their occurrences per judgment; negated
    words ("not clear", "isn't accurate") are counted apart from the words.
    Writes judgment_words.md/.csv and judgment_words.png.
    """
    from wildchat50m.analyses.judgment_words import run_judgment_words

    result = run_judgment_words(
        list(judgments),
        out,
        first,
        second,
        judge=judge,
        factor=factor,
        top=top,
        min_count=min_count,
        score=score,
    )
    from wildchat50m.analyses.report import markdown_table

    click.echo(", ".join(f"{k} {v}" for k, v in sorted(result["counts"].items())))
    if result["words"]:
        click.echo(markdown_table(result["words"]))
    click.echo("wrote " + ", ".join(result["files"]))


def _out_option(default: str) -> Callable[..., Any]:
    return click.option(
        "--out",
        "out_dir",
        default=default,
        show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder for the tables (.md, .csv) and the chart (.png).",
    )


def _repo_option(required: bool) -> Callable[..., Any]:
    return click.option(
        "--repo",
        required=required,
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="A repository built by `wildchat50m build`.",
    )


def _report(paths: list[Path], rows: list[dict[str, Any]], columns: tuple[str, ...] | None = None) -> None:
    from wildchat50m.analyses.report import markdown_table

    click.echo(markdown_table(rows, columns), nl=False)
    if paths:
        click.echo("wrote " + ", ".join(str(p) for p in paths))


@analyze.command()
@_repo_option(required=True)
@click.option("--config", "configs", multiple=True, help="Draw the models from these configs (default: all).")
@click.option("--models", type=click.IntRange(min=2), default=25, show_default=True, help="Models drawn.")
@click.option(
    "--answers", type=click.IntRange(min=1), default=500, show_default=True, help="Answers per model."
)
@click.option(
    "--references", type=click.IntRange(min=1), default=4, show_default=True, help="References per answer."
)
@click.option("--seed", type=int, default=0, show_default=True)
@_out_option("analysis/similarity")
def similarity(
    repo: Path, configs: tuple[str, ...], models: int, answers: int, references: int, seed: int, out_dir: Path
) -> None:
    """How similar the DGMs' answers are (Appendix A): ROUGE-1, ROUGE-L, METEOR.

    Draws MODELS configs, then for each up to ANSWERS conversations it answered; its
    first answer to each is compared with REFERENCES other drawn models' answers to the
    same conversation. Mean and standard deviation per model. METEOR's synonym stage
    runs only if the WordNet corpus is installed (column meteor_stages says).
    """
    from wildchat50m.analyses import similarity as analysis

    settings = analysis.SimilaritySettings(models=models, answers=answers, references=references, seed=seed)
    rows = analysis.similarity_rows(repo, list(configs) or None, settings)
    _report(analysis.write_similarity(rows, out_dir), rows, analysis.COLUMNS)


def _parse_answers(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, Path]]:
    parsed = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"write NAME=FILE, got {value!r}")
        parsed.append((name, Path(path)))
    return parsed


def _parse_pairs(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, str]]:
    parsed = []
    for value in values:
        a, sep, b = value.partition(":")
        if not sep or not a or not b:
            raise click.BadParameter(f"write A:B (source names), got {value!r}")
        parsed.append((a, b))
    return parsed


@analyze.command()
@_repo_option(required=False)
@click.option("--config", "configs", multiple=True, help="Configs of --repo to count (default: all).")
@click.option(
    "--answers",
    "answer_files",
    multiple=True,
    callback=_parse_answers,
    metavar="NAME=FILE",
    help="Generated answers: JSON Lines (answer, response or lm-eval's resps) or parquet; repeatable.",
)
@click.option(
    "--pair",
    "pairs",
    multiple=True,
    callback=_parse_pairs,
    metavar="A:B",
    help="A PF row, A over B; repeatable (default: every source over each later one).",
)
@click.option(
    "--sample", type=click.IntRange(min=1), default=500, show_default=True, help="Conversations per config."
)
@click.option("--seed", type=int, default=0, show_default=True)
@_out_option("analysis/style")
def style(
    repo: Path | None,
    configs: tuple[str, ...],
    answer_files: list[tuple[str, Path]],
    pairs: list[tuple[str, str]],
    sample: int,
    seed: int,
    out_dir: Path,
) -> None:
    """Style inheritance (Table 3): markdown style features, their PF for pairs, and MPF.

    Answers are rendered from markdown to HTML and strong, em, ol, ul, h1-h4 and p are
    counted, plus the length in words. From a repository, every config answers the same
    seeded SAMPLE of conversations (all their turns). PF(A, B) = A / B per feature, 1
    where both are 0.
    """
    from wildchat50m.analyses import style as analysis

    counts = analysis.count_rows(repo, list(configs) or None, answer_files, sample=sample, seed=seed)
    pfs = analysis.pf_rows(counts, pairs or None) if len(counts) > 1 else []
    written = analysis.write_style(counts, pfs, out_dir)
    _report(written, counts)
    if pfs:
        _report([], pfs)


@analyze.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_out_option("analysis/throughput")
@click.pass_context
def throughput(ctx: click.Context, paths: tuple[Path, ...], out_dir: Path) -> None:
    """Throughput per DGM (section 2.2) from run manifests: tokens/s, s per 1,000 conversations.

    PATHS are run directories, folders of runs, or a built repository (its
    data/<config>/manifest.json). Also the input:output token ratio and the correlation
    of both measures with context window x parameters (Pearson and Spearman).
    """
    from wildchat50m.analyses import throughput as analysis

    rows = analysis.throughput_rows(list(paths), registry_of(ctx))
    summary = analysis.summary_rows(rows)
    written = analysis.write_throughput(rows, summary, out_dir)
    _report(written, rows, analysis.COLUMNS[:-1])
    _report([], summary, analysis.SUMMARY_COLUMNS)


@analyze.command()
@_repo_option(required=True)
@click.option("--config", "configs", multiple=True, help="Only these configs (default: all).")
@_out_option("analysis/lengths")
def lengths(repo: Path, configs: tuple[str, ...], out_dir: Path) -> None:
    """Answer-length distributions per config: tokens, words and characters of every answer."""
    from wildchat50m.analyses import lengths as analysis

    rows = analysis.length_rows(repo, list(configs) or None)
    _report(analysis.write_lengths(rows, out_dir), rows, analysis.COLUMNS)
