"""The Space deployed the way the Hub deploys it, over a repository of 54 configs.

A repository is built from the embedded sample (a few conversations, imported
with the real CLI as each of the registry's DGM configs, answers told apart per
DGM), indexed, and pushed to the stub Hub. `space --export` writes the Space
folder; a fresh environment installs that folder's requirements.txt from inside
it (cached, see helpers/pinned_envs.space_python) and runs `python app.py` with
HF_ENDPOINT at the stub Hub and no checkout on its path, every proxy pointed at
a dead port so that nothing could leave 127.0.0.1 unnoticed. One server for the
module; chromium then reads it as a person would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from helpers.commands import wildchat50m
from helpers.hub_stub import HubStub
from helpers.pinned_envs import space_python, wheel_site
from helpers.space_server import ARTIFACTS, free_port, launched_chromium, served
from wildchat50m.builders.search_index import query_terms

from wildchat50m.registry import load_registry
from wildchat50m.resources import sample_file

REPO_ID = "org/wildchat-50m"
TOKEN = "hf_stubTokenForTheDeployedSpace012345"
CONVERSATIONS = 14


def config_names() -> list[str]:
    """The registry's 53 DGM configs and its first local one: 54 configs with real names."""
    registry = load_registry()
    return [*registry.configs, registry.local()[0].config][:54]


def answered_by(table: pa.Table, config: str) -> pa.Table:
    """``table`` (WildChat rows) with every assistant answer told apart as ``config``'s own."""
    rows = table.to_pylist()
    for row in rows:
        for message in row["conversation"]:
            if message["role"] == "assistant" and message["content"]:
                message["content"] = f"{config} says: {message['content']}"
    return pa.Table.from_pylist(rows, schema=table.schema)


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    """The sample's first conversations imported as one config, then as each of the other 53.

    The first goes through `wildchat50m import`; the others are its data file with the
    answers told apart (importing 54 times would cost minutes), and `wildchat50m index`
    then indexes all 54 and writes their row-group maps.
    """
    root = tmp_path_factory.mktemp("deployed-repo")
    sample = pq.read_table(sample_file())
    turns = pc.list_value_length(sample.column("conversation"))
    keep = pc.and_(pc.invert(sample.column("toxic")), pc.greater_equal(turns, 4))
    pq.write_table(sample.filter(keep).slice(0, CONVERSATIONS), root / "release.parquet")
    configs = config_names()
    wildchat50m("import", "release.parquet", "--as", configs[0], "--repo", "repo", cwd=root)
    repo = root / "repo"
    (imported,) = sorted((repo / "data" / configs[0]).glob("*.parquet"))
    table = pq.read_table(imported)
    for config in configs:
        folder = repo / "data" / config
        folder.mkdir(exist_ok=True)
        pq.write_table(answered_by(table, config), folder / imported.name)
    assert "indexed 14 conversations of 54 config(s)" in wildchat50m("index", "repo", cwd=root).stdout
    return repo


@pytest.fixture(scope="module")
def hub(repository, tmp_path_factory):
    env = {"HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0"}
    with HubStub(token=TOKEN) as stub:
        wildchat50m(
            "push", str(repository), "--repo-id", REPO_ID, "--endpoint", stub.url,
            cwd=tmp_path_factory.mktemp("push"), env=env,
        )  # fmt: skip
        yield stub


@pytest.fixture(scope="module")
def space(hub, tmp_path_factory):
    """The exported folder, run by `python app.py` in an environment made from its requirements.txt."""
    work = tmp_path_factory.mktemp("deployed-space")
    folder = work / "space"
    wildchat50m("space", REPO_ID, "--export", str(folder), cwd=work)
    python = space_python(folder)
    site = wheel_site(folder, work / "site")
    port = free_port()
    dead = "http://127.0.0.1:9"  # a proxy that answers nothing: any request to another host fails
    env = {
        "PATH": os.environ["PATH"], "HOME": str(work), "PYTHONPATH": str(site),
        "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HOME": str(work / "hf-home"),
        "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
        "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
        "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "ALL_PROXY": dead, "http_proxy": dead, "https_proxy": dead,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    }  # fmt: skip
    log = work / "space.log"
    with served([str(python), "app.py"], port, cwd=folder, env=env, log_path=log, timeout=240) as url:
        yield {"url": url, "folder": folder, "python": python, "log": log}


@pytest.fixture(scope="module")
def browser():
    with launched_chromium() as launched:
        yield launched


def rows_of(repository: Path, config: str) -> dict[str, dict]:
    table = pq.read_table(sorted((repository / "data" / config).glob("*.parquet")))
    return {row["conversation_hash"]: row for row in table.to_pylist()}


def answers(row: dict) -> list[str]:
    return [m["content"] or "" for m in row["conversation"] if m["role"] == "assistant"]


def prompts(row: dict) -> list[str]:
    return [m["content"] or "" for m in row["conversation"] if m["role"] == "user"]


def open_page(browser, url: str):
    """A page that records every request to a host other than 127.0.0.1."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    foreign: list[str] = []
    page.on(
        "request",
        lambda request: (
            foreign.append(request.url)
            if urlparse(request.url).hostname not in ("127.0.0.1", None)
            and not request.url.startswith("data:")
            else None
        ),
    )
    page.goto(url)
    return page, foreign


def words_of(text: str) -> str:
    """The words of ``text``, markup, punctuation and bare numbers left out.

    Rendered markdown loses its ``**``, and a list's numbers become CSS markers, not text.
    """
    return " ".join(word for word in re.findall(r"[^\W_]+", text) if not word.isdigit())


def page_text(page) -> str:
    return words_of(page.locator("#w50-view").inner_text())


def first_words(text: str, count: int = 8) -> str:
    return " ".join(words_of(text).split()[:count])


def test_the_exported_folder_holds_all_a_space_installs(space):
    folder = space["folder"]
    requirements = (folder / "requirements.txt").read_text().splitlines()
    assert requirements[0].startswith("./wheels/wildchat_50m-") and requirements[0].endswith(
        "[space,analysis]"
    )
    shown = subprocess.run(
        [str(space["python"]), "-c", "import wildchat50m, sys; print(wildchat50m.__file__)"],
        env={"PYTHONPATH": str(Path(space["folder"]).parent / "site")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "/site/wildchat50m/" in shown  # the folder's wheel, not a checkout
    assert "Traceback" not in space["log"].read_text()


def test_a_deep_link_with_turn_and_query_reopens_the_same_view(space, repository, browser):
    configs = config_names()
    chosen = [configs[1], configs[5]]  # Qwen2.5-72B, Llama-3.3-70B
    rows = {config: rows_of(repository, config) for config in chosen}
    wanted_hash = sorted(rows[chosen[0]])[3]
    word = max(query_terms(prompts(rows[chosen[0]][wanted_hash])[0]), key=len)
    link = f"{space['url']}?hash={wanted_hash}&dgms={','.join(chosen)}&q={word}&turn=2"
    page, foreign = open_page(browser, link)
    page.locator(f'.w50-cell[data-dgm="{chosen[1]}"]').first.wait_for(timeout=60_000)
    text = page_text(page)
    for config in chosen:
        for answer in answers(rows[config][wanted_hash]):
            assert first_words(answer) in text, config  # every chosen DGM's answers are on the page
    assert page.locator(".w50-turn.w50-current").get_attribute("data-turn") == "2"
    assert page.locator(".w50-back").inner_text().endswith(f"“{word}”")
    page.wait_for_function("window.location.search.includes('turn=2')")
    reopened, more = open_page(browser, page.url)
    reopened.locator(f'.w50-cell[data-dgm="{chosen[1]}"]').first.wait_for(timeout=60_000)
    assert page_text(reopened) == text and reopened.url == page.url
    assert foreign == [] and more == []


def test_a_search_shows_its_hits_without_scrolling_and_a_click_opens_the_view(space, repository, browser):
    configs = config_names()
    table = rows_of(repository, configs[0])
    wanted_hash = sorted(table)[5]
    word = max(query_terms(prompts(table[wanted_hash])[0]), key=len)
    page, foreign = open_page(browser, space["url"])
    page.locator("#w50-words textarea, #w50-words input").first.fill(word)
    page.locator("#w50-search").click()
    hit = page.locator(f'.w50-hit[data-hash="{wanted_hash}"]')
    hit.wait_for(timeout=60_000)
    box = hit.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 1000
    assert "54 DGMs" in hit.inner_text()
    hit.click()
    page.wait_for_url(re.compile(rf"hash={wanted_hash}"), timeout=60_000)
    page.locator(".w50-cell").first.wait_for(timeout=60_000)
    page.locator(".w50-back").wait_for(timeout=60_000)  # the view leads back to the results
    page.locator(".w50-cell").first.wait_for(timeout=60_000)
    shown = sorted({page.locator(".w50-head").nth(i).get_attribute("data-dgm") for i in range(2)})
    assert shown == sorted(configs)[:2]  # the first two DGMs that hold it, by name
    text = page_text(page)
    for config in shown:
        for answer in answers(rows_of(repository, config)[wanted_hash]):
            assert first_words(answer) in text
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "space-deployed-54.png"))
    page.go_back()
    page.wait_for_url(re.compile(r"\?q="), timeout=60_000)
    page.locator(f'.w50-hit[data-hash="{wanted_hash}"]').wait_for(timeout=60_000)
    assert page.locator(".w50-cell").count() == 0
    assert foreign == []


@pytest.mark.parametrize("typed", ["Q72", "L70", "gemma", "mistral"])
def test_the_picker_finds_dgms_by_abbreviation_and_family(space, browser, typed):
    """What the registry says answers to the typed word is what the picker offers."""
    registry = load_registry()
    page, _ = open_page(browser, space["url"])
    picker = page.locator("#w50-dgms input").first
    picker.wait_for(timeout=60_000)
    picker.click()
    picker.fill(typed)
    page.wait_for_timeout(500)
    offered = [re.sub(r" \(.*$", "", text).strip() for text in page.get_by_role("option").all_inner_texts()]
    matching = {
        config
        for config in config_names()
        if config in registry
        and any(
            typed.lower() in (fact or "").lower()
            for fact in (config, registry.get(config).abbreviation, registry.get(config).family)
        )
    }
    if typed in registry:  # an abbreviation names one DGM
        assert offered == [registry.get(typed).config]
    assert matching and set(offered) == matching


def test_the_picker_finds_dgms_by_size(space, browser):
    page, _ = open_page(browser, space["url"])
    picker = page.locator("#w50-dgms input").first
    picker.wait_for(timeout=60_000)
    picker.click()
    picker.fill("70B")
    page.wait_for_timeout(500)
    offered = {re.sub(r" \(.*$", "", text).strip() for text in page.get_by_role("option").all_inner_texts()}
    registry = load_registry()
    assert {"Llama-3.3-70B", "Llama-3.1-70B", "Athene-70B", "Llama-3.1-Nemotron-70B"} <= offered
    assert all(registry.get(config).params_b == 70 or "70B" in config for config in offered)


def test_the_downloads_hold_what_the_page_shows(space, repository, browser):
    configs = config_names()
    chosen = [configs[6], configs[10], configs[20]]
    wanted_hash = sorted(rows_of(repository, chosen[0]))[1]
    page, _ = open_page(browser, f"{space['url']}?hash={wanted_hash}&dgms={','.join(chosen)}")
    page.locator(f'.w50-cell[data-dgm="{chosen[2]}"]').first.wait_for(timeout=60_000)
    text = page_text(page)
    page.wait_for_timeout(1000)  # the download files are written after the view
    with page.expect_download() as markdown_download:
        page.locator("#w50-markdown").click()
    markdown = Path(markdown_download.value.path()).read_text(encoding="utf-8")
    with page.expect_download() as json_download:
        page.locator("#w50-json").click()
    data = json.loads(Path(json_download.value.path()).read_text(encoding="utf-8"))
    assert data["conversation_hash"] == wanted_hash and data["dgms"] == chosen
    for config in chosen:
        expected = answers(rows_of(repository, config)[wanted_hash])
        assert [turn["answers"][config]["answer"] for turn in data["turns"]] == expected
        for answer in expected:
            assert first_words(answer) in text and answer in markdown
    for turn in data["turns"]:
        assert first_words(turn["user"]) in text and turn["user"] in markdown
        for config in chosen:
            metadata = turn["answers"][config]
            assert f"finish reason {metadata['finish_reason']}" in markdown


@pytest.mark.parametrize("count", [2, 4, 6])
def test_where_they_differ_most_for_any_2_to_6_of_the_54(space, repository, count):
    from gradio_client import Client

    configs = config_names()
    chosen = configs[count::9][:count]  # spread over the registry
    choices, status = Client(space["url"], verbose=False).predict(chosen, False, api_name="/differ_most")
    assert status == f"{len(choices)} conversation(s) where {', '.join(chosen)} differ most"
    held = set.intersection(*(set(rows_of(repository, config)) for config in chosen))
    assert choices and {value for _, value in choices} == held  # every one they all hold, ranked
