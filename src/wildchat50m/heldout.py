"""Held-out evaluation prompts: a deterministic, seeded subset of conversations, chosen by hash.

A conversation is held out when ``sha256("wildchat50m-heldout:<seed>:<conversation_hash>")``,
read as a number in [0, 1), is below ``fraction``. The rule looks at the hash alone, so every
config, every machine and every shard of a job agree on it, and it never depends on the
order of rows. The lm-eval task pack evaluates on (the first ``max_docs``, by that number,
of) these conversations; ``wildchat50m eval heldout`` writes their hashes one per line, for
a training mix to leave them out.

Repositories are the ones ``wildchat50m build`` writes, opened with
:meth:`wildchat50m.layout.Repository.open` (a local directory, or a Hub dataset id whose config
files are fetched). Files are scanned in batches of two columns, never loaded whole.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wildchat50m.errors import WildChat50mError
from wildchat50m.layout import Repository

DEFAULT_FRACTION = 0.005
DEFAULT_SEED = 0
DEFAULT_MAX_DOCS = 500
_SCALE = float(1 << 64)


class HeldoutError(WildChat50mError):
    """The repository or the held-out settings cannot be used; the message says what to do."""


def heldout_key(conversation_hash: str, seed: int = DEFAULT_SEED) -> float:
    """Where a conversation falls in [0, 1) for ``seed``; held out when below the fraction."""
    digest = hashlib.sha256(f"wildchat50m-heldout:{seed}:{conversation_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def is_heldout(conversation_hash: str, fraction: float = DEFAULT_FRACTION, seed: int = DEFAULT_SEED) -> bool:
    return heldout_key(conversation_hash, seed) < fraction


def check_fraction(fraction: float) -> float:
    if not 0.0 < fraction <= 1.0:
        raise HeldoutError(f"the held-out fraction must be in (0, 1], got {fraction}")
    return fraction


def _batches(files: Sequence[Path], columns: list[str]) -> Iterator[dict[str, list[Any]]]:
    import pyarrow.parquet as pq

    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(columns=columns, batch_size=2048):
            yield batch.to_pydict()


def heldout_hashes(
    repo_dir: Path,
    configs: Sequence[str] | None = None,
    *,
    fraction: float = DEFAULT_FRACTION,
    seed: int = DEFAULT_SEED,
) -> list[str]:
    """Every held-out hash found in the configs (default: all), ordered by key."""
    check_fraction(fraction)
    found: set[str] = set()
    repository = Repository(repo_dir)
    for config in configs or repository.answer_configs():
        for batch in _batches(repository.data_files(config), ["conversation_hash"]):
            found.update(h for h in batch["conversation_hash"] if h and is_heldout(h, fraction, seed))
    return sorted(found, key=lambda h: (heldout_key(h, seed), h))


@dataclass
class HeldoutDocs:
    """The evaluation documents of one config, and why other held-out conversations gave none."""

    docs: list[dict[str, Any]]
    skipped: Counter[str] = field(default_factory=Counter)


def conversation_doc(conversation_hash: str, messages: Sequence[dict[str, Any]]) -> dict[str, Any] | str:
    """The evaluation document of one conversation, or the reason code it has none.

    The prompt is the conversation up to its last answered user turn, earlier answers as the
    config stores them; the reference is the config's answer to that turn. A failed answer
    (null content) ends the usable part of the conversation.
    """
    prompt: list[dict[str, str]] = []
    best: tuple[list[dict[str, str]], str, int] | None = None
    turn = 0
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role == "user":
            if content is None:
                break
            turn += 1
        elif role == "assistant":
            if content is None or not prompt or prompt[-1]["role"] != "user":
                break
            best = (list(prompt), content, turn)
        elif role != "system":
            return "heldout_unknown_role"
        prompt.append({"role": role, "content": content or ""})
    if best is None:
        return "heldout_no_answered_turn"
    history, reference, answered_turn = best
    return {
        "conversation_hash": conversation_hash,
        "messages": history,
        "reference": reference,
        # 0-based, as ``turn_index`` is in judgments and pairs (``turn`` is WildChat's turn count).
        "turn_index": answered_turn - 1,
    }


def heldout_docs(
    repo_dir: Path,
    config: str,
    *,
    fraction: float = DEFAULT_FRACTION,
    seed: int = DEFAULT_SEED,
    max_docs: int | None = DEFAULT_MAX_DOCS,
) -> HeldoutDocs:
    """The config's held-out conversations as documents, the ``max_docs`` lowest keys first."""
    check_fraction(fraction)
    chosen: list[tuple[float, dict[str, Any]]] = []
    skipped: Counter[str] = Counter()
    for batch in _batches(Repository(repo_dir).data_files(config), ["conversation_hash", "conversation"]):
        for conversation_hash, conversation in zip(
            batch["conversation_hash"], batch["conversation"], strict=True
        ):
            if not conversation_hash or not is_heldout(conversation_hash, fraction, seed):
                continue
            doc = conversation_doc(conversation_hash, conversation or [])
            if isinstance(doc, str):
                skipped[doc] += 1
            else:
                chosen.append((heldout_key(conversation_hash, seed), doc))
    chosen.sort(key=lambda item: (item[0], item[1]["conversation_hash"]))
    if max_docs is not None and len(chosen) > max_docs:
        skipped["heldout_over_max_docs"] += len(chosen) - max_docs
        chosen = chosen[:max_docs]
    return HeldoutDocs([doc for _, doc in chosen], skipped)
