"""Judging factors (packaged in ``data/factors.yaml``, extended with ``--factors FILE``) and the
judge's prompt for one answer (``cards/judge_prompt.md.j2``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from wildchat50m.errors import WildChat50mError
from wildchat50m.resources import cards_dir, package_path

PROMPT_TEMPLATE = "judge_prompt.md.j2"


class JudgingError(WildChat50mError):
    """The judgment run cannot start as asked; the message says what to do."""


# ---------------------------------------------------------------- factors


@dataclass(frozen=True)
class Factor:
    """One judging factor: its name, a one-line description and the rubric the judge reads."""

    name: str
    description: str
    rubric: str

    @property
    def slug(self) -> str:
        """The factor as it appears in a config name: ``Logical Correctness`` -> ``Logical-Correctness``."""
        return re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-")


def factors_file() -> Path:
    """The factors shipped with the package."""
    return package_path("wildchat50m.data") / "factors.yaml"


def _read_factors(path: Path) -> list[tuple[Factor, bool]]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise JudgingError(f"{path}: cannot read the factors file: {error}") from error
    entries = data.get("factors") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise JudgingError(f"{path}: expected a top-level 'factors:' list")
    factors = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise JudgingError(f"{path}: factor #{number} is not a mapping")
        missing = [k for k in ("name", "description", "rubric") if not str(entry.get(k) or "").strip()]
        if missing:
            raise JudgingError(f"{path}: factor #{number} lacks {', '.join(missing)}")
        factor = Factor(str(entry["name"]).strip(), str(entry["description"]).strip(), str(entry["rubric"]))
        factors.append((factor, bool(entry.get("override", False))))
    return factors


def load_factors(extra_files: Iterable[Path] = ()) -> dict[str, Factor]:
    """The packaged factors, then each extra file's: new names are added, reused ones need ``override``."""
    factors = {factor.name: factor for factor, _ in _read_factors(factors_file())}
    for path in extra_files:
        for factor, override in _read_factors(Path(path)):
            if factor.name in factors and not override:
                raise JudgingError(
                    f"{path}: factor {factor.name!r} already exists; add 'override: true' to replace it"
                )
            factors[factor.name] = factor
    return factors


def get_factor(factors: Mapping[str, Factor], name: str) -> Factor:
    """A factor by name (case and separators ignored)."""
    wanted = re.sub(r"[^a-z0-9]", "", name.lower())
    for factor in factors.values():
        if re.sub(r"[^a-z0-9]", "", factor.name.lower()) == wanted:
            return factor
    raise JudgingError(
        f"unknown factor {name!r}; known: {', '.join(factors)} (or add one with --factors FILE)"
    )


# ---------------------------------------------------------------- prompt


def judge_messages(factor: Factor, question: str, answer: str, max_chars: int) -> tuple[list[dict], bool]:
    """The judge's chat messages for one answer, and whether question or answer had to be cut.

    Each text longer than ``max_chars`` keeps its head and tail around a
    ``[...]`` marker, so the judge sees how the answer starts and ends.
    """
    import jinja2

    cut = False

    def fit(text: str) -> str:
        nonlocal cut
        if len(text) <= max_chars:
            return text
        cut = True
        half = max(1, max_chars // 2)
        return f"{text[:half]}\n[...]\n{text[-half:]}"

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(cards_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )
    prompt = environment.get_template(PROMPT_TEMPLATE).render(
        factor=factor, question=fit(question), answer=fit(answer)
    )
    return [{"role": "user", "content": prompt}], cut
