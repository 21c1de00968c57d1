"""The ``wildchat50m`` command line. Its help text is the documentation.

Every command runs with no arguments beyond its name: the input defaults to
the embedded sample of WildChat-format conversations shipped in the package.
Each command group lives in its own module of this package and calls library
functions; heavy libraries are imported inside the commands that need them, so
``wildchat50m --help`` stays instant. The package's own errors
(:class:`~wildchat50m.errors.WildChat50mError`) become a one-line message here,
once; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any

import click

from wildchat50m import __version__
from wildchat50m.cli.analyze import analyze
from wildchat50m.cli.demo import demo
from wildchat50m.cli.evaluate import eval_group
from wildchat50m.cli.generate import generate, runs
from wildchat50m.cli.index import index
from wildchat50m.cli.judge import judge
from wildchat50m.cli.mix import mix
from wildchat50m.cli.pairs import pairs
from wildchat50m.cli.read import dgms, read
from wildchat50m.cli.repository import build, import_command, push
from wildchat50m.cli.space import space
from wildchat50m.errors import WildChat50mError


class _Root(click.Group):
    """The root group: a :class:`WildChat50mError` from any command is printed as ``Error: ...``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WildChat50mError as error:
            raise click.ClickException(str(error)) from error


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="wildchat50m")
@click.option(
    "--registry",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Extra DGM registry YAML (same format as the packaged one); repeatable. "
    "Also read from $WILDCHAT50M_REGISTRY (os.pathsep-separated).",
)
def cli(registry: tuple[str, ...]) -> None:
    """Generate, publish, mix, evaluate and browse WildChat-50m.

    Many open-weight chat models (data-generating models, DGMs) each answer the
    user turns of the WildChat-1M conversations; every DGM becomes one config of
    one Hugging Face dataset repository. Every command runs on the embedded
    sample when no input is given.
    """


for command in (
    dgms,
    read,
    generate,
    runs,
    build,
    import_command,
    push,
    demo,
    analyze,
    eval_group,
    index,
    judge,
    mix,
    pairs,
    space,
):
    cli.add_command(command)


def main() -> None:
    """Entry point of the ``wildchat50m`` console script."""
    cli(prog_name="wildchat50m")
