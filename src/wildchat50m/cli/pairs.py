"""``wildchat50m pairs``: preference (DPO) pairs across DGMs, from the repository's judgment configs."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("repository", default="wildchat-50m", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--dgm",
    "dgms",
    multiple=True,
    required=True,
    metavar="CONFIG",
    help="A DGM to pair (config or registry name); two: A against B, more: best against worst.",
)
@click.option(
    "--factor",
    "factors",
    multiple=True,
    metavar="NAME",
    help="The factor scored (repeatable: the mean of several); the only one when omitted.",
)
@click.option("--judge", help="The judge whose judgments to use, when several judged the DGMs.")
@click.option(
    "--judgment",
    "judgments",
    multiple=True,
    metavar="CONFIG",
    help="Judgment configs to use instead of --factor/--judge (one per DGM and factor).",
)
@click.option(
    "--score",
    type=click.Choice(["written", "expected"]),
    default="written",
    show_default=True,
    help="The judge's written score, or the expected score of its distribution.",
)
@click.option(
    "--min-margin",
    type=float,
    default=0.0,
    show_default=True,
    help="Chosen score minus rejected score must be at least this.",
)
@click.option(
    "--ties",
    type=click.Choice(["skip", "shorter"]),
    default="skip",
    show_default=True,
    help="Equal scores: no pair, or the shorter answer chosen.",
)
@click.option(
    "--max-length-ratio",
    type=float,
    metavar="R",
    help="Length control: the chosen answer at most R times as long as the rejected one.",
)
@click.option("--language", "languages", multiple=True, help="Keep only these languages (repeatable).")
@click.option("--exclude-toxic", is_flag=True, help="Leave out toxic conversations.")
@click.option("--max-turns", type=click.IntRange(min=1), help="Leave out conversations with more user turns.")
@click.option(
    "--turns",
    type=click.Choice(["first", "all"]),
    default="first",
    show_default=True,
    help="Pair the first user turn only, or every user turn.",
)
@click.option("--name", help="The config is pairs--NAME (default: from the DGMs and factors).")
@click.option(
    "--repo-name",
    default="wildchat-50m",
    show_default=True,
    help="The repository's name on the Hub, as the card's examples show it.",
)
def pairs(
    repository: str,
    dgms: tuple[str, ...],
    factors: tuple[str, ...],
    judge: str | None,
    judgments: tuple[str, ...],
    score: str,
    min_margin: float,
    ties: str,
    max_length_ratio: float | None,
    languages: tuple[str, ...],
    exclude_toxic: bool,
    max_turns: int | None,
    turns: str,
    name: str | None,
    repo_name: str,
) -> None:
    """Write a preference-pairs config (pairs--NAME) into a built REPOSITORY, for DPO.

    For each user turn every --dgm answered, the answer its judge scored highest is `chosen`
    and the lowest `rejected`; prompt, chosen and rejected are role/content message lists,
    the conversational format TRL's DPOTrainer and Axolotl (`rl: dpo`) read. Every candidate
    turn left out is counted by reason (no judgment, tie, margin, length, failed answer,
    filtered) in data/pairs--NAME/manifest.json and on the card. Nothing is written on error.
    """
    from wildchat50m.builders.pairs import PairRules, build_pairs

    if factors and judgments:
        raise click.UsageError("give --factor/--judge or --judgment, not both")
    rules = PairRules(
        dgms=dgms, factors=factors, judge=judge, judgments=judgments, score=score,  # type: ignore[arg-type]
        min_margin=min_margin, ties=ties, max_length_ratio=max_length_ratio,  # type: ignore[arg-type]
        languages=languages or None, exclude_toxic=exclude_toxic, max_turns=max_turns,
        turns=turns,  # type: ignore[arg-type]
    )  # fmt: skip
    report = build_pairs(Path(repository), rules, name=name, repository_name=repo_name)
    click.echo(f"{report.config}: {report.rows:,} pairs from {report.candidates:,} candidate turns")
    for reason, count in report.reasons.items():
        if count:
            click.echo(f"  {reason:<28} {count:>10,}")
    click.echo(f'load_dataset("{repository}", "{report.config}", split="train")')
