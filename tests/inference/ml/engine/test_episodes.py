"""Brain MRI episodes from the rule engine, on hand-written report-style sentences."""

import pytest

from inference.ml.defaults import default_lexicon, default_ruleset
from inference.ml.engine import RuleEngine


@pytest.fixture(scope="module")
def engine():
    return RuleEngine.for_brain_mri(default_lexicon("brain_mri"), rules=default_ruleset())


def _episodes(engine, text):
    return {k: v.get("episode") for k, v in engine.extract(text).as_gold()["diagnoses"].items()}


@pytest.mark.parametrize(
    ("text", "key", "episode"),
    [
        (
            "Known GBM in the left frontal lobe. It has increased in size since the prior study.",
            "glioma",
            "progression",
        ),
        ("Multiple brain metastases, unchanged compared with the previous MRI.", "metastasis", "stable"),
        (
            "Metastatic lesions in both cerebellar hemispheres have decreased in size.",
            "metastasis",
            "improvement",
        ),
        ("Known CNS lymphoma. 병변 크기 증가함.", "lymphoma", "progression"),
        ("뇌전이 병변은 이전과 비교하여 변화 없음.", "metastasis", "stable"),
        ("교모세포종 수술 후 상태. 조영증강 병변 감소, 호전됨.", "glioma", "improvement"),
    ],
)
def test_cue_families_give_their_episode(engine, text, key, episode):
    assert _episodes(engine, text)[key] == episode


def test_denied_progression_reads_as_stable(engine):
    assert _episodes(engine, "Known metastasis in the right parietal lobe. No evidence of progression.") == {
        "metastasis": "stable"
    }


def test_no_new_lesion_reads_as_stable(engine):
    assert _episodes(engine, "Known metastases. No new enhancing lesion.")["metastasis"] == "stable"


def test_hedged_progression_keeps_progression_flagged(engine):
    result = engine.extract("GBM s/p CCRT. Cannot exclude tumor progression.")
    glioma = result.by_key()["glioma"]
    assert glioma.episode == "progression" and "episode_uncertain" in glioma.flags


def test_pseudoprogression_wording_is_not_progression(engine):
    text = (
        "Post-operative state of GBM. Increased enhancement along the resection margin, "
        "probably pseudoprogression."
    )
    glioma = engine.extract(text).by_key()["glioma"]
    assert glioma.episode is None and "treatment_effect" in glioma.flags


def test_two_malignant_diagnoses_each_get_their_own_cue(engine):
    text = "PCNSL in the corpus callosum, partial response. Left parietal metastasis, increased in size."
    assert _episodes(engine, text) == {"lymphoma": "improvement", "metastasis": "progression"}


def test_cue_about_another_finding_is_not_the_tumours(engine):
    assert (
        _episodes(engine, "Left frontal GBM. Old infarct in the right thalamus, unchanged.")["glioma"] is None
    )
    assert _episodes(engine, "Known metastasis. Ventricles are unchanged in size.")["metastasis"] is None
