"""``wildchat50m demo``: the pipeline end to end on the embedded sample."""

from __future__ import annotations

import os
import shlex
import sys

import click

from wildchat50m.cli.common import registry_of
from wildchat50m.workflows import run_demo

#: How the user starts this command line, as the closing hint should name it (``./run`` sets ``./run cli``).
LAUNCHER_VARIABLE = "WILDCHAT50M_LAUNCHER"


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
    # `./run` sets the launcher: on a fresh clone `wildchat50m` lives in .venv/, not on the PATH.
    launcher = os.environ.get(LAUNCHER_VARIABLE) or "wildchat50m"
    click.echo(f"\nRead the answers side by side in the browser:\n  {launcher} space {shlex.quote(repo)}")
