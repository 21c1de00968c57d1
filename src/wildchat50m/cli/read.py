"""``wildchat50m dgms`` and ``wildchat50m read``: the registry, and reading conversations."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from wildchat50m.cli.common import reader_from_options, registry_of, source_options, table
from wildchat50m.summaries import read_summary
from wildchat50m.workflows import read_to_files


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the registry as JSON.")
@click.option("--show", "name", metavar="NAME", help="Show one DGM (config name, Hub id or abbreviation).")
@click.option("--local", "with_local", is_flag=True, help="Also list the tiny models built on this machine.")
@click.pass_context
def dgms(ctx: click.Context, as_json: bool, name: str | None, with_local: bool) -> None:
    """List the data-generating models of the registry and their generation defaults."""
    registry = registry_of(ctx)
    chosen = [registry.get(name)] if name else list(registry) + (registry.local() if with_local else [])
    if as_json:
        click.echo(json.dumps([dgm.to_dict() for dgm in chosen], indent=2, ensure_ascii=False))
        return
    header = ("config", "abbr", "Hugging Face id", "params", "license", "ctx", "tp", "dtype", "temp")
    rows = []
    for dgm in chosen:
        gen = dgm.generation
        if dgm.local_build is not None:
            hf_id = "(built locally)"
        else:
            hf_id = (dgm.hf_id or "-") + ("" if dgm.hf_id_confirmed else " (org unconfirmed)")
        dtype = "-" if gen is None else (gen.quantization or gen.dtype)
        rows.append(
            (
                dgm.config,
                dgm.abbreviation or "",
                hf_id,
                "-" if dgm.params_b is None else f"{dgm.params_b:g}B",
                dgm.license,
                "-" if gen is None else str(gen.max_model_len),
                "-" if gen is None else str(gen.tensor_parallel_size),
                dtype,
                "-" if gen is None else f"{gen.temperature:g}",
            )
        )
    click.echo(table(header, rows))
    click.echo(f"\n{len(chosen)} DGM(s). Look one up with `wildchat50m dgms --show NAME`.")
    if not name and not with_local:
        local = ", ".join(dgm.config for dgm in registry.local())
        click.echo(f"Built locally for the demo, tests and benchmarks (--local): {local}.")


@click.command()
@source_options
@click.option("--out", type=click.Path(dir_okay=False), help="Write the accepted rows to this parquet file.")
@click.option(
    "--rejects", type=click.Path(dir_okay=False), help="Write every rejected row's number and reason."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def read(out: str | None, rejects: str | None, as_json: bool, quiet: bool, **options: Any) -> None:
    """Read, validate, filter and shard conversations; count every row by outcome.

    SOURCE is a parquet or JSON Lines file, a directory of them, or a Hub
    dataset id such as allenai/WildChat-1M (streamed through `datasets`).
    Without SOURCE, the embedded sample is read. Rows in the `messages`
    (role/content) and ShareGPT (`conversations` with from/value) shapes are
    mapped to WildChat rows.
    """
    reader = reader_from_options(options, progress=not quiet and not as_json and sys.stderr.isatty())
    report, seconds = read_to_files(reader, out, rejects)
    if as_json:
        click.echo(
            json.dumps({**report.to_dict(), "seconds": round(seconds, 3)}, indent=2, ensure_ascii=False)
        )
        return
    click.echo(read_summary(report, seconds))
    if out:
        click.echo(f"  wrote {report.accepted:,} accepted rows to {out}")
    if rejects:
        click.echo(f"  wrote {report.rejected:,} rejections to {rejects}")
