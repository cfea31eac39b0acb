"""The default chest CT lexicon and rules (inference/ml/defaults/default_*.json) on
hand-written sentences in the phrasing real reports use: the wording families
a keyword list misses (thickness "increase" constructions, fibrotic sequelae,
consolidated areas), adjectives that describe another finding, organs outside
the lungs, and relative clauses between a finding and its verb."""

import pytest

from inference.ml.defaults import default_lexicon
from inference.ml.engine import RuleEngine

ENGINE = RuleEngine.for_chest_ct(default_lexicon("chest_ct"))


def statuses(text: str) -> dict[str, str]:
    return {f.key: f.status for f in ENGINE.extract(text).findings}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Peribronchial wall thickening is noted in both lower lobes.", "bronchial wall thickening"),
        ("There is thickening of the bronchial walls in the right lower lobe.", "bronchial wall thickening"),
        ("Increased peribronchial wall thickness in both lungs.", "bronchial wall thickening"),
        ("Mild peribronchovascular thickening at the hila.", "bronchial wall thickening"),
        ("Diffuse peribronchial thickness increase is observed.", "bronchial wall thickening"),
        ("Thickened interlobular septa at both lung bases.", "interstitial thickening"),
        ("Smooth thickening of the interlobular septa in both lungs.", "interstitial thickening"),
        ("Interlobular septal thickness increases in the lower lobes.", "interstitial thickening"),
        ("Post-inflammatory sequelae in the left upper lobe.", "fibrosis"),
        ("Parenchymal bands at both lung bases.", "fibrosis"),
        ("Fibroatelectatic changes in the lingula.", "fibrosis"),
        ("Apical pleuroparenchymal scarring on the right.", "fibrosis"),
        ("A consolidated area with air bronchograms in the right lower lobe.", "consolidation"),
        ("Consolidative density in the superior segment of the left lower lobe.", "consolidation"),
        ("Patchy consolidating infiltrates in the right middle lobe.", "consolidation"),
        ("좌하엽에 반흔성 변화가 있음.", "fibrosis"),
        ("A 6 mm pleural nodule along the right major fissure.", "pleural thickening"),
    ],
)
def test_wording_families_are_found(text: str, key: str) -> None:
    assert statuses(text).get(key) == "positive"


def test_fibroatelectasis_is_both_fibrosis_and_atelectasis() -> None:
    # LABELLING.md section 3: the compound names both processes.
    found = statuses("Fibro atelectasis at both lung apices.")
    assert found == {"fibrosis": "positive", "atelectasis": "positive"}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Nodular calcifications along the tracheal wall.", "nodule"),
        ("Old fracture sequelae of the right humerus.", "fibrosis"),
        ("A nodular consolidation in the right lower lobe.", "nodule"),
        ("A 6 mm pleural nodule along the right major fissure.", "nodule"),
    ],
)
def test_words_that_name_another_finding_or_organ_are_not_findings(text: str, key: str) -> None:
    assert statuses(text).get(key) is None


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        # The verb after a comma-bounded relative clause still asserts the finding.
        (
            "The left pleural effusion, which was present on the prior study, is no longer seen.",
            "pleural effusion",
            "historical",
        ),
        (
            "The nodule, which was described in the previous examination, was not detected.",
            "nodule",
            "negated",
        ),
        ("The effusion, which is small, is seen on the left.", "pleural effusion", "positive"),
        # A finding that cannot be assessed is not reported present.
        ("Small nodules cannot be evaluated because of motion artefact.", "nodule", "negated"),
        # A hedge reaches back over a long noun phrase.
        (
            "A nodule or mass located in the described atelectatic areas cannot be excluded.",
            "nodule",
            "uncertain",
        ),
    ],
)
def test_assertion_scopes(text: str, key: str, expected: str) -> None:
    assert statuses(text).get(key) == expected
