"""WildChat-50m side by side: one WildChat conversation answered by 2 to 6 DGMs, turn by turn.

Deployable as a Hugging Face Space as it is (``python app.py``): the dataset
repository comes from ``$WILDCHAT50M_REPO`` (a local directory or a Hub id),
else from the ``datasets`` entry of this folder's README front matter.
Locally: ``wildchat50m space <repo dir or Hub id>``.

Every handler is also an API endpoint (``search``, ``random``, ``dgms_for``,
``show``, ``open_link``), so ``gradio_client`` can drive the app as the page does.
A view's link is ``?hash=<conversation_hash>&dgms=A,B``; opening it restores the view.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from html import escape as html_escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from wildchat50m.spaces.viewer import render
from wildchat50m.spaces.viewer.lookup import (
    MAX_DGMS,
    MIN_DGMS,
    RepositoryLookup,
    SearchFilters,
    SearchHit,
    ViewerError,
    check_hash,
)

HERE = Path(__file__).resolve().parent
ENV_REPO = "WILDCHAT50M_REPO"
USER_TURNS = "user turns"
PAGE_SIZE = 50
UPDATE_URL_JS = "(link) => { if (link) { window.history.replaceState(null, '', link); } return []; }"
SCROLL_TO_TURN_JS = (
    "() => { const turn = new URLSearchParams(window.location.search).get('turn');"
    " const marked = turn && document.getElementById('w50-turn-' + turn);"
    " if (marked) { marked.scrollIntoView(); } return []; }"
)


def default_source() -> str:
    """The repository to show: ``$WILDCHAT50M_REPO``, else the README's ``datasets`` entry."""
    if os.environ.get(ENV_REPO):
        return os.environ[ENV_REPO]
    from wildchat50m.layout import read_front_matter

    datasets = read_front_matter(HERE / "README.md").get("datasets") or []
    if not datasets:
        raise ViewerError(f"set {ENV_REPO} to a repository directory or Hub id")
    return str(datasets[0])


def view_link(
    conversation_hash: str,
    dgms: list[str],
    *,
    query: str | None = None,
    turn: int | None = None,
    page: int | None = None,
) -> str:
    """The query string that reopens a view: the hash, the DGMs, and the search and turn it came with."""
    values: dict[str, Any] = {"hash": conversation_hash}
    if dgms:
        values["dgms"] = ",".join(dgms)
    if query:
        values["q"] = query
    if page and page > 1:
        values["page"] = page
    if turn:
        values["turn"] = turn
    return "?" + urlencode(values, safe=",")


def results_link(query: str, page: int = 1) -> str:
    """The query string that reopens a page of search results."""
    return "?" + urlencode({"q": query, **({"page": page} if page > 1 else {})})


class Viewer:
    """The app's handlers over one repository; plain methods, so tests and the API call them alike."""

    def __init__(self, repository: RepositoryLookup):
        self.repository = repository

    def _filters(
        self,
        words: str | None,
        language: str | None,
        min_turns: float | None,
        max_turns: float | None,
        include_toxic: bool,
        having: list[str] | None,
        search_in: str | None = None,
    ) -> SearchFilters:
        return SearchFilters(
            words=words or None,
            language=language or None,
            min_turns=int(min_turns) if min_turns else None,
            max_turns=int(max_turns) if max_turns else None,
            include_toxic=bool(include_toxic),
            having=tuple(having or ()),
            answers_of=search_in if search_in and search_in != USER_TURNS else None,
        )

    def search(
        self,
        words: str | None,
        language: str | None = None,
        min_turns: float | None = None,
        max_turns: float | None = None,
        include_toxic: bool = False,
        having: list[str] | None = None,
        search_in: str | None = None,
        page: float | None = None,
    ) -> tuple[list[tuple[str, str]], str]:
        """Matching conversations as (label, hash) choices, and a one-line status.

        ``search_in`` is ``"user turns"`` (the default) or a config with an
        answers index; ``page`` counts from 1 in pages of :data:`PAGE_SIZE`.
        """
        page_number = max(1, int(page or 1))
        try:
            filters = self._filters(words, language, min_turns, max_turns, include_toxic, having, search_in)
            found = self.repository.find(filters, page=page_number - 1, page_size=PAGE_SIZE)
        except ViewerError as error:
            return [], f"⚠️ {error}"
        choices = [
            (
                f"{hit.conversation_hash[:10]} · {hit.language} · {hit.turns} turn(s) · {hit.opening}",
                hit.conversation_hash,
            )
            for hit in found.hits
        ]
        return choices, self._status(found.total, len(choices), page_number)

    def hits(
        self,
        words: str | None,
        language: str | None = None,
        min_turns: float | None = None,
        max_turns: float | None = None,
        include_toxic: bool = False,
        having: list[str] | None = None,
        search_in: str | None = None,
        page: float | None = None,
        dgms: list[str] | None = None,
    ) -> tuple[str, str, str]:
        """The results list for the main panel (HTML), a status line, and the link that reopens it.

        Each hit links to its side-by-side view of ``dgms`` (the DGMs chosen in
        the picker, when 2 to 6 of them), else of the first two DGMs that hold it;
        the link carries the query, so the view leads back to these results.
        """
        from wildchat50m.builders.search_index import query_terms

        page_number = max(1, int(page or 1))
        try:
            filters = self._filters(words, language, min_turns, max_turns, include_toxic, having, search_in)
            found = self.repository.find(filters, page=page_number - 1, page_size=PAGE_SIZE)
            chosen = self.repository.check_configs(dgms or [])
        except ViewerError as error:
            return "", "", f"⚠️ {error}"
        query = (words or "").strip()
        wanted = chosen if MIN_DGMS <= len(chosen) <= MAX_DGMS else []
        links = [
            view_link(hit.conversation_hash, wanted, query=query, page=page_number) for hit in found.hits
        ]
        status = self._status(found.total, len(found.hits), page_number)
        pages = []
        if page_number > 1:
            pages.append(("← previous page", results_link(query, page_number - 1)))
        if (found.total is None and len(found.hits) == PAGE_SIZE) or (
            found.total is not None and page_number * PAGE_SIZE < found.total
        ):
            pages.append(("next page →", results_link(query, page_number + 1)))
        prefixes = [term.rstrip("*") for term in query.split() if term.endswith("*")]
        html = render.search_hits(
            found.hits,
            links,
            status=status,
            terms=query_terms(query),
            prefixes=query_terms(" ".join(prefixes)),
            pages=pages,
        )
        return html, results_link(query, page_number), status

    def _status(self, total: int | None, shown: int, page_number: int) -> str:
        if total is None:  # no index: DuckDB lists in hash order and cannot count cheaply
            status = f"{shown} conversation(s) found" + (
                f" (page {page_number}, {PAGE_SIZE} a page)" if shown == PAGE_SIZE or page_number > 1 else ""
            )
            return status + f" · {self.repository.index_status}"
        pages = max(1, -(-total // PAGE_SIZE))
        return f"{total:,} conversation(s) found" + (
            f" (page {page_number} of {pages:,}, best first)" if total > PAGE_SIZE else ""
        )

    def random(
        self,
        language: str | None = None,
        min_turns: float | None = None,
        max_turns: float | None = None,
        include_toxic: bool = False,
        having: list[str] | None = None,
    ) -> str:
        """The hash of a conversation drawn at random among those the filters keep ('' if none)."""
        try:
            hit = self.repository.random(
                self._filters(None, language, min_turns, max_turns, include_toxic, having)
            )
        except ViewerError:
            return ""
        return hit.conversation_hash if hit else ""

    def differ_most(
        self, dgms: list[str] | None, include_toxic: bool = False
    ) -> tuple[list[tuple[str, str]], str]:
        """Conversations the chosen DGMs all hold, where their answers differ most, as result choices."""
        try:
            chosen = self.repository.check_configs(dgms or [])
            if not MIN_DGMS <= len(chosen) <= MAX_DGMS:
                raise ViewerError(f"pick {MIN_DGMS} to {MAX_DGMS} DGMs (got {len(chosen)})")
            index = self.repository.index
            if index is None or not index.has_stats(chosen):
                raise ViewerError(f"needs a fresh search index ({self.repository.index_status})")
            found = index.differences(chosen, include_toxic=include_toxic, limit=PAGE_SIZE)
        except ViewerError as error:
            return [], f"⚠️ {error}"
        choices = [
            (
                f"{d.conversation_hash[:10]} · {', '.join(d.reasons) or 'alike'} · "
                + " / ".join(f"{config} {tokens:,}" for config, tokens in d.tokens.items())
                + f" tokens · {' '.join(d.opening.split()[:10])}",
                d.conversation_hash,
            )
            for d in found
        ]
        return choices, f"{len(choices)} conversation(s) where {', '.join(chosen)} differ most"

    def differences(self, dgms: list[str] | None, include_toxic: bool = False) -> tuple[str, str]:
        """ "Where do they differ most" as a results list for the main panel, and a status line."""
        choices, message = self.differ_most(dgms, include_toxic)
        if not choices:
            return "", message
        chosen = self.repository.check_configs(dgms or [])
        found = {hit.conversation_hash: hit for hit in self._differences_as_hits(chosen, include_toxic)}
        hit_list = [found[value] for _, value in choices if value in found]
        html = render.search_hits(
            hit_list,
            [view_link(hit.conversation_hash, chosen) for hit in hit_list],
            status=message,
            reasons=[label.split(" · ", 1)[1] for label, value in choices if value in found],
        )
        return html, message

    def _differences_as_hits(self, chosen: list[str], include_toxic: bool) -> list[SearchHit]:
        assert self.repository.index is not None
        return [
            SearchHit(
                conversation_hash=d.conversation_hash,
                language=None,
                turns=0,
                toxic=False,
                opening=" ".join(d.opening.split()[:24]),
                configs=tuple(chosen),
            )
            for d in self.repository.index.differences(chosen, include_toxic=include_toxic, limit=PAGE_SIZE)
        ]

    def view_data(
        self, conversation_hash: str, dgms: list[str] | None, include_toxic: bool
    ) -> dict[str, Any]:
        """What a view shows, as data: the conversation, each chosen DGM's answers and metadata, the scores.

        The downloads are made from it, so they hold what the page shows (a toxic
        conversation the reader has not opted in to see is not in them either).
        """
        conversation_hash = check_hash(conversation_hash)
        chosen = self.repository.check_configs(dgms or [])
        found = self.repository.conversation(conversation_hash, chosen)
        if not found:
            raise ViewerError(f"no chosen DGM holds {conversation_hash}")
        if any(c.toxic for c in found.values()) and not include_toxic:
            raise ViewerError("this conversation is flagged toxic: tick Show toxic conversations first")
        judgments = self.repository.judgments(conversation_hash, list(found))
        first = next(iter(found.values()))
        return {
            "repository": self.repository.source,
            "conversation_hash": conversation_hash,
            "language": first.language,
            "toxic": any(c.toxic for c in found.values()),
            "redacted": any(c.redacted for c in found.values()),
            "link": view_link(conversation_hash, list(found)),
            "dgms": list(found),
            "not_held_by": [config for config in chosen if config not in found],
            "turns": [
                {
                    "turn": index + 1,
                    "user": next(
                        (c.turns[index].prompt for c in found.values() if index < len(c.turns)), None
                    ),
                    "answers": {
                        config: {
                            **asdict(c.turns[index]),
                            "flags": list(c.turns[index].flags),
                            "history_mode": c.history_mode,
                            "judgments": [
                                {key: value for key, value in asdict(j).items() if key != "turn_index"}
                                for j in judgments.get(config, ())
                                if j.turn_index == index
                            ],
                        }
                        for config, c in found.items()
                        if index < len(c.turns)
                    },
                }
                for index in range(max(len(c.turns) for c in found.values()))
            ],
        }

    def view_json(self, conversation_hash: str, dgms: list[str] | None, include_toxic: bool = False) -> str:
        """The view as JSON (see :meth:`view_data`)."""
        return json.dumps(
            self.view_data(conversation_hash, dgms, include_toxic), ensure_ascii=False, indent=1
        )

    def view_markdown(
        self, conversation_hash: str, dgms: list[str] | None, include_toxic: bool = False
    ) -> str:
        """The view as Markdown: each turn's prompt, then each DGM's answer with its metadata and scores."""
        return render.view_markdown(self.view_data(conversation_hash, dgms, include_toxic))

    def dgms_for(self, conversation_hash: str) -> tuple[list[str], list[str]]:
        """The configs that hold the conversation, and the first two of them as a default choice."""
        try:
            held = self.repository.configs_with(conversation_hash)
        except ViewerError:
            return [], []
        return held, held[:MIN_DGMS]

    def show(
        self,
        conversation_hash: str,
        dgms: list[str] | None,
        include_toxic: bool,
        turn: float | None = None,
        query: str | None = None,
    ) -> tuple[str, str, str]:
        """The side-by-side HTML, the view's link, and a status line.

        ``turn`` (1-based) is marked and carried by the link, and ``query`` too: the
        view then links back to its search results.
        """
        try:
            conversation_hash = check_hash(conversation_hash)
            chosen = self.repository.check_configs(dgms or [])
            if not MIN_DGMS <= len(chosen) <= MAX_DGMS:
                raise ViewerError(f"pick {MIN_DGMS} to {MAX_DGMS} DGMs (got {len(chosen)})")
            found = self.repository.conversation(conversation_hash, chosen)
        except ViewerError as error:
            return "", "", f"⚠️ {error}"
        if not found:
            return "", "", f"⚠️ no chosen DGM holds {conversation_hash}"
        missing = [config for config in chosen if config not in found]
        status = f"{len(found)} DGM(s) side by side" + (f"; not in {', '.join(missing)}" if missing else "")
        unmapped = self.repository.unmapped(chosen)
        if unmapped:
            status += f"; no row-group map for {', '.join(unmapped)}, so their files' footers were read"
        shown_turn = int(turn) if turn else None
        query = (query or "").strip() or None
        link = view_link(conversation_hash, list(found), query=query, turn=shown_turn)
        if any(c.toxic for c in found.values()) and not include_toxic:
            return render.toxic_notice(), link, "this conversation is flagged toxic: hidden"
        try:
            judgments = self.repository.judgments(conversation_hash, list(found))
        except ViewerError as error:
            judgments, status = {}, f"{status}; judgments not shown: {error}"
        back = (
            f'<a class="w50-back" href="{html_escape(results_link(query))}">'
            f"← back to the results for “{html_escape(query)}”</a>"
            if query
            else ""
        )
        html = render.side_by_side(
            found, missing, judgments, current_turn=shown_turn, back=back,
            turn_link=lambda number: view_link(conversation_hash, list(found), query=query, turn=number),
        )  # fmt: skip
        return html, link, status

    def open_link(
        self, query: str, include_toxic: bool = False
    ) -> tuple[str, list[str], list[str], str, str, str]:
        """Restore a view from its link: hash, DGM choices, chosen DGMs, HTML, link, status."""
        values = parse_qs((query or "").split("?", 1)[-1])
        conversation_hash = (values.get("hash") or [""])[0]
        if not conversation_hash:
            return "", [], [], "", "", ""
        requested = [name for name in ",".join(values.get("dgms") or []).split(",") if name]
        held, default = self.dgms_for(conversation_hash)
        chosen = requested or default
        turn = (values.get("turn") or [""])[0]
        query = (values.get("q") or [""])[0]
        html, link, status = self.show(
            conversation_hash, chosen, include_toxic, int(turn) if turn.isdigit() else None, query
        )
        return conversation_hash, held, chosen, html, link, status


def dgm_label(config: str) -> str:
    """How the picker shows a config: its name with the registry's abbreviation, family and size.

    The picker filters on this text, so a DGM is found by any of them ("Q72",
    "llama", "70B"); a config the registry does not know shows its name alone.
    """
    from wildchat50m.registry import load_registry

    registry = load_registry()
    if config not in registry:
        return config
    dgm = registry.get(config)
    facts = [dgm.abbreviation, dgm.family, f"{dgm.params_b:g}B" if dgm.params_b else None]
    return f"{config} ({', '.join(fact for fact in facts if fact)})" if any(facts) else config


def build_app(source: str | None = None) -> Any:
    """The Gradio Blocks app over the repository at ``source`` (see :func:`default_source`)."""
    import gradio as gr

    repository = RepositoryLookup.open(source or default_source())
    viewer = Viewer(repository)
    languages = repository.languages()
    labels = {config: dgm_label(config) for config in repository.configs}

    def picker(configs: list[str], chosen: list[str]) -> Any:
        return gr.update(choices=[(labels.get(c, c), c) for c in configs], value=chosen)

    with gr.Blocks(title="WildChat-50m side by side") as app:
        gr.Markdown(
            f"# WildChat-50m side by side\nOne WildChat conversation answered by {MIN_DGMS} to {MAX_DGMS} "
            f"DGMs, turn by turn. Repository: `{repository.source}` ({len(repository.configs)} configs).\n\n"
            f"Search: {repository.index_status}. Lookups: {repository.maps_status}."
            + (
                f" Answers can be searched for: {', '.join(repository.answer_configs)}."
                if repository.answer_configs
                else ""
            ),
            elem_id="w50-about",
        )
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                words = gr.Textbox(
                    label="Words",
                    placeholder='words, "a phrase", prefix*, -excluded',
                    elem_id="w50-words",
                )
                with gr.Row():
                    search_button = gr.Button("Search", variant="primary", elem_id="w50-search")
                    random_button = gr.Button("Random", elem_id="w50-random")
                search_in = gr.Dropdown(
                    choices=[USER_TURNS, *repository.answer_configs],
                    value=USER_TURNS,
                    label="Search in",
                    info="the user turns, or the answers of a DGM that has an answers index",
                    elem_id="w50-search-in",
                )
                language = gr.Dropdown(choices=["", *languages], value="", label="Language")
                with gr.Row():
                    min_turns = gr.Number(label="Min turns", precision=0, minimum=0)
                    max_turns = gr.Number(label="Max turns", precision=0, minimum=0)
                include_toxic = gr.Checkbox(
                    label="Show toxic conversations", value=False, elem_id="w50-toxic"
                )
                having = gr.Dropdown(
                    choices=[(labels[c], c) for c in repository.configs],
                    multiselect=True,
                    label="Only conversations these DGMs have",
                )
                page = gr.Number(label="Page", value=1, precision=0, minimum=1, elem_id="w50-page")
                conversation_hash = gr.Textbox(label="Conversation hash", elem_id="w50-hash")
                dgms = gr.Dropdown(
                    choices=[(labels[c], c) for c in repository.configs],
                    multiselect=True,
                    max_choices=MAX_DGMS,
                    label=f"DGMs ({MIN_DGMS} to {MAX_DGMS}; type a name, family, size or abbreviation)",
                    elem_id="w50-dgms",
                )
                with gr.Row():
                    show_button = gr.Button("Show side by side", variant="primary", elem_id="w50-show")
                    differ_button = gr.Button("Where do they differ most", elem_id="w50-differ")
                link = gr.Textbox(label="Link to this view", interactive=False, elem_id="w50-link")
                with gr.Row():
                    markdown_file = gr.DownloadButton("Download Markdown", elem_id="w50-markdown")
                    json_file = gr.DownloadButton("Download JSON", elem_id="w50-json")
                status = gr.Markdown(elem_id="w50-status")
            with gr.Column(scale=4):
                hits = gr.HTML(elem_id="w50-hits")
                view = gr.HTML(elem_id="w50-view")

        def choose_dgms(value: str) -> Any:
            held, default = viewer.dgms_for(value)
            return picker(held, default)

        def show_hits(*args: Any) -> tuple[str, str, str, str]:
            found, results, message = viewer.hits(*args)
            return found, "", results, message

        def draw_random(*args: Any) -> tuple[str, Any]:
            drawn = viewer.random(*args)
            return drawn, choose_dgms(drawn)

        def show_differences(chosen: list[str], checked: bool) -> tuple[str, str]:
            return viewer.differences(chosen, checked)

        def restore(checked: bool, request: gr.Request) -> tuple[Any, ...]:
            """The page as its link says; what the link does not set is left as it is (the reader
            may have typed already while the page loaded)."""
            values = {key: value for key, value in (request.query_params.items() if request else [])}
            query = values.get("q", "")
            page_number = int(values["page"]) if values.get("page", "").isdigit() else 1
            unchanged = gr.update()
            found = message = results = ""
            if query:
                found, results, message = viewer.hits(query, include_toxic=checked, page=page_number)
            typed = (query, page_number) if query else (unchanged, unchanged)
            if not values.get("hash"):
                if not query:
                    return (*typed, *[unchanged] * 6)
                return (*typed, found, "", unchanged, "", results, message)
            found_hash, held, chosen, html, view_link_, message = viewer.open_link(urlencode(values), checked)
            return (*typed, "", found_hash, picker(held, chosen), html, view_link_, message)

        downloads = tempfile.mkdtemp(prefix="wildchat50m-views-")

        def write_downloads(value: str, chosen: list[str], checked: bool) -> tuple[Any, Any]:
            try:
                markdown = viewer.view_markdown(value, chosen, checked)
                data = viewer.view_json(value, chosen, checked)
            except ViewerError:
                return gr.update(value=None), gr.update(value=None)
            names = "-".join(viewer.repository.check_configs(chosen))
            stem = Path(downloads) / f"{check_hash(value)}-{names}"
            Path(f"{stem}.md").write_text(markdown, encoding="utf-8")
            Path(f"{stem}.json").write_text(data, encoding="utf-8")
            return gr.update(value=f"{stem}.md"), gr.update(value=f"{stem}.json")

        # gradio passes the request to a parameter annotated gr.Request; gradio is imported here, lazily.
        restore.__annotations__["request"] = gr.Request

        filters = [language, min_turns, max_turns, include_toxic, having]
        shown = [view, link, status]
        # Registered first, so that the public endpoint gets the plain name "show".
        viewed = [conversation_hash, dgms, include_toxic]
        files = [markdown_file, json_file]
        show_button.click(viewer.show, viewed, shown, api_name="show").then(
            None, link, None, js=UPDATE_URL_JS
        ).then(write_downloads, viewed, files, api_visibility="private")
        searched = [words, *filters, search_in, page, dgms]
        for trigger in (search_button.click, words.submit):
            trigger(show_hits, searched, [hits, view, link, status], api_visibility="private").then(
                None, link, None, js=UPDATE_URL_JS
            )
        gr.api(viewer.search, api_name="search")
        gr.api(viewer.hits, api_name="hits")
        gr.api(viewer.dgms_for, api_name="dgms_for")
        gr.api(viewer.differ_most, api_name="differ_most")
        gr.api(viewer.view_markdown, api_name="view_markdown")
        gr.api(viewer.view_json, api_name="view_json")
        differ_button.click(show_differences, [dgms, include_toxic], [hits, status], api_visibility="private")
        gr.api(viewer.open_link, api_name="open_link")
        conversation_hash.submit(choose_dgms, conversation_hash, dgms, api_visibility="private")
        random_button.click(draw_random, filters, [conversation_hash, dgms], api_name="random").then(
            viewer.show, [conversation_hash, dgms, include_toxic], shown, api_visibility="private"
        ).then(None, link, None, js=UPDATE_URL_JS).then(
            write_downloads, viewed, files, api_visibility="private"
        )
        app.load(
            restore,
            [include_toxic],
            [words, page, hits, conversation_hash, dgms, view, link, status],
            api_visibility="private",
        ).then(None, link, None, js=UPDATE_URL_JS).then(None, None, None, js=SCROLL_TO_TURN_JS).then(
            write_downloads, viewed, files, api_visibility="private"
        )
    return app


def main() -> None:
    """Launch as a Space does: ``python app.py``."""
    build_app().launch()


if __name__ == "__main__":
    main()
