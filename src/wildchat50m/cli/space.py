"""``wildchat50m space``: the side-by-side viewer, launched locally, or its Space folder exported."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

SPACE_FILES = ("app.py", "requirements.txt")


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
def space(source: str, host: str, port: int, export_dir: Path | None) -> None:
    """Read one conversation answered by 2 to 6 DGMs side by side, in the browser.

    SOURCE is a repository built by `wildchat50m build` (a directory) or a
    Hub dataset id. Find a conversation by hash, words, filters or at random,
    pick the DGMs, and share the view: its link carries the hash and the DGMs.
    Searches use the repository's index (`wildchat50m index`, downloaded once
    from the Hub); without a fresh one the Space says so and scans instead.
    With --export DIR, the Space folder (app.py, requirements.txt, README.md
    whose front matter points at SOURCE) is written to DIR for `hf upload`.
    """
    from wildchat50m.spaces.viewer import readme

    if export_dir is not None:
        export_dir.mkdir(parents=True, exist_ok=True)
        for name in SPACE_FILES:
            shutil.copyfile(readme.SPACE_DIR / name, export_dir / name)
        (export_dir / "README.md").write_text(readme.render_space_readme(source), encoding="utf-8")
        click.echo(f"{export_dir}: Space folder for {source}; deploy with `hf upload --repo-type space ...`")
        return
    from wildchat50m.spaces.viewer.app import build_app

    app = build_app(source)
    click.echo(f"WildChat-50m side by side over {source}: http://{host}:{port}/")
    app.launch(server_name=host, server_port=port, ssr_mode=False)
