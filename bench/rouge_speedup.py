"""ROUGE-1 and ROUGE-L F1 of the metrics library against ``rouge-score``, per pair.

The Appendix A shape: 500 answers of one model, each compared with the answers of 4 other
models to the same prompt (2,000 pairs). Answers are ~2.2 KB, like real chat answers: each
is assembled, with a fixed seed, from the embedded sample's assistant messages (markdown,
code, several languages). The baseline calls ``RougeScorer(["rouge1", "rougeL"],
use_stemmer=True).score`` once per pair; the library tokenizes every text once and scores
all pairs. The numbers must be identical (to 1e-12), else the script fails.

    .venv/bin/python bench/rouge_speedup.py [--answers 500] [--references 4]

The last line is ``rouge speed-up over rouge-score per pair = X.Xx``.
"""

from __future__ import annotations

import argparse
import random
import time

import pyarrow.parquet as pq
from rouge_score import rouge_scorer

from wildchat50m.metrics.rouge import RougeTokenizer, rouge_f1
from wildchat50m.resources import sample_file

ANSWER_CHARS = 2200


def realistic_answers(count: int, seed: int) -> list[str]:
    conversations = pq.read_table(sample_file(), columns=["conversation"]).column(0).to_pylist()
    pool = [m["content"] for c in conversations for m in c if m["role"] == "assistant" and m["content"]]
    rng = random.Random(seed)
    answers = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p) for p in parts) < ANSWER_CHARS:
            parts.append(rng.choice(pool))
        answers.append("\n\n".join(parts)[: int(ANSWER_CHARS * 1.2)])
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--answers", type=int, default=500)
    parser.add_argument("--references", type=int, default=4)
    args = parser.parse_args()
    models = [realistic_answers(args.answers, seed) for seed in range(1 + args.references)]
    pairs = [(models[k][i], models[0][i]) for i in range(args.answers) for k in range(1, 1 + args.references)]
    mean_chars = sum(len(a) for a in models[0]) / len(models[0])
    print(
        f"{args.answers} answers x {args.references} references = {len(pairs)} pairs, "
        f"{mean_chars:.0f} chars each"
    )

    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    started = time.perf_counter()
    baseline = [scorer.score(reference, answer) for reference, answer in pairs]
    baseline_seconds = time.perf_counter() - started
    print(
        f"rouge-score, per pair:     {baseline_seconds:8.2f} s ({len(pairs) / baseline_seconds:,.0f} pairs/s)"
    )

    started = time.perf_counter()
    tokenizer = RougeTokenizer()
    encoded = {text: tokenizer.encode(text) for model in models for text in model}
    ours = [rouge_f1(encoded[reference], encoded[answer]) for reference, answer in pairs]
    ours_seconds = time.perf_counter() - started
    print(f"wildchat50m.metrics.rouge: {ours_seconds:8.2f} s ({len(pairs) / ours_seconds:,.0f} pairs/s)")

    worst = max(
        max(abs(o.rouge1 - b["rouge1"].fmeasure), abs(o.rougeL - b["rougeL"].fmeasure))
        for o, b in zip(ours, baseline, strict=True)
    )
    if worst > 1e-12:
        raise SystemExit(f"scores differ from rouge-score's by up to {worst:g}")
    print(f"identical scores: largest difference {worst:g} over {len(pairs)} pairs")
    print(f"rouge speed-up over rouge-score per pair = {baseline_seconds / ours_seconds:.1f}x")


if __name__ == "__main__":
    main()
