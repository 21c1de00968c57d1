"""``wildchat50m mix``: SFT mixes from WildChat-50m and other chat datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


@click.group()
def mix() -> None:
    """SFT mixes: built-in recipes (Re-Wild, scaling, blends) or your own YAML spec, built to parquet."""


@mix.command("list")
def list_recipes() -> None:
    """The built-in recipes, one per line with its sources and counts."""
    from wildchat50m.mixes.spec import load_spec, recipe_names

    for name in recipe_names():
        spec = load_spec(name)
        parts = ", ".join(_describe(source) for source in spec.sources)
        click.echo(f"{name:<16} {parts}")


def _describe(source: Any) -> str:
    size = (
        f"{source.count:,}"
        if source.count is not None
        else (f"{source.fraction:.0%}" if source.fraction is not None else "all")
    )
    what = {
        "wildchat50m": lambda: source.config,
        "blend": lambda: " + ".join(source.configs) + f" ({source.conversations})",
    }.get(source.kind, lambda: source.path)()
    return f"{what} {size}"


@mix.command("show")
@click.argument("spec")
@click.option("--json", "as_json", is_flag=True, help="print the validated spec as JSON")
def show(spec: str, as_json: bool) -> None:
    """Print a recipe or spec file as validated, defaults filled in."""
    import yaml

    from wildchat50m.mixes.spec import load_spec

    loaded = load_spec(spec)
    document = loaded.model_dump(mode="json", exclude_none=True)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False, allow_unicode=True).rstrip("\n"))


@mix.command("build")
@click.argument("spec")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="the mix's dataset directory")
@click.option(
    "--repository", help="the WildChat-50m repository (directory or Hub id) for sources naming none"
)
@click.option("--dgm", help="the DGM of every single-DGM source (e.g. for the scaling recipes)")
@click.option("--seed", type=int, help="override the spec's seed")
@click.option(
    "--source-path",
    "source_paths",
    multiple=True,
    metavar="NAME=PATH",
    help="read source NAME from PATH (e.g. a local copy of a Hub dataset); repeatable",
)
@click.option("--overwrite", is_flag=True, help="replace --out if it holds files")
@click.option("--quiet", is_flag=True)
def build(
    spec: str,
    out: Path,
    repository: str | None,
    dgm: str | None,
    seed: int | None,
    source_paths: tuple[str, ...],
    overwrite: bool,
    quiet: bool,
) -> None:
    """Materialise SPEC (a recipe name or a YAML file) as a parquet dataset with its own card.

    Every count is checked against what its source holds after filters
    before anything is written. The same spec and seed give the same bytes.
    """
    from wildchat50m.mixes.build import build_mix
    from wildchat50m.mixes.spec import load_spec, spec_base, with_overrides

    paths = {}
    for item in source_paths:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"{item!r} is not NAME=PATH", param_hint="--source-path")
        paths[name] = path
    loaded = with_overrides(load_spec(spec), repository=repository, dgm=dgm, seed=seed, source_paths=paths)
    report = build_mix(
        loaded,
        out,
        base=spec_base(spec),
        overwrite=overwrite,
        progress=None if quiet else lambda line: click.echo(line, err=True),
    )
    for source in report.sources:
        left_out = ", ".join(f"{k} {v:,}" for k, v in source["reasons"].items()) or "none"
        click.echo(f"{source['name']}: {source['drawn']:,} rows from {source['from']} (left out: {left_out})")
    click.echo(f"{report.rows:,} rows in {len(report.files)} file(s) -> {report.out}")
