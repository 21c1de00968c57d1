"""``wildchat50m index``: the full-text search index of a built repository (REPO/index/)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from wildchat50m.builders.search_index import IndexReport


@click.command("index")
@click.argument("repo", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--answers",
    "answers",
    multiple=True,
    metavar="CONFIG",
    help="Also index the answers of this DGM config, so the Space can search them (repeatable).",
)
@click.option("--full", is_flag=True, help="Rebuild from scratch instead of adding the new configs.")
def index(repo: Path, answers: tuple[str, ...], full: bool) -> None:
    """Build or update the search index of REPO (the Space's instant search).

    The index covers the user turns of every conversation of every DGM
    config, with which configs hold each one; it lives in REPO/index/,
    outside the data files `load_dataset` reads, and `push` uploads it. Run
    again after `build` adds a config: only the new config is read. A config
    whose files changed, or that is gone, makes a full rebuild.
    """
    from wildchat50m.builders.search_index import IndexBuildError, build_index

    try:
        report = build_index(repo, answers=answers, full=full)
    except IndexBuildError as error:
        raise click.ClickException(str(error)) from error
    click.echo(echo_report(report))


def echo_report(report: IndexReport) -> str:
    """The lines `index` (and `build`) print about an index run."""
    what = {
        "full": f"indexed {report.conversations:,} conversations of {len(report.configs)} config(s)",
        "incremental": f"added {', '.join(report.added)}: {report.documents_written:,} conversations "
        f"re-indexed, {report.conversations:,} in all",
        "unchanged": f"index up to date ({report.conversations:,} conversations)",
    }[report.mode]
    lines = [f"{report.repo}/index: {what} in {report.seconds:.1f} s, {report.size_bytes / 1e6:.1f} MB"]
    lines += [f"  answers of {config}: {count:,} conversations" for config, count in report.answers.items()]
    return "\n".join(lines)
