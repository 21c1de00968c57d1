"""``wildchat50m generate`` and ``wildchat50m runs``: one DGM answers every user turn."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from wildchat50m.cli.common import (
    executor_choice,
    executor_options,
    job_keywords,
    log_to_stderr,
    reader_from_options,
    resolve_dgm,
    run_command_job,
    source_options,
    with_options,
)
from wildchat50m.cli.engine import engine_choice, engine_options
from wildchat50m.engines import EngineSpec
from wildchat50m.generate import (
    GenerationSettings,
    Generator,
    regeneration,
    shards_for,
)
from wildchat50m.leases import DEFAULT_LEASE_TIMEOUT
from wildchat50m.requests import HistoryMode
from wildchat50m.runstore import RunStore, find_runs
from wildchat50m.source import ConversationReader
from wildchat50m.summaries import run_summary
from wildchat50m.workflows import RECORDED_FILTERS, recorded_filters, run_pilot


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
            type=click.Choice([mode.value for mode in HistoryMode]),
            default=HistoryMode.ORIGINAL.value,
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
            help="Shards of the run (the unit of atomic output). Default: 16, or one per 16,384 "
            "input conversations when that is more (when the input's size is known before reading it).",
        ),
        click.option(
            "--from",
            "from_run",
            type=click.Path(exists=True, file_okay=False),
            help="Re-generate: a new run from this finished run, answering again only the turns --redo "
            "names with the options given here (every other option, and every other answer, is the "
            "run's own, carried over byte for byte). In history mode self, a turn answered again also "
            "answers again the later turns of its conversation, which saw it.",
        ),
        click.option(
            "--redo",
            help="With --from: the turns to answer again, comma-separated: length (cut at "
            "max_new_tokens), error (failed), empty, flag:NAME (any answer flag).",
        ),
        click.option(
            "--pilot",
            type=click.IntRange(min=1),
            help="First answer N diverse conversations (over languages and turn counts) into OUT/pilot/ "
            "and print a report, as the paper's Appendix F asks before a long run.",
        ),
    ]
    return executor_options(engine_options(with_options(command, options)))


@click.command()
@source_options
@generation_options
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def generate(ctx: click.Context, quiet: bool, **options: Any) -> None:
    """Answer every user turn of every conversation with one DGM.

    The run goes to OUT/<config>: atomic shards, a journal of finished
    requests, and a manifest. Kill it at any moment and run the same command
    again: finished shards are skipped and journaled requests are not sent
    again. Any number of identical commands may run on one OUT at once (a
    Slurm array, srun over nodes, a requeued job beside its predecessor): each
    leases a shard before answering it, so none is answered twice, and each
    exits 0 only once the run is complete. `--replicas auto` fills this
    machine's GPUs with one worker per tensor-parallel group. `--shard I/N` (or
    a Slurm array) splits the run into parts that never overlap. Without SOURCE
    and --dgm, the tiny demo model tiny-a answers the embedded sample on the
    CPU.
    """
    executor = executor_choice(options)
    if options["pilot"] and (options["shard"] or executor["executor"] != "local"):
        raise click.UsageError("--pilot runs alone: leave out --shard and --executor")
    if options["from_run"] or options["redo"]:
        regenerate(ctx, options, executor, quiet)
        return
    dgm = resolve_dgm(ctx, options["dgm"])
    engine, model, engine_settings = engine_choice(dgm, options)
    reader = reader_from_options({**options, "shard": None})
    settings = GenerationSettings.for_dgm(
        dgm,
        model=model,
        engine=engine,
        history_mode=options["history"],
        system_prompt=system_prompt(options),
        seed=options["sampling_seed"],
        temperature=options["temperature"],
        top_p=options["top_p"],
        max_model_len=options["max_model_len"],
        max_new_tokens=options["max_new_tokens"],
        max_input_tokens=options["max_input_tokens"],
        logprobs=options["logprobs"],
        num_shards=options["num_shards"] or shards_for(reader.total_rows()),
        source=", ".join(options["sources"]) or "embedded sample",
        filters=recorded_filters(**{key: options[key] for key in RECORDED_FILTERS}),
        engine_options={k: v for k, v in engine_settings.items() if v is not None},
    )
    spec = EngineSpec.for_job(engine, settings.model, engine_settings, settings.max_model_len, dgm.generation)
    if options["pilot"]:
        progress = not quiet and sys.stderr.isatty()
        pilot = run_pilot(
            settings, options["out"], reader, spec, options["pilot"], progress=progress, log=log_to_stderr
        )
        click.echo(f"Pilot: {len(pilot.hashes)} conversations\n" + run_summary(pilot.manifest, pilot.root))
        click.echo(pilot.report)
        return
    run_generation(settings, reader, spec, options, executor, quiet)


#: Options a re-generation run takes from the command line, by the setting they change.
REDO_OPTIONS = {
    "history": "history_mode", "sampling_seed": "seed", "temperature": "temperature", "top_p": "top_p",
    "max_model_len": "max_model_len", "max_new_tokens": "max_new_tokens",
    "max_input_tokens": "max_input_tokens", "logprobs": "logprobs", "system_prompt": "system_prompt",
}  # fmt: skip


def regenerate(ctx: click.Context, options: dict[str, Any], executor: dict[str, Any], quiet: bool) -> None:
    """`generate --from RUN --redo ...`: a new run answering again only the turns named."""
    if not (options["from_run"] and options["redo"]):
        raise click.UsageError("--from and --redo go together")
    if options["sources"] or options["pilot"]:
        raise click.UsageError("--from re-generates the run's own input: leave out SOURCE and --pilot")
    explicit = {
        name for name in options if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    }
    if "num_shards" in explicit or "dgm" in explicit:
        raise click.UsageError("a re-generation run keeps the run's DGM and shards")
    overrides = {setting: options[name] for name, setting in REDO_OPTIONS.items() if name in explicit}
    if options["system_prompt_file"]:
        overrides["system_prompt"] = system_prompt(options)
    settings, reader = regeneration(
        Path(options["from_run"]), options["redo"], overrides, Path(options["out"])
    )
    dgm = resolve_dgm(ctx, settings.dgm)
    # The engine and model are the source run's unless given.
    chosen = {
        **options,
        "engine": options["engine"] or settings.engine,
        "model": options["model"] or settings.model,
    }
    engine, model, engine_settings = engine_choice(dgm, chosen)
    settings = dataclasses.replace(settings, engine=engine, model=model or settings.model)
    spec = EngineSpec.for_job(engine, settings.model, engine_settings, settings.max_model_len, dgm.generation)
    run_generation(settings, reader, spec, options, executor, quiet)


def system_prompt(options: dict[str, Any]) -> str | None:
    """``--system-prompt``, or the text of ``--system-prompt-file``."""
    if options["system_prompt_file"]:
        return Path(options["system_prompt_file"]).read_text(encoding="utf-8")
    return options["system_prompt"]


def run_generation(
    settings: GenerationSettings,
    reader: ConversationReader,
    spec: EngineSpec,
    options: dict[str, Any],
    executor: dict[str, Any],
    quiet: bool,
) -> None:
    """Run the generation job ``settings`` describes with this command's job options; print its summary."""
    generator = Generator(settings, Path(options["out"]), reader, spec, **job_keywords(options, quiet))
    click.echo(run_summary(run_command_job(generator, executor), generator.store.root))


@click.group()
def runs() -> None:
    """Inspect and audit generation runs."""


@runs.command("show")
@click.argument("path", type=click.Path(exists=True, file_okay=False), default="runs")
@click.option("--json", "as_json", is_flag=True, help="Print the manifests as JSON.")
@click.option(
    "--lease-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_LEASE_TIMEOUT,
    show_default=True,
    help="The workers' lease timeout: a lease with an older heartbeat is shown as stale.",
)
def runs_show(path: str, as_json: bool, lease_timeout: float) -> None:
    """Print the manifest of the run at PATH, or of every run below it.

    A run in progress also shows its shards done, leased (by which host and
    process, and how long ago its heartbeat was) and waiting, its answers per
    second over the last minutes, and an estimate of the time left.
    """
    from wildchat50m import judging  # noqa: F401 (its job class counts judgment runs: RunKind.job_class)
    from wildchat50m.audit import run_progress
    from wildchat50m.jobs import build_manifest

    roots = find_runs([path])
    manifests = [build_manifest(RunStore(root)) for root in roots]
    if as_json:
        click.echo(
            json.dumps(manifests if len(manifests) > 1 else manifests[0], indent=2, ensure_ascii=False)
        )
        return
    texts = []
    for manifest, root in zip(manifests, roots, strict=True):
        text = run_summary(manifest, root)
        if manifest["shards"]["finished"] < manifest["shards"]["total"]:
            text += "\n" + run_progress(root, lease_timeout).report()
        texts.append(text)
    click.echo("\n\n".join(texts))


@runs.command("verify")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, file_okay=False), required=True)
def runs_verify(paths: tuple[str, ...]) -> None:
    """Audit finished runs: exit 1 on any problem.

    Checks that every staged conversation appears exactly once in the output,
    every user turn has an answer or a failure with its kind, the shard
    markers add up to the manifest, every checksum matches, and no stray file
    remains (an old lease, a partial write, an orphaned journal). Each PATH is
    a run directory or a folder of them.
    """
    from wildchat50m.audit import verify_run

    audits = [verify_run(root) for root in find_runs(paths)]
    for audit in audits:
        click.echo(audit.report())
    if not all(audit.ok for audit in audits):
        bad = sum(not audit.ok for audit in audits)
        raise click.ClickException(
            f"{bad} of {len(audits)} run(s) have problems; for a damaged or missing shard, run the same "
            "generate command again: it answers that shard again"
        )
