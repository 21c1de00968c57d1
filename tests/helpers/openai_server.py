"""A real OpenAI-compatible chat server on 127.0.0.1 for the engine tests, with faults on demand.

Answers are a deterministic function of ``(messages, seed, max_tokens)`` (see
:func:`expected_answer`), so a run that survived faults can be compared with a
fault-free one word for word. Tokens are whitespace-separated words: usage
counts words, and an answer longer than ``max_tokens`` words is cut there with
``finish_reason="length"``.

A request is known by its *key*, the content of its last message. Faults are
scheduled per key and attempt (the n-th request the server receives for that
key)::

    with FakeChatServer() as server:
        server.inject("question 1", http_error(500), DROP)   # 1st attempt 500, 2nd dropped, 3rd answered
        server.inject_always("question 2", http_error(503))  # never answered
        server.fault_for = lambda key, attempt: HANG if attempt == 0 else None  # or any rule
        ...
        server.requests_per_key["question 1"]  # -> 3

Shutting down wakes hung handlers, closes every open connection and joins
the handler threads, so a test leaves no thread behind.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "wizards")


@dataclass(frozen=True)
class Fault:
    """What the server does to one attempt instead of answering it normally.

    ``kind`` is one of ``status`` (answer ``status`` with an OpenAI-style error
    body and, if given, a ``Retry-After`` header), ``hang`` (wait ``seconds``,
    then answer normally if the client is still there), ``drop`` (close the
    connection without a response), ``reset`` (abort it with a TCP RST),
    ``malformed_json`` (200 with a body that is not JSON) and ``no_choices``
    (200 with valid JSON that lacks ``choices``).
    """

    kind: str
    status: int = 500
    retry_after: str | None = None
    seconds: float = 30.0


def http_error(status: int = 500, retry_after: str | None = None) -> Fault:
    """Answer with HTTP ``status``."""
    return Fault("status", status=status, retry_after=retry_after)


def rate_limited(retry_after: str | None = "0") -> Fault:
    """Answer 429 Too Many Requests with a ``Retry-After`` header (seconds, or an HTTP date)."""
    return http_error(429, retry_after)


def hang(seconds: float = 30.0) -> Fault:
    """Sit on the request for ``seconds`` (shutdown cuts it short) before answering."""
    return Fault("hang", seconds=seconds)


HANG = hang()
DROP = Fault("drop")
RESET = Fault("reset")
MALFORMED_JSON = Fault("malformed_json")
NO_CHOICES = Fault("no_choices")


@dataclass(frozen=True)
class Answer:
    """What a fault-free server answers to one request."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    token_logprobs: tuple[float, ...]


def prompt_words(messages: Sequence[dict[str, Any]]) -> int:
    """The prompt's token count: whitespace-separated words over all message contents."""
    return sum(len(str(m.get("content") or "").split()) for m in messages)


def expected_answer(messages: Sequence[dict[str, Any]], seed: int, max_tokens: int) -> Answer:
    """The answer: 1-24 words picked by a hash of the messages and the seed, cut at ``max_tokens``."""
    digest = hashlib.sha256(json.dumps([list(messages), seed], sort_keys=True).encode()).digest()
    full_length = 1 + digest[0] % 24
    stream = hashlib.shake_256(digest).digest(2 * full_length)
    words = [_WORDS[stream[2 * i] % len(_WORDS)] for i in range(full_length)]
    logprobs = tuple(-(stream[2 * i + 1] + 1) / 64 for i in range(full_length))
    cut = max(0, max_tokens)
    return Answer(
        text=" ".join(words[:cut]),
        finish_reason="length" if full_length > cut else "stop",
        prompt_tokens=prompt_words(messages),
        completion_tokens=min(full_length, cut),
        token_logprobs=logprobs[:cut],
    )


def top_alternatives(token: str, logprob: float, count: int) -> list[dict[str, Any]]:
    """``count`` likeliest tokens at one position: the chosen one, then 1, 2, ... each half as likely."""
    alternatives = [{"token": token, "logprob": logprob, "bytes": list(token.encode())}]
    for rank in range(1, count):
        text = str(rank)
        alternatives.append(
            {"token": text, "logprob": logprob - rank * 0.6931471805599453, "bytes": list(text.encode())}
        )
    return alternatives[:count]


def request_key(body: dict[str, Any]) -> str:
    """The key faults are scheduled by: the content of the request's last message."""
    messages = body.get("messages") or [{}]
    return str(messages[-1].get("content", ""))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # never block interpreter exit; FakeChatServer joins its threads itself
    request_queue_size = 256  # many clients connect at once
    owner: FakeChatServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):  # a client that went away is expected; anything else is a bug
            self.owner.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real inference server
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stalls
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._untrack(self.connection)

    def do_GET(self) -> None:
        owner = self.server.owner
        if self.path.rstrip("/") == "/v1/models":
            self.send_json(200, owner.models_answer())
        else:
            self.send_json(404, _error_body(f"no route {self.path}", "NotFoundError", 404))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self.send_json(404, _error_body(f"no route {self.path}", "NotFoundError", 404))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self.send_json(400, _error_body("request body is not JSON", "BadRequestError", 400))
            return
        self.server.owner._chat(self, body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), headers)

    def send_bytes(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _error_body(message: str, kind: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class FakeChatServer:
    """The OpenAI chat completions API on ``127.0.0.1:<free port>``, as a context manager.

    ``max_prompt_words`` makes longer prompts fail with 400 (vLLM's answer to a
    prompt over the context length); ``latency`` delays every normal answer;
    ``api_key``, when set, must come as ``Authorization: Bearer <api_key>`` or
    the answer is 401. ``peak_in_flight`` is the most chat requests the server
    was handling at once (hung ones included, even after their client gave up).
    """

    def __init__(
        self,
        *,
        model: str = "fake/chat-model",
        max_prompt_words: int | None = None,
        latency: float = 0.0,
        api_key: str | None = None,
    ) -> None:
        self.model = model
        self.max_prompt_words = max_prompt_words
        self.latency = latency
        self.api_key = api_key
        self.faults: dict[str, list[Fault | None]] = {}
        self.always: dict[str, Fault] = {}
        self.fault_for: Callable[[str, int], Fault | None] | None = None
        self.requests_per_key: Counter[str] = Counter()
        self.bodies: dict[str, list[dict[str, Any]]] = {}
        self.faults_served: Counter[str] = Counter()
        self.errors: list[BaseException] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- the test's controls ------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, what an OpenAI client takes."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def inject(self, key: str, *faults: Fault | None) -> None:
        """Fault the first attempts of ``key`` in turn (``None`` answers that attempt normally)."""
        self.faults[key] = list(faults)

    def inject_always(self, key: str, fault: Fault) -> None:
        """Fault every attempt of ``key``."""
        self.always[key] = fault

    def models_answer(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": self.model, "object": "model", "owned_by": "fake", "max_model_len": 4096}],
        }

    # -- life cycle ---------------------------------------------------------

    def __enter__(self) -> FakeChatServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        serve = functools.partial(self._httpd.serve_forever, poll_interval=0.05)
        self._thread = threading.Thread(target=serve, name="fake-chat-server", daemon=True)
        self._thread.start()

    def stop(self, join_timeout: float = 5.0) -> None:
        """Stop accepting, wake hung handlers, close open connections, join every thread."""
        if self._httpd is None or self._thread is None:
            return
        with self._lock:
            self._stopping.set()
            open_connections = dict(self._connections)
        self._httpd.shutdown()
        for sock in open_connections:
            _shutdown_socket(sock)
        for thread in open_connections.values():
            thread.join(join_timeout)
        self._httpd.server_close()
        self._thread.join(join_timeout)
        stray = [t.name for t in open_connections.values() if t.is_alive()]
        if stray:
            raise RuntimeError(f"handler threads still running after shutdown: {stray}")
        self._httpd = None

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections[sock] = threading.current_thread()
            stopping = self._stopping.is_set()
        if stopping:
            _shutdown_socket(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.pop(sock, None)

    # -- one chat request ---------------------------------------------------

    def _chat(self, handler: _Handler, body: dict[str, Any]) -> None:
        key = request_key(body)
        with self._lock:
            attempt = self.requests_per_key[key]
            self.requests_per_key[key] += 1
            self.bodies.setdefault(key, []).append(body)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            fault = self._fault(key, attempt)
            if fault is not None:
                with self._lock:
                    self.faults_served[fault.kind] += 1
                if fault.kind != "hang":
                    self._serve_fault(handler, fault)
                    return
                self._stopping.wait(fault.seconds)
            elif self.latency:
                self._stopping.wait(self.latency)
            if self._stopping.is_set():
                handler.close_connection = True
                return
            self._answer(handler, body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _fault(self, key: str, attempt: int) -> Fault | None:
        if key in self.always:
            return self.always[key]
        schedule = self.faults.get(key, [])
        if attempt < len(schedule):
            return schedule[attempt]
        return self.fault_for(key, attempt) if self.fault_for is not None else None

    def _serve_fault(self, handler: _Handler, fault: Fault) -> None:
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
            message = "Too Many Requests" if fault.status == 429 else f"injected HTTP {fault.status}"
            handler.send_json(fault.status, _error_body(message, "InjectedError", fault.status), headers)
        elif fault.kind == "drop":
            handler.close_connection = True
            _shutdown_socket(handler.connection)
        elif fault.kind == "reset":
            # Linger 0, then close before socketserver's own orderly shutdown: the client gets an RST.
            handler.close_connection = True
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
        elif fault.kind == "malformed_json":
            handler.send_bytes(200, b'{"id": "chatcmpl-x", "choices": [{"message": ')
        elif fault.kind == "no_choices":
            handler.send_json(200, {"id": "chatcmpl-x", "object": "chat.completion", "model": self.model})
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")

    def _answer(self, handler: _Handler, body: dict[str, Any]) -> None:
        if self.api_key is not None and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            handler.send_json(401, _error_body("invalid API key", "AuthenticationError", 401))
            return
        problem = _invalid(body)
        if problem:
            handler.send_json(400, _error_body(problem, "BadRequestError", 400))
            return
        if body["model"] != self.model:
            message = f"The model `{body['model']}` does not exist."
            handler.send_json(404, _error_body(message, "NotFoundError", 404))
            return
        messages = body["messages"]
        words = prompt_words(messages)
        if self.max_prompt_words is not None and words > self.max_prompt_words:
            message = (
                f"This model's maximum context length is {self.max_prompt_words} tokens. "
                f"However, you requested {words} tokens in the messages."
            )
            handler.send_json(400, _error_body(message, "BadRequestError", 400))
            return
        answer = expected_answer(messages, body.get("seed", 0), body["max_tokens"])
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": answer.text},
            "finish_reason": answer.finish_reason,
            "logprobs": None,
        }
        if body.get("logprobs"):
            tokens = answer.text.split()
            choice["logprobs"] = {
                "content": [
                    {
                        "token": token,
                        "logprob": logprob,
                        "bytes": list(token.encode()),
                        "top_logprobs": top_alternatives(token, logprob, int(body.get("top_logprobs") or 0)),
                    }
                    for token, logprob in zip(tokens, answer.token_logprobs, strict=True)
                ]
            }
        handler.send_json(
            200,
            {
                "id": "chatcmpl-" + hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16],
                "object": "chat.completion",
                "created": 0,
                "model": self.model,
                "choices": [choice],
                "usage": {
                    "prompt_tokens": answer.prompt_tokens,
                    "completion_tokens": answer.completion_tokens,
                    "total_tokens": answer.prompt_tokens + answer.completion_tokens,
                },
            },
        )


def _invalid(body: dict[str, Any]) -> str | None:
    """What a strict server would refuse in the body (the engine must always set ``max_tokens``)."""
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "messages must be a non-empty list"
    if not isinstance(body.get("model"), str):
        return "model is required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens must be a positive integer (this server has no default)"
    if body.get("n", 1) != 1:
        return "only n=1 is supported"
    return None


def _shutdown_socket(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
