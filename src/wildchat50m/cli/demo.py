"""``wildchat50m demo``: the pipeline end to end on the embedded sample."""

from __future__ import annotations

import shlex
import sys

import click

from wildchat50m.cli.common import registry_of
from wildchat50m.workflows import run_demo


@click.command()
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--repo", default="wildchat-50m", show_default=True, type=click.Path(file_okay=False))
@click.pass_context
def demo(ctx: click.Context, out: str, repo: str) -> None:
    """Run the pipeline on the embedded default, end to end.

    Reads the embedded sample together with its deliberately malformed rows
    (the report shows every reason code at work), has two tiny local models
    answer every user turn of the sample on the CPU, prints their run
    summaries, builds the dataset repository REPO with one config per model
    and loads it back with the datasets library.
    """
    result = run_demo(out, repo, registry=registry_of(ctx), progress=sys.stderr.isatty(), log=click.echo)
    for name, (rows, turns) in result.loaded.items():
        click.echo(f'load_dataset("{repo}", "{name}"): {rows:,} rows, {turns:,} user turns answered')
    click.echo(f"\nRead the answers side by side in the browser:\n  wildchat50m space {shlex.quote(repo)}")
