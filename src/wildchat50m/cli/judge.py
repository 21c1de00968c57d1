"""``wildchat50m judge``: a judge model scores every answer of one or more targets on one factor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from wildchat50m.cli.common import (
    executor_choice,
    executor_options,
    job_keywords,
    resolve_dgm,
    run_command_job,
    shard_option,
)
from wildchat50m.cli.engine import engine_choice, engine_options
from wildchat50m.engines import EngineSpec
from wildchat50m.summaries import judgment_summary


@click.command()
@click.option(
    "--judge", default="tiny-a", show_default=True, help="Judge DGM: config name, Hub id or abbreviation."
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A finished run directory (runs/<config>) or a repository config folder (REPO/data/<config>); "
    "repeatable.",
)
@click.option(
    "--factor", default="Factuality", show_default=True, help="The factor to judge (see --list-factors)."
)
@click.option(
    "--factors",
    "factor_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Extra factors YAML (same format as the packaged data/factors.yaml); repeatable.",
)
@click.option("--list-factors", is_flag=True, help="Print the known factors and exit.")
@click.option(
    "--out",
    default="judgments",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Runs directory; each judgment run goes to OUT/judgments--<factor>--<judge>--<target>.",
)
@engine_options
@click.option(
    "--limit", type=click.IntRange(min=1), help="Judge only the first N conversations by conversation_hash."
)
@click.option(
    "--top-logprobs",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Likeliest tokens read at the score position (OpenAI-compatible servers allow up to 20).",
)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=512, show_default=True)
@click.option("--temperature", type=click.FloatRange(0, 2), default=0.0, show_default=True)
@click.option("--sampling-seed", type=int, default=0, show_default=True)
@click.option(
    "--max-chars",
    type=click.IntRange(min=100),
    default=6000,
    show_default=True,
    help="Question and answer are each cut to this many characters (head and tail kept, flagged).",
)
@click.option(
    "--max-model-len",
    type=click.IntRange(min=128),
    help="The judge's context in tokens (default: the registry's). Every prompt is fitted to it, "
    "leaving room for the judgment and the forced 'Score: ' continuation.",
)
@click.option("--num-shards", type=click.IntRange(min=1), default=4, show_default=True)
@shard_option("Judge part I of N of the shards; parts never overlap (a Slurm array sets it too).")
@executor_options
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def judge(ctx: click.Context, **options: Any) -> None:
    """Have a judge model score every answer of each TARGET from 1 to 10 on one factor.

    For every answered user turn the judge writes a judgment ending in
    "Score: <n>"; the row keeps the text, the parsed score, the probability of
    each score 1-10 read from the top logprobs at the score position, and the
    expected score. A judgment without a parsable score is stored as
    `unparsed` (never as 0); its distribution is then read by continuing the
    judgment with "Score: " (marked `forced_prefix`). Runs have the run
    store's guarantees (atomic shards, resume after a kill, manifest) and
    `wildchat50m build OUT/* --repo REPO` adds them to the repository as
    `judgments--<factor>--<judge>--<target>` configs. Like `generate`, a
    judgment run splits into `--shard I/N` parts (or a Slurm array) and runs
    on Ray with `--executor ray`.
    """
    from wildchat50m import judging

    factors = judging.load_factors(options["factor_files"])
    if options["list_factors"]:
        for factor in factors.values():
            click.echo(f"{factor.name:<28} {factor.description}")
        return
    executor = executor_choice(options)
    factor = judging.get_factor(factors, options["factor"])
    dgm = resolve_dgm(ctx, options["judge"])
    engine, model, engine_options = engine_choice(dgm, options)
    for target in options["targets"]:
        settings = judging.JudgeSettings.for_target(
            dgm,
            factor,
            target,
            model=model,
            engine=engine,
            temperature=options["temperature"],
            seed=options["sampling_seed"],
            max_new_tokens=options["max_new_tokens"],
            top_logprobs=options["top_logprobs"],
            max_chars=options["max_chars"],
            max_model_len=options["max_model_len"],
            limit=options["limit"],
            num_shards=options["num_shards"],
            engine_options={k: v for k, v in engine_options.items() if v is not None},
        )
        job = judging.JudgmentJob(
            settings,
            options["out"],
            EngineSpec.for_job(
                engine, settings.model, engine_options, settings.max_model_len, dgm.generation
            ),
            **job_keywords(options, options["quiet"]),
        )
        click.echo(judgment_summary(run_command_job(job, executor), job.store.root))
