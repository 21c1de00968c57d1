"""The declarative mix spec: sources, filters, blends and length control, validated by pydantic.

A spec is a YAML file (or a built-in recipe under ``data/recipes/``)::

    name: re-wild
    seed: 0
    sources:
      - name: wildchat-qwen2.5-72b
        kind: wildchat50m                 # one DGM config of a WildChat-50m repository
        repository: wildchat-50m          # a built repository directory or a Hub id
        config: Qwen2.5-72B               # a config name, Hub id or abbreviation (Q72)
        count: 246750                     # or `fraction: 0.25`; neither = every eligible row
        filters: {languages: [English], exclude_toxic: true, exclude_hashes: held-out.txt}
      - name: mmlu-auxiliary-train
        kind: multiple_choice             # question/choices/answer -> one user/assistant exchange
        path: cais/mmlu
        subset: all
        split: auxiliary_train
        count: 99800
      - name: tulu-3-algebra
        kind: chat                        # a column of role/content messages
        path: allenai/tulu-3-sft-personas-algebra
        count: 20000

A ``blend`` source draws equal parts of several DGMs over the same or
disjoint conversations; a ``wildchat50m`` source may cut its answers to the
length of another DGM's answer to the same turn (``length_limit_config``).
The Axolotl plugin reuses :class:`MixFilters` for its own YAML keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from wildchat50m.errors import WildChat50mError
from wildchat50m.resources import package_path


class MixSpecError(WildChat50mError):
    """A mix spec does not validate, or a recipe does not exist; the message says where."""


class _Strict(BaseModel):
    """Unknown keys are errors: a misspelt key must not be dropped silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MixFilters(_Strict):
    """Which conversations a WildChat-50m source may draw from."""

    languages: list[str] | None = Field(None, description="WildChat `language` values to keep")
    exclude_toxic: bool = Field(False, description="drop conversations WildChat flags as toxic")
    exclude_redacted: bool = Field(False, description="drop conversations with redacted PII")
    max_turns: int | None = Field(None, ge=1, description="drop conversations with more user turns")
    hashes: list[str] | str | None = Field(
        None, description="allow-list: conversation_hash values, or a text file with one per line"
    )
    exclude_hashes: list[str] | str | None = Field(
        None, description="conversation_hash values to leave out (e.g. held-out eval prompts), or a file"
    )


class _Sized(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    count: int | None = Field(None, ge=1, description="exactly this many rows")
    fraction: float | None = Field(None, gt=0, le=1, description="this share of the eligible rows")

    @model_validator(mode="after")
    def _count_or_fraction(self) -> _Sized:
        if self.count is not None and self.fraction is not None:
            raise ValueError(f"source {self.name!r}: give `count` or `fraction`, not both")
        return self


class WildChatSource(_Sized):
    """One DGM config of a WildChat-50m repository."""

    kind: Literal["wildchat50m"]
    repository: str | None = Field(None, description="a built repository directory or a Hub dataset id")
    config: str
    filters: MixFilters = MixFilters()
    length_limit_config: str | None = Field(
        None,
        description="cut every answer to at most the length (characters) of this DGM's answer "
        "to the same turn; only conversations that DGM answered in full are eligible",
    )


class BlendSource(_Sized):
    """Equal parts of several DGMs: over disjoint conversations, or each over the same ones."""

    kind: Literal["blend"]
    repository: str | None = None
    configs: list[str] = Field(min_length=2)
    conversations: Literal["disjoint", "same"] = "disjoint"
    filters: MixFilters = MixFilters()


class _Foreign(_Sized):
    path: str = Field(description="a local parquet/JSON Lines file or folder, or a Hub dataset id")
    subset: str | None = Field(None, description="the Hub config name, if the dataset has several")
    split: str = "train"
    id_field: str | None = Field(
        None, description="a column that identifies a row; else a hash of its messages is used"
    )


class ChatSource(_Foreign):
    """A dataset whose rows hold a list of messages (e.g. Tulu 3 Persona Hub algebra)."""

    kind: Literal["chat"]
    messages_field: str = "messages"
    role_field: str = "role"
    content_field: str = "content"
    roles: dict[str, Literal["system", "user", "assistant"]] = Field(
        default_factory=lambda: {"system": "system", "user": "user", "assistant": "assistant"},
        description="source role value -> role in the mix (e.g. {human: user, gpt: assistant})",
    )


class MultipleChoiceSource(_Foreign):
    """Question, choices and answer index (e.g. MMLU auxiliary train) as one user/assistant exchange.

    Field names may be dotted paths into struct columns (``train.question``).
    The templates are Python format strings over ``question``, ``choices``
    (one lettered line per choice), ``letter`` and ``answer_text``.
    """

    kind: Literal["multiple_choice"]
    question_field: str = "question"
    choices_field: str = "choices"
    answer_field: str = "answer"
    user_template: str = "{question}\n\n{choices}"
    assistant_template: str = "{letter}. {answer_text}"


Source = Annotated[
    WildChatSource | BlendSource | ChatSource | MultipleChoiceSource, Field(discriminator="kind")
]


class MixSpec(_Strict):
    """A whole mix: its sources in output order and the seed of every draw."""

    name: str = Field(min_length=1)
    description: str = ""
    seed: int = 0
    repository: str | None = Field(
        None, description="the default repository of every WildChat-50m source that names none"
    )
    sources: list[Source] = Field(min_length=1)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[Any]) -> list[Any]:
        names = [s.name for s in sources]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"source names must be unique; repeated: {', '.join(twice)}")
        return sources

    def source(self, name: str) -> Any:
        for source in self.sources:
            if source.name == name:
                return source
        raise MixSpecError(
            f"the mix has no source {name!r}; sources: {', '.join(s.name for s in self.sources)}"
        )


# ---------------------------------------------------------------- loading


def recipes_dir() -> Path:
    """The built-in recipes shipped with the package."""
    return package_path("wildchat50m.data.recipes")


def recipe_names() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.yaml"))


def _format_errors(error: ValidationError, where: str) -> str:
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"])
        lines.append(f"  {location or '(top level)'}: {problem['msg']}")
    return f"{where} is not a valid mix spec:\n" + "\n".join(lines)


def parse_spec(document: Any, where: str = "the mix spec") -> MixSpec:
    """Validate a parsed YAML document; errors name every bad key."""
    try:
        return MixSpec.model_validate(document)
    except ValidationError as error:
        raise MixSpecError(_format_errors(error, where)) from None


def load_spec(spec: str | Path) -> MixSpec:
    """A spec file, or the built-in recipe of that name (``wildchat50m mix list``)."""
    path = Path(spec)
    if not path.is_file():
        if str(spec) not in recipe_names():
            raise MixSpecError(
                f"{spec!r} is neither a spec file nor a built-in recipe; recipes: {', '.join(recipe_names())}"
            )
        path = recipes_dir() / f"{spec}.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise MixSpecError(f"cannot read mix spec {path}: {error}") from error
    return parse_spec(document, str(path))


def spec_base(spec: str | Path) -> Path:
    """Where relative paths in a spec (hash lists, local datasets) are resolved: the spec file's folder."""
    path = Path(spec)
    return path.resolve().parent if path.is_file() else Path.cwd()


def with_overrides(
    spec: MixSpec,
    *,
    repository: str | None = None,
    dgm: str | None = None,
    seed: int | None = None,
    source_paths: dict[str, str] | None = None,
) -> MixSpec:
    """The spec with command-line overrides applied, validated again.

    ``dgm`` replaces the config of every single-DGM (``wildchat50m``) source,
    as the scaling recipes expect; ``source_paths`` maps a source name to a
    new ``path`` (a local copy of a Hub dataset, say).
    """
    document = spec.model_dump(mode="json", exclude_none=True)
    if repository is not None:
        document["repository"] = repository
    if seed is not None:
        document["seed"] = seed
    if dgm is not None:
        single = [s for s in document["sources"] if s["kind"] == "wildchat50m"]
        if not single:
            raise MixSpecError(
                f"--dgm: mix {spec.name!r} has no single-DGM (wildchat50m) source to apply it to"
            )
        for source in single:
            source["config"] = dgm
    for name, path in (source_paths or {}).items():
        target = spec.source(name)
        if not hasattr(target, "path"):
            raise MixSpecError(f"--source-path: source {name!r} is a {target.kind} source; it has no path")
        next(s for s in document["sources"] if s["name"] == name)["path"] = path
    return parse_spec(document, f"mix {spec.name!r} with overrides")
