"""``wildchat50m eval``: the lm-eval task pack's directory, and the held-out prompts it scores on."""

from __future__ import annotations

from pathlib import Path

import click

from wildchat50m import heldout
from wildchat50m.cli.common import registry_of
from wildchat50m.layout import Repository


@click.group("eval")
def eval_group() -> None:
    """Evaluate a model against the DGMs' answers with lm-eval.

    \b
      lm_eval --model hf --model_args pretrained=MODEL --apply_chat_template \\
        --include_path "$(wildchat50m eval tasks-path)" --tasks wildchat50m_Qwen2.5-72B \\
        --metadata '{"repo": "org/wildchat-50m"}'

    Each task `wildchat50m_<config>` has the model answer held-out WildChat prompts and
    scores the answers against that DGM's with ROUGE-1, ROUGE-L, METEOR and the style
    features of the paper's Table 3; the group `wildchat50m` aggregates them.
    """


@eval_group.command("tasks-path")
@click.option(
    "--repo",
    metavar="DIR_OR_HUB_ID",
    help="Make the group `wildchat50m` cover this repository's configs (default: every DGM of the registry).",
)
@click.option("--dgm", "dgms", multiple=True, help="Make the group cover these configs; repeatable.")
@click.option(
    "--max-gen-toks",
    type=click.IntRange(min=1),
    default=1024,
    show_default=True,
    help="Longest answer the model may write (lm-eval's --gen_kwargs overrides it too).",
)
@click.pass_context
def tasks_path(ctx: click.Context, repo: str | None, dgms: tuple[str, ...], max_gen_toks: int) -> None:
    """Print the task directory to pass to `lm_eval --include_path`.

    The task YAMLs are rendered from the DGM registry (with any --registry files) into a
    cache directory, one task per DGM, so a model added to the registry gets its task.
    The repository to evaluate against is not written into them: pass it to lm_eval with
    --metadata '{"repo": "DIR_OR_HUB_ID"}' or $WILDCHAT50M_EVAL_REPO. Held-out settings go
    the same way: heldout_fraction, heldout_seed, max_docs.
    """
    from wildchat50m.hub_plugins.lm_eval.render import render_pack

    registry = registry_of(ctx)
    members: list[str] | None = None
    if dgms:
        members = []
        for name in dgms:
            members.append(registry.get(name).config if name in registry else name)
    elif repo:
        members = Repository.open(repo).answer_configs()
    pack = render_pack(registry, group_configs=members, max_gen_toks=max_gen_toks)
    click.echo(str(pack.directory))


@eval_group.command("heldout")
@click.option(
    "--repo", required=True, metavar="DIR_OR_HUB_ID", help="A repository built by `wildchat50m build`."
)
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True), help="Write the hashes here (default: stdout)."
)
@click.option("--config", "configs", multiple=True, help="Only these configs (default: all); repeatable.")
@click.option(
    "--fraction",
    type=float,
    default=heldout.DEFAULT_FRACTION,
    show_default=True,
    help="Share of conversations held out (the task pack's heldout_fraction).",
)
@click.option(
    "--seed", type=int, default=heldout.DEFAULT_SEED, show_default=True, help="The task pack's heldout_seed."
)
def heldout_command(repo: str, out: str | None, configs: tuple[str, ...], fraction: float, seed: int) -> None:
    """Write the held-out conversation hashes, one per line, to leave out of training mixes.

    The lm-eval tasks score on these conversations; a mix that excludes them (its
    `exclude_hashes: FILE`) keeps the evaluation honest. The choice is by hash alone
    (seeded), so it is the same for every config and every machine.
    """
    repo_dir = Repository.open(repo, list(configs) or None).root
    hashes = heldout.heldout_hashes(repo_dir, list(configs) or None, fraction=fraction, seed=seed)
    text = "".join(f"{h}\n" for h in hashes)
    if out is None:
        click.echo(text, nl=False)
        return
    Path(out).write_text(text, encoding="utf-8")
    click.echo(
        f"wrote {len(hashes):,} held-out conversation hashes (fraction {fraction}, seed {seed}) to {out}"
    )
