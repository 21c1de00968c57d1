"""A stub of the Hugging Face Hub HTTP API on 127.0.0.1, just enough for ``wildchat50m push``.

It answers what ``huggingface_hub`` 2.4 calls for ``create_repo``, ``list_repo_tree``,
``create_branch`` and ``create_commit`` with ``HF_HUB_DISABLE_XET=1``: repo creation, the
tree listing (git blob sha1 for regular files, sha256 for LFS files), README YAML validation,
``preupload`` (regular or LFS, with the remote oid so unchanged files can be recognised), the
git-LFS batch API with a single-part PUT, and the NDJSON ``commit`` endpoint (with pull requests).
Every request is recorded, every commit kept, and a commit can be made to fail on purpose.

It also serves what it holds, as readers of a dataset ask for it: the tree of one folder
(``HfFileSystem.ls``), ``paths-info``, and ``resolve`` downloads, HEAD and GET, whole or by HTTP
range (``Range: bytes=a-b`` answered with 206). Each request records the bytes of file content
it sent, so a test can count what a reader transferred.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".parquet", ".arrow")


def git_blob_sha1(content: bytes) -> str:
    """The oid git gives a blob: sha1 of ``blob <size>\\0`` followed by the content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Request:
    """One request the stub received (bodies are not kept: they may be large)."""

    method: str
    path: str
    query: dict[str, list[str]]
    sent: int = 0
    """Bytes of file content sent in the answer (resolve downloads)."""


@dataclass
class Commit:
    """One commit the stub accepted."""

    oid: str
    revision: str
    message: str
    paths: list[str]
    pull_request: int | None = None


@dataclass
class Repo:
    """A dataset repository: files (path -> bytes, LFS or not) per branch or PR ref."""

    repo_id: str
    private: bool
    branches: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"main": {}})
    heads: dict[str, str] = field(default_factory=lambda: {"main": "0" * 40})
    pull_requests: int = 0


class HubStub:
    """The stub server; use it as a context manager and point ``HfApi(endpoint=...)`` at ``url``.

    ``token`` is the only bearer token accepted. ``fail_commit(n)`` makes the n-th commit request
    from now on answer 500 without changing anything, as if the push was cut off there.
    """

    def __init__(self, token: str, *, lfs_threshold: int = 10 * 1024 * 1024) -> None:
        self.token = token
        self.lfs_threshold = lfs_threshold
        self.repos: dict[str, Repo] = {}
        self.requests: list[Request] = []
        self.commits: list[Commit] = []
        self.lfs_objects: dict[str, bytes] = {}
        self.lfs_uploads: list[str] = []
        self._commit_requests = 0
        self._fail_at: int | None = None
        self._oids: dict[int, tuple[bytes, str]] = {}
        self._throttled: list[list[Any]] = []
        self.throttled: list[tuple[int, str]] = []
        """(status, path) of every request answered by :meth:`throttle` instead of served."""
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HubStub:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def fail_commit(self, nth: int) -> None:
        """Answer the ``nth`` commit request from now on (1 = the next one) with a 500."""
        self._fail_at = self._commit_requests + nth

    def throttle(self, fragment: str, statuses: list[int]) -> None:
        """Answer the next requests whose path contains ``fragment`` with ``statuses``, one each, in order.

        429 comes with ``Retry-After: 0``; any other status as a plain error. Then they are served.
        """
        with self._lock:
            self._throttled.append([fragment, list(statuses)])

    def _throttled_status(self, path: str) -> int | None:
        with self._lock:
            for rule in self._throttled:
                if rule[0] in path and rule[1]:
                    status = rule[1].pop(0)
                    self.throttled.append((status, path))
                    return status
        return None

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of a branch (or ``refs/pr/N``) of a repository."""
        return dict(self.repos[repo_id].branches[revision])

    def requests_to(self, fragment: str) -> list[Request]:
        """The recorded requests whose path contains ``fragment``."""
        return [request for request in self.requests if fragment in request.path]

    def bytes_sent(self, fragment: str = "") -> int:
        """File bytes sent so far by downloads whose path contains ``fragment``."""
        return sum(request.sent for request in self.requests if fragment in request.path)

    def resolve(self, path: str) -> tuple[Repo, str, bytes, str] | None:
        """``/datasets/<org>/<name>/resolve/<revision>/<file>`` -> (repo, revision, content, file)."""
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if len(parts) < 6 or parts[0] != "datasets" or parts[3] != "resolve":
            return None
        repo = self.repos.get(f"{parts[1]}/{parts[2]}")
        if repo is None or parts[4] not in repo.branches:
            return None
        name = "/".join(parts[5:])
        content = repo.branches[parts[4]].get(name)
        return None if content is None else (repo, parts[4], content, name)

    # ------------------------------------------------------------ the API

    def is_lfs(self, path: str, size: int) -> bool:
        return path.endswith(LFS_SUFFIXES) or size >= self.lfs_threshold

    def oid(self, path: str, content: bytes) -> str:
        """What preupload reports as a file's remote oid: sha256 for LFS files, git sha1 otherwise.

        Kept per content object, so serving ranges of a large file does not hash it on every request.
        """
        kept = self._oids.get(id(content))
        if kept is not None and kept[0] is content and self.is_lfs(path, len(content)):
            return kept[1]
        if self.is_lfs(path, len(content)):
            oid = hashlib.sha256(content).hexdigest()
            self._oids[id(content)] = (content, oid)
            return oid
        return git_blob_sha1(content)

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        """Route one request: (status, JSON body), or for errors (status, (code, message[, extra fields]))."""
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if parts[:1] == ["lfs-upload"] and method == "PUT":
            return self._lfs_put(parts[1], body)
        if method == "POST" and parts == ["api", "repos", "create"]:
            return self._create_repo(json.loads(body))
        if method == "POST" and parts == ["api", "validate-yaml"]:
            return 200, {"errors": [], "warnings": []}
        if len(parts) > 2 and parts[0] == "datasets" and parts[2].endswith(".git") and method == "POST":
            repo = self.repos.get(f"{parts[1]}/{parts[2].removesuffix('.git')}")
            if repo is None:
                return 404, ("RepoNotFound", "Repository not found")
            return self._lfs_batch(json.loads(body))
        if parts[:2] != ["api", "datasets"] or len(parts) < 4:
            return 404, ("EntryNotFound", f"no route for {method} {path}")
        repo = self.repos.get(f"{parts[2]}/{parts[3]}")
        if repo is None:
            return 404, ("RepoNotFound", "Repository not found")
        action = parts[4] if len(parts) > 4 else ""
        revision = parts[5] if len(parts) > 5 else "main"
        if method == "GET" and action in ("", "revision"):
            if revision not in repo.branches:
                return 404, ("RevisionNotFound", "Revision not found")
            return 200, {"id": repo.repo_id, "private": repo.private, "sha": repo.heads[revision]}
        if action == "tree" and method == "GET":
            return self._tree(repo, revision, "/".join(parts[6:]), query.get("recursive") == ["true"])
        if action == "paths-info" and method == "POST":
            return self._paths_info(repo, revision, body)
        if action == "branch" and method == "POST":
            return self._create_branch(repo, revision)
        if revision not in repo.branches:
            return 404, ("RevisionNotFound", "Revision not found")
        if action == "preupload" and method == "POST":
            return self._preupload(repo, revision, json.loads(body))
        if action == "commit" and method == "POST":
            return self._commit(repo, revision, body, create_pr=query.get("create_pr") == ["1"])
        return 404, ("EntryNotFound", f"no route for {method} {path}")

    def _create_repo(self, payload: dict[str, Any]) -> tuple[int, Any]:
        repo_id = f"{payload['organization']}/{payload['name']}"
        if payload.get("type") != "dataset":
            return 400, ("BadRequest", "this stub only hosts datasets")
        if repo_id in self.repos:
            return 409, ("RepoExists", "You already created this dataset repo", {"url": self._url(repo_id)})
        self.repos[repo_id] = Repo(repo_id, private=payload.get("visibility") == "private")
        return 200, {"url": self._url(repo_id), "name": repo_id}

    def _url(self, repo_id: str) -> str:
        return f"{self.url}/datasets/{repo_id}"

    def _create_branch(self, repo: Repo, branch: str) -> tuple[int, Any]:
        if branch in repo.branches:
            return 409, ("BranchExists", "Reference already exists")
        repo.branches[branch] = dict(repo.branches["main"])
        repo.heads[branch] = repo.heads["main"]
        return 200, {}

    def _tree(self, repo: Repo, revision: str, folder: str = "", recursive: bool = True) -> tuple[int, Any]:
        """Files under ``folder``: all of them, or (not recursive) those in it and its subfolders."""
        files = repo.branches.get(revision)
        if files is None:
            return 404, ("RevisionNotFound", "Revision not found")
        prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
        under = {path: content for path, content in files.items() if path.startswith(prefix)}
        if recursive:
            return 200, [self._entry(path, content) for path, content in sorted(under.items())]
        direct = [self._entry(p, c) for p, c in sorted(under.items()) if "/" not in p[len(prefix) :]]
        folders = sorted({prefix + p[len(prefix) :].split("/")[0] for p in under if "/" in p[len(prefix) :]})
        return 200, direct + [
            {"type": "directory", "path": name, "oid": git_blob_sha1(name.encode())} for name in folders
        ]

    def _paths_info(self, repo: Repo, revision: str, body: bytes) -> tuple[int, Any]:
        asked = parse_qs(body.decode()).get("paths") or json.loads(body or b"{}").get("paths", [])
        files = repo.branches[revision]
        return 200, [self._entry(path, files[path]) for path in asked if path in files]

    def _entry(self, path: str, content: bytes) -> dict[str, Any]:
        """A tree entry: git blob sha1 for regular files, sha256 for LFS files."""
        entry: dict[str, Any] = {"type": "file", "path": path, "size": len(content)}
        if self.is_lfs(path, len(content)):
            entry["oid"] = git_blob_sha1(b"lfs pointer for " + path.encode())
            entry["lfs"] = {
                "oid": self.oid(path, content),
                "size": len(content),
                "pointerSize": 134,
            }
        else:
            entry["oid"] = git_blob_sha1(content)
        return entry

    def _preupload(self, repo: Repo, revision: str, payload: dict[str, Any]) -> tuple[int, Any]:
        current = repo.branches[revision]
        answers = []
        for file in payload["files"]:
            path, size = file["path"], file["size"]
            remote = current.get(path)
            answers.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if self.is_lfs(path, size) else "regular",
                    "shouldIgnore": False,
                    "oid": None if remote is None else self.oid(path, remote),
                }
            )
        return 200, {"files": answers}

    def _lfs_batch(self, payload: dict[str, Any]) -> tuple[int, Any]:
        objects = []
        for obj in payload["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.lfs_objects:
                answer["actions"] = {"upload": {"href": f"{self.url}/lfs-upload/{obj['oid']}"}}
            objects.append(answer)
        return 200, {"transfer": "basic", "objects": objects}

    def _lfs_put(self, oid: str, body: bytes) -> tuple[int, Any]:
        if hashlib.sha256(body).hexdigest() != oid:
            return 400, ("BadRequest", "sha256 mismatch")
        self.lfs_objects[oid] = body
        self.lfs_uploads.append(oid)
        return 200, {}

    def _commit(self, repo: Repo, revision: str, body: bytes, *, create_pr: bool) -> tuple[int, Any]:
        self._commit_requests += 1
        if self._fail_at == self._commit_requests:
            return 500, ("InternalError", "the stub was told to fail this commit")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        files = dict(repo.branches[revision])
        paths = []
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                if value["oid"] not in self.lfs_objects:
                    return 400, ("BadRequest", f"LFS object {value['oid']} was never uploaded")
                files[value["path"]] = self.lfs_objects[value["oid"]]
            elif key in ("deletedFile", "deletedFolder"):
                files = {p: c for p, c in files.items() if p != value["path"]}
            else:
                continue
            paths.append(value["path"])
        oid = hashlib.sha1(f"{repo.heads[revision]}{header['summary']}{sorted(files)}".encode()).hexdigest()
        target, number = revision, None
        if create_pr:
            repo.pull_requests += 1
            number = repo.pull_requests
            target = f"refs/pr/{number}"
        repo.branches[target], repo.heads[target] = files, oid
        self.commits.append(Commit(oid, target, header["summary"], paths, number))
        answer = {"commitOid": oid, "commitUrl": f"{self.url}/datasets/{repo.repo_id}/commit/{oid}"}
        if number is not None:
            answer["pullRequestUrl"] = f"{self.url}/datasets/{repo.repo_id}/discussions/{number}"
        return 200, answer


def _handler(stub: HubStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read ``stub.requests`` instead."""

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _download(self, url: Any) -> bool:
            """Answer a ``resolve`` HEAD or GET (whole file or one byte range); False if not one."""
            found = stub.resolve(url.path)
            if found is None:
                return False
            repo, revision, content, name = found
            record = Request(self.command, url.path, parse_qs(url.query))
            if repo.private and self.headers.get("Authorization") != f"Bearer {stub.token}":
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return True
            start, end, status = 0, len(content) - 1, 200
            asked = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
            if asked:
                start = int(asked.group(1))
                end = min(int(asked.group(2)) if asked.group(2) else len(content) - 1, len(content) - 1)
                status = 206
            if asked and start >= len(content):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return True
            piece = content[start : end + 1]
            etag = stub.oid(name, content)
            self.send_response(status)
            self.send_header("Content-Length", str(len(piece)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{etag}"')
            self.send_header(
                "X-Repo-Commit", repo.heads[revision] if len(repo.heads[revision]) == 40 else "0" * 40
            )
            if stub.is_lfs(name, len(content)):
                self.send_header("X-Linked-Etag", f'"{etag}"')
                self.send_header("X-Linked-Size", str(len(content)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(content)}")
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(piece)
                record.sent = len(piece)
            with stub._lock:
                stub.requests.append(record)
            return True

        def _serve(self) -> None:
            url = urlsplit(self.path)
            body = b"" if self.command in ("GET", "HEAD") else self._body()
            throttled = stub._throttled_status(url.path)
            if throttled is not None:
                data = json.dumps({"error": "the stub was told to answer this request so"}).encode()
                self.send_response(throttled)
                if throttled == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if self.command in ("GET", "HEAD") and self._download(url):
                return
            with stub._lock:
                stub.requests.append(Request(self.command, url.path, parse_qs(url.query)))
                needs_token = not url.path.startswith("/lfs-upload/")
                if needs_token and self.headers.get("Authorization") != f"Bearer {stub.token}":
                    status, answer = 401, ("Unauthorized", "Invalid credentials in Authorization header")
                else:
                    status, answer = stub.handle(self.command, url.path, parse_qs(url.query), body)
            headers = {"Content-Type": "application/json"}
            if status >= 400:
                code, message, *extra = answer
                headers["X-Error-Code"] = code
                headers["X-Error-Message"] = message
                answer = {"error": message, **(extra[0] if extra else {})}
            data = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_HEAD = do_POST = do_PUT = _serve

    return Handler
