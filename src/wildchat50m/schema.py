"""The one owner of every Arrow schema in the project.

Every stage imports these objects; no other module spells out a WildChat
field. The input row is WildChat-1M exactly as ``datasets`` loads the
published parquet shards (see ``shared/reference/wildchat-1m-schema.md``).
"""

from __future__ import annotations

import pyarrow as pa

#: The 18 OpenAI moderation categories, as WildChat stores them: each name
#: appears once with ``/`` and ``-`` and once with ``_``.
MODERATION_CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "harassment_threatening",
    "hate",
    "hate/threatening",
    "hate_threatening",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "self_harm",
    "self_harm_instructions",
    "self_harm_intent",
    "sexual",
    "sexual/minors",
    "sexual_minors",
    "violence",
    "violence/graphic",
    "violence_graphic",
)

#: Detoxify's seven scores.
DETOXIFY_FIELDS: tuple[str, ...] = (
    "identity_attack",
    "insult",
    "obscene",
    "severe_toxicity",
    "sexual_explicit",
    "threat",
    "toxicity",
)

TIMESTAMP = pa.timestamp("us", tz="UTC")

HEADER = pa.struct([("accept-language", pa.string()), ("user-agent", pa.string())])

MESSAGE = pa.struct(
    [
        ("content", pa.string()),
        ("role", pa.string()),
        ("language", pa.string()),
        ("redacted", pa.bool_()),
        ("toxic", pa.bool_()),
        ("turn_identifier", pa.int64()),
        ("timestamp", TIMESTAMP),
        ("country", pa.string()),
        ("state", pa.string()),
        ("hashed_ip", pa.string()),
        ("header", HEADER),
    ]
)

OPENAI_MODERATION = pa.struct(
    [
        ("categories", pa.struct([(name, pa.bool_()) for name in MODERATION_CATEGORIES])),
        ("category_scores", pa.struct([(name, pa.float64()) for name in MODERATION_CATEGORIES])),
        ("flagged", pa.bool_()),
    ]
)

DETOXIFY_MODERATION = pa.struct([(name, pa.float64()) for name in DETOXIFY_FIELDS])

#: One WildChat-1M conversation, the input row of the whole pipeline.
WILDCHAT_SCHEMA = pa.schema(
    [
        ("conversation_hash", pa.string()),
        ("model", pa.string()),
        ("timestamp", TIMESTAMP),
        ("conversation", pa.list_(MESSAGE)),
        ("turn", pa.int64()),
        ("language", pa.string()),
        ("openai_moderation", pa.list_(OPENAI_MODERATION)),
        ("detoxify_moderation", pa.list_(DETOXIFY_MODERATION)),
        ("toxic", pa.bool_()),
        ("redacted", pa.bool_()),
        ("state", pa.string()),
        ("country", pa.string()),
        ("hashed_ip", pa.string()),
        ("header", HEADER),
    ]
)

#: Columns a row must carry for the reader to judge it; every other WildChat
#: column may be absent in a foreign file and is then filled with nulls.
REQUIRED_COLUMNS: tuple[str, ...] = ("conversation_hash", "conversation")

# ---------------------------------------------------------------- output rows

#: What each assistant message of an output row carries besides WildChat's own
#: fields. On user messages (and on WildChat-GPT rows) they are null.
ANSWER_FIELDS = [
    ("finish_reason", pa.string()),
    ("prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()),
    ("prompt_truncated", pa.bool_()),
    ("flags", pa.list_(pa.string())),
    ("cumulative_logprob", pa.float64()),
    ("error", pa.string()),
]

OUTPUT_MESSAGE = pa.struct([*MESSAGE, *(pa.field(name, type_) for name, type_ in ANSWER_FIELDS)])

#: One WildChat conversation answered by one DGM: every WildChat column as it
#: was, assistant messages replaced by the DGM's answers, plus the DGM's config
#: name and the history mode the answers were generated in.
OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("conversation", pa.list_(OUTPUT_MESSAGE)) if field.name == "conversation" else field
        for field in WILDCHAT_SCHEMA
    ]
    + [pa.field("dgm", pa.string()), pa.field("history_mode", pa.string())]
)

# ---------------------------------------------------------------- judgments

#: Scores a judge may give; ``score_probs[k - 1]`` is the probability of score ``k``.
JUDGE_SCORES: tuple[int, ...] = tuple(range(1, 11))

#: One assistant turn of one target (a DGM's config or run) judged by one judge model on one
#: factor. ``(conversation_hash, turn_index)`` is the key; ``turn_index`` is the 0-based user turn
#: whose answer was judged (WildChat's own ``turn`` column is the conversation's number of user
#: turns). ``status`` is ``parsed`` (the text holds ``Score: <n>``), ``unparsed`` (it does not;
#: ``score`` is null, never 0), ``judge_error`` (the judge failed) or
#: ``no_answer`` (the target has no answer to judge). ``score_probs`` is the distribution over
#: 1-10 read from the top logprobs at the score position (``score_source`` says which position:
#: ``generated`` or ``forced_prefix``); it sums to 1, and ``distribution_flags`` holds
#: ``renormalised`` when some scores were missing from the top logprobs (``missing_scores``).
JUDGMENT_SCHEMA = pa.schema(
    [
        ("conversation_hash", pa.string()),
        ("turn_index", pa.int64()),
        ("target", pa.string()),
        ("judge", pa.string()),
        ("factor", pa.string()),
        ("status", pa.string()),
        ("judgment", pa.string()),
        ("score", pa.int64()),
        ("score_probs", pa.list_(pa.float64())),
        ("expected_score", pa.float64()),
        ("score_mass", pa.float64()),
        ("score_source", pa.string()),
        ("missing_scores", pa.list_(pa.int64())),
        ("distribution_flags", pa.list_(pa.string())),
        ("judge_input_cut", pa.bool_()),
        ("finish_reason", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("error", pa.string()),
    ]
)


# ---------------------------------------------------------------- mix rows

#: One message of a training mix, in the role/content form chat templates take.
MIX_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])

#: One row of a materialised SFT mix: the messages to train on and where they came from.
MIX_SCHEMA = pa.schema(
    [
        ("messages", pa.list_(MIX_MESSAGE)),
        ("source", pa.string()),  # the mix spec's name for the source
        ("dgm", pa.string()),  # the DGM config that answered; null for other datasets
        ("conversation_hash", pa.string()),  # WildChat's hash, or the row id of another dataset
        ("first_turn_index", pa.int64()),  # the user turns the messages hold, 0-based and inclusive
        ("last_turn_index", pa.int64()),
    ]
)


# ---------------------------------------------------------------- preference pairs

#: One preference pair for DPO: two DGMs' answers to the same user turn, the one a judge scored higher
#: (``chosen``) against the one it scored lower (``rejected``). ``prompt`` holds the messages up to and
#: including that user turn, ``chosen`` and ``rejected`` one assistant message each: the conversational
#: preference format TRL's ``DPOTrainer`` reads. ``(conversation_hash, turn_index)`` is the key;
#: ``turn_index`` is 0-based, as in judgments. ``judgment_configs`` are the configs the scores were
#: read from (the chosen DGM's, then the rejected DGM's), ``factors`` the factors averaged into each score;
#: ``margin = chosen_score - rejected_score``, ``length_ratio`` = chosen characters / rejected characters.
PAIR_SCHEMA = pa.schema(
    [
        ("conversation_hash", pa.string()),
        ("turn_index", pa.int64()),
        ("prompt", pa.list_(MIX_MESSAGE)),
        ("chosen", pa.list_(MIX_MESSAGE)),
        ("rejected", pa.list_(MIX_MESSAGE)),
        ("chosen_dgm", pa.string()),
        ("rejected_dgm", pa.string()),
        ("judgment_configs", pa.list_(pa.string())),
        ("factors", pa.list_(pa.string())),
        ("chosen_score", pa.float64()),
        ("rejected_score", pa.float64()),
        ("margin", pa.float64()),
        ("length_ratio", pa.float64()),
        ("language", pa.string()),
    ]
)


#: The search index's membership table (``index/conversations.parquet``): one row per conversation of
#: the repository, with what a hit shows without reading a data file (``opening``: the first prompt's
#: first characters) and ``config_set``, the id of the set of configs that hold the conversation.
SEARCH_MEMBERSHIP_SCHEMA = pa.schema(
    [
        ("conversation_hash", pa.string()),
        ("language", pa.string()),
        ("turns", pa.int64()),
        ("toxic", pa.bool_()),
        ("opening", pa.string()),
        ("config_set", pa.int64()),
    ]
)

#: A config's row-group map (``index/rowgroups/<config>.parquet``): for each data file (with the size
#: it had when mapped) and row group, its rows and first and last ``conversation_hash``.
ROWGROUP_MAP_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("size", pa.int64()),
        ("row_group", pa.int32()),
        ("num_rows", pa.int64()),
        ("first_hash", pa.string()),
        ("last_hash", pa.string()),
    ],
    metadata={"wildchat50m.rowgroup_map.format": "1"},
)
