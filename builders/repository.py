"""The Hub dataset repository: one config per DGM, declared in the README, card rendered from cards/.

Layout of a built repository::

    README.md                                   card; its YAML declares configs and dataset_info
    data/<config>/train-00000-of-00003.parquet  the config's rows, sorted by conversation_hash
    data/<config>/manifest.json                 what the card says about the config (from its run)

``datasets`` 4+ runs no loading script, and refuses a repository that holds
one named after itself, so loading is declared in the README's front matter:
one ``configs`` entry per DGM with a ``data_files`` glob, and ``dataset_info``
computed from the parquet files themselves so that it cannot disagree with
them. Building is incremental: a config that is (re)built gets a fresh
``data/<config>/`` and the README is re-rendered; every other config's files
are left as they were. Writing is deterministic, so an unchanged rebuild
changes no byte.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from wildchat50m.builders.search_index import update_search_index

from wildchat50m import generate, judging  # noqa: F401 (their job classes count every kind of run)
from wildchat50m.errors import WildChat50mError
from wildchat50m.jobs import RunKind, build_manifest
from wildchat50m.judging.scores import JudgmentStatus
from wildchat50m.layout import (
    CONFIG_MANIFEST,
    DATA_DIR,
    MAX_SHARD_BYTES,
    README,
    SPLIT,
    Repository,
    RepositoryError,
    ShardWriter,
    data_file_name,
    data_files_pattern,
    is_answer_config,
    is_judgment_config,
    is_pairs_config,
)
from wildchat50m.registry import Registry, UnknownDGMError, load_registry
from wildchat50m.resources import cards_dir
from wildchat50m.runstore import RunStore, atomic_write_text, find_runs, fsync_directory
from wildchat50m.schema import JUDGMENT_SCHEMA, OUTPUT_SCHEMA

DEFAULT_NAME = "wildchat-50m"
CARD_TEMPLATE = "dataset_card.md.j2"
#: Row groups well under datasets' ~100 MB ceiling: a reader that wants one conversation (the Space,
#: the Hub's dataset viewer) reads and decodes a whole row group of the columns it shows. Measured by
#: bench/space_lookup.py (6 DGMs a lookup, 2 busy cores; README "Reading one conversation"): 16 MB
#: reads 2.7 MB per config (p95 353 ms), 8 MB 1.4 MB, 4 MB 0.7 MB (p95 55 ms), 2 MB 0.37 MB; the
#: footer grows with the row groups (~14 KB each: 160 KB a 500 MB shard at 16 MB, 600 KB at 4 MB).
MAX_ROW_GROUP_BYTES = 4 * 1000**2


class BuildError(WildChat50mError):
    """The repository cannot be built as asked; the message says what to do."""


@dataclass
class BuildReport:
    """What one build wrote."""

    repo: Path
    built: dict[str, int] = field(default_factory=dict)
    """Rebuilt config -> number of rows."""
    files: dict[str, int] = field(default_factory=dict)
    """Rebuilt config -> number of parquet shards."""
    configs: list[str] = field(default_factory=list)
    """Every config the repository now holds."""
    default_config: str | None = None
    search_index: str | None = None
    """What became of the repository's search index (None when the build was asked to leave it)."""


# ---------------------------------------------------------------- parquet


def rows_per_group(total_bytes: int, total_rows: int, max_row_group_bytes: int) -> int:
    """Rows that fit ``max_row_group_bytes`` uncompressed at the mean row size (at least one)."""
    return max(1, int(max_row_group_bytes // max(1, math.ceil(total_bytes / max(1, total_rows)))))


def write_sorted_shards(
    table: pa.Table,
    folder: Path,
    *,
    max_row_group_bytes: int = MAX_ROW_GROUP_BYTES,
    max_shard_bytes: int = MAX_SHARD_BYTES,
) -> list[Path]:
    """Write an already sorted in-memory ``table`` to ``folder`` as shards (see ``ShardWriter``)."""
    per_group = rows_per_group(table.nbytes, table.num_rows, max_row_group_bytes)
    writer = ShardWriter(folder, table.schema, per_group, max_shard_bytes)
    try:
        writer.write(table)
    except BaseException:
        writer.abort()
        raise
    return writer.close()


#: Rows per batch each sorted run shard contributes to the merge at a time, and per row group of the
#: sorted files (a reader decodes a row group whole). The merge holds about one batch, one row group
#: and a reader's buffers per run shard: ~2.6 MB a shard at WildChat's ~6 KB a row in memory at 128
#: rows (~10 MB at 512), so 62 shards of a million conversations hold ~170 MB of Arrow memory.
MERGE_BATCH_ROWS = 128


def _key_of(table: pa.Table, keys: Sequence[str]) -> list[Any]:
    columns = [table.column(key).to_pylist() for key in keys]
    return columns[0] if len(columns) == 1 else list(zip(*columns, strict=True))


def _sort_each_shard(
    files: Sequence[Path], schema: pa.Schema, keys: Sequence[str], scratch: Path
) -> tuple[list[Path], int, int]:
    """Sort every run shard on its own into ``scratch`` (one shard in memory at a time).

    Returns the sorted files, the number of rows and their uncompressed size.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    sorted_files, rows, nbytes = [], 0, 0
    order = [(key, "ascending") for key in keys]
    for index, path in enumerate(files):
        table = pq.read_table(path, schema=schema).sort_by(order)
        rows, nbytes = rows + table.num_rows, nbytes + table.nbytes
        target = scratch / f"sorted-{index:05d}.parquet"
        # No statistics: nothing reads them, and a reader holds its file's metadata decoded, whose
        # min/max of every text column of every row group took ~10 MB a sorted shard (650 MB for 62).
        pq.write_table(
            table, target, row_group_size=MERGE_BATCH_ROWS, compression="lz4", write_statistics=False
        )
        sorted_files.append(target)
    return sorted_files, rows, nbytes


def merge_sorted(
    files: Sequence[Path], keys: Sequence[str], batch_rows: int = MERGE_BATCH_ROWS
) -> Iterator[pa.Table]:
    """K-way merge of parquet files each sorted by ``keys``: tables of rows in global key order.

    Each file contributes a batch at a time; every round emits, from every
    buffer, the rows up to the smallest last key any buffer holds, so memory
    stays at about one batch per file. Keys must be unique across files (run
    shards partition conversations by hash).
    """
    # pre_buffer (pyarrow's default) reads every row group asked for, here the whole file, up front
    # and keeps it until the reader goes: a merge of all of a config's files then held the config's
    # compressed bytes (1.5 GB for a million conversations). Read as consumed, a file holds a row group.
    streams = [pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=batch_rows) for path in files]
    buffers: list[tuple[pa.Table, list[Any]] | None] = [None] * len(streams)
    order = [(key, "ascending") for key in keys]
    while True:
        for index, stream in enumerate(streams):
            if buffers[index] is None and stream is not None:
                batch = next(stream, None)
                if batch is None:
                    streams[index] = None
                elif batch.num_rows:
                    table = pa.Table.from_batches([batch])
                    buffers[index] = (table, _key_of(table, keys))
        live = [(index, held) for index, held in enumerate(buffers) if held is not None]
        if not live:
            return
        bound = min(held[1][-1] for _, held in live)
        taken = []
        for index, (table, table_keys) in live:
            cut = bisect.bisect_right(table_keys, bound)
            taken.append(table.slice(0, cut))
            buffers[index] = (table.slice(cut), table_keys[cut:]) if cut < len(table_keys) else None
        yield pa.concat_tables(taken).sort_by(order)


class ConfigTally:
    """What the card needs from a config's rows, counted while they stream past."""

    def __init__(self, judgment: bool) -> None:
        self.judgment = judgment
        self.rows = self.flagged = 0
        self.score_sum = self.expected_sum = 0.0
        self.scores = self.expected = 0

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if not self.judgment:
            self.flagged += flagged_turns(table)
            return
        scores, expected = pc.drop_null(table.column("score")), pc.drop_null(table.column("expected_score"))
        self.scores, self.expected = self.scores + len(scores), self.expected + len(expected)
        self.score_sum += pc.sum(scores).as_py() or 0
        self.expected_sum += pc.sum(expected).as_py() or 0.0


def flagged_turns(table: pa.Table) -> int:
    """Assistant messages that carry at least one flag."""
    messages = pc.list_flatten(table.column("conversation"))
    flags = pc.struct_field(messages, "flags")
    return int(pc.sum(pc.greater(pc.fill_null(pc.list_value_length(flags), 0), 0)).as_py() or 0)


def write_run_config(
    run_dir: Path,
    folder: Path,
    *,
    judgment: bool = False,
    max_row_group_bytes: int = MAX_ROW_GROUP_BYTES,
    max_shard_bytes: int = MAX_SHARD_BYTES,
) -> tuple[list[Path], ConfigTally]:
    """A run's rows, sorted by key (``conversation_hash``, and ``turn_index`` for judgments), as shards.

    An external merge sort: each run shard is sorted alone into a scratch
    folder inside ``folder``, then the sorted shards are merged as streams, so
    memory holds one run shard while sorting and a batch per shard while
    merging, whatever the config's size.
    """
    files = RunStore(run_dir).output_files()
    if not files:
        raise BuildError(f"{run_dir} has no finished shards under data/; finish the run first")
    schema = JUDGMENT_SCHEMA if judgment else OUTPUT_SCHEMA
    keys = ["conversation_hash", "turn_index"] if judgment else ["conversation_hash"]
    scratch = folder / ".sorted-run-shards"
    sorted_files, rows, nbytes = _sort_each_shard(files, schema, keys, scratch)
    release_freed_memory()
    writer = ShardWriter(folder, schema, rows_per_group(nbytes, rows, max_row_group_bytes), max_shard_bytes)
    tally = ConfigTally(judgment)
    try:
        for table in merge_sorted(sorted_files, keys):
            tally.add(table)
            writer.write(table)
    except BaseException:
        writer.abort()
        raise
    shards = writer.close()
    shutil.rmtree(scratch)
    release_freed_memory()
    return shards, tally


def release_freed_memory() -> None:
    """Give the memory Arrow's pool has freed back to the system, between stages of a build.

    Arrow's allocator (mimalloc, or jemalloc) keeps freed pages in the heap of the thread that
    freed them, so one stage's reading threads do not hand theirs to the next stage and the peaks
    of the sort, the merge and the search index add up (a build of 96,000 rows in 24 shards held
    600 MB of RSS after its merge, 230 MB once released).
    """
    pa.default_memory_pool().release_unused()


# ---------------------------------------------------------------- runs


def _dgm_facts(config: str, registry: Registry) -> dict[str, Any]:
    """Hub id, size and license of a DGM, looked up as `generate --dgm` does."""
    try:
        dgm = registry.get(config)
    except UnknownDGMError:
        return {"hf_id": None, "params_b": None, "license": None}
    return {"hf_id": dgm.hf_id, "params_b": dgm.params_b, "license": dgm.license}


def config_summary(manifest: Mapping[str, Any], tally: ConfigTally, registry: Registry) -> dict[str, Any]:
    """What the card shows about one config: run parameters and counts, facts from the registry.

    Only fields that describe the data are kept (no library versions, no
    write times), so the stored summary changes only when the data does.
    """
    params = manifest["params"]
    config = params["dgm"]
    throughput = manifest.get("throughput") or {}
    return {
        "config": config,
        "kind": manifest["kind"],
        **_dgm_facts(config, registry),
        "model": params.get("model"),
        "engine": params.get("engine"),
        "history_mode": params.get("history_mode"),
        "temperature": params.get("temperature"),
        "top_p": params.get("top_p"),
        "max_model_len": params.get("max_model_len"),
        "max_new_tokens": params.get("max_new_tokens"),
        "max_input_tokens": params.get("max_input_tokens"),
        "seed": params.get("seed"),
        "system_prompt": params.get("system_prompt"),
        "source": params.get("source"),
        "rows": tally.rows,
        "conversations": manifest["conversations"],
        "turns": manifest["turns"],
        "prompt_tokens": manifest["prompt_tokens"],
        "completion_tokens": manifest["completion_tokens"],
        "finish_reasons": dict(sorted(manifest["finish_reasons"].items())),
        "flags": dict(sorted(manifest["flags"].items())),
        "flagged_turns": tally.flagged,
        "errors": dict(sorted(manifest.get("errors", {}).items())),
        "tokens_per_second": throughput.get("tokens_per_second"),
        "seconds_per_1000_conversations": throughput.get("seconds_per_1000_conversations"),
        "accelerators": manifest.get("accelerators"),
        **_redo_summary(manifest),
    }


def _redo_summary(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """For a re-generation run: what was answered again, and how many answers came from which settings."""
    redo = manifest["params"].get("redo")
    if not redo:
        return {}
    origins = manifest.get("answers_by_origin") or {}
    source = redo["source_params"]
    return {
        "redo": {
            "criteria": list(redo["criteria"]),
            "regenerated": origins.get("regenerated", 0),
            "carried": origins.get("carried", 0),
            "source_sampling": {k: source.get(k) for k in ("temperature", "top_p", "max_new_tokens")},
        }
    }


def judgment_config_summary(manifest: Mapping[str, Any], tally: ConfigTally) -> dict[str, Any]:
    """What the card shows about one judgment config: judge, target, factor, counts and mean scores."""
    params = manifest["params"]
    return {
        "config": params["config"],
        "kind": manifest["kind"],
        "judge": params["judge"],
        "judge_model": params["model"],
        "engine": params["engine"],
        "target": params["target"],
        "factor": params["factor"],
        "rows": tally.rows,
        "conversations": manifest["conversations"],
        "statuses": manifest["statuses"],
        "score_sources": manifest["score_sources"],
        "distribution_flags": manifest["distribution_flags"],
        "mean_score": round(tally.score_sum / tally.scores, 3) if tally.scores else None,
        "mean_expected_score": round(tally.expected_sum / tally.expected, 3) if tally.expected else None,
        "top_logprobs": params["top_logprobs"],
        "temperature": params["temperature"],
        "max_new_tokens": params["max_new_tokens"],
    }


# ---------------------------------------------------------------- repository


def loading_scripts(repo: Path, name: str) -> list[Path]:
    """Files datasets would take for a loading script and refuse: ``<name>.py`` and ``<folder>.py``."""
    candidates = {repo / f"{name}.py", repo / f"{repo.resolve().name}.py"}
    return sorted(path for path in candidates if path.exists())


def _current_default(repo: Path) -> str | None:
    try:
        front = Repository(repo).front_matter()
    except RepositoryError:
        return None
    for entry in front.get("configs") or []:
        if isinstance(entry, dict) and entry.get("default"):
            return entry.get("config_name")
    return None


def _replace_folder(staged: Path, target: Path) -> None:
    """Swap ``staged`` in at ``target``; the old folder goes only after the new one is in place."""
    retired = target.with_name(f".{target.name}.old")
    if retired.exists():
        shutil.rmtree(retired)
    if target.exists():
        os.replace(target, retired)
    os.replace(staged, target)
    fsync_directory(target.parent)
    if retired.exists():
        shutil.rmtree(retired)


def build_repository(
    repo: Path,
    runs: Sequence[Path],
    *,
    name: str = DEFAULT_NAME,
    default_config: str | None = None,
    registry: Registry | None = None,
    max_row_group_bytes: int = MAX_ROW_GROUP_BYTES,
    max_shard_bytes: int = MAX_SHARD_BYTES,
    search_index: bool = True,
) -> BuildReport:
    """Add or rebuild the configs of ``runs`` (one per run, named by its DGM) and re-render the card.

    Configs not among ``runs`` keep their files byte for byte. The default
    config is ``default_config``, else the one the README already marks,
    else the first config by name. The repository's search index (the Space's) is brought in
    step last, unless ``search_index`` is False (:func:`update_search_index`; the report's
    ``search_index`` says what became of it).
    """
    repo = Path(repo)
    scripts = loading_scripts(repo, name)
    if scripts:
        raise BuildError(
            f"{', '.join(map(str, scripts))}: datasets 4+ refuses a repository holding a loading script "
            "named after itself; loading is declared in README.md. Remove the file."
        )
    if "/" in name or not name:
        raise BuildError(f"the repository name {name!r} must be a plain name (no '/')")
    registry = registry if registry is not None else load_registry()
    run_dirs = find_runs(runs)
    stores = [RunStore(run_dir) for run_dir in run_dirs]
    manifests = [_complete_manifest(store) for store in stores]
    names = [_config_of(m) for m in manifests]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BuildError(f"two runs give the same config: {', '.join(twice)}; build one of them")
    report = BuildReport(repo=repo)
    data = repo / DATA_DIR
    data.mkdir(parents=True, exist_ok=True)
    for store, manifest in zip(stores, manifests, strict=True):
        config = _config_of(manifest)
        judgment = not RunKind.of(manifest["params"]).holds_answers
        staged = data / f".{config}.partial"
        if staged.exists():
            shutil.rmtree(staged)
        files, tally = write_run_config(
            store.root,
            staged,
            judgment=judgment,
            max_row_group_bytes=max_row_group_bytes,
            max_shard_bytes=max_shard_bytes,
        )
        if judgment:
            summary = judgment_config_summary(manifest, tally)
        else:
            summary = config_summary(manifest, tally, registry)
        atomic_write_text(staged / CONFIG_MANIFEST, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        _replace_folder(staged, data / config)
        report.built[config] = tally.rows
        report.files[config] = len(files)
    configs = Repository(repo).configs()
    chosen = default_config or _current_default(repo)
    if chosen is not None and chosen not in configs:
        if default_config is not None:
            raise BuildError(f"--default {default_config!r} is not a config; configs: {', '.join(configs)}")
        chosen = None
    # A DGM's config is the better default: it is what most users load.
    report.default_config = chosen or next((c for c in configs if is_answer_config(c)), None)
    report.default_config = report.default_config or (configs[0] if configs else None)
    report.configs = configs
    atomic_write_text(repo / README, render_card(repo, name=name, default_config=report.default_config))
    if search_index:
        report.search_index = update_search_index(repo)
    return report


def publish_config(repo: Path, staged: Path, config: str, *, name: str = DEFAULT_NAME) -> None:
    """Swap a config written in full at ``staged`` (data files and manifest) in at ``data/<config>``,
    then render the card again; the other configs and the default are left as they were.

    Builders of derived configs (preference pairs) write into a staging folder and call this last,
    so a build that fails leaves the repository as it was.
    """
    repo = Path(repo)
    _replace_folder(staged, repo / DATA_DIR / config)
    configs = Repository(repo).configs()
    default = _current_default(repo)
    default = default if default in configs else next((c for c in configs if is_answer_config(c)), None)
    atomic_write_text(repo / README, render_card(repo, name=name, default_config=default))


def _config_of(manifest: Mapping[str, Any]) -> str:
    """A run's config: a DGM's name for its answers, a judgment run's ``judgments--...`` name."""
    return RunKind.of(manifest["params"]).config_name(manifest["params"])


#: The command that made each kind of run, for the fix of a damaged shard.
_MAKER = {RunKind.GENERATION: "generate", RunKind.JUDGMENT: "judge", RunKind.IMPORTED: "import"}


def _complete_manifest(store: RunStore) -> dict[str, Any]:
    """A finished run's manifest, after checking every shard's file against its marker's size and checksum."""
    manifest = build_manifest(store)
    shards = manifest["shards"]
    if shards["finished"] != shards["total"]:
        raise BuildError(
            f"{store.root}: {shards['finished']} of {shards['total']} shards finished; "
            "finish the run (run the same generate command again) before building"
        )
    maker = _MAKER[RunKind.of(manifest["params"])]
    for index in range(shards["total"]):
        damage = store.shard_damage(index, shards["total"])
        if damage is not None:
            raise BuildError(
                f"run {store.root}, shard {index}: {damage}. Nothing was written. Re-run the same "
                f"`{maker}` command; it answers that shard again"
            )
    return manifest


# ---------------------------------------------------------------- card


def _size_category(rows: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
    bounds += [(10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    return next((label for bound, label in bounds if rows < bound), "n>1B")


def dataset_infos(repo: Path, configs: Sequence[str]) -> Any:
    """``datasets.DatasetInfosDict`` measured from the parquet files: features, exact rows, bytes."""
    from datasets import DatasetInfo, Features, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict

    infos = {}
    for config in configs:
        files = Repository(repo).data_files(config)
        metas = [pq.read_metadata(path) for path in files]
        rows = sum(meta.num_rows for meta in metas)
        uncompressed = sum(
            meta.row_group(i).total_byte_size for meta in metas for i in range(meta.num_row_groups)
        )
        schema = pq.read_schema(files[0]).remove_metadata() if files else OUTPUT_SCHEMA
        splits = SplitDict()
        splits.add(SplitInfo(name=SPLIT, num_bytes=uncompressed, num_examples=rows))
        infos[config] = DatasetInfo(
            features=Features.from_arrow_schema(schema),
            splits=splits,
            download_size=sum(path.stat().st_size for path in files),
            dataset_size=uncompressed,
        )
    return DatasetInfosDict(infos)


def loading_metadata(repo: Path, configs: Sequence[str], default_config: str | None) -> dict[str, Any]:
    """The generated part of the front matter (``configs``, ``dataset_info``), serialised by datasets."""
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    card_data = DatasetCardData()
    declared = {
        config: {
            "data_files": [{"split": SPLIT, "path": data_files_pattern(config)}],
            **({"default": True} if config == default_config else {}),
        }
        for config in configs
    }
    MetadataConfigs(declared).to_dataset_card_data(card_data)
    dataset_infos(repo, configs).to_dataset_card_data(card_data)
    return {"configs": card_data["configs"], "dataset_info": card_data["dataset_info"]}


def _thousands(value: float | int | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _mix(counts: Mapping[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "–"
    return ", ".join(
        f"{k} {100 * v / total:.0f}%" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def _accelerators(value: Mapping[str, Any] | None) -> str:
    if not value:
        return "–"
    names = ", ".join(sorted(set(value.get("names") or []))) or value.get("kind", "?")
    return f"{value.get('count', 1)} x {names}"


def _params(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:g}B" if value >= 0.1 else f"{value * 1000:.3g}M"


def _sampling(summary: Mapping[str, Any]) -> str:
    """The sampling settings, or a dash for a config whose run did not record them (an import)."""
    if summary["temperature"] is None or summary["top_p"] is None:
        return "–"
    return f"T={summary['temperature']:g}, top_p={summary['top_p']:g}, max_new={summary['max_new_tokens']}"


def _redo_note(summary: Mapping[str, Any]) -> str:
    """How many answers of a re-generation run came from which settings (empty for other runs)."""
    redo = summary.get("redo")
    if not redo:
        return ""
    return (
        f" for {_thousands(redo['regenerated'])} answers re-generated ({', '.join(redo['criteria'])}); "
        f"{_thousands(redo['carried'])} carried over from {_sampling(redo['source_sampling'])}"
    )


def card_rows(summaries: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """One formatted table row per config, in config order."""
    rows = []
    for s in summaries:
        turns = s["turns"] or 0
        rows.append(
            {
                "config": s["config"],
                "hf_id": s["hf_id"] or "–",
                "params": _params(s["params_b"]),
                "rows": _thousands(s["rows"]),
                "turns": _thousands(turns),
                # A total of 0 means no counts were recorded (an import), not empty prompts.
                "mean_prompt_tokens": _thousands(
                    s["prompt_tokens"] / turns if s["prompt_tokens"] else None, 1
                ),
                "mean_answer_tokens": _thousands(
                    s["completion_tokens"] / turns if s["completion_tokens"] else None, 1
                ),
                "finish_reasons": _mix(s["finish_reasons"]),
                "flagged_turns": _thousands(s["flagged_turns"]),
                "tokens_per_second": _thousands(s["tokens_per_second"]),
                "seconds_per_1000": _thousands(s["seconds_per_1000_conversations"], 1),
                "accelerators": _accelerators(s["accelerators"]),
                "sampling": _sampling(s) + _redo_note(s),
                "history_mode": s["history_mode"] or "–",
                "license": s["license"] or "–",
            }
        )
    return rows


def judgment_card_rows(summaries: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """One formatted row per judgment config, in config order."""
    rows = []
    for s in summaries:
        statuses = s["statuses"]
        rows.append(
            {
                "config": s["config"],
                "factor": s["factor"],
                "judge": s["judge"],
                "target": s["target"],
                "rows": _thousands(s["rows"]),
                "parsed": _thousands(statuses.get(JudgmentStatus.PARSED, 0)),
                "unparsed": _thousands(statuses.get(JudgmentStatus.UNPARSED, 0)),
                "failed": _thousands(
                    statuses.get(JudgmentStatus.JUDGE_ERROR, 0) + statuses.get(JudgmentStatus.NO_ANSWER, 0)
                ),
                "mean_score": _thousands(s["mean_score"], 2),
                "mean_expected_score": _thousands(s["mean_expected_score"], 2),
                "score_sources": _mix(s["score_sources"]),
                "renormalised": _thousands(s["distribution_flags"].get("renormalised", 0)),
                "top_logprobs": str(s["top_logprobs"]),
            }
        )
    return rows


def pairs_card_rows(summaries: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """One formatted row per preference-pairs config, in config order."""
    rows = []
    for s in summaries:
        rules = s["rules"]
        rows.append(
            {
                "config": s["config"],
                "rule": " vs ".join(rules["dgms"])
                if rules["rule"] == "a_vs_b"
                else (f"best vs worst of {', '.join(rules['dgms'])}"),
                "score": " + ".join(rules["factors"]) + (" (mean)" if len(rules["factors"]) > 1 else ""),
                "judges": ", ".join(s["judges"]),
                "turns": rules["turns"],
                "rows": _thousands(s["rows"]),
                "candidates": _thousands(s["candidates"]),
                "left_out": ", ".join(f"{k} {v:,}" for k, v in s["reasons"].items() if v) or "–",
                "mean_margin": _thousands(s["mean_margin"], 2),
                "controls": rules["summary"],
            }
        )
    return rows


def render_card(repo: Path, *, name: str = DEFAULT_NAME, default_config: str | None = None) -> str:
    """README.md for the repository as it is on disk; same files in, same bytes out."""
    import jinja2

    configs = Repository(repo).configs()
    summaries = [
        json.loads((repo / DATA_DIR / c / CONFIG_MANIFEST).read_text(encoding="utf-8")) for c in configs
    ]
    total_rows = sum(s["rows"] for s in summaries)
    judgments = [s for s in summaries if is_judgment_config(s["config"])]
    pairs = [s for s in summaries if is_pairs_config(s["config"])]
    answers = [s for s in summaries if is_answer_config(s["config"])]
    generated = loading_metadata(repo, configs, default_config)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(cards_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    template = environment.get_template(CARD_TEMPLATE)
    return template.render(
        name=name,
        configs=configs,
        default_config=default_config,
        answer_configs=[s["config"] for s in answers],
        example_config=default_config or (configs[0] if configs else "CONFIG"),
        rows=card_rows(answers),
        judgment_rows=judgment_card_rows(judgments),
        pairs_rows=pairs_card_rows(pairs),
        total_rows=total_rows,
        size_category=_size_category(total_rows),
        generated_yaml=yaml.safe_dump(generated, sort_keys=False, allow_unicode=True, width=1000).rstrip(
            "\n"
        ),
    )


# ---------------------------------------------------------------- check


def check_repository(repo: Path, *, name: str = DEFAULT_NAME) -> list[str]:
    """Problems that would make the repository fail to load or disagree with its card; [] when sound."""
    repo = Path(repo)
    problems = [
        f"{path.name}: a loading script named after the repository; datasets 4+ refuses to load it"
        for path in loading_scripts(repo, name)
    ]
    try:
        front = Repository(repo).front_matter()
    except RepositoryError as error:
        return [*problems, f"README.md: front matter does not parse: {error}"]
    if not (repo / README).exists():
        problems.append("README.md is missing")
    declared = {e.get("config_name"): e for e in front.get("configs") or [] if isinstance(e, dict)}
    infos = {e.get("config_name"): e for e in _as_list(front.get("dataset_info")) if isinstance(e, dict)}
    on_disk = Repository(repo).config_folders()
    defaults = [c for c, e in declared.items() if e.get("default")]
    if len(declared) > 1 and len(defaults) != 1:
        problems.append(f"configs: exactly one config must be marked default, found {len(defaults)}")
    for config in sorted(set(declared) - set(on_disk)):
        problems.append(f"{config}: declared in README.md but data/{config}/ is missing")
    for config in sorted(set(on_disk) - set(declared)):
        problems.append(f"{config}: data/{config}/ exists but README.md does not declare it")
    references: dict[str, tuple[str, pa.Schema]] = {}
    for config in on_disk:
        judgment = is_judgment_config(config)
        kind = "judgments" if judgment else "pairs" if is_pairs_config(config) else "answers"
        files = Repository(repo).files_of(config)
        if not files:
            problems.append(f"{config}: no {SPLIT}-*.parquet files under data/{config}/")
            continue
        count = _declared_count(files)
        expected = {data_file_name(i, count) for i in range(count)} if count else set()
        missing = sorted(expected - {f.name for f in files})
        if missing or count != len(files):
            problems.append(f"{config}: shards missing or misnamed (expected {count}, missing {missing})")
        rows, keys = 0, []
        # A judgment or pairs config's key is (conversation_hash, turn_index); each is checked against the
        # schema of the other configs of its kind, never against the DGM configs'.
        key_columns = ["conversation_hash"] if kind == "answers" else ["conversation_hash", "turn_index"]
        for path in files:
            schema = pq.read_schema(path).remove_metadata()
            reference = references.setdefault(kind, (config, schema))
            if not schema.equals(reference[1]):
                problems.append(f"{config}: {path.name} has another schema than config {reference[0]}")
            rows += pq.read_metadata(path).num_rows
            if set(key_columns) <= set(schema.names):
                table = pq.read_table(path, columns=key_columns)
                # A file whose key types differ has its schema reported above; its keys cannot be compared.
                if not keys or table.schema.equals(keys[0].schema):
                    keys.append(table)
        problems += key_problems(config, pa.concat_tables(keys) if keys else None, key_columns)
        info = infos.get(config)
        recorded = _recorded_rows(info)
        if config in declared and recorded != rows:
            problems.append(
                f"{config}: README.md dataset_info says num_examples {recorded}, the files hold {rows}"
            )
        if not (repo / DATA_DIR / config / CONFIG_MANIFEST).exists():
            problems.append(f"{config}: data/{config}/{CONFIG_MANIFEST} (the card's facts) is missing")
    if not problems:
        default = defaults[0] if defaults else None
        try:
            rendered = render_card(repo, name=name, default_config=default)
        except Exception as error:  # any failure to render is a problem to report, not a crash
            problems.append(f"README.md: the card does not render: {type(error).__name__}: {error}")
        else:
            if rendered != (repo / README).read_text(encoding="utf-8"):
                problems.append("README.md differs from the card rendered from the files; rebuild")
    return problems


def key_problems(config: str, keys: pa.Table | None, key_columns: Sequence[str]) -> list[str]:
    """Rows of ``keys`` (a config's key columns, file after file) whose key is missing, repeated or
    out of order.

    Computed in Arrow (a million keys take ~40 MB), not as Python tuples (~1 GB at 2.2M rows).
    """
    if keys is None or keys.num_rows == 0:
        return []
    key_name = " + ".join(key_columns)
    problems = []
    missing = sum(keys.column(c).null_count for c in key_columns)
    if missing:
        problems.append(f"{config}: {missing} row(s) with no {key_name}")
    distinct = keys.group_by(list(key_columns)).aggregate([]).num_rows
    if distinct != keys.num_rows:
        problems.append(f"{config}: {keys.num_rows - distinct} duplicate {key_name} value(s)")
    # Sorted when no row's key is below the key of the row before it (compared column by column).
    before, after = keys.slice(0, keys.num_rows - 1), keys.slice(1)
    below, tied = pa.repeat(False, after.num_rows), pa.repeat(True, after.num_rows)
    for column in key_columns:
        previous, current = before.column(column), after.column(column)
        below = pc.or_(below, pc.and_(tied, pc.less(current, previous)))
        tied = pc.and_(tied, pc.equal(current, previous))
    if pc.any(below).as_py():
        problems.append(f"{config}: rows are not sorted by {key_name}")
    return problems


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _recorded_rows(info: Mapping[str, Any] | None) -> int | None:
    for split in (info or {}).get("splits") or []:
        if split.get("name") == SPLIT:
            return split.get("num_examples")
    return None


def _declared_count(files: Sequence[Path]) -> int:
    """The shard count YYYYY the file names declare (the largest, if they disagree)."""
    counts = [int(f.stem.rsplit("-of-", 1)[-1]) for f in files if "-of-" in f.stem and f.stem[-5:].isdigit()]
    return max(counts, default=0)
