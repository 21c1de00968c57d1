"""The engine interface: chat requests in, answers out, in any order.

Three implementations share it: ``transformers`` (CPU or GPU, the tests'
and the demo's engine), ``openai`` (any OpenAI-compatible server) and
``vllm`` (offline, in-process). An engine knows nothing about WildChat rows,
shards or files; the generation stage maps rows to :class:`ChatRequest` and
:class:`ChatResult` back to records.

The contract is a stream both ways: :meth:`Engine.generate` pulls requests
from its iterable only as it has room for them (a bounded number waiting)
and yields each result as soon as it is ready. The iterable may yield
:data:`PAUSE` when no request can be made until some result comes back (a
conversation's next turn needs its previous answer): the engine then stops
pulling until it has yielded at least one more result. So one ``generate``
call can serve a whole job, and the caller journals each answer the moment
it exists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol, runtime_checkable

from wildchat50m.errors import WildChat50mError

#: ``finish_reason`` values besides the engines' own ``stop`` and ``length``.
FINISH_ERROR = "error"


class ErrorKind(StrEnum):
    """Why a request got no answer: the value of :attr:`ChatResult.error`, of journaled outcomes
    and of the ``error`` column of every stored answer and judgment.

    Besides these fixed kinds, two families are named by functions: a server's error status
    (:func:`http_error_kind`, ``http_503``) and an exception raised while answering
    (:func:`raised_error_kind`). :func:`is_transient` says which kinds are sent again.
    """

    #: openai engine: the server did not answer in time / could not be reached / sent no valid
    #: completion (all transient).
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    MALFORMED_RESPONSE = "malformed_response"
    #: openai engine: the HTTP client refused the request itself (an invalid URL, say).
    REQUEST_ERROR = "request_error"
    #: transformers engine: sampling it cannot do, a chat template that fails, a prompt over the context.
    INVALID_SAMPLING = "invalid_sampling"
    CHAT_TEMPLATE_ERROR = "chat_template_error"
    PROMPT_TOO_LONG = "prompt_too_long"
    #: vllm engine: refused the request / ended it without ``stop`` or ``length`` / returned nothing.
    REJECTED = "rejected"
    ABORTED = "aborted"
    NO_OUTPUT = "no_output"
    #: Generation in history mode ``self``: an earlier answer of the conversation failed, so this
    #: turn (which would see it) is not sent.
    HISTORY_FAILED = "history_failed"
    #: An imported release (``wildchat50m import``) had no answer for the turn.
    NO_RESPONSE_IN_RELEASE = "no_response_in_release"


#: Fixed kinds that may succeed if sent again later.
TRANSIENT_KINDS: Final = frozenset({ErrorKind.TIMEOUT, ErrorKind.CONNECTION, ErrorKind.MALFORMED_RESPONSE})
#: Error statuses below 500 that may succeed if sent again later (every 5xx may).
TRANSIENT_HTTP_4XX: Final = frozenset({408, 409, 429})
_HTTP_PREFIX = "http_"
_EXCEPTION_PREFIX = "exception:"


def http_error_kind(status: int) -> str:
    """The kind of a request the server answered with error status ``status``: ``http_<status>``."""
    return f"{_HTTP_PREFIX}{status}"


def raised_error_kind(error: BaseException, *, in_client: bool = False) -> str:
    """The kind of a request whose answering raised ``error``: the exception's class name
    (``RuntimeError``, ``OutOfMemoryError``), or ``exception:<name>`` when it was raised in an
    engine's own client code rather than by the model (a bug, not the request's fault)."""
    name = type(error).__name__
    return f"{_EXCEPTION_PREFIX}{name}" if in_client else name


class Pause:
    """The type of :data:`PAUSE`."""

    def __repr__(self) -> str:
        return "PAUSE"


#: Yielded by a request stream instead of a request: nothing is ready until a result comes back.
PAUSE: Final = Pause()


def pull(source: Iterator[ChatRequest | Pause], limit: int) -> tuple[list[ChatRequest], bool, bool]:
    """Up to ``limit`` requests from ``source``: ``(requests, paused, exhausted)``.

    Stops early at a :data:`PAUSE` (``paused``) or at the end of ``source`` (``exhausted``).
    """
    taken: list[ChatRequest] = []
    while len(taken) < limit:
        item = next(source, None)
        if item is None:
            return taken, False, True
        if item is PAUSE:
            return taken, True, False
        taken.append(item)  # type: ignore[arg-type]
    return taken, False, False


class StalledStream(RuntimeError):
    """The request stream paused while no request was in flight: no result could ever resume it."""


class EngineDied(WildChat50mError):
    """The engine is gone (vLLM's engine core died, the GPU ran out of memory): no request can be answered."""


def root_cause(error: BaseException) -> str:
    """The innermost exception under ``error`` (its cause or context chain), as ``Type: message``."""
    seen = {id(error)}
    while True:
        inner = error.__cause__ or error.__context__
        if inner is None or id(inner) in seen:
            break
        seen.add(id(inner))
        error = inner
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters of one request. ``temperature == 0`` means greedy."""

    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    logprobs: bool = False
    #: When > 0, the engine returns this many most likely tokens at every generated position
    #: (:attr:`ChatResult.token_logprobs`), e.g. to read a judge's score distribution.
    top_logprobs: int = 0
    #: Generate exactly ``max_new_tokens`` tokens, ignoring end-of-sequence, as throughput
    #: benchmarks do (vLLM's ``ignore_eos`` with ``min_tokens``). Only the vllm engine has it.
    fixed_length: bool = False


@dataclass(frozen=True)
class ChatRequest:
    """One user turn to answer: the messages the model sees, ending on that user message."""

    key: str
    messages: tuple[dict[str, str], ...]
    sampling: Sampling
    #: When set, the answer continues an assistant message that already starts with this text
    #: (the prefix is part of the prompt, not of the returned text).
    assistant_prefix: str | None = None
    #: The chat template's token ids of ``messages`` (generation prompt included), when the caller
    #: tokenized them with the engine's own tokenizer while fitting the prompt: a local engine sends
    #: these instead of tokenizing the prompt a second time.
    prompt_token_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token, its log-probability and the most likely tokens at its position."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass
class ChatResult:
    """The engine's answer to one request; ``error`` is set (and ``text`` None) when it failed."""

    key: str
    text: str | None
    finish_reason: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cumulative_logprob: float | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: One entry per generated token when ``Sampling.top_logprobs > 0`` (None otherwise).
    token_logprobs: list[TokenLogprob] | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def stored(self) -> dict[str, Any]:
        """What every kind of run keeps of a result: its text (None when it failed), finish
        reason, token counts and error."""
        return {
            "text": None if self.failed else self.text,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "error": self.error,
        }


class Tokenizer(Protocol):
    """What the token budget needs of a model's tokenizer."""

    def count_chat_tokens(self, messages: Sequence[dict[str, str]]) -> int:
        """Tokens of the prompt the chat template makes of ``messages`` (with the generation prompt)."""
        ...

    def encode(self, text: str) -> list[int]:
        """Token ids of plain text, no special tokens added."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids, special tokens skipped."""
        ...

    @property
    def special_tokens(self) -> tuple[str, ...]:
        """Every special token's text (end-of-turn markers and the like)."""
        ...


@runtime_checkable
class TemplatedTokenizer(Tokenizer, Protocol):
    """A local tokenizer that also renders the chat template, so prompt fitting can learn its shape."""

    def chat_text(self, messages: Sequence[dict[str, str]]) -> str:
        """The text the chat template makes of ``messages`` (with the generation prompt)."""
        ...

    def chat_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """Token ids of :meth:`chat_text`, as the engine would send them."""
        ...


class Engine(Protocol):
    """A chat model that answers requests."""

    name: str

    @property
    def tokenizer(self) -> Tokenizer | None:
        """The model's tokenizer, when the engine has it locally (needed for exact token budgets)."""
        ...

    def generate(self, requests: Iterable[ChatRequest | Pause]) -> Iterator[ChatResult]:
        """Answer every request exactly once, yielding each result as soon as it is ready.

        Requests are pulled lazily, a bounded number ahead; at a :data:`PAUSE` the engine
        pulls again only after yielding a result.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """Engine, model, revision and library versions, for the run manifest."""
        ...

    def close(self) -> None:
        """Release the model, connections and processes."""
        ...


def request_seed(run_seed: int, conversation_hash: str, turn: int) -> int:
    """The seed of one turn: the same whatever the batching, the shard or the restart."""
    digest = hashlib.blake2b(f"{run_seed}:{conversation_hash}:{turn}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def is_transient(error_kind: str | None) -> bool:
    """Whether a failed request may succeed if sent again later (server down, overloaded, timed out).

    Transient failures are never stored as answers: the shard stays open and a
    re-run sends them again. Other failures (a prompt the server refuses, an
    aborted generation) are stored as failed turns with their kind.
    """
    if not error_kind:
        return False
    if error_kind in TRANSIENT_KINDS:
        return True
    status = error_kind.removeprefix(_HTTP_PREFIX)
    if status == error_kind or not status.isdigit():
        return False
    return is_transient_status(int(status))


def is_transient_status(status: int) -> bool:
    """Whether an HTTP error status may turn into an answer if the request is sent again later."""
    return status >= 500 or status in TRANSIENT_HTTP_4XX
