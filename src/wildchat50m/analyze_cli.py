"""``wildchat50m analyze``: the paper's analyses, each writing a table and a chart."""

from __future__ import annotations

import click


@click.group()
def analyze() -> None:
    """The paper's analyses: each subcommand writes a markdown/CSV table and a PNG chart."""
