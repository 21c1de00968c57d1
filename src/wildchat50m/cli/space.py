"""``wildchat50m space``: the side-by-side viewer, launched locally, or its Space folder exported."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("source", metavar="REPO_DIR_OR_HUB_ID")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=7860, show_default=True, help="Port to listen on.")
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write a deployable Space folder for SOURCE (a Hub id) to this directory instead of launching.",
)
@click.option(
    "--wheel",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With --export: the wildchat-50m wheel to ship (default: built from this checkout).",
)
def space(source: str, host: str, port: int, export_dir: Path | None, wheel: Path | None) -> None:
    """Read one conversation answered by 2 to 6 DGMs side by side, in the browser.

    SOURCE is a repository built by `wildchat50m build` (a directory) or a
    Hub dataset id. Find a conversation by hash, words, filters or at random,
    pick the DGMs, and share the view: its link carries the hash and the DGMs.
    Searches use the repository's index (`wildchat50m index`, downloaded once
    from the Hub); without a fresh one the Space says so and scans instead.
    With --export DIR, the Space folder is written to DIR for `hf upload`:
    app.py, README.md whose front matter points at SOURCE, this project's
    wheel under wheels/ and a requirements.txt that installs it with its
    extras and the pinned libraries; the folder needs nothing else.
    """
    if export_dir is not None:
        from wildchat50m.spaces.viewer.deploy import export_space

        exported = export_space(source, export_dir, wheel=wheel)
        click.echo(
            f"{exported.folder}: Space folder for {source} with {exported.wheel.name};"
            f" deploy with `hf upload --repo-type space ORG/NAME {exported.folder}`"
        )
        return
    from wildchat50m.spaces.viewer.app import build_app

    app = build_app(source)
    click.echo(f"WildChat-50m side by side over {source}: http://{host}:{port}/")
    app.launch(server_name=host, server_port=port, ssr_mode=False)
