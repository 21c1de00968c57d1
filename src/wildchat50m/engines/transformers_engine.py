"""The ``transformers`` engine: ``model.generate`` in-process, on CPU or one GPU.

It is the engine of the tests and the demo (with the tiny models of
:mod:`wildchat50m.tiny`) and a fallback for models other engines cannot run.
torch and transformers are imported when an engine or tokenizer is built,
never when this module is imported.

Reproducibility is the design constraint: a request's answer should not
depend on which other requests share its batch.

* The choice of every next token is taken out of ``generate``'s hands: a
  logits processor picks it row by row -- the argmax for greedy rows, a draw
  from that row's own generator, seeded with ``Sampling.seed``, for sampled
  rows -- and hands ``generate`` a one-hot row to take. Sampled requests are
  therefore batched like greedy ones and draw what they would draw alone.
* The arithmetic is not batch-invariant, and cannot cheaply be made so.
  Measured on CPU in float32 (torch 2.13, MKL): a prompt left-padded in a
  batch gets logits that differ from its logits alone in the last bits
  (softmax and attention sums run over more, masked, positions), and even
  without padding MKL picks different GEMM kernels for 1, 2 or more rows, so
  decoding steps differ the same way. Padding every prompt to a width fixed
  by its own length was tried and does not help for that second reason. The
  differences are ~1e-7 relative. Batch size 16 against 1, every user turn
  of the embedded sample (~1,100 requests, ~210,000 answer tokens over both
  tiny models, greedy and sampled): not one token differed, cumulative
  log-probs agreed to ~1e-7 relative. A near-tie can still flip a token in
  principle; only ``batch_size=1`` rules that out.

The request's :class:`~wildchat50m.engines.base.Sampling` is the whole
sampling specification: the model's ``generation_config`` contributes its
end-of-turn token ids; the temperature, top-k, top-p or repetition penalty it
may recommend are overridden.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wildchat50m.engines.base import (
    FINISH_ERROR,
    ChatRequest,
    ChatResult,
    ErrorKind,
    Pause,
    Sampling,
    StalledStream,
    TokenLogprob,
    pull,
    raised_error_kind,
)
from wildchat50m.errors import InvalidSettingError

log = logging.getLogger(__name__)

#: Requests read ahead and sorted by prompt length at a time, in batches.
SORT_WINDOW_BATCHES = 8
#: Weight files up to this total size are hashed in full for ``describe()``; bigger ones by name and size.
HASH_WEIGHTS_LIMIT = 1 << 30
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
_IDENTITY_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
)


class TransformersTokenizer:
    """A Hugging Face tokenizer seen through the :class:`~wildchat50m.engines.base.Tokenizer` protocol."""

    def __init__(self, hf_tokenizer: Any) -> None:
        self.hf = hf_tokenizer

    @classmethod
    def from_pretrained(cls, model: str | Path, **kwargs: Any) -> TransformersTokenizer:
        """Load only the tokenizer of ``model`` (a local directory or a Hub id), e.g. for token budgets."""
        from transformers import AutoTokenizer

        return cls(AutoTokenizer.from_pretrained(str(model), **kwargs))

    def chat_text(self, messages: Sequence[dict[str, str]]) -> str:
        """The prompt text the chat template makes of ``messages``, generation prompt included."""
        return self.hf.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)

    def chat_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """Token ids of the prompt the chat template makes of ``messages``, generation prompt included."""
        text = self.chat_text(messages)
        # The template writes BOS and the like itself; adding special tokens again would double them.
        # verbose=False: an over-long prompt is reported as an error result, not a log warning.
        return list(self.hf(text, add_special_tokens=False, verbose=False)["input_ids"])

    def count_chat_tokens(self, messages: Sequence[dict[str, str]]) -> int:
        return len(self.chat_ids(messages))

    def encode(self, text: str) -> list[int]:
        return list(self.hf.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        # ``decode`` first checks every id's type in Python (``to_py_obj``), then calls ``_decode``:
        # for a list of ints that check is all it adds, and it costs more than the decoding itself.
        return self.hf._decode(list(ids), skip_special_tokens=True)

    @property
    def special_tokens(self) -> tuple[str, ...]:
        names = list(self.hf.all_special_tokens)
        names += [str(token) for token in self.hf.added_tokens_decoder.values()]
        return tuple(dict.fromkeys(name for name in names if name))


@dataclass
class _Prepared:
    """A request whose prompt is tokenized and fits the model."""

    request: ChatRequest
    prompt_ids: list[int]
    cap: int  # max_new_tokens, lowered so that prompt + answer fit the model's positions


class _TokenChooser:
    """Logits processor that picks each row's next token itself and records its log-probability.

    ``generate`` runs greedy and takes the argmax of the one-hot rows returned
    here, so a row's choice depends only on its own logits and its own seeded
    generator, never on the batch around it.
    """

    def __init__(self, samplings: Sequence[Sampling]) -> None:
        self.samplings = list(samplings)
        self.generators: list[Any] = []
        self.logprobs: list[Any] = []  # one (batch,) tensor per step
        self.top_k = max((s.top_logprobs for s in self.samplings), default=0)
        self.top: list[tuple[Any, Any]] = []  # per step: (batch, top_k) log-probs and token ids

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if not self.generators:
            self.generators = [
                torch.Generator(device=scores.device).manual_seed(sampling.seed)
                if sampling.temperature > 0
                else None
                for sampling in self.samplings
            ]
        logits = scores.float()
        chosen = torch.argmax(logits, dim=-1)
        for row, (sampling, generator) in enumerate(zip(self.samplings, self.generators, strict=True)):
            if generator is not None:
                chosen[row] = _sample(logits[row], sampling, generator)
        log_probs = torch.log_softmax(logits, dim=-1)
        self.logprobs.append(log_probs.gather(1, chosen[:, None])[:, 0])
        if self.top_k:
            self.top.append(torch.topk(log_probs, min(self.top_k, log_probs.shape[-1]), dim=-1))
        one_hot = torch.full_like(scores, -math.inf)
        one_hot.scatter_(1, chosen[:, None], 0.0)
        return one_hot


def _sample(logits: Any, sampling: Sampling, generator: Any) -> Any:
    """One token drawn from ``softmax(logits / temperature)`` restricted to the top-p nucleus."""
    import torch

    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True, stable=True)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        outside = (torch.cumsum(sorted_probs, dim=-1) - sorted_probs) >= sampling.top_p
        sorted_probs[outside] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator)[0]


class _RowCaps:
    """Stopping criterion: each row stops at its own token cap."""

    def __init__(self, caps: Sequence[int], width: int, device: Any) -> None:
        import torch

        self.caps = torch.tensor(list(caps), device=device)
        self.width = width

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        return (input_ids.shape[1] - self.width) >= self.caps


class TransformersEngine:
    """Answer chat requests with a causal LM loaded by ``transformers``.

    ``model`` is a local ``save_pretrained`` directory or a Hub id (resolved
    through the local cache when ``HF_HUB_OFFLINE=1``). ``max_model_len``
    bounds prompt plus answer like vLLM's option of that name; by default it
    is the model's ``max_position_embeddings``. ``system_prompt`` is put
    before conversations that do not start with a system message.
    """

    name = "transformers"

    def __init__(
        self,
        model: str | Path,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 16,
        max_model_len: int | None = None,
        system_prompt: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        # Prompts longer than the model are measured on purpose (to cut them), and the
        # weight-loading bar would garble the job's own progress output.
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()

        if batch_size < 1:
            raise InvalidSettingError("batch_size must be at least 1")
        self.model_id = str(model)
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.system_prompt = system_prompt
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        hf_tokenizer = AutoTokenizer.from_pretrained(self.model_id, trust_remote_code=trust_remote_code)
        hf_tokenizer.padding_side = "left"
        self._tokenizer = TransformersTokenizer(hf_tokenizer)
        self.model = AutoModelForCausalLM.from_pretrained(
            self.model_id, dtype=torch_dtype, trust_remote_code=trust_remote_code
        )
        self.model.to(device).eval()
        config = self.model.config
        positions = getattr(config, "max_position_embeddings", None) or hf_tokenizer.model_max_length
        self.max_model_len = min(max_model_len or positions, positions)
        eos = self.model.generation_config.eos_token_id
        eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
        if hf_tokenizer.eos_token_id is not None:
            eos_ids.append(hf_tokenizer.eos_token_id)
        if not eos_ids:
            raise InvalidSettingError(f"{self.model_id} declares no end-of-sequence token")
        self.eos_ids = tuple(dict.fromkeys(eos_ids))
        pad = hf_tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.eos_ids[0]
        self._description: dict[str, Any] | None = None
        self._token_texts: dict[int, str] = {}  # each token's text, decoded once, for top logprobs

    @property
    def tokenizer(self) -> TransformersTokenizer:
        return self._tokenizer

    def generate(self, requests: Iterable[ChatRequest | Pause]) -> Iterator[ChatResult]:
        """Answer ``requests`` in batches of similar prompt length; each batch's results as it finishes.

        Requests are read a window of a few batches at a time (less when the
        stream pauses), so an endless iterable is fine. A request that cannot
        be answered comes back with ``error`` set and ``finish_reason ==
        "error"``; the others are not affected.
        """
        iterator = iter(requests)
        window = self.batch_size * SORT_WINDOW_BATCHES
        while True:
            chunk, _paused, exhausted = pull(iterator, window)
            if not chunk:
                if exhausted:
                    return
                raise StalledStream("the request stream paused with no request in flight")
            prepared: list[_Prepared] = []
            for request in chunk:
                item = self._prepare(request)
                if isinstance(item, ChatResult):
                    yield item
                else:
                    prepared.append(item)
            prepared.sort(key=lambda item: len(item.prompt_ids), reverse=True)
            for start in range(0, len(prepared), self.batch_size):
                yield from self._run_batch(prepared[start : start + self.batch_size])

    def describe(self) -> dict[str, Any]:
        """Engine, model identity (a content hash), library versions and settings, for the run manifest."""
        if self._description is None:
            import torch
            import transformers

            config = self.model.config
            digest, weights_hashed = _model_digest(self._model_dir())
            self._description = {
                "engine": self.name,
                "model": self.model_id,
                "model_type": getattr(config, "model_type", None),
                "architectures": list(getattr(config, "architectures", None) or []),
                "revision": getattr(config, "_commit_hash", None),
                "model_sha256": digest,
                "weights_hashed": weights_hashed,
                "num_parameters": sum(p.numel() for p in self.model.parameters()),
                "max_model_len": self.max_model_len,
                "eos_token_ids": list(self.eos_ids),
                "device": self.device,
                "dtype": self.dtype,
                "batch_size": self.batch_size,
                "system_prompt": self.system_prompt,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
            }
        return dict(self._description)

    def close(self) -> None:
        """Drop the model so its memory can be reclaimed."""
        import gc

        self.model = None
        gc.collect()

    def _prepare(self, request: ChatRequest) -> _Prepared | ChatResult:
        sampling = request.sampling
        if sampling.max_new_tokens < 1 or sampling.temperature < 0 or not 0 < sampling.top_p <= 1:
            return _error(request, ErrorKind.INVALID_SAMPLING, repr(sampling))
        if sampling.fixed_length:
            return _error(request, ErrorKind.INVALID_SAMPLING, "fixed_length is not supported by this engine")
        messages = list(request.messages)
        adds_system = self.system_prompt is not None and (not messages or messages[0].get("role") != "system")
        if adds_system:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        try:
            if request.prompt_token_ids is not None and not adds_system:
                prompt_ids = list(request.prompt_token_ids)  # tokenized while the prompt was fitted
            else:
                prompt_ids = self._tokenizer.chat_ids(messages)
            if request.assistant_prefix:
                # The answer continues the prefix: it follows the generation prompt as its first tokens.
                prompt_ids += self._tokenizer.encode(request.assistant_prefix)
        except Exception as exc:
            return _error(request, ErrorKind.CHAT_TEMPLATE_ERROR, f"{type(exc).__name__}: {exc}")
        room = self.max_model_len - len(prompt_ids)
        if room < 1:
            detail = f"{len(prompt_ids)} prompt tokens, the model takes {self.max_model_len}"
            return _error(request, ErrorKind.PROMPT_TOO_LONG, detail, prompt_tokens=len(prompt_ids))
        return _Prepared(request, prompt_ids, min(sampling.max_new_tokens, room))

    def _run_batch(self, batch: list[_Prepared]) -> list[ChatResult]:
        try:
            return self._generate_batch(batch)
        except Exception as exc:
            kind = raised_error_kind(exc)
            if len(batch) == 1:
                item = batch[0]
                log.warning("request %s failed: %s: %s", item.request.key, kind, exc)
                return [_error(item.request, kind, str(exc), prompt_tokens=len(item.prompt_ids))]
            log.warning("a batch of %d failed (%s: %s); retrying one by one", len(batch), kind, exc)
        # Retry one by one, so a single bad request costs only its own answer.
        return [result for item in batch for result in self._run_batch([item])]

    def _generate_batch(self, batch: list[_Prepared]) -> list[ChatResult]:
        import torch
        from transformers import GenerationConfig

        width = max(len(item.prompt_ids) for item in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, item in enumerate(batch):
            input_ids[row, width - len(item.prompt_ids) :] = torch.tensor(item.prompt_ids)
            attention_mask[row, width - len(item.prompt_ids) :] = 1
        device = self.model.device
        chooser = _TokenChooser([item.request.sampling for item in batch])
        caps = _RowCaps([item.cap for item in batch], width, device)
        # Every option that the model's generation_config could otherwise fill in is set here.
        generation_config = GenerationConfig(
            max_new_tokens=max(item.cap for item in batch),
            min_new_tokens=0,
            do_sample=False,
            num_beams=1,
            temperature=1.0,
            top_k=50,
            top_p=1.0,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            eos_token_id=list(self.eos_ids),
            pad_token_id=self.pad_id,
        )
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                generation_config=generation_config,
                logits_processor=[chooser],
                stopping_criteria=[caps],
            )
        new_tokens = output[:, width:].cpu().tolist()
        logprobs = torch.stack(chooser.logprobs, dim=1).tolist() if chooser.logprobs else [[]] * len(batch)
        top_values = torch.stack([v for v, _ in chooser.top], dim=1).tolist() if chooser.top else None
        top_ids = torch.stack([i for _, i in chooser.top], dim=1).tolist() if chooser.top else None
        results = []
        for row, (item, tokens, row_logprobs) in enumerate(zip(batch, new_tokens, logprobs, strict=True)):
            result = self._result(item, tokens, row_logprobs)
            wanted = item.request.sampling.top_logprobs
            if wanted and top_values is not None and top_ids is not None:
                result.token_logprobs = self._token_logprobs(
                    tokens[: result.completion_tokens or 0],
                    row_logprobs,
                    top_values[row],
                    top_ids[row],
                    wanted,
                )
            results.append(result)
        return results

    def _token_logprobs(
        self,
        tokens: list[int],
        logprobs: list[float],
        top_values: list[list[float]],
        top_ids: list[list[int]],
        wanted: int,
    ) -> list[TokenLogprob]:
        """Each generated token's text and log-probability, with the ``wanted`` likeliest tokens there."""
        hf, texts = self._tokenizer.hf, self._token_texts

        def text(token_id: int) -> str:
            if token_id not in texts:
                texts[token_id] = hf.decode([token_id], skip_special_tokens=False)
            return texts[token_id]

        return [
            TokenLogprob(
                token=text(token),
                logprob=float(logprobs[step]),
                top=tuple(
                    (text(i), float(v))
                    for i, v in zip(top_ids[step][:wanted], top_values[step][:wanted], strict=True)
                ),
            )
            for step, token in enumerate(tokens)
        ]

    def _result(self, item: _Prepared, tokens: list[int], logprobs: list[float]) -> ChatResult:
        tokens = tokens[: item.cap]
        stop = next((i for i, token in enumerate(tokens) if token in self.eos_ids), None)
        completion = len(tokens) if stop is None else stop + 1
        answer = tokens if stop is None else tokens[:stop]
        sampling = item.request.sampling
        return ChatResult(
            key=item.request.key,
            text=self._tokenizer.decode(answer),
            finish_reason="length" if stop is None else "stop",
            prompt_tokens=len(item.prompt_ids),
            completion_tokens=completion,
            cumulative_logprob=float(sum(logprobs[:completion])) if sampling.logprobs else None,
        )

    def _model_dir(self) -> Path | None:
        local = Path(self.model_id)
        if local.is_dir():
            return local
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(self.model_id, local_files_only=True))
        except Exception:
            return None


def _error(request: ChatRequest, kind: str, detail: str, prompt_tokens: int | None = None) -> ChatResult:
    return ChatResult(
        key=request.key,
        text=None,
        finish_reason=FINISH_ERROR,
        prompt_tokens=prompt_tokens,
        error=kind,
        extra={"error_detail": detail[:500]},
    )


def _model_digest(model_dir: Path | None) -> tuple[str | None, bool]:
    """sha256 over the model's config, tokenizer and weights; (digest, whether weight bytes were hashed).

    Weights over :data:`HASH_WEIGHTS_LIMIT` in total enter by name and size
    only (reading tens of gigabytes for a manifest is not worth it; the Hub
    revision identifies those).
    """
    if model_dir is None:
        return None, False
    weights = sorted(p for p in model_dir.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))
    hash_weights = sum(p.stat().st_size for p in weights) <= HASH_WEIGHTS_LIMIT
    digest = hashlib.sha256()
    for path in [model_dir / name for name in _IDENTITY_FILES if (model_dir / name).is_file()] + weights:
        digest.update(path.name.encode() + b"\0")
        if path in weights and not hash_weights:
            digest.update(str(path.stat().st_size).encode())
            continue
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest(), hash_weights
