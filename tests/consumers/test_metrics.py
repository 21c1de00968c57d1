"""The metrics library: ROUGE equal to rouge-score, METEOR equal to nltk's, Table 3 reproduced."""

from __future__ import annotations

import itertools
import math

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from wildchat50m.metrics import meteor, rouge, style
from wildchat50m.resources import sample_file

REFERENCE = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)


def sample_texts(limit: int = 120) -> list[str]:
    """Message texts of the embedded sample: markdown, code, ten languages, HTML, long prompts."""
    conversations = pq.read_table(sample_file(), columns=["conversation"]).column(0).to_pylist()
    texts = [m["content"] for conversation in conversations for m in conversation if m["content"]]
    return texts[:limit]


def assert_same_as_rouge_score(first: str, second: str) -> None:
    tokenizer = rouge.RougeTokenizer()
    ours = rouge.rouge_f1(tokenizer.encode(first), tokenizer.encode(second))
    theirs = REFERENCE.score(first, second)
    assert ours.rouge1 == pytest.approx(theirs["rouge1"].fmeasure, abs=1e-12, rel=0)
    assert ours.rougeL == pytest.approx(theirs["rougeL"].fmeasure, abs=1e-12, rel=0)


WORDS = st.sampled_from(
    ["the", "running", "runs", "ran", "Cats", "cat's", "généralement", "数据", "e-mail", "3.14", "x",
     "hopefully", "**bold**", "# Title", "- item", "`code()`", "naïve", "İstanbul", "ß", "caresses", "\n"]
)  # fmt: skip
TEXTS = st.one_of(
    st.text(max_size=200),
    st.lists(WORDS, max_size=60).map(" ".join),
    st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=40).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(TEXTS, TEXTS)
def test_rouge_equals_rouge_score_on_random_texts(first, second):
    assert_same_as_rouge_score(first, second)


def test_rouge_equals_rouge_score_on_real_looking_texts():
    texts = sample_texts(60)
    pairs = list(itertools.combinations(texts, 2))[::7]
    assert len(pairs) > 200
    for first, second in pairs:
        assert_same_as_rouge_score(first, second)
    scores = rouge.rouge_pairs([a for a, _ in pairs], [b for _, b in pairs])
    assert scores[0].rougeL == REFERENCE.score(*pairs[0])["rougeL"].fmeasure


def test_pairwise_rouge_l_is_rouge_scores_matrix():
    texts = [*sample_texts(12), "", "!!!", "Running runners ran."]
    matrix = rouge.pairwise_rouge_l(texts)
    for i, j in itertools.product(range(len(texts)), repeat=2):
        expected = REFERENCE.score(texts[i], texts[j])["rougeL"].fmeasure
        assert matrix[i][j] == pytest.approx(expected, abs=1e-12, rel=0)
        assert matrix[i][j] == matrix[j][i]
    assert matrix[0][0] == 1.0
    assert matrix[-3][-3] == 0.0  # an empty text scores 0 against itself, as in rouge-score


class NoSynonyms:
    """A WordNet stand-in for nltk with no synonyms: only the exact and stem stages can match."""

    def synsets(self, word):
        return []


def nltk_meteor(reference: list[str], candidate: list[str]) -> float:
    from nltk.translate.meteor_score import meteor_score

    return meteor_score([reference], candidate, wordnet=NoSynonyms())


def test_meteor_equals_nltk_without_synonyms():
    texts = sample_texts(40)
    crafted = [
        ("the cat sat on the mat", "on the mat sat the cat"),
        ("running quickly to the stations", "the station runs quick"),
        ("a b c d e f", "f e d c b a"),
        ("", "anything"),
        ("the the the", "the"),
    ]
    pairs = crafted + list(itertools.combinations(texts, 2))[::5]
    for reference, candidate in pairs:
        ours = meteor.meteor(reference, candidate, wordnet=False)
        assert ours.stages == ("exact", "stem")
        expected = nltk_meteor(meteor.tokenize(reference), meteor.tokenize(candidate))
        assert ours.score == pytest.approx(expected, abs=1e-12, rel=0), (reference, candidate)
    assert meteor.meteor("the cat sat on the mat", "on the mat sat the cat", wordnet=False).score < 0.999


@settings(max_examples=200, deadline=None)
@given(st.lists(WORDS, max_size=30), st.lists(WORDS, max_size=30))
def test_meteor_equals_nltk_on_random_token_lists(reference, candidate):
    reference = [w.strip() or "w" for w in reference]
    candidate = [w.strip() or "w" for w in candidate]
    ours = meteor.meteor_tokens(reference, candidate, wordnet=False).score
    assert ours == pytest.approx(nltk_meteor(reference, candidate), abs=1e-12, rel=0)


def test_meteor_reports_the_synonym_stage_only_when_wordnet_is_used():
    class Synonyms:
        def synsets(self, word):
            class Lemma:
                def __init__(self, name):
                    self._name = name

                def name(self):
                    return self._name

            class Synset:
                def lemmas(self):
                    return [Lemma("feline"), Lemma("cat")]

            return [Synset()] if word in ("cat", "feline") else []

    with_synonyms = meteor.meteor("a feline sat", "a cat sat", wordnet=Synonyms())
    assert with_synonyms.stages == ("exact", "stem", "synonym")
    assert with_synonyms.score > meteor.meteor("a feline sat", "a cat sat", wordnet=False).score
    installed = meteor.meteor("a feline sat", "a cat sat")
    assert ("synonym" in installed.stages) == (meteor.installed_wordnet() is not None)


# Table 3 of the paper: raw counts of strong, em, ol, ul, h1, h2, h3, h4, p, len over 80 MT-Bench turns.
TABLE_3 = {
    "Q72 : None": [741, 53, 83, 230, 24, 0, 135, 26, 1217, 6492],
    "L70 : None": [406, 38, 76, 116, 30, 38, 22, 4, 1222, 6411],
    "L8B : L70": [331, 34, 75, 109, 27, 13, 32, 3, 1210, 6207],
    "L8B : Q72": [808, 60, 77, 260, 20, 0, 149, 33, 1237, 6585],
}
# The printed PF rows, (A, B) -> (PF(A, B) per feature, MPF).
PRINTED_PF = {
    ("L8B : L70", "L70 : None"):
        ([0.815, 0.895, 0.987, 0.940, 0.900, 0.342, 1.455, 0.750, 0.990, 0.968], 0.90),
    ("L8B : Q72", "Q72 : None"):
        ([1.090, 1.132, 0.928, 1.130, 0.833, 1.000, 1.104, 1.269, 1.016, 1.014], 1.05),
    ("L8B : Q72", "L8B : L70"):
        ([2.441, 1.765, 1.027, 2.385, 0.741, 0.000, 4.656, 11.000, 1.022, 1.061], 2.61),
}  # fmt: skip


@pytest.mark.parametrize("pair", list(PRINTED_PF))
def test_table_3_proportional_frequencies_are_reproduced(pair):
    counts = {model: dict(zip(style.FEATURES, row, strict=True)) for model, row in TABLE_3.items()}
    pf = style.proportional_frequency(counts[pair[0]], counts[pair[1]])
    printed_row, printed_mean = PRINTED_PF[pair]
    assert [round(pf[f], 3) for f in style.FEATURES] == printed_row
    assert round(style.mean_proportional_frequency(pf), 2) == printed_mean


def test_proportional_frequency_rules():
    assert style.proportion(0, 0) == 1.0
    assert style.proportion(0, 5) == 0.0
    assert style.proportion(5, 0) == math.inf
    with pytest.raises(KeyError, match="len"):
        style.proportional_frequency({"strong": 1}, {"strong": 1})


def test_style_counts_render_markdown():
    answer = (
        "# Plan\n\nSome **bold** and *em* text.\n\n## Steps\n\n1. first\n2. second\n\n"
        "- a\n- b\n\n### Notes\n\n#### Small\n\n```python\n# not a heading\n```\n"
    )
    counts = style.style_counts(answer)
    assert counts == {
        "strong": 1, "em": 1, "ol": 1, "ul": 1, "h1": 1, "h2": 1, "h3": 1, "h4": 1, "p": 1,
        "len": len(answer.split()),
    }  # fmt: skip
    assert style.style_counts(None) == dict.fromkeys(style.FEATURES, 0)
    assert style.total_counts([answer, answer])["h1"] == 2
