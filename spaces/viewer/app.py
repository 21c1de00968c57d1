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

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from wildchat50m.spaces.viewer import render
from wildchat50m.spaces.viewer.lookup import (
    MAX_DGMS,
    MIN_DGMS,
    Repository,
    SearchFilters,
    ViewerError,
    check_hash,
)

HERE = Path(__file__).resolve().parent
ENV_REPO = "WILDCHAT50M_REPO"
USER_TURNS = "user turns"
PAGE_SIZE = 50
UPDATE_URL_JS = "(link) => { if (link) { window.history.replaceState(null, '', link); } return []; }"


def default_source() -> str:
    """The repository to show: ``$WILDCHAT50M_REPO``, else the README's ``datasets`` entry."""
    if os.environ.get(ENV_REPO):
        return os.environ[ENV_REPO]
    from wildchat50m.layout import read_front_matter

    datasets = read_front_matter(HERE / "README.md").get("datasets") or []
    if not datasets:
        raise ViewerError(f"set {ENV_REPO} to a repository directory or Hub id")
    return str(datasets[0])


def view_link(conversation_hash: str, dgms: list[str]) -> str:
    """The query string that reopens a view."""
    return "?" + urlencode({"hash": conversation_hash, "dgms": ",".join(dgms)}, safe=",")


class Viewer:
    """The app's handlers over one repository; plain methods, so tests and the API call them alike."""

    def __init__(self, repository: Repository):
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
        if found.total is None:  # no index: DuckDB lists in hash order and cannot count cheaply
            status = f"{len(choices)} conversation(s) found" + (
                f" (page {page_number}, {PAGE_SIZE} a page)"
                if len(choices) == PAGE_SIZE or page_number > 1
                else ""
            )
            return choices, status + f" · {self.repository.index_status}"
        pages = max(1, -(-found.total // PAGE_SIZE))
        status = f"{found.total:,} conversation(s) found" + (
            f" (page {page_number} of {pages:,}, best first)" if found.total > PAGE_SIZE else ""
        )
        return choices, status

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

    def dgms_for(self, conversation_hash: str) -> tuple[list[str], list[str]]:
        """The configs that hold the conversation, and the first two of them as a default choice."""
        try:
            held = self.repository.configs_with(conversation_hash)
        except ViewerError:
            return [], []
        return held, held[:MIN_DGMS]

    def show(
        self, conversation_hash: str, dgms: list[str] | None, include_toxic: bool
    ) -> tuple[str, str, str]:
        """The side-by-side HTML, the view's link, and a status line."""
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
        link = view_link(conversation_hash, list(found))
        if any(c.toxic for c in found.values()) and not include_toxic:
            return render.toxic_notice(), link, "this conversation is flagged toxic: hidden"
        try:
            judgments = self.repository.judgments(conversation_hash, list(found))
        except ViewerError as error:
            judgments, status = {}, f"{status}; judgments not shown: {error}"
        return render.side_by_side(found, missing, judgments), link, status

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
        html, link, status = self.show(conversation_hash, chosen, include_toxic)
        return conversation_hash, held, chosen, html, link, status


def build_app(source: str | None = None) -> Any:
    """The Gradio Blocks app over the repository at ``source`` (see :func:`default_source`)."""
    import gradio as gr

    repository = Repository.open(source or default_source())
    viewer = Viewer(repository)
    languages = repository.languages()
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
                    choices=repository.configs, multiselect=True, label="Only conversations these DGMs have"
                )
                page = gr.Number(label="Page", value=1, precision=0, minimum=1, elem_id="w50-page")
                with gr.Row():
                    search_button = gr.Button("Search", variant="primary", elem_id="w50-search")
                    random_button = gr.Button("Random", elem_id="w50-random")
                results = gr.Dropdown(
                    choices=[], label="Results", allow_custom_value=True, elem_id="w50-results"
                )
                conversation_hash = gr.Textbox(label="Conversation hash", elem_id="w50-hash")
                dgms = gr.Dropdown(
                    choices=[],
                    multiselect=True,
                    max_choices=MAX_DGMS,
                    allow_custom_value=True,
                    label=f"DGMs ({MIN_DGMS} to {MAX_DGMS})",
                    elem_id="w50-dgms",
                )
                with gr.Row():
                    show_button = gr.Button("Show side by side", variant="primary", elem_id="w50-show")
                    differ_button = gr.Button("Where do they differ most", elem_id="w50-differ")
                link = gr.Textbox(label="Link to this view", interactive=False, elem_id="w50-link")
                status = gr.Markdown(elem_id="w50-status")
            with gr.Column(scale=4):
                view = gr.HTML(elem_id="w50-view")

        def choose_dgms(value: str) -> Any:
            held, default = viewer.dgms_for(value)
            return gr.update(choices=held, value=default)

        def show_results(*args: Any) -> tuple[Any, str]:
            choices, message = viewer.search(*args)
            return gr.update(choices=choices, value=None), message

        def draw_random(*args: Any) -> tuple[str, Any]:
            drawn = viewer.random(*args)
            return drawn, choose_dgms(drawn)

        def restore(checked: bool, request: gr.Request) -> tuple[Any, ...]:
            query = urlencode(dict(request.query_params)) if request else ""
            found_hash, held, chosen, html, view_link_, message = viewer.open_link(query, checked)
            return found_hash, gr.update(choices=held, value=chosen), html, view_link_, message

        # gradio passes the request to a parameter annotated gr.Request; gradio is imported here, lazily.
        restore.__annotations__["request"] = gr.Request

        filters = [language, min_turns, max_turns, include_toxic, having]
        shown = [view, link, status]
        # Registered first, so that the public endpoint gets the plain name "show".
        show_button.click(viewer.show, [conversation_hash, dgms, include_toxic], shown, api_name="show").then(
            None, link, None, js=UPDATE_URL_JS
        )
        searched = [words, *filters, search_in, page]
        search_button.click(
            show_results, searched, [results, status], api_name="search_choices", api_visibility="private"
        )
        words.submit(show_results, searched, [results, status], api_visibility="private")
        gr.api(viewer.search, api_name="search")
        gr.api(viewer.dgms_for, api_name="dgms_for")
        gr.api(viewer.differ_most, api_name="differ_most")

        def show_differences(chosen: list[str], checked: bool) -> tuple[Any, str]:
            choices, message = viewer.differ_most(chosen, checked)
            return gr.update(choices=choices, value=None), message

        differ_button.click(
            show_differences, [dgms, include_toxic], [results, status], api_visibility="private"
        )
        gr.api(viewer.open_link, api_name="open_link")
        results.select(lambda value: value, results, conversation_hash, api_visibility="private").then(
            choose_dgms, conversation_hash, dgms, api_visibility="private"
        ).then(viewer.show, [conversation_hash, dgms, include_toxic], shown, api_visibility="private").then(
            None, link, None, js=UPDATE_URL_JS
        )
        conversation_hash.submit(choose_dgms, conversation_hash, dgms, api_visibility="private")
        random_button.click(draw_random, filters, [conversation_hash, dgms], api_name="random").then(
            viewer.show, [conversation_hash, dgms, include_toxic], shown, api_visibility="private"
        ).then(None, link, None, js=UPDATE_URL_JS)
        app.load(
            restore, [include_toxic], [conversation_hash, dgms, view, link, status], api_visibility="private"
        )
    return app


def main() -> None:
    """Launch as a Space does: ``python app.py``."""
    build_app().launch()


if __name__ == "__main__":
    main()
