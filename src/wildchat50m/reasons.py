"""Reason codes: why a conversation was not passed on.

Nothing is dropped silently: every row the reader does not yield is counted
under exactly one of these codes, and the counts travel into run manifests.
``Invalid`` codes mean the conversation cannot be answered as it is;
``Filtered`` codes mean it is fine but the user's filters left it out.
"""

from __future__ import annotations

from enum import StrEnum


class Invalid(StrEnum):
    """The conversation cannot be answered as it is."""

    MISSING_HASH = "missing_hash"
    DUPLICATE_HASH = "duplicate_hash"
    NO_USER_TURN = "no_user_turn"
    ROLES_OUT_OF_ORDER = "roles_out_of_order"
    UNKNOWN_ROLE = "unknown_role"
    EMPTY_USER_MESSAGE = "empty_user_message"
    NON_STRING_CONTENT = "non_string_content"
    TOO_LONG = "too_long"
    UNMAPPABLE_ROW = "unmappable_row"


class Filtered(StrEnum):
    """The conversation is valid but a filter asked to leave it out."""

    LANGUAGE = "filtered_language"
    TOXIC = "filtered_toxic"
    REDACTED = "filtered_redacted"
    TOO_FEW_TURNS = "filtered_too_few_turns"
    TOO_MANY_TURNS = "filtered_too_many_turns"
    NOT_IN_ALLOW_LIST = "filtered_not_in_allow_list"
    DUPLICATE_FIRST_MESSAGE = "filtered_duplicate_first_message"
    NOT_SAMPLED = "filtered_not_sampled"
    OTHER_SHARD = "filtered_other_shard"


DESCRIPTIONS: dict[str, str] = {
    Invalid.MISSING_HASH: "conversation_hash is null or empty",
    Invalid.DUPLICATE_HASH: "conversation_hash already seen earlier in the input",
    Invalid.NO_USER_TURN: "the conversation holds no user message",
    Invalid.ROLES_OUT_OF_ORDER: "messages do not alternate user/assistant starting with user",
    Invalid.UNKNOWN_ROLE: "a message role is neither user, assistant nor a leading system",
    Invalid.EMPTY_USER_MESSAGE: "a user message is empty or whitespace only",
    Invalid.NON_STRING_CONTENT: "a message content is null or not a string",
    Invalid.TOO_LONG: "more messages or characters than the configured absurd-length limit",
    Invalid.UNMAPPABLE_ROW: "the row lacks the fields the column mapping names",
    Filtered.LANGUAGE: "language not in the requested languages",
    Filtered.TOXIC: "toxic conversation excluded",
    Filtered.REDACTED: "redacted conversation excluded",
    Filtered.TOO_FEW_TURNS: "fewer user turns than --min-turns",
    Filtered.TOO_MANY_TURNS: "more user turns than --max-turns",
    Filtered.NOT_IN_ALLOW_LIST: "hash not in the allow-list file",
    Filtered.DUPLICATE_FIRST_MESSAGE: "first user message already seen (dedupe)",
    Filtered.NOT_SAMPLED: "not drawn by the seeded sample",
    Filtered.OTHER_SHARD: "belongs to another shard of the job",
}


class MixReason(StrEnum):
    """Why a mix source could not draw a conversation (besides the reader's own filters)."""

    EXCLUDED_HASH = "filtered_excluded_hash"
    FAILED_ANSWER = "failed_answer"
    NO_REFERENCE_ANSWER = "no_reference_answer"
    NOT_IN_EVERY_CONFIG = "not_in_every_config"


DESCRIPTIONS.update(
    {
        MixReason.EXCLUDED_HASH: "hash in the mix's exclude list (e.g. held-out eval prompts)",
        MixReason.FAILED_ANSWER: "the DGM failed at least one turn (no answer to train on)",
        MixReason.NO_REFERENCE_ANSWER: "the length-limit DGM has no complete answer to the same turns",
        MixReason.NOT_IN_EVERY_CONFIG: "a blend needs the conversation answered by every DGM",
    }
)


class PairReason(StrEnum):
    """Why a candidate turn (one user turn every paired DGM answered) did not become a preference pair."""

    NO_JUDGMENT = "no_judgment"
    TIE = "tie"
    MARGIN = "below_min_margin"
    LENGTH = "chosen_too_long"
    FAILED_ANSWER = "failed_answer"
    NOT_FIRST_TURN = "not_first_turn"


DESCRIPTIONS.update(
    {
        PairReason.NO_JUDGMENT: "a DGM's answer has no usable score on every factor (not judged, unparsed, "
        "judge error)",
        PairReason.TIE: "the best and the worst score are equal (tie policy `skip`)",
        PairReason.MARGIN: "chosen score minus rejected score is under --min-margin",
        PairReason.LENGTH: "the chosen answer is longer than --max-length-ratio times the rejected one",
        PairReason.FAILED_ANSWER: "a DGM failed the turn (no answer) or the answer is empty",
        PairReason.NOT_FIRST_TURN: "a later turn, and --turns first takes only the first",
    }
)
