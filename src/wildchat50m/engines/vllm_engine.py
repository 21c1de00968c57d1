"""The ``vllm`` engine: a thin adapter around vLLM's offline :class:`vllm.LLM`.

Everything that can be checked without a GPU lives in pure functions
(:func:`engine_kwargs`, :func:`sampling_kwargs`, :func:`result_from_output`);
:class:`VLLMEngine` only feeds requests to ``LLM.chat`` and maps the outputs
back. vLLM is imported in the constructor alone, so importing this module is
cheap and works where vLLM is not installed.

Throughput comes from handing vLLM many requests per ``LLM.chat`` call: its
scheduler batches continuously across the whole list, so a long answer never
holds up a batch of short ones. A chunk that makes ``chat()`` raise is split in
halves until the failing request(s) stand alone; those end as error results
and the rest of the chunk is answered.

As in the other engines, a failed result's ``error`` is a short kind and
``extra["error_detail"]`` says more. Kinds: ``aborted`` (vLLM ended the
request without ``stop``/``length``), ``no_output`` (vLLM returned no
completion), ``engine_error`` (``chat()`` raised for this request alone).
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from importlib import metadata
from itertools import islice
from typing import Any

from wildchat50m.engines.base import FINISH_ERROR, ChatRequest, ChatResult, Sampling, TokenLogprob
from wildchat50m.registry import GenerationDefaults

log = logging.getLogger(__name__)

#: Requests per ``LLM.chat`` call; large, so vLLM's scheduler always has work queued.
DEFAULT_CHUNK_SIZE = 10_000
DEFAULT_GPU_MEMORY_UTILIZATION = 0.90
INSTALL_HINT = "pip install 'wildchat-50m[vllm]' on a GPU machine"

_FINISHED = ("stop", "length")
_DETAIL_CHARS = 1000
#: Engine kwargs kept out of the run manifest.
_SECRET_KWARGS = ("hf_token",)


def engine_kwargs(
    model: str, generation: GenerationDefaults, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``vllm.LLM(...)``: the registry's defaults, then ``overrides``.

    Overrides (the command line's ``--engine-arg`` and the like) win over the
    registry; keys this function does not know are passed to vLLM as they are.
    An override whose value is ``None`` removes the key, leaving vLLM's own
    default (e.g. ``max_model_len=None`` means the model's native context).

    Prefix caching is on by default: in history mode ``original`` the turns
    of one conversation share long prompt prefixes.
    """
    kwargs: dict[str, Any] = {
        "model": model,
        "tensor_parallel_size": generation.tensor_parallel_size,
        "dtype": generation.dtype,
        "quantization": generation.quantization,
        "max_model_len": generation.max_model_len,
        "gpu_memory_utilization": DEFAULT_GPU_MEMORY_UTILIZATION,
        "enable_prefix_caching": True,
        "seed": 0,
        "trust_remote_code": False,
    }
    kwargs.update(overrides or {})
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    if "model" not in kwargs:
        raise ValueError("engine_kwargs: the model cannot be overridden with None")
    if int(kwargs.get("data_parallel_size", 1)) > 1:
        raise ValueError(
            "vLLM refuses data_parallel_size > 1 in one offline process; run one "
            "process per GPU group instead (e.g. one shard of the job each)"
        )
    return kwargs


def sampling_kwargs(sampling: Sampling) -> dict[str, Any]:
    """Keyword arguments for ``vllm.SamplingParams(...)`` of one request.

    ``max_tokens`` is always set because vLLM's default is 16 tokens. The
    per-request seed makes an answer independent of batching, shard and restart.
    """
    if sampling.max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {sampling.max_new_tokens}")
    return {
        "n": 1,
        "max_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "seed": sampling.seed,
        # vLLM's ``logprobs=k`` returns the k likeliest tokens at each position plus the sampled one.
        "logprobs": sampling.top_logprobs or (1 if sampling.logprobs else None),
    }


def error_result(key: str, kind: str, detail: str, **counts: Any) -> ChatResult:
    """A failed result: no text, ``finish_reason`` ``error``, ``error`` the kind, the detail in ``extra``."""
    return ChatResult(
        key=key,
        text=None,
        finish_reason=FINISH_ERROR,
        error=kind,
        extra={"error_detail": detail[:_DETAIL_CHARS]},
        **counts,
    )


def token_logprobs_from_output(token_ids: Sequence[int], logprobs: Any, wanted: int) -> list[TokenLogprob]:
    """Map a completion's ``logprobs`` (per position, ``{token_id: Logprob}``) to :class:`TokenLogprob`.

    Each ``Logprob`` carries ``logprob``, ``rank`` (1 = likeliest) and
    ``decoded_token``. vLLM adds the sampled token to the top-k when it is not
    among them, so the alternatives are taken by rank, not by count.
    """
    mapped = []
    for token_id, position in zip(token_ids, logprobs or [], strict=False):
        entries = dict(position or {})
        ranked = sorted(
            (entry for entry in entries.values() if getattr(entry, "rank", None) is not None),
            key=lambda entry: entry.rank,
        )
        chosen = entries.get(token_id)
        mapped.append(
            TokenLogprob(
                token=str(getattr(chosen, "decoded_token", "") or ""),
                logprob=float(chosen.logprob) if chosen is not None else float("nan"),
                top=tuple(
                    (str(entry.decoded_token or ""), float(entry.logprob))
                    for entry in ranked
                    if entry.rank <= wanted
                ),
            )
        )
    return mapped


def result_from_output(key: str, output: Any, top_logprobs: int = 0) -> ChatResult:
    """Map one vLLM ``RequestOutput`` (duck-typed) to a :class:`ChatResult`.

    Only ``stop`` and ``length`` count as answers; any other ``finish_reason``
    (``None``, ``abort``) or a missing completion is an error result.
    """
    prompt_ids = getattr(output, "prompt_token_ids", None)
    prompt_tokens = None if prompt_ids is None else len(prompt_ids)
    completions = getattr(output, "outputs", None) or []
    if not completions:
        return error_result(key, "no_output", "vLLM returned no completion", prompt_tokens=prompt_tokens)
    completion = completions[0]
    token_ids = getattr(completion, "token_ids", None)
    completion_tokens = None if token_ids is None else len(token_ids)
    finish_reason = getattr(completion, "finish_reason", None)
    if finish_reason not in _FINISHED:
        return error_result(
            key,
            "aborted",
            f"vLLM ended the request with finish_reason={finish_reason!r}",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
    cumulative = getattr(completion, "cumulative_logprob", None)
    return ChatResult(
        key=key,
        text=completion.text,
        finish_reason=finish_reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cumulative_logprob=None if cumulative is None else float(cumulative),
        token_logprobs=token_logprobs_from_output(
            token_ids or [], getattr(completion, "logprobs", None), top_logprobs
        )
        if top_logprobs
        else None,
    )


def _is_fatal(error: BaseException) -> bool:
    """Whether vLLM's engine is gone (``EngineDeadError``): then no request can be answered."""
    return any(cls.__name__ == "EngineDeadError" for cls in type(error).__mro__)


def _input_ids(encoded: Any) -> list[int]:
    """Token ids from ``apply_chat_template(tokenize=True)``: a list, or a dict since transformers 5."""
    if isinstance(encoded, Mapping):
        encoded = encoded["input_ids"]
    return list(encoded)


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


class VLLMTokenizer:
    """The :class:`~wildchat50m.engines.base.Tokenizer` protocol over ``LLM.get_tokenizer()``."""

    def __init__(self, tokenizer: Any, chat_template_kwargs: Mapping[str, Any] | None = None):
        self._tokenizer = tokenizer
        self._chat_template_kwargs = dict(chat_template_kwargs or {})

    def count_chat_tokens(self, messages: Sequence[Mapping[str, str]]) -> int:
        encoded = self._tokenizer.apply_chat_template(
            [dict(message) for message in messages],
            add_generation_prompt=True,
            tokenize=True,
            **self._chat_template_kwargs,
        )
        return len(_input_ids(encoded))

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=True)

    @property
    def special_tokens(self) -> tuple[str, ...]:
        tokens = list(getattr(self._tokenizer, "all_special_tokens", None) or [])
        get_added_vocab = getattr(self._tokenizer, "get_added_vocab", None)
        if callable(get_added_vocab):
            tokens += list(get_added_vocab())
        return tuple(dict.fromkeys(token for token in tokens if token))


class VLLMEngine:
    """Offline vLLM in this process: one ``LLM.chat`` call per chunk of requests.

    ``llm`` and ``sampling_params_cls`` let tests (or callers that build the
    ``LLM`` themselves) inject duck-typed stand-ins; when ``llm`` is given,
    vLLM is not imported and ``sampling_params_cls`` must be given too.
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        generation: GenerationDefaults,
        overrides: Mapping[str, Any] | None = None,
        chat_template_kwargs: Mapping[str, Any] | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        llm: Any = None,
        sampling_params_cls: Callable[..., Any] | None = None,
    ):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self.model = model
        self.chunk_size = chunk_size
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.kwargs = engine_kwargs(model, generation, overrides)
        self._cleanup: Callable[[], Any] | None = None
        self._tokenizer: VLLMTokenizer | None = None
        if llm is None:
            try:
                import vllm
            except ImportError as error:
                raise ImportError(f"the vllm engine needs vLLM: {INSTALL_HINT}") from error
            with suppress(ImportError):
                from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

                self._cleanup = cleanup_dist_env_and_memory
            sampling_params_cls = sampling_params_cls or vllm.SamplingParams
            llm = vllm.LLM(**self.kwargs)
        elif sampling_params_cls is None:
            raise TypeError("an injected llm needs sampling_params_cls (e.g. vllm.SamplingParams)")
        self._llm: Any = llm
        self._sampling_params_cls: Callable[..., Any] = sampling_params_cls

    @property
    def llm(self) -> Any:
        if self._llm is None:
            raise RuntimeError("the vllm engine is closed")
        return self._llm

    @property
    def tokenizer(self) -> VLLMTokenizer | None:
        if self._tokenizer is None and self._llm is not None:
            get_tokenizer = getattr(self._llm, "get_tokenizer", None)
            if callable(get_tokenizer):
                self._tokenizer = VLLMTokenizer(get_tokenizer(), self.chat_template_kwargs)
        return self._tokenizer

    def generate(self, requests: Iterable[ChatRequest]) -> Iterator[ChatResult]:
        """Answer ``requests`` chunk by chunk; each chunk's results come out in input order."""
        llm = self.llm
        pending = iter(requests)
        while chunk := list(islice(pending, self.chunk_size)):
            yield from self._answer(llm, chunk)

    def _answer(self, llm: Any, chunk: list[ChatRequest]) -> Iterator[ChatResult]:
        """Answer one chunk; when ``chat()`` raises, halve until the bad requests stand alone."""
        parts = [chunk]
        while parts:
            part = parts.pop()
            try:
                outputs = self._chat(llm, part)
            except Exception as error:
                if _is_fatal(error):
                    raise
                if len(part) == 1:
                    log.warning("vLLM failed on request %s: %r", part[0].key, error)
                    yield error_result(part[0].key, "engine_error", f"{type(error).__name__}: {error}")
                    continue
                log.warning("vLLM failed on %d requests (%r); retrying in halves", len(part), error)
                middle = len(part) // 2
                parts += [part[middle:], part[:middle]]
                continue
            for request, output in zip(part, outputs, strict=True):
                yield result_from_output(request.key, output, request.sampling.top_logprobs)

    def _chat(self, llm: Any, part: list[ChatRequest]) -> list[Any]:
        """Outputs of ``part`` in its order: plain requests in one call, prefixed ones in another.

        A request with an ``assistant_prefix`` ends on an assistant message that
        vLLM continues (``continue_final_message``), an option of the whole call.
        """
        outputs: list[Any] = [None] * len(part)
        for continued in (False, True):
            positions = [i for i, r in enumerate(part) if (r.assistant_prefix is not None) == continued]
            if not positions:
                continue
            conversations = [
                [dict(message) for message in part[i].messages]
                + ([{"role": "assistant", "content": part[i].assistant_prefix}] if continued else [])
                for i in positions
            ]
            params = [self._sampling_params_cls(**sampling_kwargs(part[i].sampling)) for i in positions]
            extra: dict[str, Any] = (
                {"chat_template_kwargs": self.chat_template_kwargs} if self.chat_template_kwargs else {}
            )
            if continued:
                extra["continue_final_message"] = True
            answered = list(
                llm.chat(conversations, params, add_generation_prompt=not continued, use_tqdm=False, **extra)
            )
            if len(answered) != len(positions):
                # Outputs are matched to requests by position; a short list cannot be mapped safely.
                raise RuntimeError(f"vLLM returned {len(answered)} outputs for {len(positions)} requests")
            for i, output in zip(positions, answered, strict=True):
                outputs[i] = output
        return outputs

    def describe(self) -> dict[str, Any]:
        kwargs = {key: value for key, value in self.kwargs.items() if key not in _SECRET_KWARGS}
        info: dict[str, Any] = {
            "engine": self.name,
            "model": self.model,
            "revision": kwargs.get("revision"),
            "vllm_version": _package_version("vllm"),
            "torch_version": _package_version("torch"),
            "tensor_parallel_size": kwargs.get("tensor_parallel_size"),
            "quantization": kwargs.get("quantization"),
            "dtype": kwargs.get("dtype"),
            "max_model_len": kwargs.get("max_model_len"),
            "chunk_size": self.chunk_size,
            "chat_template_kwargs": self.chat_template_kwargs,
            "engine_kwargs": kwargs,
            "gpu_count": None,
            "gpus": [],
        }
        # torch is loaded whenever vLLM is; importing it only for the manifest would be slow.
        torch = sys.modules.get("torch")
        if torch is not None:
            with suppress(Exception):
                if torch.cuda.is_available():
                    count = torch.cuda.device_count()
                    info["gpu_count"] = count
                    info["gpus"] = [torch.cuda.get_device_name(i) for i in range(count)]
        return info

    def close(self) -> None:
        """Drop the ``LLM`` and give its GPU memory back, best effort; safe to call twice."""
        if self._llm is None:
            return
        self._llm = None
        self._tokenizer = None
        gc.collect()
        if self._cleanup is not None:
            with suppress(Exception):
                self._cleanup()
            return
        torch = sys.modules.get("torch")
        if torch is not None:
            with suppress(Exception):
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
