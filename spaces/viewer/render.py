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
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from wildchat50m.spaces.viewer.lookup import Conversation, Judgment, SearchHit, TurnAnswer

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
.w50-hits { display: flex; flex-direction: column; gap: 6px; }
.w50-hit { display: block; border: 1px solid rgba(127,127,127,.3); border-radius: 6px; padding: 6px 10px;
  color: inherit; text-decoration: none; }
.w50-hit:hover { border-color: #66f; }
.w50-hit mark { background: #ffe27a; color: #000; padding: 0 1px; }
.w50-hit-meta { font-size: .8em; opacity: .75; }
.w50-pages a, .w50-back { margin-right: 8px; }
.w50-current { outline: 2px solid #66f; }
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


def turn_metadata(turn: TurnAnswer) -> str:
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
    *,
    turn_link: Callable[[int], str] | None = None,
    current_turn: int | None = None,
    back: str = "",
) -> str:
    """One column per config, one grid row per user turn so that turns line up across columns.

    ``missing`` names chosen configs that do not hold the conversation; with a
    single config left there is no pair to compare, so each turn says so
    instead of showing an empty similarity table. ``judgments`` (config ->
    verdicts) puts each judge's score and explanation under the answer judged.
    ``turn_link(n)`` is the link to turn ``n`` (1-based), shown beside each turn;
    ``current_turn`` is marked; ``back`` is HTML put above the view (a link to the results).
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
    parts = [STYLE, back, '<div class="w50-view">', header]
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
        marked = " w50-current" if current_turn == index + 1 else ""
        anchor = (
            f' <a class="w50-turn-link" href="{_escape(turn_link(index + 1))}">link to this turn</a>'
            if turn_link is not None
            else ""
        )
        parts.append(
            f'<div class="w50-turn{marked}" id="w50-turn-{index + 1}" data-turn="{index + 1}">'
            f'<div class="w50-label">Turn {index + 1} · user{anchor}</div>{safe_markdown(prompt)}'
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
            verdicts = [j for j in judgments.get(config, ()) if j.turn_index == index]
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


WORD = re.compile(r"[^\W_]+")
#: Beyond this many, a hit names how many DGMs hold it rather than each one.
NAMED_DGMS = 6


def highlighted(text: str, terms: Sequence[str], prefixes: Sequence[str] = ()) -> str:
    """``text`` HTML-escaped, with the words that match a search term (or start with a prefix) marked."""
    wanted = {term.lower() for term in terms}
    starts = tuple(prefix.lower() for prefix in prefixes)
    parts, position = [], 0
    for match in WORD.finditer(text):
        parts.append(_escape(text[position : match.start()]))
        word = match.group(0)
        lowered = word.lower()
        hit = lowered in wanted or (starts and lowered.startswith(starts))
        parts.append(f"<mark>{_escape(word)}</mark>" if hit else _escape(word))
        position = match.end()
    parts.append(_escape(text[position:]))
    return "".join(parts)


def search_hits(
    hits: Sequence[SearchHit],
    links: Sequence[str],
    *,
    status: str,
    terms: Sequence[str] = (),
    prefixes: Sequence[str] = (),
    pages: Sequence[tuple[str, str]] = (),
    reasons: Sequence[str] = (),
) -> str:
    """The results list of the main panel: each hit a link to its view, matched words marked.

    ``links`` are the hits' view links, ``pages`` (label, link) pairs of the
    result pages, ``reasons`` one line per hit said instead of its metadata
    (for "where do they differ most").
    """
    parts = [STYLE, f'<div class="w50-hits"><div class="w50-hits-status">{_escape(status)}</div>']
    for position, (hit, link) in enumerate(zip(hits, links, strict=True)):
        held = ", ".join(hit.configs) if len(hit.configs) <= NAMED_DGMS else f"{len(hit.configs)} DGMs"
        meta = (
            _escape(reasons[position])
            if position < len(reasons)
            else f"{_escape(hit.language or 'unknown language')} · {hit.turns} turn(s)"
            + (f" · held by {_escape(held)}" if hit.configs else "")
            + (" · <b>toxic</b>" if hit.toxic else "")
        )
        parts.append(
            f'<a class="w50-hit" href="{_escape(link)}" data-hash="{_escape(hit.conversation_hash)}">'
            f'<div class="w50-hit-opening">{highlighted(hit.opening, terms, prefixes)}</div>'
            f'<div class="w50-hit-meta"><code>{_escape(hit.conversation_hash[:10])}</code> · {meta}</div></a>'
        )
    if pages:
        parts.append(
            '<div class="w50-pages">'
            + "".join(f'<a href="{_escape(link)}">{_escape(label)}</a>' for label, link in pages)
            + "</div>"
        )
    parts.append("</div>")
    return "".join(parts)


def view_markdown(view: Mapping[str, Any]) -> str:
    """A view's data (``Viewer.view_data``) as a Markdown document."""
    lines = [
        f"# WildChat-50m conversation {view['conversation_hash']}",
        "",
        f"Repository: {view['repository']} · language: {view['language'] or 'unknown'}"
        + (" · toxic" if view["toxic"] else "")
        + f" · DGMs: {', '.join(view['dgms'])}",
        "",
    ]
    if view["not_held_by"]:
        lines += [f"Not held by: {', '.join(view['not_held_by'])}", ""]
    for turn in view["turns"]:
        lines += [f"## Turn {turn['turn']}", "", "### User", "", turn["user"] or "(none)", ""]
        for config, answer in turn["answers"].items():
            facts = [
                f"finish reason {answer['finish_reason']}",
                f"prompt tokens {answer['prompt_tokens']}",
                f"completion tokens {answer['completion_tokens']}",
            ]
            if answer["prompt_truncated"]:
                facts.append("prompt truncated")
            if answer["flags"]:
                facts.append("flags: " + ", ".join(answer["flags"]))
            if answer["error"]:
                facts.append(f"error: {answer['error']}")
            lines += [f"### {config}", "", answer["answer"] or "(no answer)", "", f"*{'; '.join(facts)}*", ""]
            for judgment in answer["judgments"]:
                score = "unparsed" if judgment["score"] is None else f"{judgment['score']}/10"
                lines += [
                    f"- {judgment['judge']} · {judgment['factor']}: **{score}** — {judgment['explanation']}"
                ]
            if answer["judgments"]:
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"
