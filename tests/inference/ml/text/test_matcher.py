"""The single-pass entity-value matcher (inference.ml.text.matcher): plain Python."""

import re

import pytest

from annotations.services.schema import schema_read
from demo.generator.corpus import generate_reports
from inference.ml.text.matcher import Matcher, Value, regex_error
from inference.ml.text.patterns import fold, lift_regex


def spans(matcher: Matcher, text: str) -> list[tuple[str, tuple]]:
    return [(text[m.start : m.end], m.keys) for m in matcher.find(text)]


def test_longest_keyword_wins_and_matches_do_not_overlap():
    m = Matcher(
        [
            Value("pleural thickening", "pleural thickening"),
            Value("pleura", "pleural"),
            Value("pe", "effusion"),
        ]
    )
    assert spans(m, "Pleural thickening. Pleural effusion.") == [
        ("Pleural thickening", ("pleural thickening",)),
        ("Pleural", ("pleura",)),
        ("effusion", ("pe",)),
    ]


def test_keywords_match_case_insensitively_with_any_whitespace_between_words():
    m = Matcher([Value("ggo", "ground glass opacity")])
    assert spans(m, "GROUND  glass\nOpacity in RUL") == [("GROUND  glass\nOpacity", ("ggo",))]


def test_latin_keywords_need_word_edges_but_korean_ones_do_not():
    m = Matcher([Value("mass", "mass"), Value("rul", "RUL"), Value("nodule", "결절")])
    text = "massive RULE 폐결절이 mass"
    assert spans(m, text) == [("결절", ("nodule",)), ("mass", ("mass",))]


def test_english_keyword_followed_by_korean_particle_still_matches():
    m = Matcher([Value("both lungs", "both lungs")])
    assert spans(m, "both lungs에 interlobular septal thickening 관찰됨.") == [
        ("both lungs", ("both lungs",))
    ]


def test_offsets_are_code_points_with_astral_characters_before_the_match():
    m = Matcher([Value("rul", "우상엽"), Value("nodule", "nodule")])
    text = "🫁 폐: 우상엽 nodule"
    got = [(x.start, x.end) for x in m.find(text)]
    assert got == [(5, 8), (9, 15)]
    assert [text[s:e] for s, e in got] == ["우상엽", "nodule"]


def test_regex_value_matches_where_no_keyword_does_and_is_attributed():
    metastasis = Value("metastasis", r"\bmetasta\w*", kind="regex", id=7)
    m = Matcher([Value("metastasis", "mets"), metastasis])
    found = m.find("Metastatic disease; brain mets.")
    assert [(x.start, x.end, x.values) for x in found] == [(0, 10, (metastasis,)), (26, 30, found[1].values)]
    assert found[1].values[0].text == "mets"


def test_regex_with_leading_group_of_literals_is_lifted_into_the_shared_pass():
    assert lift_regex(r"\b(?:rt|right)\.?\s*upper\s+lobe\b") == [
        r"r(?<!\w.)(?i:t\.?\s*upper\s+lobe\b)",
        r"r(?<!\w.)(?i:ight\.?\s*upper\s+lobe\b)",
    ]
    m = Matcher([Value("rul", r"\b(?:rt|right)\.?\s*upper\s+lobe\b", kind="regex")])
    assert spans(m, "Rt.upper lobe; bright upper lobe; right upper  lobe") == [
        ("Rt.upper lobe", ("rul",)),
        ("right upper  lobe", ("rul",)),
    ]


def test_regex_of_another_shape_still_matches_in_its_own_pass():
    assert lift_regex(r"\d+\s*mm nodule") is None
    m = Matcher([Value("nodule", r"\d+\s*mm nodule", kind="regex"), Value("rul", "RUL")])
    assert spans(m, "RUL 5 mm nodule") == [("RUL", ("rul",)), ("5 mm nodule", ("nodule",))]


def test_case_sensitive_values_only_match_their_own_case():
    m = Matcher(
        [Value("ms", "MS", case_sensitive=True), Value("x", r"NMO\w*", kind="regex", case_sensitive=True)]
    )
    assert spans(m, "MS plaque, 5 ms echo, NMOSD, nmosd") == [("MS", ("ms",)), ("NMOSD", ("x",))]


def test_a_value_listed_under_two_keys_gives_both_keys():
    m = Matcher([Value("a", "opacity"), Value("b", "opacity")])
    assert spans(m, "opacity") == [("opacity", ("a", "b"))]


def test_invalid_or_empty_matching_regex_is_reported_not_raised():
    assert "missing )" in regex_error("(unclosed")
    assert "matches empty text" in regex_error("x*")
    assert regex_error(r"\bnodul\w*") is None
    # A bad row that reached the database does not stop a matcher from being built.
    assert spans(Matcher([Value("a", "(bad", kind="regex"), Value("b", "ok")]), "ok") == [("ok", ("b",))]


@pytest.mark.parametrize("text", ["İstanbul nodule", "ǅ nodule", "ﬁ nodule"])
def test_fold_keeps_offsets_even_for_characters_that_lengthen_when_lowered(text):
    assert len(fold(text)) == len(text)
    m = Matcher([Value("nodule", "nodule")])
    assert [text[x.start : x.end] for x in m.find(text)] == ["nodule"]


def test_matcher_agrees_with_a_reference_scan_on_demo_reports():
    """Every keyword hit of a naive one-regex-per-value scan that is not inside a
    longer match is found by the single pass (on 200 demo reports)."""
    schema = schema_read()
    chest = next(m for m in schema["modalities"] if m["code"] == "chest_ct")
    values = [
        Value(k["name"], v) for t in chest["entity_types"] for k in t["keys"] for v in k.get("values", [])
    ]
    matcher = Matcher(values)
    for record in generate_reports(n=200, seed=3, modalities=["chest_ct"]):
        text = record["text"]
        found = matcher.find(text)
        covered = [(x.start, x.end) for x in found]
        for value in values:
            pattern = (
                r"(?<![0-9a-z_])" + r"\s+".join(map(re.escape, fold(value.text).split())) + r"(?![0-9a-z_])"
            )
            for hit in re.finditer(pattern, fold(text)):
                assert any(s <= hit.start() and hit.end() <= e for s, e in covered), (value.text, text)
