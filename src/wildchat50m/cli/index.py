"""``wildchat50m index``: the full-text search index of a built repository (REPO/index/)."""

from __future__ import annotations

from pathlib import Path

import click


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
    from wildchat50m.builders.search_index import build_index, describe

    click.echo(describe(build_index(repo, answers=answers, full=full)))
