"""``wildchat50m build``, ``import`` and ``push``: the Hub dataset repository, one config per DGM."""

from __future__ import annotations

import json
from pathlib import Path

import click

from wildchat50m.cli.common import registry_of
from wildchat50m.layout import Repository


@click.command()
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
@click.option("--max-row-group-bytes", type=click.IntRange(min=1), help="Uncompressed row-group cap (~4 MB).")
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
        click.echo(f"{check_repo}: OK ({len(Repository(Path(check_repo)).configs())} configs)")
        return
    if not run_dirs:
        raise click.UsageError("give at least one RUN_DIR, or --check REPO")
    limits = {
        key: value
        for key, value in (("max_row_group_bytes", max_row_group_bytes), ("max_shard_bytes", max_shard_bytes))
        if value is not None
    }
    report = repository.build_repository(
        Path(repo),
        [Path(p) for p in run_dirs],
        name=name,
        default_config=default_config,
        registry=registry_of(ctx),
        **limits,
    )
    for config, rows in sorted(report.built.items()):
        click.echo(f"built {config:<24} {rows:>9,} rows in {report.files[config]} shard(s)")
    click.echo(
        f"{repo}: {len(report.configs)} config(s) ({', '.join(report.configs)}), "
        f"default {report.default_config}; README.md rendered"
    )
    click.echo(report.search_index)


@click.command("import")
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
    from wildchat50m.builders import importer

    report = importer.import_release(
        source,
        config,
        Path(repo),
        work_dir=Path(work_dir) if work_dir else None,
        model=model,
        split=split,
        name=name,
        registry=registry_of(ctx),
    )
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
    flags = ", ".join(f"{k} {v:,}" for k, v in sorted(report.stats.flags.items()))
    click.echo(f"  flags: {flags or none}")
    click.echo(f"  run directory: {report.run_dir}")
    click.echo(report.search_index)


@click.command()
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
@click.option("--dry-run", is_flag=True, help="List what would be sent, in which commits; send nothing.")
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Times to ask again, with exponential backoff, when the Hub answers 429 or 5xx.",
)
def push(
    repo_dir: Path,
    repo_id: str,
    private: bool,
    revision: str | None,
    create_pr: bool,
    message: str | None,
    endpoint: str | None,
    as_json: bool,
    dry_run: bool,
    retries: int,
) -> None:
    """Upload a built dataset repository (README.md + data/<config>/) to the Hub.

    Only files that differ from the Hub's are sent, one commit per config and
    the README last, so an interrupted push completes when run again and an
    unchanged repository makes no commit. The token comes from `hf auth login`
    or $HF_TOKEN.
    """
    from wildchat50m.builders.push import push_repository

    report = push_repository(
        repo_dir,
        repo_id,
        private=private,
        revision=revision,
        create_pr=create_pr,
        commit_message=message,
        endpoint=endpoint,
        dry_run=dry_run,
        retries=retries,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    where = f"{repo_id}@{report.revision}"
    read = f"{len(report.hashed)} file(s) read to hash them, the others' hashes cached"
    if report.retries:
        read += f"; {report.retries} request(s) retried after 429/5xx"
    if dry_run:
        click.echo(
            f"Dry run: {sum(map(len, report.planned))} file(s) would be sent to {where}"
            f" in {len(report.planned)} commit(s); {len(report.skipped)} unchanged ({read})."
        )
        for number, paths in enumerate(report.planned, start=1):
            click.echo(f"  commit {number}: " + ", ".join(paths))
        return
    click.echo(read)
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
