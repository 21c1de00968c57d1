"""The ``openai`` engine: any OpenAI-compatible chat server (vllm serve, SGLang, TGI, llama.cpp).

``generate`` is a plain generator for the caller, but the requests travel
concurrently: an asyncio loop in a background thread sends them through one
HTTP client, at most ``max_in_flight`` at a time, and hands each answer back
through a thread-safe queue as soon as it arrives. The caller's request
iterable is read in the caller's thread, a bounded window ahead of the
answers, so a million-row shard never sits in memory and an iterable tied to
its thread (a database cursor, say) keeps working.

Every request ends as exactly one :class:`ChatResult`. Transient failures
(429, 408, 409, 5xx, timeouts, dropped connections, malformed bodies) are
retried with exponential backoff and jitter; what still fails, and 4xx answers
that retrying cannot fix (a prompt over the context length), becomes an error
result whose ``error`` names the kind (``http_500``, ``http_400``,
``timeout``, ``connection``, ``malformed_response``).

The HTTP client is ``httpx2`` when installed, else ``httpx`` (the same API);
it is imported when an engine is made, not when this module is.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import importlib
import logging
import os
import queue
import random
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

from wildchat50m.engines.base import (
    FINISH_ERROR,
    ChatRequest,
    ChatResult,
    ErrorKind,
    Pause,
    StalledStream,
    Tokenizer,
    TokenLogprob,
    http_error_kind,
    is_transient_status,
    pull,
    raised_error_kind,
)
from wildchat50m.errors import InvalidSettingError, MissingExtraError

logger = logging.getLogger(__name__)

#: Request fields the engine sets itself; ``extra_body`` may not override them.
RESERVED_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "temperature",
        "top_p",
        "seed",
        "n",
        "logprobs",
        "top_logprobs",
        "continue_final_message",
        "add_generation_prompt",
    }
)

#: A ``Retry-After`` above this many seconds is treated as nonsense and the engine's own backoff is used.
RETRY_AFTER_CAP = 600.0

#: How long a failed connect may take at most, whatever the (long) read timeout: an unreachable
#: host should not cost ``timeout`` seconds per attempt.
CONNECT_TIMEOUT_CAP = 30.0

# Some servers (older TGI) spell the two usual finish reasons their own way.
_FINISH_ALIASES = {"eos_token": "stop", "stop_sequence": "stop", "max_tokens": "length"}

_DETAIL_CHARS = 500


def http_library() -> ModuleType:
    """``httpx2`` if importable, else ``httpx``; a clear ImportError when neither is installed."""
    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise MissingExtraError(
        "The openai engine needs an HTTP client: install `httpx2` (or `httpx`), "
        "e.g. `pip install httpx2`; huggingface_hub normally brings one of them."
    )


def retry_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry).

    A server's ``Retry-After`` wins when it is sane; otherwise exponential
    backoff ``base * 2**attempt`` capped at ``cap``, with jitter (50-100 % of
    it) so that requests that failed together do not all come back together.
    """
    if retry_after is not None and 0.0 <= retry_after <= RETRY_AFTER_CAP:
        return retry_after
    ceiling = min(cap, base * 2.0 ** min(attempt, 62))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds (fractions allowed) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def redact_url(url: str) -> str:
    """``url`` without user name and password."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class _Attempt:
    """What one HTTP attempt came to, when it did not come to an answer."""

    __slots__ = ("detail", "kind", "retry_after", "retryable")

    def __init__(self, kind: str, retryable: bool, detail: str = "", retry_after: float | None = None):
        self.kind = kind
        self.retryable = retryable
        self.detail = detail
        self.retry_after = retry_after


class _Malformed(Exception):
    """A 2xx answer that is not a chat completion."""


class OpenAIEngine:
    """Answers chat requests through an OpenAI-compatible ``/chat/completions`` endpoint.

    ``base_url`` ends before ``/chat/completions``, e.g. ``http://127.0.0.1:8000/v1``.
    ``timeout`` is the read timeout of one attempt (a non-streamed answer comes
    all at once, so it bounds the whole generation). ``max_retries`` counts
    retries, not attempts. ``extra_body`` is merged into every request body
    (``top_k``, ``chat_template_kwargs``, ``repetition_penalty``...).
    ``retry_counts`` and ``error_counts`` tally retries and final errors by
    kind across the engine's life, for the run manifest.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        max_in_flight: int = 64,
        max_pending: int | None = None,
        timeout: float = 600.0,
        max_retries: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise InvalidSettingError(f"max_in_flight must be at least 1, got {max_in_flight}")
        if max_retries < 0:
            raise InvalidSettingError(f"max_retries must be >= 0, got {max_retries}")
        if timeout <= 0:
            raise InvalidSettingError(f"timeout must be positive, got {timeout}")
        reserved = RESERVED_FIELDS.intersection(extra_body or {})
        if reserved:
            raise InvalidSettingError(
                f"extra_body may not set {sorted(reserved)}: the engine sets them per request"
            )
        self._http = http_library()
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = os.environ.get("OPENAI_API_KEY", "") if api_key is None else api_key
        self.max_in_flight = max_in_flight
        #: Requests taken from the caller's iterable and not yet answered, at most.
        self.max_pending = max(max_in_flight, max_pending if max_pending is not None else 2 * max_in_flight)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.extra_body = dict(extra_body or {})
        self.retry_counts: Counter[str] = Counter()
        self.error_counts: Counter[str] = Counter()
        self._rng = random.Random()
        self._runs: set[_Run] = set()
        self._closed = False

    @property
    def tokenizer(self) -> Tokenizer | None:
        """None: the server tokenizes, so token budgets are the server's business."""
        return None

    # -- the caller's side -------------------------------------------------

    def generate(self, requests: Iterable[ChatRequest | Pause]) -> Iterator[ChatResult]:
        """Answer every request exactly once, in completion order.

        Per-request failures come back as error results; only a failure of the
        caller's own iterable (or of the engine's machinery) raises. At a
        :data:`~wildchat50m.engines.base.PAUSE` no more requests are taken until
        a result has been handed back.
        """
        if self._closed:
            raise RuntimeError("OpenAIEngine is closed")
        run = _Run(self)
        self._runs.add(run)
        try:
            source = iter(requests)
            exhausted = paused = False
            pending = 0
            while True:
                if not (exhausted or paused) and pending < self.max_pending:
                    fresh, paused, exhausted = pull(source, self.max_pending - pending)
                    for request in fresh:
                        run.submit(request)
                    pending += len(fresh)
                if pending == 0:
                    if exhausted:
                        return
                    raise StalledStream("the request stream paused with no request in flight")
                result = run.next_result()
                pending -= 1
                paused = False
                yield result
        finally:
            run.shutdown()
            self._runs.discard(run)

    def describe(self) -> dict[str, Any]:
        """Engine, server, model and client library; the server's ``/models`` answer when reachable."""
        http = self._http
        info: dict[str, Any] = {
            "engine": self.name,
            "base_url": redact_url(self.base_url),
            "model": self.model,
            "api_key_set": bool(self.api_key),
            "client_library": http.__name__,
            "client_version": getattr(http, "__version__", None),
            "max_in_flight": self.max_in_flight,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "extra_body": self.extra_body,
            "retry_counts": dict(self.retry_counts),
            "error_counts": dict(self.error_counts),
            "server_models": None,
        }
        try:
            with http.Client(headers=self._headers(), timeout=min(self.timeout, 10.0)) as client:
                response = client.get(f"{self.base_url}/models")
                response.raise_for_status()
                answer = response.json()
            info["server_models"] = answer.get("data", answer) if isinstance(answer, dict) else answer
        except Exception as exc:  # best effort: a manifest must not fail on it
            info["server_models_error"] = f"{type(exc).__name__}: {exc}"[:_DETAIL_CHARS]
        return info

    def close(self) -> None:
        """Stop any generation still running; the engine cannot generate afterwards."""
        self._closed = True
        for run in list(self._runs):
            run.shutdown()

    # -- one request, in the event loop -------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        sampling = request.sampling
        body: dict[str, Any] = dict(self.extra_body)
        body.update(
            model=self.model,
            messages=[dict(message) for message in request.messages],
            max_tokens=sampling.max_new_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            seed=sampling.seed,
            n=1,
        )
        if sampling.fixed_length:
            # vLLM's server extensions: exactly max_tokens tokens.
            body.update(ignore_eos=True, min_tokens=sampling.max_new_tokens)
        if sampling.logprobs or sampling.top_logprobs:
            body["logprobs"] = True
        if sampling.top_logprobs:
            body["top_logprobs"] = sampling.top_logprobs
        if request.assistant_prefix is not None:
            # vLLM's server continues a final assistant message with these two fields; a server
            # without them answers a new turn instead, which the caller sees in the text.
            body["messages"].append({"role": "assistant", "content": request.assistant_prefix})
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        return body

    async def _answer(self, client: Any, limit: asyncio.Semaphore, request: ChatRequest) -> ChatResult:
        """One request through to its result, retries included; never raises (but for cancellation)."""
        try:
            body = self._body(request)
            url = f"{self.base_url}/chat/completions"
            attempt = 0
            while True:
                async with limit:
                    outcome = await self._attempt(client, url, body, request)
                if isinstance(outcome, ChatResult):
                    return outcome
                if not outcome.retryable or attempt >= self.max_retries:
                    return self._failure(request, outcome, attempt + 1)
                self.retry_counts[outcome.kind] += 1
                delay = retry_delay(
                    attempt,
                    base=self.backoff_base,
                    cap=self.backoff_max,
                    retry_after=outcome.retry_after,
                    rng=self._rng,
                )
                logger.debug(
                    "%s: %s (%s), retry %d in %.2f s",
                    request.key,
                    outcome.kind,
                    outcome.detail,
                    attempt + 1,
                    delay,
                )
                attempt += 1
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an unusable request must not take the whole run down
            failure = _Attempt(raised_error_kind(exc, in_client=True), False, str(exc))
            return self._failure(request, failure, 1)

    async def _attempt(
        self, client: Any, url: str, body: dict[str, Any], request: ChatRequest
    ) -> ChatResult | _Attempt:
        http = self._http
        try:
            response = await client.post(url, json=body)
        except http.TimeoutException as exc:
            return _Attempt(ErrorKind.TIMEOUT, True, f"{type(exc).__name__}: {exc}")
        except (http.NetworkError, http.RemoteProtocolError, http.ProxyError) as exc:
            return _Attempt(ErrorKind.CONNECTION, True, f"{type(exc).__name__}: {exc}")
        except http.DecodingError as exc:
            return _Attempt(ErrorKind.MALFORMED_RESPONSE, True, f"{type(exc).__name__}: {exc}")
        except (http.HTTPError, http.InvalidURL) as exc:
            return _Attempt(ErrorKind.REQUEST_ERROR, False, f"{type(exc).__name__}: {exc}")
        status = response.status_code
        if not 200 <= status < 300:
            retryable = is_transient_status(status)
            retry_after = parse_retry_after(response.headers.get("retry-after")) if retryable else None
            return _Attempt(http_error_kind(status), retryable, _error_detail(response), retry_after)
        try:
            return _parse_completion(
                request.key, response.json(), request.sampling.logprobs, request.sampling.top_logprobs
            )
        except (ValueError, _Malformed) as exc:  # json.JSONDecodeError is a ValueError
            return _Attempt(ErrorKind.MALFORMED_RESPONSE, True, f"{exc}; body starts {response.text[:200]!r}")

    def _failure(self, request: ChatRequest, outcome: _Attempt, attempts: int) -> ChatResult:
        self.error_counts[outcome.kind] += 1
        logger.warning(
            "%s failed after %d attempt(s): %s %s", request.key, attempts, outcome.kind, outcome.detail
        )
        return ChatResult(
            key=request.key,
            text=None,
            finish_reason=FINISH_ERROR,
            error=outcome.kind,
            extra={"error_detail": outcome.detail[:_DETAIL_CHARS], "attempts": attempts},
        )

    def _client(self) -> Any:
        http = self._http
        return http.AsyncClient(
            headers=self._headers(),
            timeout=http.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT_CAP)),
            limits=http.Limits(
                max_connections=self.max_in_flight, max_keepalive_connections=self.max_in_flight
            ),
        )


def _parse_completion(key: str, data: Any, want_logprobs: bool, top_logprobs: int = 0) -> ChatResult:
    """The ChatResult of a chat completion body; :class:`_Malformed` when it is not one."""
    if not isinstance(data, dict):
        raise _Malformed(f"answer is a {type(data).__name__}, not an object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _Malformed("no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise _Malformed("no choices[0].message")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise _Malformed(f"choices[0].message.content is a {type(content).__name__}")
    finish_reason = choice.get("finish_reason")
    if not isinstance(finish_reason, str) or not finish_reason:
        raise _Malformed("no choices[0].finish_reason")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    extra: dict[str, Any] = {}
    # Reasoning parsers put the thinking beside the content (and may leave content empty).
    for field_name in ("reasoning_content", "reasoning"):
        reasoning = message.get(field_name)
        if isinstance(reasoning, str) and reasoning:
            extra["reasoning_content"] = reasoning
            break
    return ChatResult(
        key=key,
        text=content or "",
        finish_reason=_FINISH_ALIASES.get(finish_reason, finish_reason),
        prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
        completion_tokens=_int_or_none(usage.get("completion_tokens")),
        cumulative_logprob=_cumulative_logprob(choice) if want_logprobs else None,
        extra=extra,
        token_logprobs=_token_logprobs(choice, top_logprobs) if top_logprobs else None,
    )


def _token_logprobs(choice: dict[str, Any], wanted: int) -> list[TokenLogprob] | None:
    """Per-token log-probabilities and alternatives of ``choices[0].logprobs.content``; None if absent.

    A server that ignores ``top_logprobs`` returns no ``logprobs`` (or entries
    without alternatives); the caller sees None or empty ``top`` and says so.
    """
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return None
    mapped = []
    for entry in content:
        if not isinstance(entry, dict) or not isinstance(entry.get("logprob"), int | float):
            return None
        top = entry.get("top_logprobs") if isinstance(entry.get("top_logprobs"), list) else []
        alternatives = tuple(
            (str(alt.get("token", "")), float(alt["logprob"]))
            for alt in top
            if isinstance(alt, dict) and isinstance(alt.get("logprob"), int | float)
        )
        mapped.append(
            TokenLogprob(str(entry.get("token", "")), float(entry["logprob"]), alternatives[:wanted])
        )
    return mapped


def _cumulative_logprob(choice: dict[str, Any]) -> float | None:
    logprobs = choice.get("logprobs")
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(tokens, list):
        return None
    values = [t.get("logprob") for t in tokens if isinstance(t, dict)]
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    return sum(numbers) if len(numbers) == len(tokens) else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error_detail(response: Any) -> str:
    """The server's error message: OpenAI's ``{"error": {"message": ...}}`` or a bare ``{"message": ...}``."""
    try:
        data = response.json()
    except Exception:
        return response.text[:_DETAIL_CHARS]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:_DETAIL_CHARS]
        if isinstance(data.get("message"), str):
            return data["message"][:_DETAIL_CHARS]
    return response.text[:_DETAIL_CHARS]


class _Run:
    """One ``generate`` call's event loop thread, HTTP client and result queue."""

    def __init__(self, engine: OpenAIEngine) -> None:
        self.engine = engine
        self.results: queue.Queue[concurrent.futures.Future[ChatResult]] = queue.Queue()
        self.futures: set[concurrent.futures.Future[ChatResult]] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="openai-engine-loop", daemon=True)
        self.thread.start()
        self._lock = threading.Lock()
        self._stopped = False
        self.client, self.limit = asyncio.run_coroutine_threadsafe(self._open(), self.loop).result()

    async def _open(self) -> tuple[Any, asyncio.Semaphore]:
        return self.engine._client(), asyncio.Semaphore(self.engine.max_in_flight)

    def submit(self, request: ChatRequest) -> None:
        future = asyncio.run_coroutine_threadsafe(
            self.engine._answer(self.client, self.limit, request), self.loop
        )
        self.futures.add(future)
        future.add_done_callback(self.results.put)

    def next_result(self) -> ChatResult:
        while True:
            try:
                future = self.results.get(timeout=1.0)
            except queue.Empty:
                if self._stopped or not self.thread.is_alive():
                    raise RuntimeError("OpenAIEngine was closed during generation") from None
                continue
            self.futures.discard(future)
            if future.cancelled():
                raise RuntimeError("OpenAIEngine was closed during generation")
            return future.result()

    def shutdown(self) -> None:
        """Cancel what is still in flight, close the client, stop the loop and join its thread."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        for future in list(self.futures):
            future.cancel()
        if self.loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(timeout=30.0)
            except Exception as exc:
                logger.debug("closing the HTTP client: %s", exc)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30.0)
        if not self.thread.is_alive():
            self.loop.close()

    async def _close(self) -> None:
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.client.aclose()
        await self.loop.shutdown_asyncgens()
        await self.loop.shutdown_default_executor()
