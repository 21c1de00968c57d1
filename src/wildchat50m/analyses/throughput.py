"""Throughput per DGM from run manifests, as section 2.2 of the paper measures it.

Tok/s is (input + output) tokens per second of generation; Time is seconds per 1,000
conversations; the input:output ratio is of token counts. The paper finds both measures
correlated with a proxy for cost, context window x parameters; the summary gives Pearson's
r and Spearman's rho of each with that proxy, over the configs that have all three.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wildchat50m.analyses.sources import AnalysisError
from wildchat50m.registry import Registry, UnknownDGMError

MANIFEST = "manifest.json"
COLUMNS = (
    "config",
    "params_b",
    "max_model_len",
    "ctx_x_params",
    "conversations",
    "tokens_per_second",
    "seconds_per_1000_conversations",
    "input_output_token_ratio",
    "engine",
    "accelerator",
    "source",
)

SUMMARY_COLUMNS = ("statistic", "configs", "pearson_r", "spearman_rho", "mean", "std", "note")


def find_manifests(paths: Sequence[Path]) -> list[Path]:
    """Run manifests under the paths: run directories, directories of runs, or a built repository."""
    found: list[Path] = []
    for path in paths:
        if path.is_file() and path.name == MANIFEST:
            found.append(path)
        elif path.is_dir():
            found += sorted(p for p in path.rglob(MANIFEST) if len(p.relative_to(path).parts) <= 3)
        else:
            raise AnalysisError(f"{path}: no such run directory, repository or manifest")
    if not found:
        raise AnalysisError(
            f"no {MANIFEST} under {', '.join(map(str, paths))}; give run directories or a repository"
        )
    return found


def _params_b(config: str, registry: Registry) -> float | None:
    try:
        dgm = registry.get(config)
    except UnknownDGMError:
        return None
    return dgm.params_b


def _engine(engine: Any) -> str | None:
    """The engine's name from the manifest's engine record (a dict for the built-in engines)."""
    return engine.get("engine") if isinstance(engine, dict) else engine


def _accelerator(accelerators: Any) -> str | None:
    """``gpu: 8 x H100`` from the manifest's accelerators record."""
    if not isinstance(accelerators, dict):
        return None
    names = ", ".join(accelerators.get("names") or [])
    return f"{accelerators.get('kind')}: {accelerators.get('count')} x {names}".strip()


def _measures(manifest: dict[str, Any]) -> dict[str, Any]:
    """The same facts from a run's manifest or from the summary a repository keeps per config."""
    if "params" in manifest:  # jobs.build_manifest
        params, throughput = manifest["params"], manifest.get("throughput") or {}
        return {
            "config": params["dgm"],
            "max_model_len": params.get("max_model_len"),
            "tokens_per_second": throughput.get("tokens_per_second"),
            "seconds_per_1000_conversations": throughput.get("seconds_per_1000_conversations"),
            "input_output_token_ratio": throughput.get("input_output_token_ratio"),
        }
    # builders.repository.config_summary: flat, and without the ratio
    completion = manifest.get("completion_tokens")
    return {
        "config": manifest["config"],
        "max_model_len": manifest.get("max_model_len"),
        "tokens_per_second": manifest.get("tokens_per_second"),
        "seconds_per_1000_conversations": manifest.get("seconds_per_1000_conversations"),
        "input_output_token_ratio": round(manifest["prompt_tokens"] / completion, 3) if completion else None,
    }


def throughput_rows(paths: Sequence[Path], registry: Registry) -> list[dict[str, Any]]:
    """One row per config; a run and the repository copy of its manifest count once (the first found)."""
    rows: dict[str, dict[str, Any]] = {}
    for path in find_manifests(paths):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            measures = _measures(manifest)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise AnalysisError(
                f"{path}: not a run manifest nor a repository config summary ({error})"
            ) from None
        params_b = _params_b(measures["config"], registry)
        context = measures["max_model_len"]
        rows.setdefault(
            measures["config"],
            {
                **measures,
                "params_b": params_b,
                "ctx_x_params": context * params_b if context and params_b else None,
                "conversations": manifest.get("conversations"),
                "engine": _engine(manifest.get("engine")),
                "accelerator": _accelerator(manifest.get("accelerators")),
                "source": str(path.parent),
            },
        )
    return sorted(rows.values(), key=lambda r: r["config"])


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    if len(x) < 3:
        return None
    mx, my = statistics.fmean(x), statistics.fmean(y)
    sx = math.sqrt(sum((a - mx) ** 2 for a in x))
    sy = math.sqrt(sum((b - my) ** 2 for b in y))
    if sx == 0 or sy == 0:
        return None
    return sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / (sx * sy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    return pearson(_ranks(x), _ranks(y))


def summary_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Correlations with context x parameters, and the mean and std of the input:output ratio."""
    summary = []
    for measure in ("tokens_per_second", "seconds_per_1000_conversations"):
        usable = [r for r in rows if r["ctx_x_params"] is not None and r[measure] is not None]
        x = [float(r["ctx_x_params"]) for r in usable]
        y = [float(r[measure]) for r in usable]
        summary.append(
            {
                "statistic": f"{measure} vs context x params",
                "configs": len(usable),
                "pearson_r": pearson(x, y),
                "spearman_rho": spearman(x, y),
                "note": "" if len(usable) >= 3 else "needs 3 or more configs with both values",
            }
        )
    ratios = [float(r["input_output_token_ratio"]) for r in rows if r["input_output_token_ratio"] is not None]
    summary.append(
        {
            "statistic": "input:output token ratio",
            "configs": len(ratios),
            "mean": statistics.fmean(ratios) if ratios else None,
            "std": statistics.stdev(ratios) if len(ratios) > 1 else None,
            "note": "",
        }
    )
    return summary


def write_throughput(
    rows: Sequence[dict[str, Any]], summary: Sequence[dict[str, Any]], out_dir: Path
) -> list[Path]:
    from wildchat50m.analyses.report import bar_chart, write_table

    written = list(write_table(rows, out_dir, "throughput", COLUMNS))
    written += write_table(
        summary,
        out_dir,
        "throughput_summary",
        ("statistic", "configs", "pearson_r", "spearman_rho", "mean", "std", "note"),
    )
    written.append(
        bar_chart(
            rows,
            out_dir / "throughput.png",
            label="config",
            series=("tokens_per_second",),
            title="Generation throughput, (input + output) tokens per second",
            ylabel="tokens/s",
        )
    )
    return written
