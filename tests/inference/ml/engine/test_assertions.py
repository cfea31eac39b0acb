"""The rule engine's assertions on hand-written sentences: each assertion type,
scope boundaries (sentence, clause terminators), Korean negation forms."""

import pytest

from inference.ml.defaults import default_ruleset
from inference.ml.engine import RuleEngine
from inference.ml.engine.engine import FLAG_MIXED, FLAG_OUTSIDE

LEXICON = {
    "nodule": [
        ("nodule", "keyword"),
        ("nodules", "keyword"),
        ("결절", "keyword"),
        (r"\bnodul(?:e|es|ar)\b", "regex"),
    ],
    "consolidation": [("consolidation", "keyword"), ("폐경화", "keyword"), ("경화", "keyword")],
    "atelectasis": [("atelectasis", "keyword"), ("무기폐", "keyword")],
    "pleural effusion": [("pleural effusion", "keyword"), ("effusion", "keyword"), ("흉수", "keyword")],
    "fibrosis": [("fibrosis", "keyword"), ("fibrotic changes", "keyword")],
    "interstitial thickening": [("septal thickening", "keyword")],
    "right upper lobe": [("right upper lobe", "keyword"), ("RUL", "keyword"), ("우상엽", "keyword")],
    "pleura": [("pleura", "keyword")],
}
ENGINE = RuleEngine(
    LEXICON,
    findings=[
        "nodule",
        "consolidation",
        "atelectasis",
        "pleural effusion",
        "fibrosis",
        "interstitial thickening",
    ],
    locations=["right upper lobe", "pleura"],
    implicit={"pleural effusion": "pleura"},
)


def status(text: str, key: str) -> str | None:
    finding = ENGINE.extract(text).by_key().get(key)
    return finding.status if finding else None


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        # negated, before and after the finding
        ("No pleural effusion.", "pleural effusion", "negated"),
        ("There is no nodule, consolidation or atelectasis.", "atelectasis", "negated"),
        ("Pleural effusion was not detected.", "pleural effusion", "negated"),
        ("Consolidation is not seen in the visualized lung bases.", "consolidation", "negated"),
        ("Without evidence of consolidation.", "consolidation", "negated"),
        # historical / resolved
        ("The previously seen nodule is no longer seen.", "nodule", "historical"),
        ("The consolidation has resolved.", "consolidation", "historical"),
        ("The right effusion has disappeared.", "pleural effusion", "historical"),
        # uncertain / hedged
        ("Early fibrosis cannot be excluded.", "fibrosis", "uncertain"),
        ("Findings may represent atelectasis.", "atelectasis", "uncertain"),
        ("Possible small nodule in the RUL.", "nodule", "uncertain"),
        ("Consolidation, suspicious for pneumonia?", "consolidation", "positive"),
        ("Atelectasis?", "atelectasis", "uncertain"),
        # positive, with pseudo-triggers that must not negate
        ("No interval change of the nodule in the RUL.", "nodule", "positive"),
        ("The nodule is not calcified.", "nodule", "positive"),
        ("A nodule that did not reach pathological size.", "nodule", "positive"),
    ],
)
def test_english_assertion_types(text, key, expected):
    assert status(text, key) == expected


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        # a sentence end stops a negation
        ("No pleural effusion. Atelectasis in the RUL.", "atelectasis", "positive"),
        # "but", "however", "except" end the scope inside a sentence
        ("No nodule but atelectasis in the RUL.", "atelectasis", "positive"),
        ("No consolidation; however, septal thickening is present.", "interstitial thickening", "positive"),
        ("No abnormality except a small nodule.", "nodule", "positive"),
        # a post-trigger reaches back over its clause, not over a finding already affirmed
        ("A nodule is seen in the RUL and the effusion is not seen.", "nodule", "positive"),
        ("A nodule is seen in the RUL and the effusion is not seen.", "pleural effusion", "negated"),
        # a quote mark separates impression items
        ('No effusion " Atelectasis in the RUL', "atelectasis", "positive"),
    ],
)
def test_scope_boundaries(text, key, expected):
    assert status(text, key) == expected


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("흉수 없음.", "pleural effusion", "negated"),
        ("폐경화는 보이지 않음.", "consolidation", "negated"),
        ("우상엽 결절은 관찰되지 않습니다.", "nodule", "negated"),
        ("결절 의심.", "nodule", "uncertain"),
        ("무기폐 소실.", "atelectasis", "historical"),
        ("우상엽에 결절 있음, 흉수 없음.", "nodule", "positive"),
        ("우상엽에 결절 있음, 흉수 없음.", "pleural effusion", "negated"),
        ("RUL에 nodule 없음.", "nodule", "negated"),
    ],
)
def test_korean_negation_forms(text, key, expected):
    assert status(text, key) == expected


def test_a_key_present_anywhere_is_present_and_flags_the_mixed_assertions():
    result = ENGINE.extract("No new nodule. A known 4 mm nodule in the RUL.")
    nodule = result.by_key()["nodule"]
    assert nodule.status == "positive"
    assert FLAG_MIXED in nodule.flags


def test_findings_of_organs_outside_the_lungs_are_set_aside():
    result = ENGINE.extract("A 12 mm hypodense nodule in the thyroid gland. Minimal pericardial effusion.")
    assert result.by_key() == {}
    result = ENGINE.extract("Thyroid nodule. A 5 mm nodule in the right upper lobe.")
    nodule = result.by_key()["nodule"]
    assert nodule.status == "positive" and FLAG_OUTSIDE in nodule.flags


def test_an_adjective_describing_another_finding_is_not_that_finding():
    result = ENGINE.extract("Nodular consolidation in the RUL. Nodular thickening of the pleura.")
    assert set(result.by_key()) == {"consolidation"}


def test_plural_of_a_singular_lexicon_value_matches():
    assert status("Interlobular septal thickenings in both lungs.", "interstitial thickening") == "positive"


def test_reports_present_keys_and_gold_shape():
    result = ENGINE.extract("Small nodule in the RUL. No pleural effusion.")
    assert result.present_keys() == {"nodule"}
    assert result.as_gold() == {
        "lesions": {
            "nodule": {"status": "present", "locations": ["right upper lobe"]},
            "pleural effusion": {"status": "negated", "locations": []},
        }
    }


def test_rules_come_from_data_and_an_added_trigger_applies():
    rules = default_ruleset()
    assert status("Consolidation is not appreciable.", "consolidation") == "positive"
    extra = {"phrase": "not appreciable", "category": "NEG", "direction": "BWD", "window": None}
    extended = rules.with_triggers([*rules.as_data()["triggers"], extra])
    engine = RuleEngine(LEXICON, findings=["consolidation"], locations=[], rules=extended)
    assert engine.extract("Consolidation is not appreciable.").by_key()["consolidation"].status == "negated"
    assert extended.version != rules.version
