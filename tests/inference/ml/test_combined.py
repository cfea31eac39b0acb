"""The combined extractor: rules decide where the lexicon speaks, stage 1 where
it is silent, the LLM only for what needs it; sources and disagreements kept."""

import json
from types import SimpleNamespace

import pytest

from inference.ml.combined import (
    FLAG_DISAGREE,
    FLAG_LLM_DISAGREE,
    FLAG_LLM_FAILED,
    FLAG_LLM_UNVERIFIED,
    FLAG_NO_LOCATION,
    FLAG_SILENT,
    FLAG_UNCONFIRMED,
    SOURCE_LLM,
    SOURCE_RULES,
    SOURCE_RULES_LLM,
    SOURCE_STAGE1,
    CombinedExtractor,
    Stage1KeyQuality,
    stage1_key_f1,
    stage1_key_quality,
    wilson_lower_bound,
)
from inference.ml.defaults import default_lexicon
from inference.ml.engine import RuleEngine
from inference.ml.llm.backends import FakeBackend
from inference.ml.questions import LOCATION, STATUS_DISAGREE, STATUS_SILENT, QuestionPolicy


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return RuleEngine.for_chest_ct(default_lexicon("chest_ct"))


class FakeStage1:
    """Fixed probabilities; a key is predicted at 0.5."""

    def __init__(self, probs: dict[str, float]) -> None:
        self.probs = probs
        self.calls = 0

    def predict(self, texts):
        self.calls += len(texts)
        labels = {k: p >= 0.5 for k, p in self.probs.items()}
        return [SimpleNamespace(probs=dict(self.probs), labels=labels) for _ in texts]


ALL = QuestionPolicy.everything()
CHEST_LESIONS = (
    "nodule",
    "mass",
    "consolidation",
    "ground-glass opacity",
    "atelectasis",
    "bronchiectasis",
    "bronchial wall thickening",
    "interstitial thickening",
    "fibrosis",
    "pleural effusion",
    "pleural thickening",
)
# Measured well on every key: F1 0.95, 60 true and no false positives (Wilson bound 0.94).
TRUSTED = {k: Stage1KeyQuality(0.95, tp=60, fp=0) for k in CHEST_LESIONS}


def by_key(result):
    return {f.key: f for f in result.findings}


def test_rules_decide_when_they_are_unambiguous_and_the_llm_is_not_called(engine):
    llm = FakeBackend({}, default="{}")
    stage1 = FakeStage1({"nodule": 0.9, "pleural effusion": 0.1})
    result = CombinedExtractor(engine, stage1_key_f1=TRUSTED, stage1=stage1, llm=llm).extract(
        "A 4 mm nodule in the right upper lobe. No pleural effusion."
    )
    found = by_key(result)
    assert (found["nodule"].status, found["nodule"].locations, found["nodule"].source) == (
        "present",
        ["right upper lobe"],
        SOURCE_RULES,
    )
    assert (found["pleural effusion"].status, found["pleural effusion"].source) == ("negated", SOURCE_RULES)
    assert found["nodule"].sources["stage1"] == {"prob": 0.9, "present": True}
    assert found["nodule"].sources["rules"]["link"] == "clause"
    assert llm.calls == [] and not result.llm_used


def test_stage1_fills_in_where_the_lexicon_is_silent(engine):
    stage1 = FakeStage1({"fibrosis": 0.93})
    result = CombinedExtractor(engine, stage1_key_f1=TRUSTED, stage1=stage1).extract(
        "Architectural distortion and volume loss in the lingula."
    )
    fibrosis = by_key(result)["fibrosis"]
    assert (fibrosis.status, fibrosis.source, fibrosis.flags) == ("present", SOURCE_STAGE1, [FLAG_SILENT])


def test_a_weak_stage1_disagreement_is_not_a_disagreement(engine):
    stage1 = FakeStage1({"nodule": 0.3})
    result = CombinedExtractor(engine, stage1_key_f1=TRUSTED, stage1=stage1).extract("Nodule in the RUL.")
    assert FLAG_DISAGREE not in by_key(result)["nodule"].flags


def test_result_is_gold_shaped_and_json_ready(engine):
    result = CombinedExtractor(engine).extract("Consolidation in the left lower lobe. No effusion.")
    assert result.as_gold() == {
        "lesions": {
            "consolidation": {"status": "present", "locations": ["left lower lobe"]},
            "pleural effusion": {"status": "negated", "locations": []},
        }
    }
    json.dumps(result.as_dict())


def test_a_hesitant_stage1_alone_does_not_add_a_finding(engine):
    stage1 = FakeStage1({"fibrosis": 0.6})
    result = CombinedExtractor(engine, stage1_key_f1=TRUSTED, stage1=stage1).extract(
        "Architectural distortion and volume loss in the lingula."
    )
    assert "fibrosis" not in by_key(result)


def test_a_stage1_key_below_its_f1_floor_adds_nothing_alone_and_asks_no_llm(engine):
    llm = FakeBackend({}, default="{}")
    stage1 = FakeStage1({"fibrosis": 0.95, "pleural effusion": 0.97})
    extractor = CombinedExtractor(
        engine, stage1=stage1, llm=llm, stage1_key_f1={"fibrosis": 0.55, "pleural effusion": 0.6}
    )
    result = extractor.extract("Architectural distortion in the lingula. Pleural effusion was not detected.")
    found = by_key(result)
    assert "fibrosis" not in found
    effusion = found["pleural effusion"]
    assert effusion.status == "negated" and FLAG_DISAGREE in effusion.flags  # still shown to the reviewer
    assert effusion.sources["stage1"]["trusted"] is False
    assert llm.calls == [] and result.llm_reasons == {}


def test_stage1_does_not_fill_in_a_key_whose_words_the_rules_placed_elsewhere(engine):
    stage1 = FakeStage1({"nodule": 0.95})
    result = CombinedExtractor(engine, stage1_key_f1=TRUSTED, stage1=stage1).extract(
        "A 6 mm pleural nodule along the major fissure."
    )
    found = by_key(result)
    assert "nodule" not in found and found["pleural thickening"].status == "present"


def test_stage1_without_stored_metrics_is_never_trusted(engine):
    llm = FakeBackend({}, default="{}")
    stage1 = FakeStage1({"fibrosis": 0.97, "pleural effusion": 0.97})
    extractor = CombinedExtractor(engine, stage1=stage1, llm=llm, policy=ALL)
    result = extractor.extract("Architectural distortion in the lingula. Pleural effusion was not detected.")
    found = by_key(result)
    assert "fibrosis" not in found
    assert FLAG_DISAGREE in found["pleural effusion"].flags  # flagged for review all the same
    assert not extractor.trusts_stage1("pleural effusion") and llm.calls == []


def test_stage1_adds_alone_only_with_a_precision_lower_bound_of_0_9(engine):
    stage1 = FakeStage1({"fibrosis": 0.95})
    text = "Architectural distortion and volume loss in the lingula."
    few = {"fibrosis": Stage1KeyQuality(1.0, tp=20, fp=0)}  # precise, but on 20 reports: bound 0.84
    many = {"fibrosis": Stage1KeyQuality(0.96, tp=40, fp=0)}  # bound 0.91
    f1_only = {"fibrosis": 0.99}  # no counts: no bound
    assert "fibrosis" not in by_key(CombinedExtractor(engine, stage1=stage1, stage1_key_f1=few).extract(text))
    assert "fibrosis" not in by_key(
        CombinedExtractor(engine, stage1=stage1, stage1_key_f1=f1_only).extract(text)
    )
    assert "fibrosis" in by_key(CombinedExtractor(engine, stage1=stage1, stage1_key_f1=many).extract(text))


def test_wilson_lower_bound_values():
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(20, 20) == pytest.approx(0.8389, abs=1e-4)
    assert wilson_lower_bound(40, 40) == pytest.approx(0.9124, abs=1e-4)
    assert wilson_lower_bound(45, 50) == pytest.approx(0.7864, abs=1e-4)


def test_stage1_key_quality_reads_counts_from_the_stored_metrics():
    metrics = {"validation": {"per_key": {"nodule": {"f1": 0.9, "tp": 30, "fp": 2}, "mass": {"f1": None}}}}
    assert stage1_key_quality(metrics) == {"nodule": Stage1KeyQuality(0.9, tp=30, fp=2)}
    assert stage1_key_quality({}) is None


def test_stage1_key_f1_prefers_the_heldout_scores():
    metrics = {
        "heldout": {"per_key": {"nodule": {"f1": 0.9}, "fibrosis": {"f1": None}}},
        "validation": {"per_key": {"nodule": {"f1": 0.5}}},
    }
    assert stage1_key_f1(metrics) == {"nodule": 0.9}
    assert stage1_key_f1({"validation": {"per_key": {"nodule": {"f1": 0.5}}}}) == {"nodule": 0.5}
    assert stage1_key_f1({}) is None


def test_a_disagreement_is_one_status_question_with_its_sentence_and_the_statuses_to_choose(engine):
    def answer(messages, schema):
        assert schema["properties"]["answer"] == {"enum": ["present", "uncertain", "negated"]}
        return {"answer": "negated", "quote": "Pleural effusion was not detected"}

    llm = FakeBackend(answer)
    stage1 = FakeStage1({"pleural effusion": 0.97})
    text = "Pleural effusion was not detected. Heart size is normal."
    result = CombinedExtractor(engine, stage1_key_f1=TRUSTED, stage1=stage1, llm=llm, policy=ALL).extract(
        text
    )
    effusion = by_key(result)["pleural effusion"]
    assert (effusion.status, effusion.source) == ("negated", SOURCE_LLM)
    assert FLAG_DISAGREE in effusion.flags and FLAG_LLM_DISAGREE not in effusion.flags
    assert effusion.sources["llm"][STATUS_DISAGREE]["quote_found"] is True
    prompt = llm.calls[0][0][-1]["content"]
    assert "1. Pleural effusion was not detected." in prompt and "Heart size" not in prompt
    [record] = result.questions
    assert (record.kind, record.asked, record.applied, record.changed) == (STATUS_DISAGREE, True, True, False)


def test_a_location_question_offers_the_locations_named_around_the_mention(engine):
    def answer(messages, schema):
        assert schema["properties"]["answer"]["items"]["enum"] == ["left upper lobe", "not stated"]
        return {"answer": ["left upper lobe"], "quote": "in the left upper lobe"}

    llm = FakeBackend(answer)
    text = "Scarring is seen in the left upper lobe. A 5 mm nodule is present there."
    result = CombinedExtractor(engine, llm=llm, policy=ALL).extract(text)
    nodule = by_key(result)["nodule"]
    assert (nodule.locations, nodule.source) == (["left upper lobe"], SOURCE_RULES_LLM)
    [record] = [q for q in result.questions if q.key == "nodule"]
    assert record.kind == LOCATION and record.changed
    assert record.before == {"status": "present", "locations": []}
    assert record.after == {"status": "present", "locations": ["left upper lobe"]}


def test_no_location_question_when_the_sentences_around_name_no_location(engine):
    llm = FakeBackend({}, default="{}")
    result = CombinedExtractor(engine, llm=llm, policy=ALL).extract("Possible nodule, as on the prior study.")
    nodule = by_key(result)["nodule"]
    assert FLAG_NO_LOCATION in nodule.flags and nodule.locations == []
    assert llm.calls == [] and result.questions == []


def test_a_question_type_the_policy_does_not_ask_is_recorded_not_asked(engine):
    llm = FakeBackend({}, default="{}")
    text = "Scarring is seen in the left upper lobe. A 5 mm nodule is present there."
    result = CombinedExtractor(engine, llm=llm, policy=QuestionPolicy.of([])).extract(text)
    assert llm.calls == [] and by_key(result)["nodule"].locations == []
    [record] = result.questions
    assert (record.kind, record.asked, record.changed) == (LOCATION, False, False)


def test_a_location_answer_quoting_outside_its_sentences_changes_nothing(engine):
    llm = FakeBackend(lambda m, s: {"answer": ["left upper lobe"], "quote": "Heart size is normal"})
    text = (
        "Heart size is normal. Mediastinum unremarkable. Scarring in the left upper lobe. A nodule is seen."
    )
    result = CombinedExtractor(engine, llm=llm, policy=ALL).extract(text)
    nodule = by_key(result)["nodule"]
    assert nodule.locations == [] and FLAG_LLM_UNVERIFIED in nodule.flags
    assert result.questions[0].quote_found is False and not result.questions[0].changed


def test_an_answer_outside_the_candidates_keeps_the_rules_and_says_so(engine):
    llm = FakeBackend({}, default='{"answer": ["liver"], "quote": "in the left upper lobe"}')
    text = "Scarring is seen in the left upper lobe. A 5 mm nodule is present there."
    result = CombinedExtractor(engine, llm=llm, policy=ALL).extract(text)
    nodule = by_key(result)["nodule"]
    assert nodule.locations == [] and FLAG_LLM_FAILED in nodule.flags
    assert result.steps[0].ok is False and result.questions[0].error


def test_the_llm_locations_go_through_the_location_normalisation(engine):
    llm = FakeBackend(
        lambda m, s: {"answer": ["both lungs", "right upper lobe", "left lower lobe"], "quote": "both lungs"}
    )
    text = (
        "Emphysema in both lungs, worst in the right upper lobe and the left lower lobe. "
        "A few nodules are noted."
    )
    result = CombinedExtractor(engine, llm=llm, policy=ALL).extract(text)
    assert by_key(result)["nodule"].locations == ["right upper lobe", "left lower lobe"]


def test_stage1_alone_found_lesion_the_llm_says_is_not_mentioned_is_dropped(engine):
    llm = FakeBackend(lambda m, s: {"answer": "not mentioned", "quote": "Architectural distortion"})
    stage1 = FakeStage1({"fibrosis": 0.95})
    result = CombinedExtractor(engine, stage1_key_f1=TRUSTED, stage1=stage1, llm=llm, policy=ALL).extract(
        "Architectural distortion and volume loss in the lingula."
    )
    assert "fibrosis" not in by_key(result)
    [record] = result.questions
    assert record.kind == STATUS_SILENT and record.after["status"] == "absent" and record.changed


def test_stage1_alone_found_lesion_stays_unconfirmed_without_a_quote(engine):
    llm = FakeBackend(lambda m, s: {"answer": "not mentioned", "quote": "none"})
    stage1 = FakeStage1({"fibrosis": 0.95})
    result = CombinedExtractor(engine, stage1_key_f1=TRUSTED, stage1=stage1, llm=llm, policy=ALL).extract(
        "Architectural distortion and volume loss in the lingula."
    )
    fibrosis = by_key(result)["fibrosis"]
    assert (fibrosis.status, fibrosis.source) == ("present", SOURCE_STAGE1)
    assert fibrosis.flags == [FLAG_SILENT, FLAG_LLM_UNVERIFIED, FLAG_UNCONFIRMED]


def test_a_broken_llm_reply_keeps_the_rules(engine):
    llm = FakeBackend({}, default="not json")
    stage1 = FakeStage1({"pleural effusion": 0.97})
    result = CombinedExtractor(engine, stage1_key_f1=TRUSTED, stage1=stage1, llm=llm, policy=ALL).extract(
        "Pleural effusion was not detected."
    )
    effusion = by_key(result)["pleural effusion"]
    assert effusion.status == "negated" and FLAG_LLM_FAILED in effusion.flags
