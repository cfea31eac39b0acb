"""Lesion-location linking of the rule engine: laterality and lobe phrases,
lists, the next sentence, headings, findings vs impression, implicit pleura."""

import pytest

from inference.ml.defaults import default_lexicon
from inference.ml.engine import RuleEngine
from inference.ml.engine.engine import FLAG_CROSS_SENTENCE, FLAG_NO_LOCATION


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return RuleEngine.for_chest_ct(default_lexicon("chest_ct"))


def locations(engine: RuleEngine, text: str, key: str) -> list[str]:
    return sorted(engine.extract(text).by_key()[key].locations)


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("A 5 mm nodule in the lower lobe of the right lung.", "nodule", ["right lower lobe"]),
        (
            "Consolidation in the superior segment of the lower lobe of the left lung.",
            "consolidation",
            ["left lower lobe"],
        ),
        (
            "Focal consolidation in the right lung lower lobe superior segment.",
            "consolidation",
            ["right lower lobe"],
        ),
        ("Nodules in the right upper and middle lobes.", "nodule", ["right middle lobe", "right upper lobe"]),
        ("Atelectasis in both lower lobes.", "atelectasis", ["left lower lobe", "right lower lobe"]),
        (
            "Subsegmental atelectasis in the lower lobes bilaterally.",
            "atelectasis",
            ["left lower lobe", "right lower lobe"],
        ),
        (
            "Bronchiectasis in the RUL, LLL and lingula.",
            "bronchiectasis",
            ["left lower lobe", "lingula", "right upper lobe"],
        ),
        ("Fibrotic changes in the middle lobe.", "fibrosis", ["right middle lobe"]),
        ("우측 하엽에 결절 있음.", "nodule", ["right lower lobe"]),
        ("좌상엽에 경화 소견.", "consolidation", ["left upper lobe"]),
    ],
)
def test_laterality_and_lobe_phrases(engine, text, key, expected):
    assert locations(engine, text, key) == expected


def test_a_location_lead_in_clause_applies_to_the_finding_after_it(engine):
    assert locations(engine, "In the right lung, patchy consolidation is seen.", "consolidation") == [
        "right lung"
    ]


def test_side_from_earlier_in_the_sentence_completes_a_bare_lobe(engine):
    text = "In the left lung, atelectasis is seen in the lower lobe."
    assert "left lower lobe" in locations(engine, text, "atelectasis")


def test_list_items_share_the_location_of_the_list(engine):
    text = "Nodule, consolidation and atelectasis in the right lower lobe."
    result = engine.extract(text).by_key()
    assert {k: result[k].locations for k in ("nodule", "consolidation", "atelectasis")} == {
        "nodule": ["right lower lobe"],
        "consolidation": ["right lower lobe"],
        "atelectasis": ["right lower lobe"],
    }


def test_two_findings_keep_their_own_locations(engine):
    text = "Nodule in the right upper lobe and consolidation in the left lower lobe."
    result = engine.extract(text).by_key()
    assert result["nodule"].locations == ["right upper lobe"]
    assert result["consolidation"].locations == ["left lower lobe"]


def test_location_in_the_next_sentence_about_the_same_finding(engine):
    result = engine.extract("There is a 6 mm nodule. It is located in the left upper lobe.").by_key()
    assert result["nodule"].locations == ["left upper lobe"]
    assert FLAG_CROSS_SENTENCE in result["nodule"].flags


@pytest.mark.parametrize(
    "text",
    ["Ground-glass opacity is seen (Se 2, Im 25). Location: right middle lobe.", "A nodule. In the RML."],
)
def test_a_location_only_sentence_right_after_a_finding_is_its_location(engine, text):
    found = engine.extract(text).findings[0]
    assert found.locations == ["right middle lobe"] and found.link == "next_sentence"


def test_next_sentence_about_another_finding_is_not_linked(engine):
    result = engine.extract("There is a 6 mm nodule. Atelectasis in the left lower lobe.").by_key()
    assert result["nodule"].locations == []
    assert FLAG_NO_LOCATION in result["nodule"].flags


def test_a_location_heading_line_applies_to_the_sentence_below(engine):
    result = engine.extract("Right lung:\nA small nodule.\n").by_key()
    assert result["nodule"].locations == ["right lung"]


def test_impression_locates_a_finding_the_findings_section_left_unlocated(engine):
    text = "FINDINGS:\nA small nodule is noted.\nIMPRESSION:\nSmall nodule in the RUL."
    assert locations(engine, text, "nodule") == ["right upper lobe"]


def test_pleural_effusion_and_thickening_are_in_the_pleura_implicitly(engine):
    result = engine.extract("Right pleural effusion and pleural thickening in the left hemithorax.").by_key()
    assert result["pleural effusion"].locations == ["pleura"]
    assert result["pleural thickening"].locations == ["pleura"]


def test_negated_findings_get_no_locations(engine):
    assert engine.extract("No nodule in the RUL.").by_key()["nodule"].locations == []


def test_a_lead_in_location_covers_every_finding_up_to_the_next_location(engine):
    text = "In the lower lobe of the right lung, there are atelectatic changes and areas of consolidation."
    result = engine.extract(text).by_key()
    assert result["atelectasis"].locations == ["right lower lobe"]
    assert result["consolidation"].locations == ["right lower lobe"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Atelectasis in the right lung base.", ["right lower lobe"]),
        ("Atelectasis in the left base.", ["left lower lobe"]),
        ("Bibasilar atelectasis.", ["left lower lobe", "right lower lobe"]),
        ("Atelectasis in the right middle lung.", ["right middle lobe"]),
    ],
)
def test_lung_bases_and_lung_zones_mean_lobes(engine, text, expected):
    assert locations(engine, text, "atelectasis") == expected


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        # Both sides with a lobe: each side's lobe (LABELLING.md section 4).
        (
            "Bronchiectasis in the lower lobes of both lungs.",
            "bronchiectasis",
            ["left lower lobe", "right lower lobe"],
        ),
        (
            "Ground-glass opacities in both upper lobes.",
            "ground-glass opacity",
            ["left upper lobe", "right upper lobe"],
        ),
        # Lingular segments are the lingula, not the left upper lobe.
        (
            "Plate atelectasis in the inferior lingular segment of the left upper lobe.",
            "atelectasis",
            ["lingula"],
        ),
        # Apex and base words.
        ("Fibrotic bands at both lung apices.", "fibrosis", ["left upper lobe", "right upper lobe"]),
        (
            "Atelectasis in the basal parts of both lungs.",
            "atelectasis",
            ["left lower lobe", "right lower lobe"],
        ),
        # Zones are not lobes.
        ("A nodule in the lower zone of the right lung.", "nodule", ["right lung"]),
        # A lung beside a lobe of its side is dropped; both lungs beside one side's lobe stays.
        (
            "Several nodules in both lungs, the largest in the right upper lobe.",
            "nodule",
            ["both lungs", "right upper lobe"],
        ),
        # An unsided lobe in a sentence that names both sides gives no key (R9).
        (
            "Consolidation in the right lung and the left lung, and a nodule in the lower lobe.",
            "nodule",
            [],
        ),
        # A lung lesion by the pleura stays in its lobe.
        ("A pleural-based nodule in the right lower lobe.", "nodule", ["right lower lobe"]),
        # Coordinated findings share the location after their verb.
        (
            "Patchy consolidation, interlobular septal thickening and ground glass opacities"
            " are seen in both lungs.",
            "interstitial thickening",
            ["both lungs"],
        ),
        # An unlocated finding that points at another takes its site.
        (
            "A 9 mm nodule in the left upper lobe with ground-glass opacity around it.",
            "ground-glass opacity",
            ["left upper lobe"],
        ),
    ],
)
def test_location_conventions(engine, text, key, expected):
    assert locations(engine, text, key) == expected


def test_a_definite_mention_after_an_organ_outside_the_lungs_stays_outside(engine):
    text = "A 4 cm mass in the gastric antrum. The mass narrows the lumen. No pulmonary nodule."
    assert "mass" not in engine.extract(text).by_key()
