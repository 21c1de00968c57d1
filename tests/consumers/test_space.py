"""The side-by-side Space over the demo repository, served by the real CLI.

Driven by gradio_client (search, pick, side by side, links, injections), then
in a real browser, Debian's chromium under Playwright: one test reads a
conversation side by side and saves a screenshot under test-artifacts/; the
other shows a repository whose prompts and answers are XSS payloads and
checks that none of them ran (no dialog, no console error, no marker set by
injected code, no request to any host but the Space's own).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from helpers.commands import wildchat50m
from helpers.space_server import ARTIFACTS, launched_chromium, serve_space
from rouge_score import rouge_scorer
from wildchat50m.builders.search_index import query_terms
from wildchat50m.spaces.viewer.lookup import RepositoryLookup, SearchFilters
from wildchat50m.spaces.viewer.readme import render_space_readme
from wildchat50m.spaces.viewer.render import content_warning

from wildchat50m.schema import JUDGMENT_SCHEMA

INJECTIONS = [
    "'; DROP TABLE conversations; --",
    "%' OR '1'='1",
    "x') UNION SELECT conversation_hash FROM read_parquet('/etc/passwd') --",
    "$words",
    "$1 ? :words $hash",
    "\\' OR 1=1; SELECT * FROM duckdb_settings(); --",
    "read_csv('/etc/passwd')",
    "\x00",
]


def wildchat50m_output(cwd: Path, *args: str) -> str:
    return wildchat50m(*args, cwd=cwd).stdout


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> tuple[Path, str]:
    """A repository like the demo's, smaller: two tiny DGMs answer 48 conversations of the sample."""
    root = tmp_path_factory.mktemp("space-demo")
    for dgm in ("tiny-a", "tiny-b"):
        wildchat50m_output(
            root, "generate", "--dgm", dgm, "--sample", "48", "--seed", "5", "--max-new-tokens", "24",
            "--max-model-len", "512", "--num-shards", "2", "--out", "runs", "--quiet",
        )  # fmt: skip
    output = wildchat50m_output(root, "build", "runs/tiny-a", "runs/tiny-b", "--repo", "repo")
    return root / "repo", output


@pytest.fixture(scope="module")
def client(demo, tmp_path_factory):
    from gradio_client import Client

    repo, _ = demo
    with serve_space(repo, tmp_path_factory.mktemp("space-server")) as url:
        yield Client(url, verbose=False)


def rows(repo: Path, config: str) -> dict[str, dict]:
    table = pq.read_table(sorted((repo / "data" / config).glob("*.parquet")))
    return {row["conversation_hash"]: row for row in table.to_pylist()}


def user_turns(row: dict) -> int:
    return sum(1 for message in row["conversation"] if message["role"] == "user")


def a_multi_turn_conversation(repo: Path) -> dict:
    candidates = [r for r in rows(repo, "tiny-a").values() if not r["toxic"] and user_turns(r) >= 3]
    return sorted(candidates, key=lambda r: r["conversation_hash"])[0]


def test_search_pick_and_read_two_dgms_side_by_side(demo, client):
    repo, _ = demo
    choices, status = client.predict("", "", None, None, False, [], api_name="/search")
    assert choices and status.startswith(f"{len(choices)} conversation(s) found")
    visible = {r["conversation_hash"] for r in rows(repo, "tiny-a").values() if not r["toxic"]}
    assert {value for _, value in choices} <= visible  # toxic conversations are hidden by default

    wanted = a_multi_turn_conversation(repo)
    conversation_hash = wanted["conversation_hash"]
    held, chosen = client.predict(conversation_hash, api_name="/dgms_for")
    assert held == ["tiny-a", "tiny-b"] and chosen == ["tiny-a", "tiny-b"]

    html, link, status = client.predict(conversation_hash, chosen, False, api_name="/show")
    assert status == "2 DGM(s) side by side"
    assert link == f"?hash={conversation_hash}&dgms=tiny-a,tiny-b"
    turns = user_turns(wanted)
    for config in chosen:
        assert len(re.findall(rf'class="w50-cell" data-dgm="{config}"', html)) == turns
        answers = [m["content"] for m in rows(repo, config)[conversation_hash]["conversation"]]
        for answer in answers[1::2]:
            first_words = " ".join((answer or "").split()[:2])
            assert first_words in html.replace("\n", " ") or not first_words.isprintable()
    assert html.count('class="w50-turn"') == turns
    assert html.count("Answer lengths:") == turns


def test_each_turn_shows_rouge_l_between_the_answers_as_rouge_score_computes_it(demo, client):
    repo, _ = demo
    wanted = a_multi_turn_conversation(repo)
    html, _, _ = client.predict(wanted["conversation_hash"], ["tiny-a", "tiny-b"], False, api_name="/show")
    shown = [float(x) for x in re.findall(r"tiny-a ↔ tiny-b</td><td>([0-9.]+)</td>", html)]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    first = rows(repo, "tiny-a")[wanted["conversation_hash"]]["conversation"]
    second = rows(repo, "tiny-b")[wanted["conversation_hash"]]["conversation"]
    expected = [
        scorer.score(a["content"] or "", b["content"] or "")["rougeL"].fmeasure
        for a, b in zip(first, second, strict=True)
        if a["role"] == "assistant"
    ]
    assert shown == pytest.approx(expected, abs=5e-4)


def test_a_link_restores_the_view(demo, client):
    repo, _ = demo
    conversation_hash = a_multi_turn_conversation(repo)["conversation_hash"]
    html, link, _ = client.predict(conversation_hash, ["tiny-b", "tiny-a"], False, api_name="/show")
    restored_hash, held, chosen, restored_html, restored_link, status = client.predict(
        link, False, api_name="/open_link"
    )
    assert (restored_hash, chosen, restored_link) == (conversation_hash, ["tiny-b", "tiny-a"], link)
    assert restored_html == html and held == ["tiny-a", "tiny-b"]
    assert status == "2 DGM(s) side by side"


def test_words_language_and_turn_filters_find_the_conversation(demo, client):
    repo, _ = demo
    wanted = a_multi_turn_conversation(repo)
    prompt = next(m["content"] for m in wanted["conversation"] if m["role"] == "user")
    word = max(re.findall(r"[A-Za-z]{4,}", prompt), key=len)
    turns = user_turns(wanted)
    choices, _ = client.predict(
        word.upper(), wanted["language"], turns, turns, False, ["tiny-b"], api_name="/search"
    )
    assert wanted["conversation_hash"] in {value for _, value in choices}
    for label, _ in choices:
        assert f"· {wanted['language']} · {turns} turn(s) ·" in label


def test_toxic_conversations_are_hidden_unless_asked_for_with_the_cards_warning(demo, client):
    repo, _ = demo
    toxic = sorted(h for h, r in rows(repo, "tiny-a").items() if r["toxic"])
    assert toxic, "the embedded sample holds toxic conversations"
    hidden, _, status = client.predict(toxic[0], ["tiny-a", "tiny-b"], False, api_name="/show")
    assert "hidden" in status and 'class="w50-cell"' not in hidden
    assert "upsetting topics" in content_warning() and "upsetting topics" in hidden
    shown, _, _ = client.predict(toxic[0], ["tiny-a", "tiny-b"], True, api_name="/show")
    assert 'class="w50-cell"' in shown
    everything, _ = client.predict("", "", None, None, True, [], api_name="/search")
    assert set(toxic) & {value for _, value in everything}


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_in_search_are_only_words_to_look_for(client, text):
    """No operator of SQL or of the engine is interpreted: the result is that of the words alone."""
    choices, status = client.predict(text, "", None, None, True, [], api_name="/search")
    words = " ".join(f'"{term}"' for term in query_terms(text))
    expected = client.predict(words, "", None, None, True, [], api_name="/search") if words else ([], "")
    assert re.fullmatch(r"\d+ conversation\(s\) found( \(page 1 of \d+, best first\))?", status)
    assert choices == expected[0]
    if not words:
        assert (choices, status) == ([], "0 conversation(s) found")


def test_config_names_and_hashes_from_a_link_are_checked(demo, client):
    repo, _ = demo
    conversation_hash = a_multi_turn_conversation(repo)["conversation_hash"]
    for dgms in ("../../etc/passwd,tiny-a", "tiny-a,tiny-a' OR 1=1"):
        _, _, _, html, _, status = client.predict(
            f"?hash={conversation_hash}&dgms={dgms}", False, api_name="/open_link"
        )
        assert html == "" and "is not a config of" in status
    _, _, _, html, _, status = client.predict(
        "?hash=1' OR '1'='1&dgms=tiny-a,tiny-b", False, api_name="/open_link"
    )
    assert html == "" and "is not a conversation hash" in status
    _, _, _, _, _, status = client.predict(
        f"?hash={conversation_hash}&dgms=tiny-a", False, api_name="/open_link"
    )
    assert "pick 2 to 6 DGMs" in status


def test_the_lookup_layer_returns_what_datasets_loads(demo):
    from datasets import load_dataset

    repo, _ = demo
    repository = RepositoryLookup.open(repo)
    loaded = load_dataset(str(repo), "tiny-b", split="train")
    row = loaded[5]
    found = repository.conversation(row["conversation_hash"], ["tiny-b", "tiny-a"])
    assert list(found) == ["tiny-b", "tiny-a"]
    answers = [m for m in row["conversation"] if m["role"] == "assistant"]
    turns = found["tiny-b"].turns
    assert [t.answer for t in turns] == [m["content"] for m in answers]
    assert [t.finish_reason for t in turns] == [m["finish_reason"] for m in answers]
    assert [t.completion_tokens for t in turns] == [m["completion_tokens"] for m in answers]
    hits = repository.search(SearchFilters(include_toxic=True), limit=500)
    assert len(hits) == len(set(loaded["conversation_hash"]))
    assert repository.random(SearchFilters(), seed=1) == repository.random(SearchFilters(), seed=1)
    toxic = pc.sum(pq.read_table(sorted((repo / "data" / "tiny-a").glob("*.parquet")), columns=["toxic"])[0])
    assert len(repository.search(SearchFilters(), limit=500)) == len(hits) - toxic.as_py()


def test_the_space_folder_readme_comes_from_the_template_with_the_gradio_pin():
    from wildchat50m.resources import space_dir

    folder = space_dir() / "viewer"
    assert (folder / "README.md").read_text(encoding="utf-8") == render_space_readme()
    front = (folder / "README.md").read_text(encoding="utf-8").split("---")[1]
    pin = re.search(r"^gradio==(\S+)$", (folder / "requirements.txt").read_text(), re.M).group(1)
    assert "sdk: gradio" in front and "app_file: app.py" in front and f"sdk_version: {pin}\n" in front
    assert "2 vCPU, 16 GB RAM, ephemeral disk" in render_space_readme()


def test_space_export_writes_a_folder_that_needs_nothing_else(cli, tmp_path):
    import tomllib
    import zipfile

    output = cli("space", "org/my-wildchat", "--export", str(tmp_path / "space")).stdout
    folder = tmp_path / "space"
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "- org/my-wildchat" in readme and "sdk: gradio" in readme
    version = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["version"]
    wheel = f"wildchat_50m-{version}-py3-none-any.whl"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "README.md", "app.py", "requirements.txt", f"wheels/{wheel}",
    ]  # fmt: skip
    assert wheel in output
    requirements = (folder / "requirements.txt").read_text().splitlines()
    assert requirements[0] == f"./wheels/{wheel}[space,analysis]"
    assert re.search(r"sdk_version: (\S+)", readme).group(1) == next(
        line.split("==")[1] for line in requirements if line.startswith("gradio==")
    )
    assert all("==" in line for line in requirements[1:])  # every other line a pin
    with zipfile.ZipFile(folder / "wheels" / wheel) as archive:
        assert "wildchat50m/spaces/viewer/app.py" in archive.namelist()
    assert "is not a Hub dataset id" in cli("space", "not a hub id", "--export", "x", expect=1).stderr


def test_space_refuses_what_it_cannot_show(cli, tmp_path):
    assert "(no data/ folder)" in cli("space", str(tmp_path), expect=1).stderr
    offline = cli("space", "someone/not-here", expect=1).stderr  # the tests run with HF_HUB_OFFLINE=1
    assert "cannot list the files of the Hub dataset someone/not-here" in offline


def test_a_hub_repository_is_read_through_hf_paths_in_the_same_code(monkeypatch):
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile
    from wildchat50m.spaces.viewer.lookup import hub_files

    listing = [
        "README.md", "data/Q72/train-00000-of-00002.parquet", "data/Q72/train-00001-of-00002.parquet",
        "data/L70/train-00000-of-00001.parquet", "data/L70/manifest.json", "data/.hidden/x.txt",
    ]  # fmt: skip
    tree = [RepoFile(path=path, size=100 + i, oid=f"{i:040d}") for i, path in enumerate(listing)]
    monkeypatch.setattr(HfApi, "list_repo_tree", lambda self, repo_id, **kwargs: iter(tree))
    files = hub_files("org/wildchat-50m")
    assert files.configs == ["L70", "Q72"]
    assert files.files["Q72"] == [
        "hf://datasets/org/wildchat-50m/data/Q72/train-00000-of-00002.parquet",
        "hf://datasets/org/wildchat-50m/data/Q72/train-00001-of-00002.parquet",
    ]
    assert files.sizes[files.files["Q72"][1]] == 102  # the sizes the index's fingerprints compare
    assert files.index_dir is None  # no index/ folder on the Hub: the Space searches without one


# ---------------------------------------------------------------- in a browser

PAYLOADS = [
    "<script>window.__xss = 'script'; alert('script')</script>",
    "<img src=\"x\" onerror=\"window.__xss = 'onerror'; alert('img')\">",
    '<img src="http://evil.example/pixel.png">',
    "![remote image](http://evil.example/markdown.png)",
    "[a javascript link](javascript:window.__xss='js-link')",
    '<a href="javascript:alert(1)">raw javascript link</a>',
    '<iframe src="http://evil.example/frame"></iframe>',
    "<svg onload=\"window.__xss = 'svg'\"></svg>",
    "<details open ontoggle=\"window.__xss = 'details'\">toggle</details>",
    '<style>@import url("http://evil.example/style.css");</style>',
    "```html\n<script>alert('in a code block: shown, not run')</script>\n```",
    '**Bold** markdown still renders, and <b onmouseover="alert(1)">so does this</b>.',
]


@pytest.fixture(scope="module")
def browser():
    with launched_chromium() as launched:
        yield launched


def watch(page, url: str) -> dict[str, list]:
    """Record dialogs, console errors and requests to hosts other than the Space's."""
    seen: dict[str, list] = {"dialogs": [], "errors": [], "foreign_requests": []}
    host = urlparse(url).hostname

    def on_dialog(dialog) -> None:
        seen["dialogs"].append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on(
        "request",
        lambda request: (
            seen["foreign_requests"].append(request.url)
            if urlparse(request.url).hostname not in (host, None) and not request.url.startswith("data:")
            else None
        ),
    )
    return seen


def test_a_reader_finds_a_conversation_and_reads_two_dgms_side_by_side(demo, browser, tmp_path):
    repo, _ = demo
    wanted = a_multi_turn_conversation(repo)
    prompt = next(m["content"] for m in wanted["conversation"] if m["role"] == "user")
    word = max(re.findall(r"[A-Za-z]{4,}", prompt), key=len)
    with serve_space(repo, tmp_path) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        seen = watch(page, url)
        page.goto(url)
        page.locator("#w50-words textarea, #w50-words input").first.fill(word)
        page.locator("#w50-search").click()
        hit = page.locator(f'.w50-hit[data-hash="{wanted["conversation_hash"]}"]')
        hit.wait_for(timeout=30_000)
        box = hit.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 1000  # no scrolling needed
        assert word.lower() in [m.lower() for m in hit.locator("mark").all_inner_texts()]
        assert "tiny-a, tiny-b" in hit.inner_text() and f"{user_turns(wanted)} turn(s)" in hit.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "space-search-hits.png"))
        hit.click()
        page.locator('.w50-cell[data-dgm="tiny-b"]').first.wait_for(timeout=30_000)
        turns = user_turns(wanted)
        for config in ("tiny-a", "tiny-b"):
            cells = page.locator(f'.w50-cell[data-dgm="{config}"]')
            assert cells.count() == turns
            for index in range(turns):
                assert cells.nth(index).is_visible() or cells.nth(index).count() == 1
        assert page.locator(".w50-turn").count() == turns
        assert f"hash={wanted['conversation_hash']}" in page.url and f"q={word}" in page.url
        assert page.locator(".w50-back").count() == 1
        viewed = page.url
        page.go_back()
        page.locator(f'.w50-hit[data-hash="{wanted["conversation_hash"]}"]').wait_for(timeout=30_000)
        assert page.locator(".w50-cell").count() == 0  # back on the list
        page.goto(viewed)
        page.locator('.w50-cell[data-dgm="tiny-b"]').first.wait_for(timeout=30_000)
        page.wait_for_function("window.location.search.includes('dgms=')")
        assert "dgms=tiny-a,tiny-b" in page.url
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "space-side-by-side.png"), full_page=True)

        reopened = browser.new_page()
        reopened.goto(page.url)
        reopened.locator('.w50-cell[data-dgm="tiny-a"]').first.wait_for(timeout=30_000)
        assert reopened.locator('.w50-cell[data-dgm="tiny-a"]').count() == turns
        assert seen["dialogs"] == [] and seen["foreign_requests"] == []


def payload_repository(demo_repo: Path, root: Path) -> tuple[Path, str]:
    """Two configs whose prompts and answers are XSS payloads, imported with the real CLI."""
    table = pq.read_table(sorted((demo_repo / "data" / "tiny-a").glob("*.parquet")))
    rows = [r for r in table.to_pylist() if not r["toxic"] and user_turns(r) >= 2][:3]
    for position, row in enumerate(rows):
        for index, message in enumerate(row["conversation"]):
            message["content"] = PAYLOADS[(position + index) % len(PAYLOADS)] + "\n\n" + " ".join(PAYLOADS)
    for config in ("xss-a", "xss-b"):
        for row in rows:
            row["dgm"] = config
        release = root / f"{config}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), release)
        wildchat50m_output(root, "import", str(release), "--as", config, "--repo", str(root / "repo"))
    return root / "repo", rows[0]["conversation_hash"]


def test_payloads_in_prompts_and_answers_never_run(demo, browser, tmp_path):
    repo, conversation_hash = payload_repository(demo[0], tmp_path)
    with serve_space(repo, tmp_path) as url:
        page = browser.new_page()
        seen = watch(page, url)
        page.goto(f"{url}?hash={conversation_hash}&dgms=xss-a,xss-b")
        page.locator('.w50-cell[data-dgm="xss-b"]').first.wait_for(timeout=30_000)
        page.locator(".w50-view").hover()
        for details in page.locator(".w50-view details").all():
            details.click()
        page.wait_for_timeout(1500)
        view = page.locator(".w50-view")
        assert view.locator("script, iframe, img, svg, style, [onerror], [onload], [ontoggle]").count() == 0
        assert view.locator('a[href^="javascript"]').count() == 0
        assert "<script>window.__xss" in view.inner_text()  # shown as text
        assert view.locator("strong").count() > 0  # markdown still renders
        assert page.evaluate("window.__xss") is None
        assert seen == {"dialogs": [], "errors": [], "foreign_requests": []}


# ---------------------------------------------------------------- the search index


def index_hits(repository: RepositoryLookup, filters: SearchFilters) -> list[str]:
    """Every hash the index finds for ``filters``, page after page."""
    found, page = [], 0
    while True:
        result = repository.find(filters, page=page, page_size=7)
        found += [hit.conversation_hash for hit in result.hits]
        if not result.hits:
            return found
        assert result.total is not None and len(found) <= result.total
        page += 1


def test_build_writes_the_index_beside_the_configs_and_load_dataset_ignores_it(demo):
    from datasets import load_dataset

    repo, output = demo
    assert "repo/index: indexed 48 conversations of 2 config(s)" in output
    assert (repo / "index" / "index.json").exists() and (repo / "index" / "prompts" / "meta.json").exists()
    loaded = load_dataset(str(repo), "tiny-a", split="train")
    assert loaded.num_rows == 48 and "conversation" in loaded.column_names
    assert all("/index/" not in f["filename"] for f in loaded.cache_files)


def test_words_phrases_prefixes_and_filters_are_answered_inside_the_index(demo):
    repo, _ = demo
    repository = RepositoryLookup.open(repo)
    assert repository.index is not None and repository.index_status == "search index of 48 conversations"
    table = rows(repo, "tiny-a")

    def expected(keep) -> set[str]:
        return {
            h
            for h, r in table.items()
            if not r["toxic"]
            and keep(r, query_terms(" ".join(m["content"] for m in r["conversation"] if m["role"] == "user")))
        }

    wanted = a_multi_turn_conversation(repo)
    prompt = next(m["content"] for m in wanted["conversation"] if m["role"] == "user")
    first, second = query_terms(prompt)[:2]
    word = max(query_terms(prompt), key=len)

    def phrase_holds(row: dict, terms: list[str]) -> bool:
        return any(pair == (first, second) for pair in itertools.pairwise(terms))

    assert set(index_hits(repository, SearchFilters(words=word.upper()))) == expected(lambda r, t: word in t)
    assert set(index_hits(repository, SearchFilters(words=f'"{first} {second}'))) == expected(phrase_holds)
    assert set(index_hits(repository, SearchFilters(words=f"{word[:3]}*"))) == expected(
        lambda r, t: any(term.startswith(word[:3]) for term in t)
    )
    narrowed = SearchFilters(
        words=word, language=wanted["language"], min_turns=user_turns(wanted), max_turns=user_turns(wanted),
        having=("tiny-b", "tiny-a"),
    )  # fmt: skip
    assert set(index_hits(repository, narrowed)) == expected(
        lambda r, t: word in t and r["language"] == wanted["language"] and user_turns(r) == user_turns(wanted)
    ) and wanted["conversation_hash"] in index_hits(repository, narrowed)
    ranked = repository.find(SearchFilters(words=word), page_size=50).hits
    assert ranked and ranked[0].configs == ("tiny-a", "tiny-b")
    for seed in range(5):  # a random draw keeps to the filters too
        drawn = repository.random(SearchFilters(language=wanted["language"], min_turns=2), seed=seed)
        assert drawn is not None and drawn.language == wanted["language"]
        chosen = table[drawn.conversation_hash]
        assert user_turns(chosen) >= 2 and not chosen["toxic"]


def test_a_config_added_later_is_indexed_alone_and_a_changed_one_makes_the_index_stale(demo, tmp_path):
    from wildchat50m.spaces.viewer.app import Viewer

    root = demo[0].parent
    repo = tmp_path / "repo"
    wildchat50m_output(tmp_path, "build", str(root / "runs" / "tiny-a"), "--repo", str(repo))
    half = pq.read_table(sorted((demo[0] / "data" / "tiny-b").glob("*.parquet")))
    half = half.filter(pc.equal(pc.bit_wise_and(pa.array(range(half.num_rows)), 1), 0))
    pq.write_table(half, tmp_path / "half.parquet")
    output = wildchat50m_output(tmp_path, "import", "half.parquet", "--as", "half", "--repo", str(repo))
    assert f"added half: {half.num_rows} conversations re-indexed, 48 in all" in output
    repository = RepositoryLookup.open(repo)
    held = set(half.column("conversation_hash").to_pylist())
    assert set(index_hits(repository, SearchFilters(include_toxic=True, having=("half",)))) == held

    missing = sorted(set(rows(repo, "tiny-a")) - held)[0]
    html, _, status = Viewer(repository).show(missing, ["tiny-a", "half"], True)
    assert status == "1 DGM(s) side by side; not in half"
    assert "Only tiny-a holds this conversation (half does not)" in html and 'class="w50-sim"' not in html

    shard = sorted((repo / "data" / "half").glob("*.parquet"))[0]
    pq.write_table(pq.read_table(shard), shard, row_group_size=5)
    stale = RepositoryLookup.open(repo)
    assert stale.index is None and "the search index is stale (changed: half)" in stale.index_status
    choices, message = Viewer(stale).search("", include_toxic=True)
    assert len(choices) == 48 and "stale" in message  # today's search, and it says why
    assert "index up to date" not in wildchat50m_output(tmp_path, "index", str(repo))
    assert RepositoryLookup.open(repo).index is not None


def test_answers_of_one_dgm_are_searched_when_it_has_an_answers_index(demo, tmp_path):
    import shutil

    from wildchat50m.spaces.viewer.app import Viewer

    repo = tmp_path / "repo"
    shutil.copytree(demo[0], repo)
    output = wildchat50m_output(tmp_path, "index", str(repo), "--answers", "tiny-b")
    assert "answers of tiny-b: 48 conversations" in output
    viewer = Viewer(RepositoryLookup.open(repo))
    assert viewer.repository.answer_configs == ["tiny-b"]
    answered = a_multi_turn_conversation(repo)
    answer = rows(repo, "tiny-b")[answered["conversation_hash"]]["conversation"][1]["content"]
    word = max(query_terms(answer), key=len)
    choices, _ = viewer.search(word, search_in="tiny-b", include_toxic=True)
    holding = {
        h
        for h, r in rows(repo, "tiny-b").items()
        if any(word in query_terms(m["content"] or "") for m in r["conversation"] if m["role"] == "assistant")
    }
    assert {value for _, value in choices} == holding
    _, refused = viewer.search(word, search_in="tiny-a")
    assert refused == "⚠️ 'tiny-a' has no answers index; answers can be searched in: tiny-b"
    assert (
        "index REPO --answers"
        in wildchat50m("index", str(repo), "--answers", "nope", cwd=tmp_path, expect=1).stderr
        or "no DGM config named nope"
        in wildchat50m("index", str(repo), "--answers", "nope", cwd=tmp_path, expect=1).stderr
    )


def test_the_space_opens_a_hub_repository_by_id_and_reads_little_per_lookup(demo, tmp_path):
    """The stub Hub serves the pushed repository with range requests; the test counts the bytes."""
    from gradio_client import Client
    from helpers.hub_stub import HubStub

    repo, _ = demo
    token = "hf_stubTokenForTheSpace0123456789"
    hub_env = {"HF_TOKEN": token, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0"}
    with HubStub(token=token) as hub:
        wildchat50m(
            "push",
            str(repo),
            "--repo-id",
            "org/wildchat-50m",
            "--endpoint",
            hub.url,
            cwd=tmp_path,
            env=hub_env,
        )
        index_bytes = sum(p.stat().st_size for p in (repo / "index").rglob("*") if p.is_file())
        env = {**hub_env, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "space-hf-home")}
        with serve_space("org/wildchat-50m", tmp_path, env=env) as url:
            client = Client(url, verbose=False)
            assert hub.bytes_sent("/index/") == index_bytes  # downloaded once, at start
            wanted = a_multi_turn_conversation(repo)
            word = max(
                query_terms(next(m["content"] for m in wanted["conversation"] if m["role"] == "user")),
                key=len,
            )
            choices, status = client.predict(word, "", None, None, False, [], api_name="/search")
            assert wanted["conversation_hash"] in {value for _, value in choices}
            assert "stale" not in status and hub.bytes_sent("/data/") == 0  # the index answered alone

            file_size = {
                c: sum(p.stat().st_size for p in (repo / "data" / c).glob("*.parquet"))
                for c in ("tiny-a", "tiny-b")
            }
            per_lookup = []
            for conversation_hash in sorted(rows(repo, "tiny-a"))[:4]:
                before = hub.bytes_sent("/data/")
                html, _, status = client.predict(
                    conversation_hash, ["tiny-a", "tiny-b"], True, api_name="/show"
                )
                assert status == "2 DGM(s) side by side" and html.count('class="w50-cell"') > 0
                per_lookup.append((hub.bytes_sent("/data/") - before) / 2)
            assert hub.bytes_sent("/index/") == index_bytes
    # the first lookup reads a footer and a row group; a later one in a row group already read, nothing
    assert per_lookup[0] > 0 and all(sent <= 2 * 1024**2 for sent in per_lookup)
    assert max(per_lookup[1:]) < min(file_size.values())  # column chunks of one row group, not files
    print(f"bytes per config per lookup over the stub Hub: {per_lookup}")


def test_each_answer_shows_its_judges_score_and_explanation(demo, tmp_path):
    import shutil

    from wildchat50m.spaces.viewer.app import Viewer

    repo = tmp_path / "repo"
    shutil.copytree(demo[0], repo)
    wanted = a_multi_turn_conversation(repo)
    verdicts = [
        {"conversation_hash": h, "turn_index": turn, "target": "tiny-b", "judge": "J", "factor": "Factuality",
         "status": "parsed", "score": 3 + turn,
         "judgment": f"Turn {turn}: **mostly right** <script>x()</script>"}
        for h in sorted(rows(repo, "tiny-b")) for turn in range(user_turns(rows(repo, "tiny-b")[h]))
    ]  # fmt: skip
    folder = repo / "data" / "judgments--Factuality--J--tiny-b"
    folder.mkdir()
    pq.write_table(
        pa.Table.from_pylist(verdicts, schema=JUDGMENT_SCHEMA), folder / "train-00000-of-00001.parquet",
        row_group_size=7,  # a conversation's turns straddle row groups
    )  # fmt: skip
    viewer = Viewer(RepositoryLookup.open(repo))
    assert viewer.repository.index is not None  # a judgment config does not make the index stale
    html, _, status = viewer.show(wanted["conversation_hash"], ["tiny-a", "tiny-b"], True)
    assert status == "2 DGM(s) side by side"
    shown = re.findall(
        r"J · Factuality: <b>(\d+)/10</b></summary><p>Turn (\d+): <strong>mostly right</strong>", html
    )
    assert shown == [(str(3 + turn), str(turn)) for turn in range(user_turns(wanted))]
    assert "<script>x()" not in html
    cells = html.split('class="w50-cell" data-dgm="tiny-a"')[1:]
    assert all("w50-judgment" not in cell.split('data-dgm="tiny-b"')[0] for cell in cells)  # only tiny-b's


def test_where_the_chosen_dgms_differ_most_is_ranked_from_the_index_stats(demo):
    import math

    from wildchat50m.spaces.viewer.app import Viewer

    repo, _ = demo
    viewer = Viewer(RepositoryLookup.open(repo))
    choices, status = viewer.differ_most(["tiny-a", "tiny-b"], False)
    assert status == f"{len(choices)} conversation(s) where tiny-a, tiny-b differ most"

    def facts(row: dict) -> tuple[int, bool, bool]:
        answers = [m for m in row["conversation"] if m["role"] == "assistant"]
        tokens = sum(m["completion_tokens"] or 0 for m in answers)
        return tokens, any(m["finish_reason"] == "length" for m in answers), any(m["flags"] for m in answers)

    a, b = rows(repo, "tiny-a"), rows(repo, "tiny-b")
    expected = {}
    for conversation_hash in set(a) & set(b):
        if a[conversation_hash]["toxic"]:
            continue
        (ta, ca, fa), (tb, cb, fb) = facts(a[conversation_hash]), facts(b[conversation_hash])
        ratio = math.log2((max(ta, tb) + 1) / (min(ta, tb) + 1))
        expected[conversation_hash] = ratio + 2 * (ca != cb) + 2 * (fa != fb)
    ranked = [value for _, value in choices]
    assert set(ranked) == set(expected)
    assert [round(expected[h], 6) for h in ranked] == sorted(
        (round(v, 6) for v in expected.values()), reverse=True
    )
    assert viewer.differ_most(["tiny-a"], False) == ([], "⚠️ pick 2 to 6 DGMs (got 1)")


# ---------------------------------------------------------------- the row-group map


def test_the_row_group_map_finds_the_rows_the_footers_find_opening_one_footer(demo, tmp_path):
    """Many small shards and row groups; then a stale, a missing and a lying map, each noticed."""
    from wildchat50m.spaces.viewer.app import Viewer
    from wildchat50m.spaces.viewer.lookup import local_files

    runs = demo[0].parent / "runs"
    repo = tmp_path / "repo"
    output = wildchat50m_output(
        tmp_path, "build", str(runs / "tiny-a"), str(runs / "tiny-b"), "--repo", str(repo),
        "--max-row-group-bytes", "6000", "--max-shard-bytes", "40000",
    )  # fmt: skip
    assert "row-group maps: 2 written" in output
    files = {config: len(list((repo / "data" / config).glob("*.parquet"))) for config in ("tiny-a", "tiny-b")}
    assert min(files.values()) >= 3
    mapped = RepositoryLookup.open(repo)
    footers = RepositoryLookup(local_files(repo), use_maps=False)
    assert mapped.maps_status == "row-group maps of 2 config(s)"
    hashes = sorted(rows(repo, "tiny-a"))
    for conversation_hash in hashes:
        assert mapped.conversation(conversation_hash, ["tiny-a", "tiny-b"]) == footers.conversation(
            conversation_hash, ["tiny-a", "tiny-b"]
        )
    assert len(footers.opened_files()) == sum(files.values())  # every footer, for the first lookup already
    first = RepositoryLookup.open(repo)
    first.conversation(hashes[-1], ["tiny-a", "tiny-b"])
    assert len(first.opened_files()) == 2  # one footer per config: the file the map names

    stale_file = sorted((repo / "data" / "tiny-a").glob("*.parquet"))[1]
    pq.write_table(pq.read_table(stale_file), stale_file, row_group_size=3)  # same rows, other size
    (repo / "index" / "rowgroups" / "tiny-b.parquet").unlink()
    fallen_back, footers = RepositoryLookup.open(repo), RepositoryLookup(local_files(repo), use_maps=False)
    assert fallen_back.maps_status == (
        "row-group map missing for tiny-b; stale for tiny-a: reading their files' footers instead"
        " (run `wildchat50m index REPO`)"
    )
    for conversation_hash in hashes[::5]:
        assert fallen_back.conversation(conversation_hash, ["tiny-a", "tiny-b"]) == footers.conversation(
            conversation_hash, ["tiny-a", "tiny-b"]
        )
    _, _, status = Viewer(fallen_back).show(hashes[0], ["tiny-a", "tiny-b"], True)
    assert status.endswith("no row-group map for tiny-a, tiny-b, so their files' footers were read")

    assert "row-group maps: 2 written" in wildchat50m_output(tmp_path, "index", str(repo))
    lying = repo / "index" / "rowgroups" / "tiny-a.parquet"
    table = pq.read_table(lying)
    files_of_rows = table.column("file").to_pylist()
    groups = [files_of_rows.count(name) for name in files_of_rows]
    shifted = [
        (group + 1) % count
        for group, count in zip(table.column("row_group").to_pylist(), groups, strict=True)
    ]
    # every hash now leads to the wrong row group of the right file; names, sizes and ranges untouched
    pq.write_table(table.set_column(2, "row_group", pa.array(shifted, pa.int32())), lying)
    misled, footers = RepositoryLookup.open(repo), RepositoryLookup(local_files(repo), use_maps=False)
    assert misled.maps_status == "row-group maps of 2 config(s)"  # it lists the right files...
    wanted = hashes[len(hashes) // 2]
    assert misled.conversation(wanted, ["tiny-a"]) == footers.conversation(wanted, ["tiny-a"])
    assert misled.maps_status.startswith("row-group map of tiny-a disagrees with its files")  # ...but lies
    assert misled.unmapped(["tiny-a", "tiny-b"]) == ["tiny-a"]
