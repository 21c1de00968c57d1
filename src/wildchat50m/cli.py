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
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from wildchat50m import __version__
from wildchat50m.cli_engine import engine_choice, engine_options
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


# ---------------------------------------------------------------- generate


def _slurm_job() -> tuple[int, int] | None:
    """Job i of n from a Slurm array (SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT), when set."""
    task, count = os.environ.get("SLURM_ARRAY_TASK_ID"), os.environ.get("SLURM_ARRAY_TASK_COUNT")
    if task is None or count is None:
        return None
    first = int(os.environ.get("SLURM_ARRAY_TASK_MIN", "0"))
    return int(task) - first, int(count)


def resolve_dgm(registry: Registry, name: str) -> Any:
    """A registry DGM, or one of the tiny local demo models (built on first use)."""
    from wildchat50m import tiny

    if name in tiny.TINY_SPECS:
        return tiny.tiny_dgm(name)
    try:
        return registry.get(name)
    except UnknownDGMError as error:
        raise click.ClickException(
            f"{error} (the tiny local models are {', '.join(tiny.TINY_SPECS)})"
        ) from error


def run_generation(options: dict[str, Any], registry: Registry, *, progress: bool) -> Path:
    """Configure and run one generation job from command-line options; returns the run directory."""
    from wildchat50m.executors import ExecutorError
    from wildchat50m.generate import EngineSpec, GenerationIncomplete, GenerationSettings, Generator
    from wildchat50m.runstore import RunMismatchError

    executor, replicas, ray_address = options["executor"], options["replicas"], options["ray_address"]
    if executor != "ray" and (replicas is not None or ray_address is not None):
        raise click.UsageError("--replicas and --ray-address need --executor ray")
    dgm = resolve_dgm(registry, options["dgm"])
    engine, model, engine_options = engine_choice(dgm, options)
    job = options.pop("shard") or _slurm_job() or (0, 1)
    system_prompt = options["system_prompt"]
    if options["system_prompt_file"]:
        system_prompt = Path(options["system_prompt_file"]).read_text(encoding="utf-8")
    filters = {
        k: options[k]
        for k in (
            "languages",
            "exclude_toxic",
            "exclude_redacted",
            "min_turns",
            "max_turns",
            "dedupe",
            "sample",
        )
    }
    filters["allow_list"] = options["allow_list"]
    try:
        settings = GenerationSettings.for_dgm(
            dgm,
            model=model,
            engine=engine,
            history_mode=options["history"],
            system_prompt=system_prompt,
            seed=options["sampling_seed"],
            temperature=options["temperature"],
            top_p=options["top_p"],
            max_model_len=options["max_model_len"],
            max_new_tokens=options["max_new_tokens"],
            max_input_tokens=options["max_input_tokens"],
            logprobs=options["logprobs"],
            num_shards=options["num_shards"],
            source=", ".join(options["sources"]) or "embedded sample",
            filters={k: (list(v) if isinstance(v, tuple) else v) for k, v in filters.items()},
            engine_options={k: v for k, v in engine_options.items() if v is not None},
        )
        reader = reader_from_options({**options, "shard": None}, progress=False)
        generator = Generator(
            settings,
            Path(options["out"]),
            reader,
            EngineSpec(engine, settings.model, engine_options, dgm.generation),
            job=job,
            progress=progress,
            log=lambda message: click.echo(message, err=True),
        )
        if executor == "ray":
            from wildchat50m.executors import run_on_ray

            run_on_ray(generator, replicas=replicas or 1, address=ray_address)
        else:
            generator.run()
    except (
        RunMismatchError,
        ValueError,
        ImportError,
        SourceError,
        GenerationIncomplete,
        ExecutorError,
    ) as error:
        raise click.ClickException(str(error)) from error
    return generator.store.root


def _run_summary(manifest: dict[str, Any], root: Path) -> str:
    params, rate = manifest["params"], manifest["throughput"]
    flags = ", ".join(f"{k} {v:,}" for k, v in sorted(manifest["flags"].items())) or "none"
    finish = ", ".join(f"{k} {v:,}" for k, v in sorted(manifest["finish_reasons"].items())) or "none"
    errors = ", ".join(f"{k} {v:,}" for k, v in sorted(manifest["errors"].items())) or "none"
    skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(manifest["skip_reasons"].items())) or "none"
    accel = manifest["accelerators"] or {}
    lines = [
        f"{params['dgm']}  ({params['engine']} engine, model {params['model']}, "
        f"history {params['history_mode']})",
        f"  run directory       {root}",
        f"  shards              {manifest['shards']['finished']} of {manifest['shards']['total']} finished",
        f"  conversations       {manifest['conversations']:,} ({manifest['turns']:,} user turns answered)",
        f"  input skipped       {skipped}",
        f"  tokens              {manifest['prompt_tokens']:,} in, {manifest['completion_tokens']:,} out"
        f" ({manifest['truncated_prompts']:,} prompts truncated to fit)",
        f"  finish reasons      {finish}",
        f"  errors              {errors}",
        f"  flags               {flags}",
        f"  throughput          {rate['tokens_per_second'] or 0:,.0f} tok/s (in+out), "
        f"{rate['seconds_per_1000_conversations'] or 0:,.1f} s per 1,000 conversations, "
        f"input:output {rate['input_output_token_ratio'] or 0}",
        f"  accelerators        {accel.get('count', 0)} x {', '.join(accel.get('names', []))}"
        f" ({accel.get('kind', '?')})",
    ]
    return "\n".join(lines)


def generation_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of `generate`: the DGM, its sampling, the run layout and the engine."""
    options = [
        click.option(
            "--dgm", default="tiny-a", show_default=True, help="DGM: config name, Hub id or abbreviation."
        ),
        click.option(
            "--out",
            default="runs",
            show_default=True,
            type=click.Path(file_okay=False),
            help="Runs directory; the run goes to OUT/<config>.",
        ),
        click.option(
            "--history",
            type=click.Choice(["original", "self"]),
            default="original",
            show_default=True,
            help="original: WildChat's answers as history (the paper's); self: this DGM's own.",
        ),
        click.option(
            "--system-prompt", help="System prompt for every conversation without one (default: none)."
        ),
        click.option("--system-prompt-file", type=click.Path(exists=True, dir_okay=False)),
        click.option(
            "--sampling-seed",
            type=int,
            default=0,
            show_default=True,
            help="Run seed; each turn's seed derives from it, the hash and the turn.",
        ),
        click.option("--temperature", type=click.FloatRange(0, 2), help="Default: the registry's."),
        click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), help="Default: the registry's."),
        click.option(
            "--max-model-len", type=click.IntRange(min=16), help="Context window. Default: the registry's."
        ),
        click.option(
            "--max-new-tokens", type=click.IntRange(min=1), help="Default: the registry's (0.2 x context)."
        ),
        click.option("--max-input-tokens", type=click.IntRange(min=8), help="Default: 0.75 x context."),
        click.option("--logprobs", is_flag=True, help="Record each answer's cumulative logprob."),
        click.option(
            "--num-shards",
            type=click.IntRange(min=1),
            default=16,
            show_default=True,
            help="Shards of the run (the unit of atomic output).",
        ),
        click.option(
            "--executor",
            type=click.Choice(["local", "ray"]),
            default="local",
            show_default=True,
            help="local: this process answers the shards in turn; ray: engine replicas on a Ray cluster "
            "(Ray Data; pip install 'wildchat-50m[ray]') answer them in parallel.",
        ),
        click.option(
            "--ray-address", help="ray: a running cluster (or 'auto'). Default: $RAY_ADDRESS, else local."
        ),
        click.option(
            "--replicas",
            type=click.IntRange(min=1),
            help="ray: engine replicas (actors), each with tensor-parallel-size GPUs for vllm. Default: 1.",
        ),
        click.option(
            "--pilot",
            type=click.IntRange(min=1),
            help="First answer N diverse conversations (over languages and turn counts) into OUT/pilot/ "
            "and print a report, as the paper's Appendix F asks before a long run.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return engine_options(command)


@cli.command()
@source_options
@generation_options
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def generate(ctx: click.Context, quiet: bool, **options: Any) -> None:
    """Answer every user turn of every conversation with one DGM.

    The run goes to OUT/<config>: atomic shards, a journal of finished
    requests, and a manifest. Kill it at any moment and run the same command
    again: finished shards are skipped and journaled requests are not sent
    again. `--shard I/N` (or a Slurm array) splits the run between jobs that
    never overlap. Without SOURCE and --dgm, the tiny demo model tiny-a
    answers the embedded sample on the CPU.
    """
    from wildchat50m.generate import write_manifest
    from wildchat50m.runstore import RunStore

    progress = not quiet and sys.stderr.isatty()
    pilot = options.pop("pilot")
    if pilot:
        from wildchat50m.generate import pilot_hashes, pilot_report

        chosen = pilot_hashes(
            reader_from_options({**options, "shard": None}), pilot, options["sampling_seed"]
        )
        allow_list = Path(options["out"]) / "pilot" / f"{options['dgm']}-hashes.txt"
        allow_list.parent.mkdir(parents=True, exist_ok=True)
        allow_list.write_text("\n".join(chosen) + "\n", encoding="utf-8")
        options = {**options, "allow_list": str(allow_list), "out": str(allow_list.parent), "shard": None}
        root = run_generation(options, _registry(ctx), progress=progress)
        click.echo(
            f"Pilot: {len(chosen)} conversations\n" + _run_summary(write_manifest(RunStore(root)), root)
        )
        click.echo(pilot_report(RunStore(root)))
        return
    root = run_generation(options, _registry(ctx), progress=progress)
    click.echo(_run_summary(write_manifest(RunStore(root)), root))


@cli.group()
def runs() -> None:
    """Inspect generation runs."""


@runs.command("show")
@click.argument("path", type=click.Path(exists=True, file_okay=False), default="runs")
@click.option("--json", "as_json", is_flag=True, help="Print the manifests as JSON.")
def runs_show(path: str, as_json: bool) -> None:
    """Print the manifest of the run at PATH, or of every run below it."""
    from wildchat50m.generate import build_manifest
    from wildchat50m.runstore import RUN_FILE, RunStore

    roots = (
        [Path(path)]
        if (Path(path) / RUN_FILE).exists()
        else sorted(p.parent for p in Path(path).glob(f"*/{RUN_FILE}"))
    )
    if not roots:
        raise click.ClickException(f"no run under {path} (a run directory holds {RUN_FILE})")
    manifests = [build_manifest(RunStore(root)) for root in roots]
    if as_json:
        click.echo(
            json.dumps(manifests if len(manifests) > 1 else manifests[0], indent=2, ensure_ascii=False)
        )
        return
    click.echo("\n\n".join(_run_summary(m, root) for m, root in zip(manifests, roots, strict=True)))


# ---------------------------------------------------------------- build


@cli.command()
@click.argument("run_dirs", nargs=-1, type=click.Path(exists=True, file_okay=False), metavar="[RUN_DIR]...")
@click.option(
    "--repo",
    default="wildchat-50m",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The repository folder to build into (or to check, with --check).",
)
@click.option("--name", default="wildchat-50m", show_default=True, help="The repository's name on the Hub.")
@click.option("--default", "default_config", metavar="CONFIG", help="The config load_dataset picks unnamed.")
@click.option(
    "--check",
    "check_repo",
    metavar="REPO",
    type=click.Path(file_okay=False),
    help="Check REPO; build nothing.",
)
@click.option(
    "--max-row-group-bytes", type=click.IntRange(min=1), help="Uncompressed row-group cap (~4 MB)."
)
@click.option("--max-shard-bytes", type=click.IntRange(min=1), help="Parquet shard cap on disk (~500 MB).")
@click.pass_context
def build(
    ctx: click.Context,
    run_dirs: tuple[str, ...],
    repo: str,
    name: str,
    default_config: str | None,
    check_repo: str | None,
    max_row_group_bytes: int | None,
    max_shard_bytes: int | None,
) -> None:
    """Add or rebuild configs of the Hub dataset repository from finished runs, or check it.

    Each RUN_DIR (or every run below it) becomes the config named after its
    DGM, at data/<config>/ sorted by conversation_hash; the other configs'
    files are left as they are. README.md is rendered again: its YAML
    declares the configs and dataset_info (measured from the files), and
    its table describes every config. `build --check REPO` lists every
    problem that would break loading or contradict the card.
    """
    from wildchat50m.builders import repository

    if check_repo is not None:
        if run_dirs:
            raise click.UsageError("--check takes no RUN_DIR")
        problems = repository.check_repository(Path(check_repo), name=name)
        if problems:
            raise click.ClickException(
                f"{check_repo}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems)
            )
        click.echo(f"{check_repo}: OK ({len(repository.repository_configs(Path(check_repo)))} configs)")
        return
    if not run_dirs:
        raise click.UsageError("give at least one RUN_DIR, or --check REPO")
    limits = {
        key: value
        for key, value in (("max_row_group_bytes", max_row_group_bytes), ("max_shard_bytes", max_shard_bytes))
        if value is not None
    }
    try:
        report = repository.build_repository(
            Path(repo),
            [Path(p) for p in run_dirs],
            name=name,
            default_config=default_config,
            registry=_registry(ctx),
            **limits,
        )
    except repository.BuildError as error:
        raise click.ClickException(str(error)) from error
    for config, rows in sorted(report.built.items()):
        click.echo(f"built {config:<24} {rows:>9,} rows in {report.files[config]} shard(s)")
    click.echo(
        f"{repo}: {len(report.configs)} config(s) ({', '.join(report.configs)}), "
        f"default {report.default_config}; README.md rendered"
    )
    _update_search_index(Path(repo))


def _update_search_index(repo: Path, *, quiet: bool = False) -> None:
    """`build` and `import` keep the Space's search index in step (tantivy comes with the `space` extra)."""
    import importlib.util

    if importlib.util.find_spec("tantivy") is None:
        message = f"search index not updated: install wildchat-50m[space], then `wildchat50m index {repo}`"
    else:
        from wildchat50m.builders.search_index import IndexBuildError, build_index
        from wildchat50m.index_cli import echo_report

        try:
            message = echo_report(build_index(repo))
        except IndexBuildError as error:
            message = f"search index not updated: {error}"
    if not quiet:
        click.echo(message)


# ---------------------------------------------------------------- import


@cli.command("import")
@click.argument("source", metavar="SOURCE")
@click.option("--as", "config", required=True, metavar="CONFIG", help="The config the release becomes.")
@click.option(
    "--repo",
    default="wildchat-50m",
    show_default=True,
    type=click.Path(file_okay=False),
    help="The repository folder to build the config into.",
)
@click.option("--model", metavar="HF_ID", help="The DGM's Hugging Face id, recorded in the run's parameters.")
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False),
    help="Where the import's run directory goes. Default: REPO/.imports/CONFIG (push leaves it out).",
)
@click.option("--split", default="train", show_default=True, help="The split of a Hub release.")
@click.option("--name", default="wildchat-50m", show_default=True, help="The repository's name on the Hub.")
@click.option("--json", "as_json", is_flag=True, help="Print the import report as JSON.")
@click.pass_context
def import_command(
    ctx: click.Context,
    source: str,
    config: str,
    repo: str,
    model: str | None,
    work_dir: str | None,
    split: str,
    name: str,
    as_json: bool,
) -> None:
    """Import an original WildChat-50m release (local parquet or Hub id) as config CONFIG of REPO.

    The original releases (e.g. allenai_WildChat-1M-Full-Qwen_Qwen2.5-72B-Instruct)
    kept the WildChat schema with the DGM's answers. The import casts every
    column by name to this project's output schema, keeps finish reasons and
    log-probabilities, turns an empty answer (finish reason `no response`)
    into null content with finish reason `error`, flags answers to user text
    that holds template tokens (the text itself is kept), leaves what the
    release does not record null, and marks the run `engine: imported`.
    Then it builds the config as `build` would.
    """
    from wildchat50m.builders import importer, repository

    try:
        report = importer.import_release(
            source,
            config,
            Path(repo),
            work_dir=Path(work_dir) if work_dir else None,
            model=model,
            split=split,
            name=name,
            registry=_registry(ctx),
        )
    except (importer.ImportFailed, repository.BuildError) as error:
        raise click.ClickException(str(error)) from error
    _update_search_index(Path(repo), quiet=as_json)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    none = "(none)"
    click.echo(f"imported {report.rows:,} of {report.rows_read:,} rows from {source} as {config} into {repo}")
    click.echo(f"  filled with nulls: {', '.join(report.filled_columns) or none}")
    click.echo(f"  dropped:           {', '.join(report.dropped_columns) or none}")
    click.echo(f"  null-typed, cast:  {', '.join(report.null_typed_columns) or none}")
    reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(report.release_finish_reasons.items()))
    click.echo(f"  release finish reasons: {reasons or none}")
    click.echo(
        f"  defects: {report.no_response_answers:,} empty answer(s) stored as errors, "
        f"{report.user_template_leaks:,} user turn(s) with template tokens (flagged), "
        f"{report.duplicate_rows:,} duplicate row(s) and {report.rows_without_hash:,} without hash skipped"
    )
    flags = ", ".join(f"{k} {v:,}" for k, v in sorted(report.flags.items()))
    click.echo(f"  flags: {flags or none}")
    click.echo(f"  run directory: {report.run_dir}")


# ---------------------------------------------------------------- demo


@cli.command()
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
    from wildchat50m import tiny
    from wildchat50m.generate import write_manifest
    from wildchat50m.resources import malformed_sample_file, sample_file
    from wildchat50m.runstore import RunStore

    reader = ConversationReader([sample_file(), malformed_sample_file()], progress=sys.stderr.isatty())
    run_reader(reader, None, False, None)
    roots = []
    for name in tiny.TINY_MODELS:
        click.echo("")
        parsed = generate.make_context("generate", ["--dgm", name, "--out", out], parent=ctx)
        options = {k: v for k, v in parsed.params.items() if k not in ("quiet", "pilot")}
        root = run_generation(options, _registry(ctx), progress=sys.stderr.isatty())
        click.echo(_run_summary(write_manifest(RunStore(root)), root))
        roots.append(root)
    click.echo("")
    ctx.invoke(build, run_dirs=tuple(str(r) for r in roots), repo=repo)
    from datasets import load_dataset

    for name in tiny.TINY_MODELS:
        answers = load_dataset(repo, name, split="train")
        turns = sum(row["turn"] for row in answers.select_columns(["turn"]))
        click.echo(
            f'load_dataset("{repo}", "{name}"): {answers.num_rows:,} rows, {turns:,} user turns answered'
        )
    click.echo(f"\nRead the answers side by side in the browser:\n  wildchat50m space {shlex.quote(repo)}")


# ---------------------------------------------------------------- push


@cli.command()
@click.argument("repo_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--repo-id", required=True, metavar="ORG/NAME", help="The dataset repository on the Hub.")
@click.option(
    "--private", is_flag=True, help="Create the repository private (an existing one is not changed)."
)
@click.option("--revision", metavar="BRANCH", help="Push to this branch (created from main if missing).")
@click.option("--create-pr", is_flag=True, help="Open a pull request with the changes instead of committing.")
@click.option("--message", help="Commit message. Default: names the configs each commit changes.")
@click.option(
    "--endpoint",
    metavar="URL",
    help="Hub endpoint, for mirrors and tests. Default: $HF_ENDPOINT, else https://huggingface.co.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def push(
    repo_dir: Path,
    repo_id: str,
    private: bool,
    revision: str | None,
    create_pr: bool,
    message: str | None,
    endpoint: str | None,
    as_json: bool,
) -> None:
    """Upload a built dataset repository (README.md + data/<config>/) to the Hub.

    Only files that differ from the Hub's are sent, one commit per config and
    the README last, so an interrupted push completes when run again and an
    unchanged repository makes no commit. The token comes from `hf auth login`
    or $HF_TOKEN.
    """
    from wildchat50m.builders.push import PushError, push_repository

    try:
        report = push_repository(
            repo_dir,
            repo_id,
            private=private,
            revision=revision,
            create_pr=create_pr,
            commit_message=message,
            endpoint=endpoint,
        )
    except PushError as error:
        hint = ""
        if error.status in (401, 403):
            hint = "\nLog in with `hf auth login` or set HF_TOKEN to a token with write access to it."
        raise click.ClickException(_without_token(f"push to {repo_id} failed: {error}{hint}")) from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    where = f"{repo_id}@{report.revision}"
    if report.nothing_changed:
        click.echo(
            f"Nothing changed: all {len(report.skipped)} file(s) are already on {where}; no commit made."
        )
    else:
        click.echo(
            f"Pushed {len(report.sent)} file(s) to {where} in {len(report.commits)} commit(s); "
            f"{len(report.skipped)} unchanged file(s) skipped."
        )
        for commit in report.commits:
            click.echo(
                f"  commit {commit.oid[:12]}  {commit.message}  ({len(commit.files)} file(s))  {commit.url}"
            )
    if report.pr_url:
        click.echo(f"  pull request {report.pr_url}")
    if report.remote_only:
        click.echo(
            f"  {len(report.remote_only)} file(s) on the Hub but not in {repo_dir} were left as they are."
        )


def _without_token(text: str) -> str:
    """Errors may quote requests; make sure no token of the usual sources is ever echoed."""
    from huggingface_hub import get_token

    token = get_token()
    return text.replace(token, "hf_***") if token else text


def _register_command_groups() -> None:
    """Command groups that live in their own modules (kept out of this file to stay small)."""
    from wildchat50m.analyze_cli import analyze
    from wildchat50m.eval_cli import eval_group
    from wildchat50m.index_cli import index
    from wildchat50m.judge_cli import judge
    from wildchat50m.mix_cli import mix
    from wildchat50m.space_cli import space

    for group in (analyze, eval_group, index, judge, mix, space):
        cli.add_command(group)


_register_command_groups()


def main() -> None:
    """Entry point of the ``wildchat50m`` console script."""
    cli(prog_name="wildchat50m")
