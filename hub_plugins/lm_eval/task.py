"""The lm-eval task class: the model answers held-out WildChat prompts; scored against one DGM.

One task per DGM config (rendered by :mod:`.render`). Each document is a held-out
conversation up to its last answered user turn (see :mod:`wildchat50m.heldout`); the model
under test answers it and the answer is compared with the DGM's:

- ``rouge1``, ``rougeL``, ``meteor``: similarity to the DGM's answer (means over documents);
  the METEOR stages that ran (``exact+stem``, ``+synonym`` with WordNet installed) are in
  the task's ``metadata.meteor_stages`` in the results file;
- ``style_<feature>``: the model's mean count of each style feature per answer;
- ``pf_<feature>``: the proportional frequency of the feature, model over DGM, summed over
  all documents as in Table 3 of the paper; ``mpf``: their mean.

Prompts are real multi-turn chats. With ``--apply_chat_template`` the conversation goes
through the model's own chat template message by message (lm-eval alone would flatten it
into one user message); without it, a plain-text transcript ends in ``Assistant:``.

Where the repository is: ``--metadata '{"repo": "DIR_OR_HUB_ID"}'`` or
``$WILDCHAT50M_EVAL_REPO``; the held-out set: ``heldout_fraction``, ``heldout_seed`` and
``max_docs`` in ``--metadata`` (or ``$WILDCHAT50M_EVAL_FRACTION``, ``_SEED``, ``_MAX_DOCS``).

lm-eval is imported only when :func:`task_class` is called, by lm-eval itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from wildchat50m import heldout
from wildchat50m.layout import Repository
from wildchat50m.metrics import meteor, rouge, style

REPO_ENV = "WILDCHAT50M_EVAL_REPO"
SIMILARITY_METRICS = ("rouge1", "rougeL", "meteor")
STYLE_METRICS = tuple(f"style_{feature}" for feature in style.FEATURES)
PF_METRICS = tuple(f"pf_{feature}" for feature in style.FEATURES)
ALL_METRICS = (*SIMILARITY_METRICS, *STYLE_METRICS, *PF_METRICS, "mpf")
ROLE_NAMES = {"system": "System", "user": "User", "assistant": "Assistant"}


def plain_text_prompt(messages: Sequence[Mapping[str, str]]) -> str:
    """The fallback without a chat template: a transcript that ends where the answer starts."""
    turns = [f"{ROLE_NAMES.get(m['role'], m['role'].title())}: {m['content']}" for m in messages]
    return "\n\n".join([*turns, "Assistant:"])


def score_answer(reference: str, answer: str) -> dict[str, Any]:
    """Every per-document value of one answer; aggregated by :func:`aggregations`."""
    tokenizer = rouge.RougeTokenizer()
    similarity = rouge.rouge_f1(tokenizer.encode(reference), tokenizer.encode(answer))
    ours, theirs = style.style_counts(answer), style.style_counts(reference)
    values: dict[str, Any] = {
        "rouge1": similarity.rouge1,
        "rougeL": similarity.rougeL,
        "meteor": meteor.meteor(reference, answer).score,
    }
    values.update({f"style_{f}": ours[f] for f in style.FEATURES})
    values.update({f"pf_{f}": (ours[f], theirs[f]) for f in style.FEATURES})
    values["mpf"] = ([ours[f] for f in style.FEATURES], [theirs[f] for f in style.FEATURES])
    return values


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def summed_proportion(pairs: Sequence[Sequence[float]]) -> float:
    """PF of one feature over all documents: the model's total over the DGM's (0/0 = 1)."""
    return style.proportion(sum(p[0] for p in pairs), sum(p[1] for p in pairs))


def summed_mpf(pairs: Sequence[Sequence[Sequence[float]]]) -> float:
    """MPF over all documents: the mean over features of the summed proportions."""
    ours = dict(
        zip(style.FEATURES, (sum(p[0][i] for p in pairs) for i in range(len(style.FEATURES))), strict=True)
    )
    theirs = dict(
        zip(style.FEATURES, (sum(p[1][i] for p in pairs) for i in range(len(style.FEATURES))), strict=True)
    )
    return style.mean_proportional_frequency(style.proportional_frequency(ours, theirs))


def aggregations() -> dict[str, Callable[[Sequence[Any]], float]]:
    found: dict[str, Callable[[Sequence[Any]], float]] = dict.fromkeys(
        (*SIMILARITY_METRICS, *STYLE_METRICS), mean
    )
    found.update(dict.fromkeys(PF_METRICS, summed_proportion))
    found["mpf"] = summed_mpf
    return found


def higher_is_better() -> dict[str, bool | None]:
    """Similarity: higher is better. Style counts and PF: neither (PF is best at 1)."""
    return {metric: (True if metric in SIMILARITY_METRICS else None) for metric in ALL_METRICS}


def _setting(metadata: Mapping[str, Any], key: str, env: str, default: Any, kind: type) -> Any:
    value = metadata.get(key, os.environ.get(env))
    if value is None:
        return default
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise heldout.HeldoutError(f"{key} must be a {kind.__name__}, got {value!r}") from None


def load_docs(config: str, metadata: Mapping[str, Any]) -> heldout.HeldoutDocs:
    """The held-out documents of ``config`` from the repository the metadata or environment names."""
    repo = metadata.get("repo") or os.environ.get(REPO_ENV)
    if not repo:
        raise heldout.HeldoutError(
            "say which WildChat-50m repository to evaluate against: "
            f'--metadata \'{{"repo": "DIR_OR_HUB_ID"}}\' or ${REPO_ENV}'
        )
    fraction = _setting(
        metadata, "heldout_fraction", "WILDCHAT50M_EVAL_FRACTION", heldout.DEFAULT_FRACTION, float
    )
    seed = _setting(metadata, "heldout_seed", "WILDCHAT50M_EVAL_SEED", heldout.DEFAULT_SEED, int)
    max_docs = _setting(metadata, "max_docs", "WILDCHAT50M_EVAL_MAX_DOCS", heldout.DEFAULT_MAX_DOCS, int)
    repo_dir = Repository.open(str(repo), [config]).root
    found = heldout.heldout_docs(repo_dir, config, fraction=fraction, seed=seed, max_docs=max_docs)
    if not found.docs:
        raise heldout.HeldoutError(
            f"{repo} config {config}: no held-out conversation with an answer at fraction {fraction} "
            f"(skipped: {dict(found.skipped) or 'none'}); raise heldout_fraction in --metadata"
        )
    return found


@cache
def task_class() -> type:
    """The ``ConfigurableTask`` subclass the rendered YAMLs name (built on first use)."""
    import logging

    import datasets
    from lm_eval.api.task import ConfigurableTask

    logger = logging.getLogger(__name__)

    class WildChatTask(ConfigurableTask):
        def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
            super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"}, **kwargs)

        def download(self, dataset_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
            metadata = dict(self.config.metadata or {})
            found = load_docs(metadata["dgm"], metadata)
            if found.skipped:
                logger.warning(f"{self.config.task}: held-out conversations skipped: {dict(found.skipped)}")
            self.dataset = datasets.DatasetDict({"test": datasets.Dataset.from_list(found.docs)})
            # Recorded with the task's config in lm-eval's results file.
            stages = "+".join(meteor.meteor("a", "a").stages)
            self.config.metadata = {
                **metadata,
                "meteor_stages": stages,
                "heldout_skipped": dict(found.skipped),
            }
            if "synonym" not in stages:
                logger.warning(
                    f"{self.config.task}: METEOR without synonyms (WordNet is not installed locally)"
                )

        def doc_to_text(self, doc: dict[str, Any], doc_to_text: Any = None) -> str:
            return plain_text_prompt(doc["messages"])

        def doc_to_target(self, doc: dict[str, Any], doc_to_target: Any = None) -> str:
            return doc["reference"]

        def fewshot_context(
            self,
            doc: dict[str, Any],
            num_fewshot: int,
            system_instruction: str | None = None,
            apply_chat_template: bool = False,
            fewshot_as_multiturn: bool = False,
            chat_template: Callable[..., str] | None = None,
            gen_prefix: str | None = None,
            **kwargs: Any,
        ) -> str:
            messages = [dict(m) for m in doc["messages"]]
            if system_instruction:
                messages = [{"role": "system", "content": system_instruction}, *messages]
            if apply_chat_template and chat_template is not None:
                return chat_template(messages, add_generation_prompt=True)
            return plain_text_prompt(messages)

        def process_results(self, doc: dict[str, Any], results: Sequence[str]) -> dict[str, Any]:
            return score_answer(doc["reference"], results[0])

        def aggregation(self) -> dict[str, Callable[[Sequence[Any]], float]]:
            return aggregations()

        def higher_is_better(self) -> dict[str, bool | None]:
            return higher_is_better()

    return WildChatTask
