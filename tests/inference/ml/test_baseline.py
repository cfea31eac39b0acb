"""The method's same-sentence baseline, on the text engine's matcher and segmentation."""

import pytest

from inference.ml.baseline import SEGMENTER, brain_mri_baseline, chest_ct_baseline, pair_same_sentence
from inference.ml.defaults import default_lexicon, default_ruleset
from inference.ml.text.lexicon import lexicon_values
from inference.ml.text.matcher import Matcher
from tests.inference.ml.lexicon import LEXICON

LESIONS = ("nodule", "ground-glass opacity", "pleural effusion")
LOCATIONS = ("right upper lobe", "left lower lobe", "pleura")


@pytest.fixture(scope="module")
def matcher():
    return Matcher(lexicon_values(LEXICON))


def pairs_of(matcher: Matcher, text: str) -> dict[str, list[str]]:
    return pair_same_sentence(
        matcher.find(text), SEGMENTER.sentences(text), findings=LESIONS, targets=LOCATIONS
    )


def test_pairs_need_the_same_sentence(matcher):
    text = "Nodule in RUL. GGO is seen.\nIt is in LLL."
    assert pairs_of(matcher, text) == {"nodule": ["right upper lobe"], "ground-glass opacity": []}


def test_pairs_after_a_korean_sentence_end_do_not_cross_it(matcher):
    text = "우상엽에 결절이 있음. GGO in LLL."
    assert pairs_of(matcher, text) == {
        "nodule": ["right upper lobe"],
        "ground-glass opacity": ["left lower lobe"],
    }


def test_side_abbreviations_do_not_end_a_sentence(matcher):
    text = "Nodule in Rt. upper lobe. GGO in Lt. lower lobe, approx. 2 cm."
    assert pairs_of(matcher, text)["ground-glass opacity"] == ["left lower lobe"]


def test_impression_items_between_quote_marks_are_sentences(matcher):
    text = 'Nodules " Pleural effusion " GGO in LLL "'
    assert pairs_of(matcher, text) == {
        "nodule": [],
        "pleural effusion": [],
        "ground-glass opacity": ["left lower lobe"],
    }


def test_an_english_value_before_a_korean_particle_still_pairs(matcher):
    assert pairs_of(matcher, "LLL에 GGO 있음.") == {"ground-glass opacity": ["left lower lobe"]}


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
    matcher = Matcher(
        lexicon_values(
            {
                "metastasis": [("metastasis", "keyword"), ("전이", "keyword")],
                "glioma": [("GBM", "keyword")],
                "stroke/infarction": [("infarct", "keyword")],
                "progression": [("increased", "keyword")],
                "stable": [("no change", "keyword"), ("변화 없음", "keyword")],
            }
        )
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


def test_chest_baseline_locations_go_through_the_one_normalisation():
    lexicon = default_lexicon("chest_ct")
    matcher = Matcher(lexicon_values(lexicon))
    out = chest_ct_baseline(
        "Atelectasis in the right lung, right lower lobe.",
        matcher,
        lesions=("atelectasis",),
        locations=("right lung", "right lower lobe"),
        implicit={},
        tree=default_ruleset().location_tree,
    )
    assert out["lesions"]["atelectasis"]["locations"] == ["right lower lobe"]
