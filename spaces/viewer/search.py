"""Full-text search over a repository's index (``REPO/index``, built by ``wildchat50m index``).

What a user types is parsed here into terms, never handed to an engine as
query text: ``"exact phrase"``, ``prefix*``, ``-excluded`` and plain words
(all must match) become tantivy query objects built from the terms, and every
filter (language, turns, toxic, configs that hold the conversation) joins them
in one boolean query, so the index ranks (BM25) and filters in one pass and
pages through the result. Nothing a user types can be an operator the engine
interprets: an unbalanced quote closes at the end of the text, a lone ``-``
or ``*`` is ignored, and text with no term at all means "any conversation".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wildchat50m.builders.search_index import (
    ANSWERS_DIR,
    MEMBERSHIP_FILE,
    PROMPTS_DIR,
    STATS_DIR,
    Freshness,
    freshness,
    query_terms,
    read_state,
)

#: Most hits one page shows.
MAX_PAGE_SIZE = 500
QUERY_PART = re.compile(r'"([^"]*)("|$)|(\S+)')


@dataclass(frozen=True)
class ParsedQuery:
    """The parts of a search text; each phrase is a list of terms (one-term phrases are plain words)."""

    phrases: tuple[tuple[str, ...], ...] = ()
    prefixes: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.phrases or self.prefixes)


def parse_query(text: str | None) -> ParsedQuery:
    """Split search text into phrases, prefix terms and excluded terms; never fails."""
    phrases: list[tuple[str, ...]] = []
    prefixes: list[str] = []
    excluded: list[str] = []
    for match in QUERY_PART.finditer(text or ""):
        quoted, _, word = match.groups()
        if word is None:
            terms = query_terms(quoted or "")
            if terms:
                phrases.append(tuple(terms))
            continue
        negative = word.startswith("-") and len(word) > 1
        prefix = word.endswith("*")
        terms = query_terms(word)
        if not terms:
            continue
        if negative:
            excluded.extend(terms)
        elif prefix and len(terms) == 1:
            prefixes.append(terms[0])
        else:
            phrases.append(tuple(terms))
    return ParsedQuery(tuple(phrases), tuple(prefixes), tuple(excluded))


@dataclass(frozen=True)
class IndexHit:
    """One conversation found in the index, with what a result list shows."""

    conversation_hash: str
    language: str | None
    turns: int
    toxic: bool
    opening: str
    configs: tuple[str, ...]
    score: float


@dataclass(frozen=True)
class IndexPage:
    """One page of hits, and how many conversations match in all."""

    hits: list[IndexHit]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class Difference:
    """A conversation whose answers by the chosen DGMs differ, and how."""

    conversation_hash: str
    score: float
    reasons: tuple[str, ...]
    tokens: dict[str, int]
    """Config -> completion tokens of its answers."""
    opening: str


@dataclass
class SearchIndex:
    """An opened index folder; one searcher, reused (tantivy searchers are safe across threads)."""

    folder: Path
    state: dict[str, Any]
    prompts: Any
    answers: dict[str, Any] = field(default_factory=dict)
    _stats: dict[str, Any] = field(default_factory=dict)
    _membership: Any = None

    @classmethod
    def open(cls, folder: Path, answer_configs: tuple[str, ...] = ()) -> SearchIndex:
        import tantivy

        state = read_state(folder)
        if state is None or not (folder / PROMPTS_DIR / "meta.json").exists():
            raise FileNotFoundError(f"{folder} holds no search index")
        answers = {
            config: tantivy.Index.open(str(folder / ANSWERS_DIR / config))
            for config in answer_configs
            if (folder / ANSWERS_DIR / config / "meta.json").exists()
        }
        return cls(folder, state, tantivy.Index.open(str(folder / PROMPTS_DIR)), answers)

    @property
    def sets(self) -> list[list[str]]:
        return self.state.get("sets") or []

    def freshness(self, fingerprints: dict[str, str]) -> Freshness:
        return freshness(self.state, fingerprints)

    def configs_with(self, conversation_hash: str) -> list[str] | None:
        """The configs holding a conversation, from its document (None when it is not indexed)."""
        import tantivy

        index = self.prompts
        searcher = index.searcher()
        found = searcher.search(
            tantivy.Query.term_query(index.schema, "hash", conversation_hash), limit=1, count=False
        )
        if not found.hits:
            return None
        document = searcher.doc(found.hits[0][1])
        return list(self.sets[document["config_set"][0]])

    def search(
        self,
        text: str | None,
        *,
        language: str | None = None,
        min_turns: int | None = None,
        max_turns: int | None = None,
        include_toxic: bool = False,
        having: tuple[str, ...] = (),
        answers_of: str | None = None,
        page: int = 0,
        page_size: int = 50,
    ) -> IndexPage:
        """Conversations whose user turns (or ``answers_of``'s answers) match ``text``, best first."""
        import tantivy

        index = self.answers[answers_of] if answers_of else self.prompts
        schema = index.schema
        parsed = parse_query(text)
        page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
        page = max(0, int(page))
        if (text or "").strip() and parsed.empty and not parsed.excluded:
            return IndexPage(hits=[], total=0, page=page, page_size=page_size)  # typed, but no word in it
        must: list[Any] = []
        for phrase in parsed.phrases:
            if len(phrase) == 1:
                must.append(tantivy.Query.term_query(schema, "text", phrase[0]))
            else:
                must.append(tantivy.Query.phrase_query(schema, "text", list(phrase)))
        for prefix in parsed.prefixes:
            must.append(tantivy.Query.phrase_prefix_query(schema, "text", [prefix]))
        if language:
            must.append(tantivy.Query.term_query(schema, "language", language))
        if min_turns is not None or max_turns is not None:
            must.append(
                tantivy.Query.range_query(
                    schema, "turns", tantivy.FieldType.Integer, min_turns or 0, max_turns or 2**62
                )
            )
        if having:
            wanted = set(having)
            ids = [i for i, members in enumerate(self.sets) if wanted <= set(members)]
            must.append(tantivy.Query.term_set_query(schema, "config_set", ids or [-1]))
        if not must:
            must.append(tantivy.Query.all_query())
        clauses = [(tantivy.Occur.Must, query) for query in must]
        clauses += [
            (tantivy.Occur.MustNot, tantivy.Query.term_query(schema, "text", term))
            for term in parsed.excluded
        ]
        if not include_toxic:
            clauses.append((tantivy.Occur.MustNot, tantivy.Query.term_query(schema, "toxic", True)))
        searcher = index.searcher()
        found = searcher.search(
            tantivy.Query.boolean_query(clauses), limit=page_size, count=True, offset=page * page_size
        )
        hits = []
        for score, address in found.hits:
            document = searcher.doc(address)
            set_id = document["config_set"][0]
            hits.append(
                IndexHit(
                    conversation_hash=document["hash"][0],
                    language=(document["language"] or [None])[0] or None,
                    turns=int(document["turns"][0]),
                    toxic=bool(document["toxic"][0]),
                    opening=(document["opening"] or [""])[0],
                    configs=tuple(self.sets[set_id]) if 0 <= set_id < len(self.sets) else (),
                    score=float(score),
                )
            )
        return IndexPage(hits=hits, total=int(found.count or 0), page=page, page_size=page_size)

    def random(
        self,
        draw: int,
        *,
        language: str | None = None,
        min_turns: int | None = None,
        max_turns: int | None = None,
        include_toxic: bool = False,
        having: tuple[str, ...] = (),
    ) -> IndexHit | None:
        """The ``draw``-th (modulo their number) of the conversations the filters keep, from the record."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        if self._membership is None:
            self._membership = pq.read_table(self.folder / MEMBERSHIP_FILE)
        table = self._membership
        keep = np.ones(table.num_rows, dtype=bool)

        def where(mask: Any) -> np.ndarray:
            return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)

        if language:
            keep &= where(pc.equal(table["language"], language))
        if min_turns is not None:
            keep &= where(pc.greater_equal(table["turns"], min_turns))
        if max_turns is not None:
            keep &= where(pc.less_equal(table["turns"], max_turns))
        if not include_toxic:
            keep &= ~where(table["toxic"])
        if having:
            ids = [i for i, members in enumerate(self.sets) if set(having) <= set(members)]
            keep &= where(pc.is_in(table["config_set"], value_set=pa.array(ids, pa.int64())))
        kept = table.filter(pa.array(keep))
        if kept.num_rows == 0:
            return None
        row = kept.slice(draw % kept.num_rows, 1).to_pylist()[0]
        set_id = row["config_set"]
        return IndexHit(
            conversation_hash=row["conversation_hash"],
            language=row["language"],
            turns=int(row["turns"] or 0),
            toxic=bool(row["toxic"]),
            opening=row["opening"] or "",
            configs=tuple(self.sets[set_id]) if 0 <= set_id < len(self.sets) else (),
            score=0.0,
        )

    def languages(self) -> list[str]:
        """Languages of the indexed conversations, most common first (from the membership record)."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        column = pq.read_table(self.folder / MEMBERSHIP_FILE, columns=["language"]).column(0)
        counts = pc.value_counts(column.drop_null()).to_pylist()
        ordered = sorted(counts, key=lambda c: (-c["counts"], c["values"]))
        return [c["values"] for c in ordered if c["values"]]

    def has_stats(self, configs: tuple[str, ...] | list[str]) -> bool:
        return all((self.folder / STATS_DIR / f"{config}.parquet").exists() for config in configs)

    def differences(
        self, configs: list[str], *, include_toxic: bool = False, limit: int = 50
    ) -> list[Difference]:
        """Conversations all ``configs`` hold, most different answers first, from the per-config stats.

        The score adds the log2 ratio of the largest to the smallest number
        of completion tokens, and 2 for each disagreement: some answers cut at
        the length limit and others not, flagged and not, failed and not.
        No conversation is decoded: the stats were written by the index build.
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        joined = pq.read_table(
            self.folder / MEMBERSHIP_FILE, columns=["conversation_hash", "toxic", "opening"]
        )
        if not include_toxic:
            joined = joined.filter(pc.invert(pc.fill_null(joined["toxic"], False)))
        for position, config in enumerate(configs):
            if config not in self._stats:
                self._stats[config] = pq.read_table(self.folder / STATS_DIR / f"{config}.parquet")
            stats = self._stats[config]
            renamed = stats.rename_columns(
                ["conversation_hash", *(f"{name}_{position}" for name in stats.column_names[1:])]
            )
            joined = joined.join(renamed, "conversation_hash", join_type="inner")
        if joined.num_rows == 0:
            return []

        def matrix(name: str) -> np.ndarray:
            return np.stack([joined[f"{name}_{i}"].to_numpy() for i in range(len(configs))], axis=1)

        tokens = matrix("completion_tokens")
        ratio = np.log2((tokens.max(axis=1) + 1) / (tokens.min(axis=1) + 1))
        disagreements = {
            name: (matrix(name) > 0).any(axis=1) & ~(matrix(name) > 0).all(axis=1)
            for name in ("cut_at_length", "flagged", "failed")
        }
        score = ratio + 2.0 * sum(flag.astype(float) for flag in disagreements.values())
        order = np.argsort(-score, kind="stable")[: max(1, min(int(limit), MAX_PAGE_SIZE))]
        labels = {"cut_at_length": "cut at length", "flagged": "flagged", "failed": "failed"}
        hashes = joined["conversation_hash"].take(pa.array(order)).to_pylist()
        openings = joined["opening"].take(pa.array(order)).to_pylist()
        found = []
        for rank, row in enumerate(order):
            reasons = [f"tokens x{2 ** ratio[row]:.1f}"] if ratio[row] > 0 else []
            reasons += [f"{labels[name]} differs" for name, flag in disagreements.items() if flag[row]]
            found.append(
                Difference(
                    conversation_hash=hashes[rank],
                    score=float(score[row]),
                    reasons=tuple(reasons),
                    tokens={config: int(tokens[row, i]) for i, config in enumerate(configs)},
                    opening=openings[rank] or "",
                )
            )
        return found
