"""Push a built dataset repository directory to the Hugging Face Hub, sending only what changed.

Each local file is hashed twice (sha256, the LFS oid, and the git blob sha1, the oid of a regular
file) and compared with the remote tree, so an unchanged file is never sent
again and an unchanged repository makes no commit at all. The hashes are kept in
``.cache/wildchat50m/push-hashes.json`` under the repository directory, keyed by path, size and
modification time: a file whose size and mtime are unchanged is not read again, so re-pushing an
unchanged repository of 10 GB reads no file content (hashing it costs ~1.3 s per GB here). Every
call to the Hub that answers 429 or 5xx is retried with exponential backoff (``Retry-After``
honoured); a commit is retried whole, which is safe: LFS objects already uploaded are not sent
again, and at worst a commit that went through despite its error answer is followed by one that
changes nothing.

Why not ``huggingface_hub.upload_large_folder``: it commits files in whatever order its workers
finish, so it cannot keep the README (whose YAML declares the configs) for last, nor one commit per
config; its own cache of hashes also lives in the folder (``.cache/huggingface/``). This push
keeps both promises, and the hash cache and retries bring what a re-run of it costs to what
``upload_large_folder`` costs: the remote tree, and nothing read from disk.

What changed is committed in batches, one per config (``data/<config>/``, split when large) and
the root files (README.md) last: an interrupted push leaves whole configs committed, and running
it again sends only the rest.

The token comes from ``huggingface_hub``'s usual sources (``token=``, ``HF_TOKEN``, the stored
login) and is passed to nothing but ``HfApi``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from wildchat50m.errors import WildChat50mError

#: ``.imports`` holds the run directories of imported releases (builders/importer.py), not repository data.
SKIPPED_DIRS = frozenset({".git", "__pycache__", ".cache", ".imports"})
SKIPPED_SUFFIXES = (".partial",)
MAX_FILES_PER_COMMIT = 100
MAX_BYTES_PER_COMMIT = 20 * 1024**3
REPO_TYPE = "dataset"
HASH_CACHE = Path(".cache") / "wildchat50m" / "push-hashes.json"
#: Statuses worth asking again: rate limited, or the Hub's side failed.
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRIES = 5
BACKOFF_SECONDS = 1.0


class PushError(WildChat50mError):
    """The push could not be completed; ``status`` is the HTTP status when the Hub answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LocalFile:
    """A file of the repository directory with both oids the Hub may report for it."""

    path: str
    source: Path
    size: int
    sha256: str
    git_sha1: str

    @property
    def config(self) -> str | None:
        """The config a ``data/<config>/...`` file belongs to; None for root files."""
        parts = PurePosixPath(self.path).parts
        return parts[1] if len(parts) > 2 and parts[0] == "data" else None


@dataclass
class CommitRecord:
    """One commit made by a push."""

    oid: str
    url: str
    message: str
    files: list[str]


@dataclass
class PushReport:
    """What a push sent, what it found already on the Hub, and the commits it made."""

    repo_id: str
    revision: str
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    remote_only: list[str] = field(default_factory=list)
    commits: list[CommitRecord] = field(default_factory=list)
    pr_url: str | None = None
    dry_run: bool = False
    planned: list[list[str]] = field(default_factory=list)
    """The commits a push makes (or, with ``dry_run``, would make): the paths of each."""
    hashed: list[str] = field(default_factory=list)
    """Files whose content was read to hash it (the others came from the hash cache)."""
    retries: int = 0

    @property
    def nothing_changed(self) -> bool:
        return not self.sent

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "sent": self.sent,
            "skipped": self.skipped,
            "remote_only": self.remote_only,
            "commits": [vars(commit) for commit in self.commits],
            "pr_url": self.pr_url,
            "dry_run": self.dry_run,
            "planned": self.planned,
            "hashed": self.hashed,
            "retries": self.retries,
        }


def local_files(repo_dir: Path, hashed: list[str] | None = None) -> list[LocalFile]:
    """Every file to push, sorted by path; leaves out .git, caches and unfinished ``*.partial`` files.

    Hashes come from the hash cache when a file's size and mtime are those recorded; the paths of
    the files read to hash them are appended to ``hashed``.
    """
    cache_path = repo_dir / HASH_CACHE
    try:
        cached = json.loads(cache_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    kept: dict[str, Any] = {}
    found = []
    for root, dirs, names in os.walk(repo_dir):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(SKIPPED_SUFFIXES))
        for name in sorted(names):
            if name.endswith(SKIPPED_SUFFIXES):
                continue
            source = Path(root) / name
            path = source.relative_to(repo_dir).as_posix()
            stat = source.stat()
            entry = cached.get(path)
            if not (
                isinstance(entry, dict)
                and entry.get("size") == stat.st_size
                and entry.get("mtime_ns") == stat.st_mtime_ns
                and {"sha256", "git_sha1"} <= set(entry)
            ):
                sha256, git_sha1, _ = _hashes(source)
                entry = {
                    "size": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                    "sha256": sha256,
                    "git_sha1": git_sha1,
                }
                if hashed is not None:
                    hashed.append(path)
            kept[path] = entry
            found.append(LocalFile(path, source, stat.st_size, entry["sha256"], entry["git_sha1"]))
    if kept != cached:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        staged = cache_path.with_name(cache_path.name + ".partial")
        staged.write_text(json.dumps(kept, indent=0, sort_keys=True), encoding="utf-8")
        staged.replace(cache_path)
    return sorted(found, key=lambda file: file.path)


def with_retries(
    call: Callable[[], Any],
    *,
    retries: int = RETRIES,
    backoff: float = BACKOFF_SECONDS,
    on_retry: Callable[[int, float], None] | None = None,
) -> Any:
    """``call()``, asked again after a 429 or 5xx answer, waiting ``backoff`` x 2^attempt (jittered)."""
    from huggingface_hub.errors import HfHubHTTPError

    for attempt in range(retries + 1):
        try:
            return call()
        except HfHubHTTPError as error:
            status = error.response.status_code if error.response is not None else None
            if status not in RETRIED_STATUSES or attempt == retries:
                raise
            asked = error.response.headers.get("Retry-After", "") if error.response is not None else ""
            wait = float(asked) if asked.isdigit() else backoff * 2**attempt * (0.5 + random.random())
            if on_retry is not None:
                on_retry(status, wait)
            time.sleep(min(wait, 60.0))
    raise AssertionError("unreachable")


def _hashes(path: Path) -> tuple[str, str, int]:
    size = path.stat().st_size
    sha256, sha1 = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha256.update(chunk)
            sha1.update(chunk)
    return sha256.hexdigest(), sha1.hexdigest(), size


def plan_commits(changed: list[LocalFile]) -> list[list[LocalFile]]:
    """Group changed files into commits: one per config (split when large), then the root files."""
    groups: dict[str | None, list[LocalFile]] = {}
    for file in changed:
        groups.setdefault(file.config, []).append(file)
    order = sorted(key for key in groups if key is not None) + ([None] if None in groups else [])
    return [batch for key in order for batch in _split(groups[key])]


def _split(files: list[LocalFile]) -> Iterator[list[LocalFile]]:
    batch: list[LocalFile] = []
    size = 0
    for file in files:
        if batch and (len(batch) >= MAX_FILES_PER_COMMIT or size + file.size > MAX_BYTES_PER_COMMIT):
            yield batch
            batch, size = [], 0
        batch.append(file)
        size += file.size
    if batch:
        yield batch


def describe(files: list[LocalFile]) -> str:
    """A default commit message naming the configs (and root files) a commit changes."""
    configs = sorted({file.config for file in files if file.config is not None})
    others = sorted(file.path for file in files if file.config is None)
    what = []
    if configs:
        what.append(("config " if len(configs) == 1 else "configs ") + ", ".join(configs))
    if others:
        what.append(", ".join(others))
    return f"Update {' and '.join(what)} with wildchat50m"


def push_repository(
    repo_dir: Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    dry_run: bool = False,
    retries: int = RETRIES,
    backoff: float = BACKOFF_SECONDS,
) -> PushReport:
    """Create the dataset repo if needed and commit the files of ``repo_dir`` that differ from it.

    With ``create_pr`` every change goes into one commit that opens a pull request against
    ``revision`` (default: main); running it again opens another one, so it is not resumable.
    Remote files absent locally are left alone and listed in ``remote_only``. With ``dry_run``
    nothing is created or sent: the report lists the commits the push would make.
    """
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_dir = Path(repo_dir)
    if not (repo_dir / "README.md").is_file():
        raise PushError(f"{repo_dir} is not a built dataset repository (it has no README.md)")
    branch = revision or "main"
    report = PushReport(repo_id, branch, dry_run=dry_run)
    api = HfApi(endpoint=endpoint, token=token)

    def count_retry(status: int, wait: float) -> None:
        report.retries += 1

    def retried(call: Callable[[], Any]) -> Any:
        return with_retries(call, retries=retries, backoff=backoff, on_retry=count_retry)

    try:
        files = local_files(repo_dir, report.hashed)
        if dry_run:
            try:
                remote = retried(lambda: _remote_oids(api, repo_id, branch))
            except (RevisionNotFoundError, RepositoryNotFoundError):
                remote = {}
        else:
            # private=None leaves a new repository to the namespace's default visibility
            retried(
                lambda: api.create_repo(repo_id, repo_type=REPO_TYPE, private=private or None, exist_ok=True)
            )
            try:
                remote = retried(lambda: _remote_oids(api, repo_id, branch))
            except RevisionNotFoundError:
                if branch == "main":
                    raise
                retried(lambda: api.create_branch(repo_id, branch=branch, repo_type=REPO_TYPE, exist_ok=True))
                remote = retried(lambda: _remote_oids(api, repo_id, branch))
        changed = [file for file in files if not {file.sha256, file.git_sha1} & remote.get(file.path, set())]
        changed_paths = {file.path for file in changed}
        report.skipped = [file.path for file in files if file.path not in changed_paths]
        local_paths = {file.path for file in files}
        report.remote_only = sorted(path for path in remote if path not in local_paths)
        batches = [changed] if create_pr and changed else plan_commits(changed)
        report.planned = [[file.path for file in batch] for batch in batches]
        if dry_run:
            return report
        for number, batch in enumerate(batches, start=1):
            message = commit_message or describe(batch)
            if len(batches) > 1:
                message = f"{message} (part {number}/{len(batches)})"
            info = retried(
                lambda batch=batch, message=message: api.create_commit(
                    repo_id,
                    operations=[CommitOperationAdd(file.path, str(file.source)) for file in batch],
                    commit_message=message,
                    repo_type=REPO_TYPE,
                    revision=revision,
                    create_pr=create_pr,
                )
            )
            report.commits.append(CommitRecord(info.oid, info.commit_url, message, [f.path for f in batch]))
            report.sent += [file.path for file in batch]
            report.pr_url = info.pr_url or report.pr_url
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        hint = ""
        if status in (401, 403):
            hint = "\nLog in with `hf auth login` or set HF_TOKEN to a token with write access to it."
        raise PushError(_without_token(f"push to {repo_id} failed: {error}{hint}"), status) from None
    except (OSError, HFValidationError, *_transport_errors()) as error:
        raise PushError(
            _without_token(f"push to {repo_id} failed: {type(error).__name__}: {error}")
        ) from None
    return report


def _without_token(text: str) -> str:
    """Errors may quote requests; make sure no token of the usual sources is ever echoed."""
    from huggingface_hub import get_token

    token = get_token()
    return text.replace(token, "hf_***") if token else text


def _remote_oids(api: Any, repo_id: str, revision: str) -> dict[str, set[str]]:
    """Path -> the oid meaning "same content": the sha256 of an LFS file, the git blob sha1 of others."""
    oids: dict[str, set[str]] = {}
    for entry in api.list_repo_tree(repo_id, recursive=True, revision=revision, repo_type=REPO_TYPE):
        if hasattr(entry, "lfs"):
            oids[entry.path] = {entry.lfs.sha256 if entry.lfs is not None else entry.blob_id}
    return oids


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection errors of the HTTP client huggingface_hub uses (httpx2 in 2.x, httpx before)."""
    errors = []
    for module in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(module).HTTPError)
        except ImportError:
            continue
    return tuple(errors)
