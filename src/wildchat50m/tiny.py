"""Tiny random-weight chat models, built locally, for tests and the demo.

Nothing is downloaded: a byte-level BPE tokenizer is trained on the embedded
sample's message texts and a small Llama-architecture model is initialised
from a fixed seed. The result is an ordinary ``save_pretrained`` directory
that ``transformers`` (and so every engine that takes a model path) loads like
any Hub checkpoint. The answers are gibberish, but they are deterministic,
differ between models, and exercise every path real models do: multilingual
text, chat templates, end-of-turn tokens, answers that stop and answers that
hit the length cap.

Models are cached under ``$WILDCHAT50M_CACHE`` (default
``~/.cache/wildchat50m``) in ``tiny-models/<name>-v<VERSION>``; a build is
written beside its target and renamed into place, so a killed build or two
concurrent builders never leave a half-written model behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Bumped whenever a build would come out different, so stale caches are never reused.
TINY_VERSION = 2

BOS = "<|begin_of_text|>"
END = "<|end|>"
PAD = "<|pad|>"
SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
#: Their order fixes their ids: 0 is BOS, 1 is end-of-turn (EOS), 2 is padding.
SPECIAL_TOKENS = (BOS, END, PAD, SYSTEM, USER, ASSISTANT)

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('Unknown role: ' + message['role']) }}"
    "{% endif %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

MARKER_FILE = "tiny_model.json"


@dataclass(frozen=True)
class TinySpec:
    """Everything that determines one tiny model."""

    seed: int
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    max_position_embeddings: int = 4096
    # Std of the output embedding relative to the other weights. Random weights otherwise give
    # near-uniform logits (std ~0.15), and sampling at temperature 1 would be word salad that
    # never ends; scaled, the logits have a std of ~2, like a trained model's, and sampled
    # answers resemble greedy ones.
    logit_scale: float = 12.0
    # Scale of the end-of-turn row on top of that. EOS is one token in thousands; boosted, greedy
    # and sampled answers stop after a few to a few dozen tokens about a third of the time and
    # otherwise run to the cap.
    eos_scale: float = 1.8
    # Scale of the 256 single-byte rows: damped, so answers are mostly whole (sub)words
    # rather than stray bytes that decode to replacement characters.
    byte_scale: float = 0.5


TINY_SPECS: dict[str, TinySpec] = {
    "tiny-a": TinySpec(
        seed=1,
        vocab_size=3072,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        intermediate_size=192,
    ),
    "tiny-b": TinySpec(
        seed=2,
        vocab_size=2560,
        hidden_size=96,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=256,
        eos_scale=2.0,
    ),
    # vLLM's CPU attention needs head_dim 64 (it rejects tiny-a's 16): the vllm engine's tests,
    # its benchmark and `./run vllm-demo` run this one.
    "tiny-vllm": TinySpec(
        seed=4,
        vocab_size=3072,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=384,
    ),
    # Heavier, so that engine time dominates as it does with a real model: for bench/ only.
    "tiny-bench": TinySpec(
        seed=3,
        vocab_size=3072,
        hidden_size=512,
        num_hidden_layers=6,
        num_attention_heads=8,
        num_key_value_heads=8,
        intermediate_size=1536,
    ),
}


#: The tiny DGMs of the demo; every name of TINY_SPECS is usable wherever a DGM name is expected.
TINY_MODELS: tuple[str, ...] = ("tiny-a", "tiny-b")

#: Answer length of the tiny DGMs: short, so the CPU demo over the whole sample takes seconds, not minutes.
TINY_MAX_NEW_TOKENS = 64


def tiny_parameter_count(spec: TinySpec) -> int:
    """Parameters of a tiny model, from its spec (untied embeddings, no biases)."""
    hidden = spec.hidden_size
    kv_width = spec.num_key_value_heads * (hidden // spec.num_attention_heads)
    attention = 2 * hidden * hidden + 2 * hidden * kv_width
    layer = attention + 3 * hidden * spec.intermediate_size + 2 * hidden
    return 2 * spec.vocab_size * hidden + spec.num_hidden_layers * layer + hidden


def tiny_dgm(name: str) -> Any:
    """A registry-style :class:`~wildchat50m.registry.DGM` for tiny model ``name``.

    Sampling follows the registry's convention for the paper's DGMs
    (temperature 1.0, top_p 1.0); the context is the model's own, and the
    answers are capped at :data:`TINY_MAX_NEW_TOKENS`.
    """
    from wildchat50m.registry import DGM, GenerationDefaults

    spec = TINY_SPECS[name]
    return DGM(
        config=name,
        hf_id=None,
        hf_id_confirmed=False,
        abbreviation=None,
        family="tiny-llama",
        params_b=tiny_parameter_count(spec) / 1e9,
        license="apache-2.0",
        released=None,
        post_training="instruct",
        generation=GenerationDefaults(
            max_model_len=spec.max_position_embeddings,
            tensor_parallel_size=1,
            dtype="float32",
            quantization=None,
            temperature=1.0,
            top_p=1.0,
            max_new_tokens=TINY_MAX_NEW_TOKENS,
        ),
        notes="Random weights and a locally trained tokenizer (wildchat50m.tiny): for tests and the demo.",
    )


def default_cache_dir() -> Path:
    """``$WILDCHAT50M_CACHE`` or ``~/.cache/wildchat50m``."""
    env = os.environ.get("WILDCHAT50M_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "wildchat50m"


def tiny_chat_model(name: str = "tiny-a", cache_dir: Path | None = None) -> Path:
    """The directory of tiny model ``name``, built on first use (a few seconds) and cached."""
    if name not in TINY_SPECS:
        raise ValueError(f"unknown tiny model {name!r}; known: {', '.join(sorted(TINY_SPECS))}")
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / "tiny-models" / f"{name}-v{TINY_VERSION}"
    if (target / MARKER_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would make a shared cache unreadable to others
    try:
        build_tiny_model(name, staging)
        try:
            os.replace(staging, target)
        except OSError:
            # Another builder won the race (the target is a non-empty directory now):
            # its build is identical, so use it.
            if not (target / MARKER_FILE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def sample_texts() -> list[str]:
    """The message texts of the embedded sample, the tokenizer's training corpus."""
    import pyarrow.parquet as pq

    from wildchat50m.resources import sample_file

    rows = pq.read_table(sample_file(), columns=["conversation"]).column("conversation").to_pylist()
    return [message["content"] for row in rows for message in row or [] if message.get("content")]


def train_tokenizer(vocab_size: int, texts: list[str] | None = None, model_max_length: int = 4096) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` with the chat special tokens and template.

    Byte-level means every string, in any script or emoji, encodes without an
    unknown token and decodes back to itself.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts if texts is not None else sample_texts(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=END,
        pad_token=PAD,
        additional_special_tokens=[SYSTEM, USER, ASSISTANT],
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
        clean_up_tokenization_spaces=False,
        model_max_length=model_max_length,
    )


def build_tiny_model(name: str, out_dir: Path) -> Path:
    """Write tiny model ``name`` (tokenizer, config, weights, generation config) into ``out_dir``."""
    import torch
    from safetensors.torch import save_file
    from tokenizers import pre_tokenizers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    spec = TINY_SPECS[name]
    tokenizer = train_tokenizer(spec.vocab_size, model_max_length=spec.max_position_embeddings)
    bos_id, eos_id, pad_id = (tokenizer.convert_tokens_to_ids(t) for t in (BOS, END, PAD))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        tie_word_embeddings=False,
        architectures=["LlamaForCausalLM"],
    )
    # The constructor's own initialisation draws from the global RNG; fork it so the caller's
    # stream is untouched, then overwrite every weight from a private generator: the result
    # depends neither on other threads using torch's RNG nor on transformers' init scheme.
    with torch.random.fork_rng(devices=[]):
        model = LlamaForCausalLM(config).to(torch.float32).eval()
    generator = torch.Generator().manual_seed(spec.seed)
    byte_ids = tokenizer.convert_tokens_to_ids(sorted(pre_tokenizers.ByteLevel.alphabet()))
    with torch.no_grad():
        for _, param in sorted(model.named_parameters(), key=lambda item: item[0]):
            if param.dim() == 1:  # the RMSNorm scales
                param.fill_(1.0)
            else:
                param.normal_(0.0, config.initializer_range, generator=generator)
        model.get_input_embeddings().weight[pad_id] = 0.0
        weight = model.get_output_embeddings().weight
        weight *= spec.logit_scale
        weight[byte_ids] *= spec.byte_scale
        weight[eos_id] *= spec.eos_scale
        # The other special tokens get a zero row, so a logit of 0: practically never the greedy
        # choice among thousands of random logits, though sampling may draw one now and then.
        for token_id in (bos_id, pad_id, *tokenizer.convert_tokens_to_ids([SYSTEM, USER, ASSISTANT])):
            weight[token_id] = 0.0
    generation_config = GenerationConfig(
        bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=pad_id, do_sample=False
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out_dir)
    config.save_pretrained(out_dir)
    generation_config.save_pretrained(out_dir)
    # safetensors directly rather than model.save_pretrained: same file, no progress bar.
    weights = {key: tensor.contiguous() for key, tensor in model.state_dict().items()}
    save_file(weights, out_dir / "model.safetensors", metadata={"format": "pt"})
    marker = {"name": name, "version": TINY_VERSION, "spec": asdict(spec)}
    (out_dir / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return out_dir
