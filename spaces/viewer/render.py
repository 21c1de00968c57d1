"""HTML of the side-by-side view, safe to show whatever the models and users wrote.

Prompts and answers are untrusted text. Markdown is rendered by markdown-it
with raw HTML turned off (``<script>`` arrives as the text ``&lt;script&gt;``),
and with images off (``![x](http://...)`` becomes a link, never a request
the page makes on its own). The result then goes through nh3, an allow-list
sanitiser: only formatting tags survive, links keep only http(s) and mailto
targets and open with ``rel="noopener noreferrer nofollow"``, and no
attribute that could run code (``on*``, ``style``, ``src``) is kept. Every
other string the view shows (config names, flags, hashes) is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from wildchat50m.spaces.viewer.lookup import Conversation, Judgment, Turn

ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}

STYLE = """
<style>
.w50-grid { display: grid; gap: 6px 12px; align-items: start; }
.w50-head { font-weight: 600; border-bottom: 2px solid #888; padding: 4px 0; }
.w50-turn { grid-column: 1 / -1; background: rgba(127,127,127,.10); border-radius: 6px; padding: 6px 10px; }
.w50-turn .w50-label { font-size: .85em; opacity: .8; }
.w50-cell { border: 1px solid rgba(127,127,127,.3); border-radius: 6px; padding: 6px 10px; overflow-x: auto; }
.w50-meta { font-size: .8em; opacity: .75; border-top: 1px dashed rgba(127,127,127,.4); margin-top: 6px; }
.w50-missing { font-style: italic; opacity: .7; }
.w50-sim { font-size: .85em; border-collapse: collapse; margin-top: 4px; }
.w50-sim td, .w50-sim th { padding: 1px 6px; border: 1px solid rgba(127,127,127,.3); }
.w50-warning { border: 2px solid #c60; border-radius: 6px; padding: 10px; }
.w50-sim-note { font-size: .85em; font-style: italic; opacity: .8; margin-top: 4px; }
.w50-judgment { font-size: .85em; margin-top: 4px; }
</style>
"""


@cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    return renderer.enable(["table", "strikethrough"]).disable("image")


def safe_markdown(text: str | None) -> str:
    """Untrusted markdown as HTML that can neither run code nor load anything."""
    import nh3

    rendered = _markdown().render(text or "")
    return nh3.clean(
        rendered,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def turn_metadata(turn: Turn) -> str:
    """One line: finish reason, tokens, flags, truncated prompt, error."""
    parts = []
    if turn.finish_reason:
        parts.append(f"finish: {_escape(turn.finish_reason)}")
    if turn.completion_tokens is not None:
        parts.append(f"{turn.completion_tokens:,} answer tokens")
    if turn.prompt_tokens is not None:
        parts.append(f"{turn.prompt_tokens:,} prompt tokens")
    if turn.prompt_truncated:
        parts.append("<b>prompt truncated</b>")
    if turn.flags:
        parts.append("flags: " + ", ".join(_escape(flag) for flag in turn.flags))
    if turn.error:
        parts.append(f"error: {_escape(turn.error)}")
    parts.append(f"{len(turn.answer or ''):,} characters")
    return " · ".join(parts)


def similarity_table(configs: Sequence[str], matrix: Sequence[Sequence[float]]) -> str:
    """ROUGE-L F1 of every pair of answers of one turn, as a small table."""
    cells = [
        f"<tr><td>{_escape(configs[i])} ↔ {_escape(configs[j])}</td><td>{matrix[i][j]:.3f}</td></tr>"
        for i in range(len(configs))
        for j in range(i + 1, len(configs))
    ]
    return '<table class="w50-sim"><tr><th>pair</th><th>ROUGE-L F1</th></tr>' + "".join(cells) + "</table>"


def turn_similarity(answers: Sequence[str | None]) -> list[list[float]]:
    """ROUGE-L between each pair of this turn's answers (a missing answer counts as empty text)."""
    from wildchat50m.metrics.rouge import pairwise_rouge_l

    return pairwise_rouge_l([answer or "" for answer in answers])


def judgment_notes(judgments: Sequence[Judgment]) -> str:
    """Each judge's score of one answer, its explanation folded under it."""
    parts = []
    for judgment in judgments:
        score = f"{judgment.score}/10" if judgment.score is not None else _escape(judgment.status)
        parts.append(
            f'<details class="w50-judgment"><summary>{_escape(judgment.judge)} · '
            f"{_escape(judgment.factor)}: <b>{score}</b></summary>"
            f"{safe_markdown(judgment.explanation)}</details>"
        )
    return "".join(parts)


def single_dgm_note(config: str, missing: Sequence[str]) -> str:
    """What replaces the similarity table when only one chosen DGM holds the conversation."""
    others = ", ".join(_escape(name) for name in missing) or "no other chosen DGM"
    return (
        f'<div class="w50-sim-note">Only {_escape(config)} holds this conversation ({others} does not): '
        "nothing to compare it with.</div>"
    )


def side_by_side(
    conversations: Mapping[str, Conversation],
    missing: Sequence[str] = (),
    judgments: Mapping[str, Sequence[Judgment]] | None = None,
) -> str:
    """One column per config, one grid row per user turn so that turns line up across columns.

    ``missing`` names chosen configs that do not hold the conversation; with a
    single config left there is no pair to compare, so each turn says so
    instead of showing an empty similarity table. ``judgments`` (config ->
    verdicts) puts each judge's score and explanation under the answer judged.
    """
    judgments = judgments or {}
    configs = list(conversations)
    if not configs:
        return '<div class="w50-missing">No conversation to show.</div>'
    turns = max(len(c.turns) for c in conversations.values())
    first = conversations[configs[0]]
    header = (
        f'<div class="w50-summary" data-hash="{_escape(first.conversation_hash)}">'
        f"<code>{_escape(first.conversation_hash)}</code> · {_escape(first.language or 'unknown language')}"
        f" · {turns} turn(s)"
        + (" · <b>toxic</b>" if any(c.toxic for c in conversations.values()) else "")
        + (" · redacted" if any(c.redacted for c in conversations.values()) else "")
        + "</div>"
    )
    parts = [STYLE, '<div class="w50-view">', header]
    parts.append(
        f'<div class="w50-grid" style="grid-template-columns: repeat({len(configs)}, minmax(0, 1fr));">'
    )
    for config in configs:
        history = conversations[config].history_mode
        parts.append(
            f'<div class="w50-head" data-dgm="{_escape(config)}">{_escape(config)}'
            + (f' <span class="w50-label">({_escape(history)} history)</span>' if history else "")
            + "</div>"
        )
    for index in range(turns):
        present = [
            conversations[c].turns[index] if index < len(conversations[c].turns) else None for c in configs
        ]
        prompt = next((t.prompt for t in present if t is not None and t.prompt is not None), None)
        answers = [t.answer if t is not None else None for t in present]
        lengths = " · ".join(
            f"{_escape(c)} {len(a or ''):,} chars" for c, a in zip(configs, answers, strict=True)
        )
        parts.append(
            f'<div class="w50-turn" data-turn="{index + 1}">'
            f'<div class="w50-label">Turn {index + 1} · user</div>{safe_markdown(prompt)}'
            f'<div class="w50-label">Answer lengths: {lengths}</div>'
            + (
                similarity_table(configs, turn_similarity(answers))
                if len(configs) > 1
                else single_dgm_note(configs[0], missing)
            )
            + "</div>"
        )
        for config, turn in zip(configs, present, strict=True):
            parts.append(f'<div class="w50-cell" data-dgm="{_escape(config)}" data-turn="{index + 1}">')
            if turn is None:
                parts.append('<div class="w50-missing">(this DGM has no such turn)</div>')
            elif turn.answer is None:
                reason = f" ({_escape(turn.error)})" if turn.error else ""
                parts.append(f'<div class="w50-missing">(no answer{reason})</div>')
            else:
                parts.append(f'<div class="w50-answer">{safe_markdown(turn.answer)}</div>')
            if turn is not None:
                parts.append(f'<div class="w50-meta">{turn_metadata(turn)}</div>')
            verdicts = [j for j in judgments.get(config, ()) if j.turn == index]
            if verdicts:
                parts.append(judgment_notes(verdicts))
            parts.append("</div>")
    parts.append("</div></div>")
    return "".join(parts)


def content_warning() -> str:
    """The dataset card's warning about WildChat's content, rendered from the same template."""
    import jinja2

    from wildchat50m.resources import cards_dir

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(cards_dir())), autoescape=False)
    return environment.get_template("content_warning.md.j2").render().strip()


def toxic_notice() -> str:
    """What the view shows instead of a toxic conversation the user has not opted in to see."""
    return (
        STYLE
        + '<div class="w50-warning w50-toxic-hidden"><b>This conversation is flagged toxic and is hidden.</b>'
        + safe_markdown(content_warning())
        + "<p>Tick <i>Show toxic conversations</i> to read it.</p></div>"
    )
