"""`wildchat50m push` against a stub Hub on 127.0.0.1: only what changed is sent, and a re-run resumes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.hub_stub import HubStub

TOKEN = "hf_stubTokenThatMustNeverBePrinted0123"
REPO_ID = "wildchat50m-test/pushed"
README = """---
configs:
- config_name: a
  data_files:
  - split: train
    path: data/a/*.parquet
- config_name: b
  data_files:
  - split: train
    path: data/b/*.parquet
---
# A tiny WildChat-50m repository
"""


@pytest.fixture
def hub() -> Iterator[HubStub]:
    with HubStub(token=TOKEN) as stub:
        yield stub


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    """A built repository: README with YAML configs, one parquet shard per config, and local junk."""
    root = tmp_path / "repo"
    (root / "data" / "a").mkdir(parents=True)
    (root / "data" / "b").mkdir(parents=True)
    (root / "README.md").write_text(README, encoding="utf-8")
    write_shard(root / "data" / "a" / "train-00000-of-00001.parquet", ["hello", "bonjour"])
    write_shard(root / "data" / "b" / "train-00000-of-00001.parquet", ["hi"])
    (root / "data" / "b" / "train-00001-of-00002.parquet.partial").write_bytes(b"half a shard")
    (root / ".cache" / "huggingface").mkdir(parents=True)
    (root / ".cache" / "huggingface" / "upload.lock").write_text("local state")
    (root / "data" / "__pycache__").mkdir()
    (root / "data" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    return root


def write_shard(path: Path, answers: list[str]) -> None:
    hashes = [f"hash-{i}" for i in range(len(answers))]
    pq.write_table(pa.table({"conversation_hash": hashes, "answer": answers}), path)


def pushed_files(root: Path) -> dict[str, bytes]:
    """What the Hub should hold after a push of ``root``."""
    names = ["README.md", "data/a/train-00000-of-00001.parquet", "data/b/train-00000-of-00001.parquet"]
    return {name: (root / name).read_bytes() for name in names}


@pytest.fixture
def push(cli, hub: HubStub, repo_dir: Path):
    """Run `wildchat50m push REPO_DIR --repo-id ... --endpoint STUB` the way a user would."""

    def run(*args: str, expect: int = 0, token: str = TOKEN):
        env = {"HF_TOKEN": token, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0"}
        command = ["push", str(repo_dir), "--repo-id", REPO_ID, "--endpoint", hub.url, *args]
        result = cli(*command, expect=expect, env=env)
        assert token not in result.stdout + result.stderr
        for file in repo_dir.rglob("*"):
            assert not file.is_file() or token.encode() not in file.read_bytes(), file
        return result

    return run


def test_first_push_sends_the_whole_repository_one_config_per_commit(push, hub: HubStub, repo_dir: Path):
    result = push("--private")

    assert hub.files(REPO_ID) == pushed_files(repo_dir)
    assert hub.repos[REPO_ID].private
    assert [commit.message for commit in hub.commits] == [
        "Update config a with wildchat50m (part 1/3)",
        "Update config b with wildchat50m (part 2/3)",
        "Update README.md with wildchat50m (part 3/3)",
    ]
    assert "Pushed 3 file(s)" in result.stdout
    assert hub.commits[-1].oid[:12] in result.stdout
    # the parquet shards went through git-LFS, the README inline in the commit
    assert len(hub.lfs_uploads) == 2


def test_a_given_message_names_every_commit(push, hub: HubStub):
    push("--message", "Add the first two DGMs")

    assert [commit.message for commit in hub.commits] == [
        "Add the first two DGMs (part 1/3)",
        "Add the first two DGMs (part 2/3)",
        "Add the first two DGMs (part 3/3)",
    ]


def test_pushing_an_unchanged_repository_sends_nothing(push, hub: HubStub):
    push()
    requests_before = len(hub.requests)

    result = push()

    assert "Nothing changed" in result.stdout
    later = hub.requests[requests_before:]
    assert [request.path for request in later if "/commit/" in request.path or "lfs" in request.path] == []
    assert len(hub.commits) == 3


def test_changing_one_shard_sends_only_that_shard(push, hub: HubStub, repo_dir: Path):
    push()
    write_shard(repo_dir / "data" / "b" / "train-00000-of-00001.parquet", ["hi", "and a second answer"])

    result = push("--message", "Regenerate b")

    assert hub.commits[-1].message == "Regenerate b"
    assert hub.commits[-1].paths == ["data/b/train-00000-of-00001.parquet"]
    assert hub.files(REPO_ID) == pushed_files(repo_dir)
    assert "Pushed 1 file(s)" in result.stdout and "2 unchanged file(s) skipped" in result.stdout


def test_an_interrupted_push_completes_when_run_again(push, hub: HubStub, repo_dir: Path):
    hub.fail_commit(2)

    failed = push("--retries", "0", expect=1)

    assert "push to wildchat50m-test/pushed failed" in failed.stderr
    assert list(hub.files(REPO_ID)) == ["data/a/train-00000-of-00001.parquet"]

    resumed = push()

    assert [commit.paths for commit in hub.commits] == [
        ["data/a/train-00000-of-00001.parquet"],
        ["data/b/train-00000-of-00001.parquet"],
        ["README.md"],
    ]
    assert hub.files(REPO_ID) == pushed_files(repo_dir)
    assert "Pushed 2 file(s)" in resumed.stdout and "1 unchanged file(s) skipped" in resumed.stdout


def test_create_pr_leaves_main_alone_and_prints_the_pull_request(push, hub: HubStub, repo_dir: Path):
    push()
    (repo_dir / "README.md").write_text(README + "\nNow with a longer card.\n", encoding="utf-8")

    result = push("--create-pr")

    assert f"{hub.url}/datasets/{REPO_ID}/discussions/1" in result.stdout
    assert hub.files(REPO_ID, "refs/pr/1") == pushed_files(repo_dir)
    assert hub.files(REPO_ID)["README.md"] == README.encode()


def test_a_revision_is_a_branch_created_from_main(push, hub: HubStub, repo_dir: Path):
    push()
    write_shard(repo_dir / "data" / "a" / "train-00000-of-00001.parquet", ["other"])

    push("--revision", "v2")

    assert hub.files(REPO_ID, "v2") == pushed_files(repo_dir)
    assert hub.commits[-1].paths == ["data/a/train-00000-of-00001.parquet"]
    assert hub.files(REPO_ID) != pushed_files(repo_dir)


def test_a_rejected_token_says_how_to_log_in_without_echoing_it(push, hub: HubStub):
    result = push(expect=1, token="hf_notTheRightTokenEither456")

    assert "hf auth login" in result.stderr and "HF_TOKEN" in result.stderr
    assert hub.commits == []


def test_a_push_answered_429_and_503_retries_and_completes(push, hub: HubStub, repo_dir: Path):
    hub.throttle("/tree/", [429])
    hub.throttle("/preupload/", [503])
    hub.throttle("/commit/", [503, 429])

    result = push()

    assert hub.files(REPO_ID) == pushed_files(repo_dir)
    assert sorted(status for status, _ in hub.throttled) == [429, 429, 503, 503]
    # huggingface_hub asks again itself on some calls; the push's own backoff took the rest
    retried = int(re.search(r"(\d+) request\(s\) retried after 429/5xx", result.stdout).group(1))
    assert 1 <= retried <= 4
    assert [commit.paths for commit in hub.commits] == [
        ["data/a/train-00000-of-00001.parquet"], ["data/b/train-00000-of-00001.parquet"], ["README.md"],
    ]  # fmt: skip


def test_a_second_push_of_an_unchanged_repository_reads_no_file(push, hub: HubStub, repo_dir: Path):
    import os

    first = push()
    assert "3 file(s) read to hash them" in first.stdout
    shard = repo_dir / "data" / "a" / "train-00000-of-00001.parquet"
    # Same size, same mtime, other bytes: only a push that reads the file could tell.
    stat = shard.stat()
    shard.write_bytes(b"x" * stat.st_size)
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    requests_before = len(hub.requests)

    second = push()

    assert "0 file(s) read to hash them" in second.stdout and "Nothing changed" in second.stdout
    assert [r.path for r in hub.requests[requests_before:] if "/commit/" in r.path or "lfs" in r.path] == []
    shard.write_bytes(b"y" * (stat.st_size + 1))  # a changed size is read, hashed and sent
    third = push()
    assert "1 file(s) read to hash them" in third.stdout and hub.commits[-1].paths == [
        "data/a/train-00000-of-00001.parquet"
    ]


def test_a_dry_run_lists_the_commits_and_sends_nothing(push, hub: HubStub, repo_dir: Path):
    result = push("--dry-run")

    assert "Dry run: 3 file(s) would be sent" in result.stdout and "in 3 commit(s)" in result.stdout
    assert "  commit 3: README.md" in result.stdout
    assert hub.commits == [] and hub.lfs_uploads == [] and REPO_ID not in hub.repos
    push()
    write_shard(repo_dir / "data" / "b" / "train-00000-of-00001.parquet", ["changed"])
    assert "  commit 1: data/b/train-00000-of-00001.parquet" in push("--dry-run").stdout
    assert len(hub.commits) == 3
