"""Plain-text summaries of a read, a generation run and a judgment run, as the commands print them.

They take the reports and manifests the stages produce, so a notebook prints the same text.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wildchat50m.reasons import DESCRIPTIONS
from wildchat50m.source import ReadReport


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"


def read_summary(report: ReadReport, seconds: float) -> str:
    """Rows read, accepted and rejected (by reason code), and the accepted rows by language."""
    rate = report.rows_read / seconds if seconds > 0 else 0.0
    lines = [
        f"Read {report.rows_read:,} rows from {report.source} in {seconds:.1f} s ({rate:,.0f} rows/s)",
        f"  accepted  {report.accepted:>9,} conversations, "
        f"{report.accepted_user_turns:,} user turns to answer",
        f"  rejected  {report.rejected:>9,}",
    ]
    for reason, count in sorted(report.reasons.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"    {reason:<34}{count:>9,}  {DESCRIPTIONS.get(reason, '')}")
    if report.languages:
        top = report.languages.most_common(12)
        rest = report.accepted - sum(count for _, count in top)
        lines.append("  accepted by language")
        lines += [f"    {language:<34}{count:>9,}" for language, count in top]
        if rest:
            lines.append(f"    {'(other languages)':<34}{rest:>9,}")
    if report.ignored_columns:
        lines.append(
            f"  columns not in the WildChat schema, not carried: {', '.join(report.ignored_columns)}"
        )
    if report.filled_columns:
        lines.append(
            f"  WildChat columns absent from the input, filled with nulls: {', '.join(report.filled_columns)}"
        )
    return "\n".join(lines)


def run_summary(manifest: Mapping[str, Any], root: Path) -> str:
    """A generation run's manifest: shards, counts, tokens, finish reasons, errors, flags, speed."""
    params, rate = manifest["params"], manifest["throughput"]
    accel = manifest["accelerators"] or {}
    lines = [
        f"{params['dgm']}  ({params['engine']} engine, model {params['model']}, "
        f"history {params['history_mode']})",
        f"  run directory       {root}",
        f"  shards              {manifest['shards']['finished']} of {manifest['shards']['total']} finished",
        f"  conversations       {manifest['conversations']:,} ({manifest['turns']:,} user turns answered)",
        f"  input skipped       {_counts(manifest['skip_reasons'])}",
        f"  tokens              {manifest['prompt_tokens']:,} in, {manifest['completion_tokens']:,} out"
        f" ({manifest['truncated_prompts']:,} prompts truncated to fit)",
        f"  finish reasons      {_counts(manifest['finish_reasons'])}",
        f"  errors              {_counts(manifest['errors'])}",
        f"  flags               {_counts(manifest['flags'])}",
        f"  throughput          {rate['tokens_per_second'] or 0:,.0f} tok/s (in+out), "
        f"{rate['seconds_per_1000_conversations'] or 0:,.1f} s per 1,000 conversations, "
        f"input:output {rate['input_output_token_ratio'] or 0}",
        f"  accelerators        {accel.get('count', 0)} x {', '.join(accel.get('names', []))}"
        f" ({accel.get('kind', '?')})",
    ]
    return "\n".join(lines)


def judgment_summary(manifest: Mapping[str, Any], root: Path) -> str:
    """A judgment run's manifest: judgments by status, where scores came from, errors, speed."""
    params = manifest["params"]
    statuses = ", ".join(f"{k} {v:,}" for k, v in manifest["statuses"].items())
    rate = manifest["throughput"]["tokens_per_second"] or 0
    shards = manifest["shards"]
    return "\n".join(
        [
            f"{params['config']}  ({params['engine']} engine, judge model {params['model']})",
            f"  run directory       {root}",
            f"  shards              {shards['finished']} of {shards['total']} finished",
            f"  judgments           {manifest['judgments']:,} "
            f"over {manifest['conversations']:,} conversations",
            f"  statuses            {statuses}",
            f"  score read from     {_counts(manifest['score_sources'])}",
            f"  distribution flags  {_counts(manifest['distribution_flags'])}",
            f"  errors              {_counts(manifest['errors'])}",
            f"  throughput          {rate:,.0f} tok/s (in+out)",
        ]
    )
