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
    stage1_key_f1,
)
from inference.ml.defaults import default_lexicon
from inference.ml.engine import RuleEngine
from inference.ml.llm.backends import FakeBackend


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


def by_key(result):
    return {f.key: f for f in result.findings}


def test_rules_decide_when_they_are_unambiguous_and_the_llm_is_not_called(engine):
    llm = FakeBackend({}, default="{}")
    stage1 = FakeStage1({"nodule": 0.9, "pleural effusion": 0.1})
    result = CombinedExtractor(engine, stage1=stage1, llm=llm).extract(
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
    result = CombinedExtractor(engine, stage1=stage1).extract(
        "Architectural distortion and volume loss in the lingula."
    )
    fibrosis = by_key(result)["fibrosis"]
    assert (fibrosis.status, fibrosis.source, fibrosis.flags) == ("present", SOURCE_STAGE1, [FLAG_SILENT])


def test_disagreement_goes_to_the_llm_with_the_rules_evidence_and_stays_flagged(engine):
    def answer(messages, schema):
        assert set(schema["properties"]) == {"pleural effusion"}  # only what needs deciding
        return {"pleural effusion": {"s": "negated", "e": "Pleural effusion was not detected"}}

    llm = FakeBackend(answer)
    stage1 = FakeStage1({"pleural effusion": 0.97})
    text = "Pleural effusion was not detected. Heart size is normal."
    result = CombinedExtractor(engine, stage1=stage1, llm=llm).extract(text)
    effusion = by_key(result)["pleural effusion"]
    assert effusion.status == "negated" and effusion.source == SOURCE_LLM
    assert FLAG_DISAGREE in effusion.flags and FLAG_LLM_DISAGREE not in effusion.flags
    assert effusion.sources["rules"]["status"] == "negated"
    assert effusion.sources["stage1"]["present"] is True
    assert effusion.sources["llm"]["status"] == "negated"
    prompt = llm.calls[0][0][-1]["content"]
    assert "rules say negated" in prompt and "Pleural effusion was not detected" in prompt
    assert result.llm_reasons == {"pleural effusion": [FLAG_DISAGREE]}


def test_llm_adds_a_location_the_rules_could_not_link(engine):
    llm = FakeBackend(lambda m, s: {"nodule": {"s": "present", "l": ["left upper lobe"], "e": "nodule"}})
    result = CombinedExtractor(engine, llm=llm).extract("Possible nodule, as on the prior study.")
    nodule = by_key(result)["nodule"]
    assert nodule.status == "uncertain"  # the rules' assertion stands
    assert nodule.locations == ["left upper lobe"] and nodule.source == SOURCE_RULES_LLM
    assert FLAG_NO_LOCATION in nodule.flags


def test_llm_that_contradicts_a_location_question_is_kept_as_a_flag(engine):
    llm = FakeBackend(lambda m, s: {"nodule": {"s": "negated", "l": [], "e": "nodule"}})
    result = CombinedExtractor(engine, llm=llm).extract("There is a nodule.")
    nodule = by_key(result)["nodule"]
    assert nodule.status == "present" and nodule.source == SOURCE_RULES
    assert FLAG_LLM_DISAGREE in nodule.flags and nodule.sources["llm"]["status"] == "negated"


def test_a_broken_llm_answer_keeps_the_rules_and_says_so(engine):
    llm = FakeBackend({}, default="not json")
    result = CombinedExtractor(engine, llm=llm).extract("There is a nodule.")
    nodule = by_key(result)["nodule"]
    assert nodule.status == "present" and FLAG_LLM_FAILED in nodule.flags
    assert result.steps[0].ok is False


def test_a_weak_stage1_disagreement_is_not_a_disagreement(engine):
    stage1 = FakeStage1({"nodule": 0.3})
    result = CombinedExtractor(engine, stage1=stage1).extract("Nodule in the RUL.")
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


def test_the_llm_answer_in_the_compact_schema_form_is_read(engine):
    llm = FakeBackend(lambda m, s: {"nodule": ["present", ["right lower lobe"], "a nodule"]})
    result = CombinedExtractor(engine, llm=llm).extract("There is a nodule.")
    nodule = by_key(result)["nodule"]
    assert nodule.locations == ["right lower lobe"] and nodule.source == SOURCE_RULES_LLM


def test_a_hesitant_stage1_alone_does_not_add_a_finding(engine):
    stage1 = FakeStage1({"fibrosis": 0.6})
    result = CombinedExtractor(engine, stage1=stage1).extract(
        "Architectural distortion and volume loss in the lingula."
    )
    assert "fibrosis" not in by_key(result)


def test_an_llm_that_leaves_out_a_confident_stage1_finding_does_not_drop_it(engine):
    llm = FakeBackend(lambda m, s: {})
    stage1 = FakeStage1({"fibrosis": 0.95})
    result = CombinedExtractor(engine, stage1=stage1, llm=llm).extract(
        "Architectural distortion and volume loss in the lingula."
    )
    fibrosis = by_key(result)["fibrosis"]
    assert (fibrosis.status, fibrosis.source) == ("present", SOURCE_STAGE1)
    assert fibrosis.flags == [FLAG_SILENT, FLAG_UNCONFIRMED]
    assert fibrosis.sources["llm"] == {"status": None}


def test_an_llm_status_change_without_a_quote_from_the_report_is_only_a_flag(engine):
    llm = FakeBackend(lambda m, s: {"pleural effusion": {"s": "present", "e": "moderate left effusion"}})
    stage1 = FakeStage1({"pleural effusion": 0.97})
    result = CombinedExtractor(engine, stage1=stage1, llm=llm).extract(
        "Pleural effusion was not detected. Heart size is normal."
    )
    effusion = by_key(result)["pleural effusion"]
    assert (effusion.status, effusion.source) == ("negated", SOURCE_RULES)
    assert {FLAG_DISAGREE, FLAG_LLM_DISAGREE, FLAG_LLM_UNVERIFIED} <= set(effusion.flags)
    assert effusion.sources["llm"]["quote_found"] is False


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
    result = CombinedExtractor(engine, stage1=stage1).extract(
        "A 6 mm pleural nodule along the major fissure."
    )
    found = by_key(result)
    assert "nodule" not in found and found["pleural thickening"].status == "present"


def test_stage1_key_f1_prefers_the_heldout_scores():
    metrics = {
        "heldout": {"per_key": {"nodule": {"f1": 0.9}, "fibrosis": {"f1": None}}},
        "validation": {"per_key": {"nodule": {"f1": 0.5}}},
    }
    assert stage1_key_f1(metrics) == {"nodule": 0.9}
    assert stage1_key_f1({"validation": {"per_key": {"nodule": {"f1": 0.5}}}}) == {"nodule": 0.5}
    assert stage1_key_f1({}) is None


def test_a_one_word_llm_quote_is_no_evidence(engine):
    llm = FakeBackend(lambda m, s: {"pleural effusion": {"s": "present", "e": "none"}})
    stage1 = FakeStage1({"pleural effusion": 0.97})
    result = CombinedExtractor(engine, stage1=stage1, llm=llm).extract(
        "Pleural effusion was not detected. The nodule is nonspecific."
    )
    effusion = by_key(result)["pleural effusion"]
    assert effusion.status == "negated" and FLAG_LLM_UNVERIFIED in effusion.flags
