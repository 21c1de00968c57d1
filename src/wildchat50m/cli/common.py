"""What several command groups share: the registry the root's ``--registry`` names, the DGM
lookup, the options of every command that reads conversations, and plain-text tables.

No command module imports the root group; they all import this module instead.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from typing import Any

import click

from wildchat50m.jobs import ShardedJob
from wildchat50m.leases import DEFAULT_LEASE_TIMEOUT
from wildchat50m.registry import DGM, Registry, load_registry
from wildchat50m.source import ColumnMapping, ConversationReader, Filters
from wildchat50m.workflows import run_job


def with_options(command: Callable[..., Any], options: list[Callable[..., Any]]) -> Callable[..., Any]:
    """``command`` with the click ``options`` (and arguments), listed in ``--help`` in their order."""
    for option in reversed(options):
        command = option(command)
    return command


def registry_of(ctx: click.Context) -> Registry:
    """The packaged registry with the root's ``--registry`` files (and $WILDCHAT50M_REGISTRY) on top."""
    return load_registry(ctx.find_root().params.get("registry") or ())


def resolve_dgm(ctx: click.Context, name: str) -> DGM:
    """The registry's DGM for ``name``; the tiny local models are part of the registry."""
    return registry_of(ctx).get(name)


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns under a header and a rule, for the terminal."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)) for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def parse_shard(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """``--shard I/N`` as ``(I, N)``."""
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise click.BadParameter("write the shard as I/N, e.g. 3/8 (shards count from 0)") from None
    if count < 1 or not 0 <= index < count:
        raise click.BadParameter(f"need 0 <= I < N, got {index}/{count}")
    return index, count


def shard_option(help_text: str) -> Callable[..., Any]:
    return click.option("--shard", callback=parse_shard, metavar="I/N", help=help_text)


def slurm_job() -> tuple[int, int] | None:
    """Job i of n from a Slurm array (SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT), when set."""
    task, count = os.environ.get("SLURM_ARRAY_TASK_ID"), os.environ.get("SLURM_ARRAY_TASK_COUNT")
    if task is None or count is None:
        return None
    first = int(os.environ.get("SLURM_ARRAY_TASK_MIN", "0"))
    return int(task) - first, int(count)


def executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Where a job's shards are answered: ``--executor``, ``--ray-address``, ``--replicas``."""
    options = [
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
            callback=parse_replicas,
            metavar="auto|R",
            help="Engine replicas, each with its own GPUs (tensor-parallel-size of them for vllm). "
            "local: R worker processes on this machine, sharing the run's shards through leases; "
            "ray: R actors. auto: visible GPUs / tensor-parallel size (1 without GPUs). Default: 1.",
        ),
        click.option(
            "--lease-timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=DEFAULT_LEASE_TIMEOUT,
            show_default=True,
            help="Seconds without a heartbeat after which another worker takes over a shard "
            "(its worker is dead or hung).",
        ),
    ]
    return with_options(command, options)


def parse_replicas(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | str | None:
    """``--replicas auto|R``."""
    if value is None or value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise click.BadParameter(f"write auto or a whole number of at least 1, not {value!r}")
    return int(value)


def executor_choice(options: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`wildchat50m.workflows.run_job` that ``executor_options`` select."""
    executor, replicas, ray_address = options["executor"], options["replicas"], options["ray_address"]
    if executor != "ray" and ray_address is not None:
        raise click.UsageError("--ray-address needs --executor ray")
    return {"executor": executor, "replicas": replicas, "ray_address": ray_address}


def resume_command() -> str:
    """The command line that started this process, to repeat it: the resume of an interrupted run."""
    return shlex.join(["wildchat50m", *sys.argv[1:]])


def job_part(options: dict[str, Any]) -> tuple[int, int]:
    """The part of the run this process answers: ``--shard I/N``, else a Slurm array task, else all."""
    return options["shard"] or slurm_job() or (0, 1)


def log_to_stderr(message: str) -> None:
    """A job's log: its lines go to stderr, beside the summary on stdout."""
    click.echo(message, err=True)


def job_keywords(options: dict[str, Any], quiet: bool) -> dict[str, Any]:
    """The keyword arguments of a :class:`~wildchat50m.jobs.ShardedJob` that a command's options
    select: its part of the run, progress bars (on a terminal, unless ``quiet``), log and lease timeout."""
    return {
        "job": job_part(options),
        "progress": not quiet and sys.stderr.isatty(),
        "log": log_to_stderr,
        "lease_timeout": options["lease_timeout"],
    }


def run_command_job(job: ShardedJob, executor: dict[str, Any]) -> dict[str, Any]:
    """Run ``job`` on the executor ``executor_options`` chose; its messages name this command line
    as the way to resume. Returns the run's manifest."""
    job.resume_command = resume_command()
    return run_job(job, **executor)


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
        shard_option("Keep shard I of N (by hash); separate jobs never overlap."),
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
    return with_options(command, options)


def reader_from_options(options: dict[str, Any], **kwargs: Any) -> ConversationReader:
    """A reader configured from :func:`source_options` values."""
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
