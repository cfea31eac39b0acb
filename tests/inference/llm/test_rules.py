import json
from pathlib import Path

import pytest

from inference.ml.rules import (
    EntityMatcher,
    brain_mri_baseline,
    chest_ct_baseline,
    lexicon_from_schema,
    pair_same_sentence,
    sentences,
)

LEXICON = {
    "nodule": [("nodule", "keyword"), ("nodules", "keyword"), ("결절", "keyword")],
    "ground-glass opacity": [("GGO", "keyword"), (r"\bground[\s-]*glass\b", "regex")],
    "pleural effusion": [("pleural effusion", "keyword"), ("흉수", "keyword")],
    "right upper lobe": [("RUL", "keyword"), ("right upper lobe", "keyword"), ("우상엽", "keyword")],
    "left lower lobe": [("LLL", "keyword"), (r"\b(?:lt|left)\.?\s*lower\s+lobe\b", "regex")],
    "pleura": [("pleural", "keyword")],
}
LESIONS = ("nodule", "ground-glass opacity", "pleural effusion")
LOCATIONS = ("right upper lobe", "left lower lobe", "pleura")


@pytest.fixture(scope="module")
def matcher():
    return EntityMatcher(LEXICON)


def test_keywords_match_case_insensitively_on_word_boundaries(matcher):
    text = "Nodules in the rul. Pseudonodule. RULES. Right  Upper\nLobe."
    found = [(m.key, m.text) for m in matcher.find(text)]
    assert found == [
        ("nodule", "Nodules"),
        ("right upper lobe", "rul"),
        ("right upper lobe", "Right  Upper\nLobe"),
    ]


def test_longest_value_wins_and_offsets_point_into_the_original(matcher):
    text = "Small Pleural Effusion, ground-glass and Lt. lower lobe."
    mentions = matcher.find(text)
    assert [(m.key, text[m.start : m.end]) for m in mentions] == [
        ("pleural effusion", "Pleural Effusion"),
        ("ground-glass opacity", "ground-glass"),
        ("left lower lobe", "Lt. lower lobe"),
    ]


def test_korean_values_match_inside_compounds_and_before_particles(matcher):
    found = [(m.key, m.text) for m in matcher.find("우상엽에 폐결절이 있음. 흉수는 없음.")]
    assert found == [("right upper lobe", "우상엽"), ("nodule", "결절"), ("pleural effusion", "흉수")]


def test_a_value_listed_under_two_keys_gives_both():
    matcher = EntityMatcher({"a": [("hilar", "keyword")], "b": [("Hilar", "keyword")]})
    assert [m.key for m in matcher.find("hilar LN")] == ["a", "b"]


def test_bad_kind_is_refused():
    with pytest.raises(ValueError, match="keyword or regex"):
        EntityMatcher({"a": [("x", "glob")]})


def test_sentences_split_on_periods_after_korean_and_on_line_breaks():
    text = "우상엽에 결절이 있음. Nodule in RUL\nGGO in LLL 보임. End"
    spans = [text[s.start : s.end] for s in sentences(text)]
    assert spans == ["우상엽에 결절이 있음.", "Nodule in RUL", "GGO in LLL 보임.", "End"]


def test_pairs_need_the_same_sentence(matcher):
    text = "Nodule in RUL. GGO is seen.\nIt is in LLL."
    pairs = pair_same_sentence(matcher.find(text), sentences(text), findings=LESIONS, targets=LOCATIONS)
    assert pairs == {"nodule": ["right upper lobe"], "ground-glass opacity": []}


def test_pairs_after_a_korean_sentence_end_do_not_cross_it(matcher):
    text = "우상엽에 결절이 있음. GGO in LLL."
    pairs = pair_same_sentence(matcher.find(text), sentences(text), findings=LESIONS, targets=LOCATIONS)
    assert pairs == {"nodule": ["right upper lobe"], "ground-glass opacity": ["left lower lobe"]}


def test_chest_baseline_is_gold_shaped_with_implicit_pleura(matcher):
    text = "Nodules in RUL and LLL. Small pleural effusion."
    out = chest_ct_baseline(
        text, matcher, lesions=LESIONS, locations=LOCATIONS, implicit={"pleural effusion": "pleura"}
    )
    assert out == {
        "lesions": {
            "nodule": {"status": "present", "locations": ["right upper lobe", "left lower lobe"]},
            "pleural effusion": {"status": "present", "locations": ["pleura"]},
        }
    }


def test_brain_baseline_pairs_episodes_and_lifts_non_tumor_details():
    matcher = EntityMatcher(
        {
            "metastasis": [("metastasis", "keyword"), ("전이", "keyword")],
            "glioma": [("GBM", "keyword")],
            "stroke/infarction": [("infarct", "keyword")],
            "progression": [("increased", "keyword")],
            "stable": [("no change", "keyword"), ("변화 없음", "keyword")],
        }
    )
    text = "Brain metastasis, increased. GBM.\nOld infarct.\n뇌 전이 변화 없음."
    out = brain_mri_baseline(
        text,
        matcher,
        diagnoses=("glioma", "lymphoma", "metastasis", "non-malignant tumor", "other non-tumor"),
        malignant=("glioma", "lymphoma", "metastasis"),
        other_non_tumor="other non-tumor",
        non_tumor=("stroke/infarction",),
        episodes=("progression", "stable", "improvement"),
    )
    assert out == {
        "diagnoses": {
            "glioma": {"status": "present", "episode": None, "episodes": []},
            "metastasis": {
                "status": "present",
                "episode": "progression",
                "episodes": ["progression", "stable"],
            },
            "other non-tumor": {"status": "present"},
        },
        "non_tumor": ["stroke/infarction"],
    }


def test_the_default_schema_lexicon_compiles_and_finds_real_phrasing():
    schema_path = Path(__file__).resolve().parents[3] / "annotations" / "schema" / "default_schema.json"
    if not schema_path.exists():
        pytest.skip("default schema not present")
    modalities = {m["code"]: m for m in json.loads(schema_path.read_text(encoding="utf-8"))["modalities"]}
    matcher = EntityMatcher(lexicon_from_schema(modalities["chest_ct"]))
    keys = {m.key for m in matcher.find("Rt. upper lobe GGO and 간유리 음영, bilateral pleural effusions.")}
    assert keys >= {"right upper lobe", "ground-glass opacity", "pleural effusion"}


def test_side_abbreviations_do_not_end_a_sentence(matcher):
    text = "Nodule in Rt. upper lobe. GGO in Lt. lower lobe, approx. 2 cm."
    assert [text[s.start : s.end] for s in sentences(text)] == [
        "Nodule in Rt. upper lobe.",
        "GGO in Lt. lower lobe, approx. 2 cm.",
    ]
    pairs = pair_same_sentence(matcher.find(text), sentences(text), findings=LESIONS, targets=LOCATIONS)
    assert pairs["ground-glass opacity"] == ["left lower lobe"]
