"""The ``wildchat50m`` command line. Its help text is the documentation.

Every command runs with no arguments beyond its name: the input defaults to
the embedded sample of WildChat-format conversations shipped in the package.
Heavy libraries are imported inside the commands that need them, so
``wildchat50m --help`` stays instant.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from wildchat50m import __version__
from wildchat50m.reasons import DESCRIPTIONS
from wildchat50m.registry import Registry, RegistryError, UnknownDGMError, load_registry
from wildchat50m.source import ColumnMapping, ConversationReader, Filters, ReadReport, SourceError


def _registry(ctx: click.Context) -> Registry:
    try:
        return load_registry(ctx.find_root().params.get("registry") or ())
    except RegistryError as error:
        raise click.ClickException(str(error)) from error


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


# ---------------------------------------------------------------- dgms


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the registry as JSON.")
@click.option("--show", "name", metavar="NAME", help="Show one DGM (config name, Hub id or abbreviation).")
@click.pass_context
def dgms(ctx: click.Context, as_json: bool, name: str | None) -> None:
    """List the data-generating models of the registry and their generation defaults."""
    registry = _registry(ctx)
    try:
        chosen = [registry.get(name)] if name else list(registry)
    except UnknownDGMError as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps([dgm.to_dict() for dgm in chosen], indent=2, ensure_ascii=False))
        return
    header = ("config", "abbr", "Hugging Face id", "params", "license", "ctx", "tp", "dtype", "temp")
    rows = []
    for dgm in chosen:
        gen = dgm.generation
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
    click.echo(_table(header, rows))
    click.echo(f"\n{len(chosen)} DGM(s). Look one up with `wildchat50m dgms --show NAME`.")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)) for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


# ---------------------------------------------------------------- reading


def _parse_shard(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise click.BadParameter("write the shard as I/N, e.g. 3/8 (shards count from 0)") from None
    if count < 1 or not 0 <= index < count:
        raise click.BadParameter(f"need 0 <= I < N, got {index}/{count}")
    return index, count


def source_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that reads conversations shares."""
    options = [
        click.argument("sources", nargs=-1, metavar="[SOURCE]..."),
        click.option("--language", "languages", multiple=True, help="Keep only this language; repeatable."),
        click.option("--exclude-toxic", is_flag=True, help="Leave out conversations flagged toxic."),
        click.option("--exclude-redacted", is_flag=True, help="Leave out conversations with redacted PII."),
        click.option("--min-turns", type=click.IntRange(min=1), help="Fewest user turns to keep."),
        click.option("--max-turns", type=click.IntRange(min=1), help="Most user turns to keep."),
        click.option(
            "--allow-list",
            type=click.Path(exists=True, dir_okay=False),
            help="File of conversation hashes to keep, one per line (e.g. the paper's English-only list).",
        ),
        click.option(
            "--dedupe", is_flag=True, help="Keep only the first conversation per first user message."
        ),
        click.option("--sample", type=click.IntRange(min=0), help="Draw N conversations, deterministically."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample."),
        click.option(
            "--shard",
            callback=_parse_shard,
            metavar="I/N",
            help="Keep shard I of N (by hash); separate jobs never overlap.",
        ),
        click.option(
            "--shape",
            type=click.Choice(["auto", "wildchat", "messages", "sharegpt"]),
            default="auto",
            show_default=True,
            help="Row shape of the input.",
        ),
        click.option("--messages-field", help="Column holding the messages (for non-WildChat shapes)."),
        click.option("--hash-field", help="Column holding a stable row id (else the hash is derived)."),
        click.option("--hub-config", help="Config name when SOURCE is a Hub dataset id."),
        click.option(
            "--split", default="train", show_default=True, help="Split when SOURCE is a Hub dataset id."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def reader_from_options(options: dict[str, Any], **kwargs: Any) -> ConversationReader:
    """A reader configured from :func:`source_options` values."""
    try:
        filters = Filters(
            languages=frozenset(options["languages"]) if options["languages"] else None,
            exclude_toxic=options["exclude_toxic"],
            exclude_redacted=options["exclude_redacted"],
            min_turns=options["min_turns"],
            max_turns=options["max_turns"],
            allow_hashes=Filters.read_allow_list(options["allow_list"]) if options["allow_list"] else None,
            dedupe_first_message=options["dedupe"],
            sample=options["sample"],
            seed=options["seed"],
            shard=options["shard"],
        )
        mapping = ColumnMapping(
            shape=options["shape"], messages_field=options["messages_field"], hash_field=options["hash_field"]
        )
        return ConversationReader(
            list(options["sources"]) or None,
            filters,
            mapping,
            hub_config=options["hub_config"],
            split=options["split"],
            **kwargs,
        )
    except (SourceError, ValueError, OSError) as error:
        raise click.ClickException(str(error)) from error


def _summary(report: ReadReport, seconds: float) -> str:
    rate = report.rows_read / seconds if seconds > 0 else 0.0
    lines = [
        f"Read {report.rows_read:,} rows from {report.source} in {seconds:.1f} s ({rate:,.0f} rows/s)",
        f"  accepted  {report.accepted:>9,} conversations, "
        f"{report.accepted_user_turns:,} user turns to answer",
        f"  rejected  {report.rejected:>9,}",
    ]
    for reason, count in sorted(report.reasons.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"    {reason:<34}{count:>9,}  {DESCRIPTIONS.get(reason, '')}")
    if report.languages:
        top = report.languages.most_common(12)
        rest = report.accepted - sum(count for _, count in top)
        lines.append("  accepted by language")
        lines += [f"    {language:<34}{count:>9,}" for language, count in top]
        if rest:
            lines.append(f"    {'(other languages)':<34}{rest:>9,}")
    if report.ignored_columns:
        lines.append(
            f"  columns not in the WildChat schema, not carried: {', '.join(report.ignored_columns)}"
        )
    if report.filled_columns:
        lines.append(
            f"  WildChat columns absent from the input, filled with nulls: {', '.join(report.filled_columns)}"
        )
    return "\n".join(lines)


def run_reader(
    reader: ConversationReader, out: str | None, as_json: bool, rejects_path: str | None
) -> ReadReport:
    """Drain a reader, optionally writing accepted rows and rejections; print the summary."""
    import pyarrow.parquet as pq

    from wildchat50m.schema import WILDCHAT_SCHEMA

    started = time.perf_counter()
    partial = Path(f"{out}.partial") if out else None
    with contextlib.ExitStack() as stack:
        if rejects_path:
            handle = stack.enter_context(open(rejects_path, "w", encoding="utf-8"))
            reader.on_reject = lambda rejection: handle.write(json.dumps(asdict(rejection)) + "\n")
        try:
            writer = pq.ParquetWriter(partial, WILDCHAT_SCHEMA, compression="zstd") if partial else None
            for batch in reader.batches():
                if writer is not None:
                    writer.write_batch(batch)
            if writer is not None and partial is not None:
                writer.close()
                os.replace(partial, str(out))
        except SourceError as error:
            raise click.ClickException(str(error)) from error
        finally:
            if partial is not None and partial.exists():
                partial.unlink()
    seconds = time.perf_counter() - started
    report = reader.report
    if as_json:
        click.echo(
            json.dumps({**report.to_dict(), "seconds": round(seconds, 3)}, indent=2, ensure_ascii=False)
        )
    else:
        click.echo(_summary(report, seconds), err=False)
        if out:
            click.echo(f"  wrote {report.accepted:,} accepted rows to {out}")
        if rejects_path:
            click.echo(f"  wrote {report.rejected:,} rejections to {rejects_path}")
    return report


@cli.command()
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
    run_reader(reader, out, as_json, rejects)


# ---------------------------------------------------------------- demo


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def demo(as_json: bool) -> None:
    """Run the pipeline on the embedded default, end to end.

    Reads the embedded sample together with its deliberately malformed rows,
    so the report shows every reason code at work.
    """
    from wildchat50m.resources import malformed_sample_file, sample_file

    reader = ConversationReader([sample_file(), malformed_sample_file()], progress=sys.stderr.isatty())
    run_reader(reader, None, as_json, None)


def main() -> None:
    """Entry point of the ``wildchat50m`` console script."""
    cli(prog_name="wildchat50m")
