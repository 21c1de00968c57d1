"""The DGM registry: the one source of model names, ids and generation defaults.

The data lives in ``data/dgms.yaml``; builders, plugins, the task pack and
the viewer all read it through :func:`load_registry`. Users add or override
models with their own YAML files (same format), passed with ``--registry`` or
listed in the ``WILDCHAT50M_REGISTRY`` environment variable.

``data/local-dgms.yaml`` is an overlay of tiny models that are built on this
machine (:mod:`wildchat50m.tiny`) for the demo, the tests and the benchmarks:
every lookup finds them, but they are not among the published DGMs that
iterating a registry yields (see :meth:`Registry.local`).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from wildchat50m.errors import WildChat50mError
from wildchat50m.resources import local_registry_file, registry_file

#: A config name is a directory name under ``data/`` and a datasets config name.
CONFIG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
POST_TRAINING_KINDS = ("instruct", "sft", "preference", "original")
REGISTRY_ENV = "WILDCHAT50M_REGISTRY"


class RegistryError(WildChat50mError):
    """A registry file is malformed or two entries collide."""


class UnknownDGMError(WildChat50mError, KeyError):
    """No DGM answers to the name; the message lists the closest names."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class GenerationDefaults:
    """How the paper's set-up runs one DGM on 80 GB GPUs with vLLM."""

    max_model_len: int
    tensor_parallel_size: int
    dtype: str
    quantization: str | None
    temperature: float
    top_p: float
    max_new_tokens: int

    @property
    def max_input_tokens(self) -> int:
        """The paper's prompt budget: 0.75 x the context window."""
        return int(self.max_model_len * 0.75)


@dataclass(frozen=True)
class LocalBuild:
    """Everything that determines a tiny model built on this machine (see :mod:`wildchat50m.tiny`)."""

    seed: int
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    max_position_embeddings: int = 4096
    #: Std of the output embedding relative to the other weights. Random weights otherwise give
    #: near-uniform logits (std ~0.15), and sampling at temperature 1 would be word salad that
    #: never ends; scaled, the logits have a std of ~2, like a trained model's.
    logit_scale: float = 12.0
    #: Scale of the end-of-turn row on top of that: answers stop after a few to a few dozen
    #: tokens about a third of the time and otherwise run to the cap.
    eos_scale: float = 1.8
    #: Scale of the 256 single-byte rows: damped, so answers are mostly whole (sub)words.
    byte_scale: float = 0.5

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def parameter_count(self) -> int:
        """Parameters of the model (untied embeddings, no biases)."""
        hidden = self.hidden_size
        kv_width = self.num_key_value_heads * self.head_dim
        attention = 2 * hidden * hidden + 2 * hidden * kv_width
        layer = attention + 3 * hidden * self.intermediate_size + 2 * hidden
        return 2 * self.vocab_size * hidden + self.num_hidden_layers * layer + hidden


@dataclass(frozen=True)
class DGM:
    """One data-generating model, i.e. one config of the dataset repository."""

    config: str
    hf_id: str | None
    hf_id_confirmed: bool
    abbreviation: str | None
    family: str
    params_b: float | None
    license: str
    released: str | None
    post_training: str
    generation: GenerationDefaults | None
    notes: str = ""
    active_params_b: float | None = None
    #: Set for a model built on this machine rather than downloaded (the tiny models).
    local_build: LocalBuild | None = None

    def names(self) -> tuple[str, ...]:
        """Every name this DGM answers to (config, Hub id and its tail, abbreviation)."""
        names = [self.config]
        if self.hf_id:
            names += [self.hf_id, self.hf_id.rsplit("/", 1)[-1]]
        if self.abbreviation:
            names.append(self.abbreviation)
        return tuple(names)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_REQUIRED = ("config", "family", "license", "post_training")
_DGM_KEYS = {f.name for f in fields(DGM)}
_GENERATION_KEYS = {f.name for f in fields(GenerationDefaults)}
_LOCAL_BUILD_KEYS = {f.name for f in fields(LocalBuild)}


def _parse_entry(raw: Any, where: str) -> tuple[DGM, bool]:
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: an entry must be a mapping, got {type(raw).__name__}")
    override = bool(raw.get("override", False))
    entry = {k: v for k, v in raw.items() if k != "override"}
    unknown = set(entry) - _DGM_KEYS
    if unknown:
        raise RegistryError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_DGM_KEYS)}")
    missing = [k for k in _REQUIRED if entry.get(k) in (None, "")]
    if missing:
        raise RegistryError(f"{where}: missing {missing}")
    config = str(entry["config"])
    if not CONFIG_NAME.match(config):
        raise RegistryError(
            f"{where}: config name {config!r} is not a valid Hub config name "
            "(letters, digits, '.', '_', '-'; at most 64 characters; starts with a letter or digit)"
        )
    if entry["post_training"] not in POST_TRAINING_KINDS:
        raise RegistryError(f"{where}: post_training must be one of {POST_TRAINING_KINDS}")
    generation = entry.get("generation")
    if generation is not None:
        if not isinstance(generation, dict) or set(generation) != _GENERATION_KEYS:
            raise RegistryError(f"{where}: generation must have exactly the keys {sorted(_GENERATION_KEYS)}")
        generation = GenerationDefaults(**generation)
        if not 0.0 <= generation.temperature <= 2.0 or not 0.0 < generation.top_p <= 1.0:
            raise RegistryError(f"{where}: temperature or top_p out of range")
        if generation.max_new_tokens >= generation.max_model_len:
            raise RegistryError(f"{where}: max_new_tokens must be smaller than max_model_len")
    elif entry["post_training"] != "original":
        raise RegistryError(f"{where}: a generating model needs generation defaults")
    entry["generation"] = generation
    local_build = entry.get("local_build")
    if local_build is not None:
        if not isinstance(local_build, dict) or not set(local_build) <= _LOCAL_BUILD_KEYS:
            raise RegistryError(f"{where}: local_build takes the keys {sorted(_LOCAL_BUILD_KEYS)}")
        try:
            local_build = LocalBuild(**local_build)
        except TypeError as error:
            raise RegistryError(f"{where}: local_build: {error}") from error
        entry["local_build"] = local_build
        entry.setdefault("params_b", local_build.parameter_count() / 1e9)
    entry.setdefault("hf_id_confirmed", entry.get("hf_id") is not None)
    entry["released"] = None if entry.get("released") is None else str(entry["released"])
    for key in ("hf_id", "abbreviation", "params_b", "released", "active_params_b"):
        entry.setdefault(key, None)
    entry["notes"] = entry.get("notes") or ""
    return DGM(**entry), override


def _read_file(path: Path) -> list[tuple[DGM, bool]]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RegistryError(f"cannot read registry file {path}: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("dgms"), list):
        raise RegistryError(f"{path}: expected a mapping with a 'dgms' list")
    return [_parse_entry(raw, f"{path} entry {i}") for i, raw in enumerate(document["dgms"])]


class Registry:
    """An ordered, validated set of DGMs with case-insensitive lookup."""

    def __init__(self, dgms: Sequence[DGM]):
        self._dgms: list[DGM] = list(dgms)
        self._by_name: dict[str, DGM] = {}
        abbreviations: dict[str, str] = {}
        configs: dict[str, str] = {}
        for dgm in self._dgms:
            key = dgm.config.casefold()
            if key in configs:
                raise RegistryError(
                    f"config names must be unique case-insensitively: {dgm.config!r} vs {configs[key]!r}"
                )
            configs[key] = dgm.config
            if dgm.abbreviation:
                abbr = dgm.abbreviation.casefold()
                if abbr in abbreviations:
                    raise RegistryError(
                        f"abbreviation {dgm.abbreviation!r} is used twice: "
                        f"{abbreviations[abbr]!r} and {dgm.config!r}"
                    )
                abbreviations[abbr] = dgm.config
        # Config names and abbreviations win over Hub ids and their tails.
        for dgm in reversed(self._dgms):
            for name in dgm.names()[1:]:
                self._by_name[name.casefold()] = dgm
        for dgm in self._dgms:
            self._by_name[dgm.config.casefold()] = dgm
            if dgm.abbreviation:
                self._by_name[dgm.abbreviation.casefold()] = dgm

    def __iter__(self) -> Iterator[DGM]:
        """The published DGMs, in registry order (the models built locally are left out)."""
        return (dgm for dgm in self._dgms if dgm.local_build is None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def local(self) -> list[DGM]:
        """The models built on this machine (the tiny models of the demo, tests and benchmarks)."""
        return [dgm for dgm in self._dgms if dgm.local_build is not None]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.casefold() in self._by_name

    @property
    def configs(self) -> list[str]:
        return [dgm.config for dgm in self]

    def get(self, name: str) -> DGM:
        """Find a DGM by config name, Hugging Face id or abbreviation, ignoring case."""
        found = self._by_name.get(name.strip().casefold())
        if found is not None:
            return found
        spellings = {dgm_name.casefold(): dgm_name for dgm in self._dgms for dgm_name in dgm.names()}
        close = difflib.get_close_matches(name.casefold(), list(spellings), n=5, cutoff=0.4)
        hint = ", ".join(spellings[c] for c in close) if close else ", ".join(self.configs[:8]) + ", ..."
        raise UnknownDGMError(
            f"unknown DGM {name!r}. Closest names: {hint}. Run `wildchat50m dgms` for the full list."
        )


def load_registry(extra: Sequence[str | Path] = ()) -> Registry:
    """The packaged registry plus user files (``extra``, then ``$WILDCHAT50M_REGISTRY``).

    A user entry with a new config name is appended; one that reuses an
    existing config name must say ``override: true`` and then replaces it.
    """
    paths = [Path(p) for p in extra]
    env = os.environ.get(REGISTRY_ENV, "")
    paths += [Path(p) for p in env.split(os.pathsep) if p]
    dgms = [dgm for dgm, _ in _read_file(registry_file())]
    dgms += [dgm for dgm, _ in _read_file(local_registry_file())]
    for path in paths:
        for dgm, override in _read_file(path):
            index = next(
                (i for i, d in enumerate(dgms) if d.config.casefold() == dgm.config.casefold()), None
            )
            if index is None:
                dgms.append(dgm)
            elif override:
                dgms[index] = dgm
            else:
                raise RegistryError(
                    f"{path}: config {dgm.config!r} already exists in the registry; "
                    "add 'override: true' to the entry to replace it"
                )
    return Registry(dgms)
