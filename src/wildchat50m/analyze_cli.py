"""``wildchat50m analyze``: the paper's analyses, each writing a table and a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


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
    for option in reversed(options):
        command = option(command)
    return command


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
    from wildchat50m.judging import JudgingError

    try:
        result = run_preferences(
            list(judgments), out, models=models or None, judge=judge, factor=factor, score=score, flips=flips
        )
    except (ValueError, JudgingError) as error:
        raise click.ClickException(str(error)) from error
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
    from wildchat50m.judging import JudgingError

    try:
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
    except (ValueError, JudgingError) as error:
        raise click.ClickException(str(error)) from error
    from wildchat50m.analyses.report import markdown_table

    click.echo(", ".join(f"{k} {v}" for k, v in sorted(result["counts"].items())))
    if result["words"]:
        click.echo(markdown_table(result["words"]))
    click.echo("wrote " + ", ".join(result["files"]))
