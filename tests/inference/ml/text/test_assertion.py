"""Assertion detection (negated / uncertain) on hand-written report sentences in
English and Korean; the two weak-label modes are in test_labels.py."""

import pytest

from inference.ml.defaults import default_detector
from inference.ml.text.assertion import NEGATED, POSITIVE, UNCERTAIN
from inference.ml.text.matcher import Matcher, Value

LEXICON = {
    "nodule": ["nodule", "nodules", "결절"],
    "mass": ["mass", "mass lesion"],
    "consolidation": ["consolidation", "폐경화", "경화"],
    "pleural effusion": ["pleural effusion", "effusion", "흉수", "늑막 삼출"],
    "bronchiectasis": ["bronchiectasis", "기관지 확장"],
    "fibrosis": ["fibrosis"],
    "atelectasis": ["atelectasis"],
    "ground-glass opacity": ["GGO", "ground-glass opacity"],
    "right upper lobe": ["RUL", "우상엽"],
    "stable": ["no change", "no interval change", "변화 없음"],
    "metastasis": ["metastasis", "전이"],
    "improvement": ["near complete resolution"],
}
MATCHER = Matcher([Value(key, text) for key, texts in LEXICON.items() for text in texts])
DETECTOR = default_detector()


def assertion(text: str, surface: str) -> str:
    """The assertion of the first mention whose text is `surface`."""
    matches = MATCHER.find(text)
    statuses = DETECTOR.statuses(text, [(m.start, m.end) for m in matches])
    for match, status in zip(matches, statuses, strict=True):
        if text[match.start : match.end] == surface:
            return status
    raise AssertionError(f"{surface!r} not matched in {text!r}")


@pytest.mark.parametrize(
    ("text", "surface", "expected"),
    [
        ("No pleural effusion.", "pleural effusion", NEGATED),
        ("No evidence of nodule, mass or consolidation.", "consolidation", NEGATED),
        ("The lungs are well expanded without pleural effusion.", "pleural effusion", NEGATED),
        ("Negative for mass.", "mass", NEGATED),
        ("Bronchiectasis was not detected.", "Bronchiectasis", NEGATED),
        ("A nodule is not seen in the RUL.", "nodule", NEGATED),
        ("Mass lesion: none.", "Mass lesion", NEGATED),
        ("The consolidation has resolved.", "consolidation", NEGATED),
        ("The nodule is no longer seen.", "nodule", NEGATED),
        ("Atelectasis rather than consolidation.", "consolidation", NEGATED),
        ("Possible nodule in the RUL.", "nodule", UNCERTAIN),
        ("Fibrosis cannot be excluded.", "Fibrosis", UNCERTAIN),
        ("Cannot exclude a small nodule.", "nodule", UNCERTAIN),
        ("GGO, r/o pneumonia.", "GGO", POSITIVE),
        ("Findings suggestive of consolidation.", "consolidation", UNCERTAIN),
        ("Consolidation, may represent atelectasis.", "atelectasis", UNCERTAIN),
        ("Small nodule in the RUL.", "nodule", POSITIVE),
        ("The nodule is not calcified.", "nodule", POSITIVE),
        ("No suspicious nodule.", "nodule", NEGATED),
    ],
)
def test_english_assertions(text, surface, expected):
    assert assertion(text, surface) == expected


@pytest.mark.parametrize(
    ("text", "surface", "expected"),
    [
        ("늑막 삼출 없음.", "늑막 삼출", NEGATED),
        ("폐경화는 보이지 않음.", "폐경화", NEGATED),
        ("우상엽 결절은 관찰되지 않음", "결절", NEGATED),
        ("결절 소실됨.", "결절", NEGATED),
        ("결절 의심.", "결절", UNCERTAIN),
        ("우상엽에 결절 있음, 흉수 없음.", "결절", POSITIVE),
        ("우상엽에 결절 있음, 흉수 없음.", "흉수", NEGATED),
        ("RUL에 nodule 없음.", "nodule", NEGATED),
        ("전이 변화 없음.", "전이", POSITIVE),
    ],
)
def test_korean_assertions(text, surface, expected):
    assert assertion(text, surface) == expected


def test_scope_ends_at_but_however_and_semicolon():
    assert assertion("No effusion, but a nodule in the RUL.", "nodule") == POSITIVE
    assert assertion("No effusion; nodule in the RUL.", "nodule") == POSITIVE
    assert assertion("No pleural effusion, however a mass is seen.", "mass") == POSITIVE


def test_scope_ends_at_the_sentence_and_at_a_line_break():
    assert assertion("No effusion. Nodule in the RUL.", "Nodule") == POSITIVE
    assert assertion("Findings:\nNo effusion\nNodule in the RUL", "Nodule") == POSITIVE
    assert assertion("No effusion? Nodule in the RUL.", "Nodule") == POSITIVE


def test_abbreviation_period_and_wrapped_line_do_not_end_the_sentence():
    assert assertion("No effusion in the lt. lung or consolidation.", "consolidation") == NEGATED
    assert assertion("No evidence of pleural effusion or\nconsolidation.", "consolidation") == NEGATED


def test_forward_scope_is_limited_to_its_window():
    far = "No history of smoking and the patient returned after many years with a nodule."
    assert assertion(far, "nodule") == POSITIVE


def test_pseudo_triggers_and_values_containing_triggers_do_not_negate():
    assert assertion("No change in the size of the nodule.", "nodule") == POSITIVE
    assert assertion("Metastasis, no interval change.", "Metastasis") == POSITIVE
    assert assertion("Near complete resolution of the consolidation.", "consolidation") == POSITIVE


def test_statuses_of_no_spans_and_of_text_without_triggers():
    assert DETECTOR.statuses("No effusion.", []) == []
    assert DETECTOR.statuses("Nodule in the RUL.", [(0, 6)]) == [POSITIVE]
