"""A lexicon (key -> keywords and regexes, the schema JSON's layout) compiled into
the one Matcher: word edges, longest value first, offsets into the original text."""

import pytest

from inference.ml.defaults import default_lexicon
from inference.ml.text.lexicon import lexicon_values
from inference.ml.text.matcher import Matcher
from tests.inference.ml.lexicon import LEXICON


@pytest.fixture(scope="module")
def matcher():
    return Matcher(lexicon_values(LEXICON))


def found(matcher: Matcher, text: str) -> list[tuple[str, str]]:
    return [(str(k), text[m.start : m.end]) for m in matcher.find(text) for k in m.keys]


def test_keywords_match_case_insensitively_on_word_boundaries(matcher):
    text = "Nodules in the rul. Pseudonodule. RULES. Right  Upper\nLobe."
    assert found(matcher, text) == [
        ("nodule", "Nodules"),
        ("right upper lobe", "rul"),
        ("right upper lobe", "Right  Upper\nLobe"),
    ]


def test_longest_value_wins_and_offsets_point_into_the_original(matcher):
    text = "Small Pleural Effusion, ground-glass and Lt. lower lobe."
    assert found(matcher, text) == [
        ("pleural effusion", "Pleural Effusion"),
        ("ground-glass opacity", "ground-glass"),
        ("left lower lobe", "Lt. lower lobe"),
    ]


def test_korean_values_match_inside_compounds_and_before_particles(matcher):
    assert found(matcher, "우상엽에 폐결절이 있음. 흉수는 없음.") == [
        ("right upper lobe", "우상엽"),
        ("nodule", "결절"),
        ("pleural effusion", "흉수"),
    ]


def test_a_value_listed_under_two_keys_gives_both():
    matcher = Matcher(lexicon_values({"a": [("hilar", "keyword")], "b": [("Hilar", "keyword")]}))
    assert [k for m in matcher.find("hilar LN") for k in m.keys] == ["a", "b"]


def test_bad_kind_is_refused():
    with pytest.raises(ValueError, match="keyword or regex"):
        Matcher(lexicon_values({"a": [("x", "glob")]}))


def test_values_of_some_keys_only():
    values = lexicon_values(LEXICON, keys={"pleura", "nodule"})
    assert [(v.key, v.text) for v in values] == [
        ("nodule", "nodule"),
        ("nodule", "nodules"),
        ("nodule", "결절"),
        ("pleura", "pleural"),
    ]


def test_the_default_schema_lexicon_compiles_and_finds_real_phrasing():
    matcher = Matcher(lexicon_values(default_lexicon("chest_ct")))
    keys = {
        k
        for m in matcher.find("Rt. upper lobe GGO and 간유리 음영, bilateral pleural effusions.")
        for k in m.keys
    }
    assert keys >= {"right upper lobe", "ground-glass opacity", "pleural effusion"}
