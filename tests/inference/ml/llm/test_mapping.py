import json
from dataclasses import asdict

from inference.ml.defaults import default_ruleset, default_triggers
from inference.ml.llm.backends import FakeBackend, LLMContextOverflow
from inference.ml.llm.mapping import (
    FLAG_HINT_LEAK,
    FLAG_KEY_NOT_IN_EVIDENCE,
    FLAG_NEGATED_CONTEXT,
    FLAG_NOT_IN_HINT,
    FLAG_UNMATCHED,
    BrainMriMapper,
    ChestCtMapper,
)
from inference.ml.text.assertion import AssertionDetector
from inference.ml.text.triggers import BWD, NEG

CHEST = "FINDINGS:\nConsolidation in RLL and LLL.\nNo pleural effusion.\nNo nodule."


def _chest(output, hint=None):
    return ChestCtMapper(FakeBackend({"### Report": output})).map(CHEST, hint=hint)


def test_valid_output_becomes_findings_with_evidence_offsets():
    result = _chest(
        {
            "consolidation": {
                "s": "present",
                "l": ["right lower lobe", "left lower lobe"],
                "e": "Consolidation in RLL and LLL",
            }
        }
    )
    assert result.ok and result.error is None
    (finding,) = result.findings
    assert (finding.key, finding.status, finding.locations) == (
        "consolidation",
        "present",
        ["right lower lobe", "left lower lobe"],
    )
    start, end = finding.evidence_span
    assert CHEST[start:end] == "Consolidation in RLL and LLL"
    assert finding.flags == []
    assert result.mode == "no_hint"
    assert result.model["backend"] == "fake"


def test_locations_go_through_the_site_tree_and_pleural_lesions_keep_the_pleura():
    text = "Consolidation in both lungs, RUL and LLL. Small pleural effusion."
    output = {
        "consolidation": {
            "s": "present",
            "l": ["both lungs", "right upper lobe", "left lower lobe"],
            "e": "Consolidation in both lungs",
        },
        "pleural effusion": {"s": "present", "e": "Small pleural effusion"},
    }
    tree = default_ruleset().location_tree
    result = ChestCtMapper(FakeBackend({"### Report": output}), tree=tree).map(text)
    assert [(f.key, f.locations) for f in result.findings] == [
        ("consolidation", ["right upper lobe", "left lower lobe"]),
        ("pleural effusion", ["pleura"]),
    ]
    assert result.as_gold()["lesions"]["consolidation"]["locations"] == [
        "right upper lobe",
        "left lower lobe",
    ]


def test_pleural_effusion_gets_the_pleura_without_being_asked():
    result = _chest({"pleural effusion": {"s": "negated", "e": "No pleural effusion"}})
    assert result.findings[0].locations == ["pleura"]
    schema = result_schema = ChestCtMapper(FakeBackend({}, default="{}")).schema
    assert "l" not in result_schema["properties"]["pleural effusion"]["properties"]
    assert "l" in schema["properties"]["nodule"]["properties"]


def test_invalid_json_fails_the_result_and_keeps_the_raw_output():
    result = _chest('{"consolidation": {"s": "present", ')
    assert not result.ok
    assert result.findings == []
    assert result.steps[0].raw == '{"consolidation": {"s": "present", '
    assert "not valid JSON" in result.error


def test_unknown_location_is_a_schema_violation():
    result = _chest({"consolidation": {"s": "present", "l": ["right base"], "e": "Consolidation"}})
    assert not result.ok
    assert "'right base' is not one of" in result.error
    assert result.steps[0].parsed["consolidation"]["l"] == ["right base"]


def test_unknown_lesion_and_missing_field_are_schema_violations():
    assert (
        "unexpected key 'pneumothorax'" in _chest({"pneumothorax": {"s": "present", "l": [], "e": "x"}}).error
    )
    assert "missing 'e'" in _chest({"nodule": {"s": "negated", "l": []}}).error


def test_context_overflow_fails_only_this_report():
    def overflow(messages, schema):
        raise LLMContextOverflow("Requested tokens exceed context window")

    result = ChestCtMapper(FakeBackend(overflow)).map(CHEST)
    assert not result.ok and "context window" in result.error


def test_negated_candidate_reported_present_is_flagged_as_hint_leak():
    output = {
        "nodule": {"s": "present", "l": [], "e": "No nodule"},
        "consolidation": {"s": "present", "l": ["right lower lobe"], "e": "Consolidation in RLL"},
        "mass": {"s": "present", "l": [], "e": "a mass in the RUL"},
    }
    result = _chest(output, hint=["nodule", "consolidation", "mass"])
    flags = {f.key: f.flags for f in result.findings}
    assert flags["nodule"] == [FLAG_NEGATED_CONTEXT, FLAG_HINT_LEAK]
    assert flags["consolidation"] == []
    assert flags["mass"] == [FLAG_UNMATCHED, FLAG_HINT_LEAK]
    assert result.mode == "hint" and result.hint == ["nodule", "consolidation", "mass"]


def test_present_finding_stage1_did_not_name_is_flagged():
    result = _chest({"consolidation": {"s": "present", "l": [], "e": "Consolidation"}}, hint=["nodule"])
    assert result.findings[0].flags == [FLAG_NOT_IN_HINT]


def test_result_is_json_serialisable_and_carries_the_exact_prompt():
    result = _chest({"nodule": {"s": "negated", "l": [], "e": "No nodule"}}, hint=["nodule"])
    data = json.loads(json.dumps(asdict(result)))
    step = data["steps"][0]
    assert step["messages"][-1]["content"].endswith("### Target Lesions: nodule")
    assert step["raw"] and step["parsed"] == {"nodule": {"s": "negated", "l": [], "e": "No nodule"}}
    assert data["prompt_version"] and step["prompt_version"]
    assert data["findings"][0]["evidence_span"] == [CHEST.index("No nodule"), CHEST.index("No nodule") + 9]
    assert result.as_gold() == {"lesions": {"nodule": {"status": "negated", "locations": []}}}


BRAIN = (
    "Findings:\nEnhancing metastases in both cerebellar hemispheres, increased in size.\n"
    "Old lacunar infarct in the Lt. thalamus.\nNo evidence of glioma.\n"
    "Impression: Progression of brain metastases. 오래된 뇌경색."
)


def _brain_backend(step1, episode=None, nontumor=None):
    def answer(messages, schema):
        system = messages[0]["content"]
        if "how it changed" in system:
            return episode
        if "non-tumor diseases" in system:
            return nontumor
        return step1

    return FakeBackend(answer)


def test_brain_two_steps_run_only_for_what_step1_found():
    backend = _brain_backend(
        step1={
            "glioma": {"s": "negated", "e": "No evidence of glioma"},
            "metastasis": {"s": "present", "e": "Enhancing metastases"},
            "other non-tumor": {"s": "present", "e": "Old lacunar infarct"},
        },
        episode={"metastasis": {"ep": "progression", "e": "Progression of brain metastases"}},
        nontumor={"stroke/infarction": {"s": "present", "e": "오래된 뇌경색"}},
    )
    result = BrainMriMapper(backend).map(BRAIN, hint=["metastasis", "stroke/infarction"])
    assert result.ok
    assert [s.task for s in result.steps] == ["brain_mri_step1", "brain_mri_episode", "brain_mri_nontumor"]
    episode_schema = backend.calls[1][1]
    assert list(episode_schema["properties"]) == ["metastasis"]  # glioma was negated: not asked
    assert episode_schema["required"] == ["metastasis"]
    assert result.as_gold() == {
        "diagnoses": {
            "glioma": {"status": "negated"},
            "metastasis": {"status": "present", "episode": "progression"},
            "other non-tumor": {"status": "present"},
        },
        "non_tumor": ["stroke/infarction"],
    }
    metastasis = next(f for f in result.findings if f.key == "metastasis")
    start, end = metastasis.episode_evidence_span
    assert BRAIN[start:end] == "Progression of brain metastases"
    korean = next(f for f in result.findings if f.key == "stroke/infarction")
    assert BRAIN[korean.evidence_span[0] : korean.evidence_span[1]] == "오래된 뇌경색"
    # The hinted detail key pulls "other non-tumor" into the step 1 hint.
    assert backend.calls[0][0][-1]["content"].endswith("### Target Diseases: metastasis, other non-tumor")
    assert backend.calls[2][0][-1]["content"].endswith("### Target Diseases: stroke/infarction")


def test_brain_without_findings_makes_one_call():
    backend = _brain_backend(step1={"metastasis": {"s": "negated", "e": "No evidence of glioma"}})
    result = BrainMriMapper(backend).map(BRAIN)
    assert len(backend.calls) == 1 and result.ok
    assert result.as_gold() == {"diagnoses": {"metastasis": {"status": "negated"}}, "non_tumor": []}


def test_brain_episode_none_means_no_comparison():
    backend = _brain_backend(
        step1={"metastasis": {"s": "present", "e": "Enhancing metastases"}},
        episode={"metastasis": {"ep": "none", "e": "Enhancing metastases"}},
    )
    result = BrainMriMapper(backend).map(BRAIN)
    assert result.findings[0].episode is None


def test_brain_failed_step2_fails_the_result_but_keeps_step1():
    backend = _brain_backend(
        step1={"lymphoma": {"s": "present", "e": "Enhancing metastases"}},
        episode="not json",
    )
    result = BrainMriMapper(backend).map(BRAIN)
    assert not result.ok and result.error.startswith("brain_mri_episode:")
    assert result.steps[1].raw == "not json"
    assert [f.key for f in result.findings] == ["lymphoma"]


def test_brain_batch_runs_each_step_for_all_reports_before_the_next():
    backend = _brain_backend(
        step1={"metastasis": {"s": "present", "e": "metastases"}},
        episode={"metastasis": {"ep": "stable", "e": "metastases"}},
    )
    results = BrainMriMapper(backend).map_many([(BRAIN, None), (BRAIN, None)])
    assert all(r.ok for r in results)
    order = ["how it changed" in call[0][0]["content"] for call in backend.calls]
    assert order == [False, False, True, True]


def test_one_backend_per_template():
    shared = _brain_backend(step1={})
    separate = {"brain_mri_step1": shared, "brain_mri_episode": shared, "brain_mri_nontumor": shared}
    assert BrainMriMapper(separate).map(BRAIN).ok


def test_a_quote_that_names_another_lesion_is_flagged_when_a_lexicon_is_given():
    lexicon = {
        "pleural thickening": [("pleural thickening", "keyword")],
        "nodule": [("nodule", "keyword")],
        "consolidation": [("consolidation", "keyword")],
    }
    output = {
        "nodule": {"s": "negated", "l": [], "e": "No nodule"},
        "pleural thickening": {"s": "present", "e": "Consolidation in RLL"},
    }
    mapper = ChestCtMapper(FakeBackend({"### Report": output}), lexicon=lexicon)
    result = mapper.map(CHEST, hint=["pleural thickening"])
    flags = {f.key: f.flags for f in result.findings}
    assert flags["nodule"] == []
    assert flags["pleural thickening"] == [FLAG_KEY_NOT_IN_EVIDENCE, FLAG_HINT_LEAK]


def test_a_raw_line_break_inside_a_quote_is_tolerated():
    # llama-cpp-python's JSON grammar lets a raw newline into strings.
    result = _chest('{"consolidation":{"s":"present","l":[],"e":"Consolidation in RLL\n"}}')
    assert result.ok
    assert result.findings[0].evidence_span is not None


def test_the_evidence_check_reads_negation_with_the_detector_it_is_given():
    text = "FINDINGS:\nConsolidation is not appreciable in the RLL."
    output = {
        "consolidation": {"s": "present", "l": ["right lower lobe"], "e": "Consolidation is not appreciable"}
    }
    default = ChestCtMapper(FakeBackend({"### Report": output})).map(text)
    assert FLAG_NEGATED_CONTEXT not in default.findings[0].flags
    site = AssertionDetector([*default_triggers(), ("not appreciable", NEG, BWD)])
    edited = ChestCtMapper(FakeBackend({"### Report": output}), detector=site).map(text)
    assert FLAG_NEGATED_CONTEXT in edited.findings[0].flags


def test_a_quote_copied_from_the_prompt_examples_is_dropped_and_recorded():
    # The second chest CT example's impression; CHEST never says it.
    result = _chest(
        {
            "mass": {"s": "negated", "l": [], "e": "No evidence of lung cancer."},
            "consolidation": {"s": "present", "l": ["right lower lobe"], "e": "Consolidation in RLL and LLL"},
        }
    )
    assert [f.key for f in result.findings] == ["consolidation"]
    assert result.rejected == [
        {
            "key": "mass",
            "status": "negated",
            "quote": "No evidence of lung cancer.",
            "reason": "copied_from_prompt_example",
        }
    ]
    assert result.as_gold()["lesions"] == {
        "consolidation": {"status": "present", "locations": ["right lower lobe"]}
    }


def test_words_of_an_example_report_are_not_evidence_either():
    # A sentence of the example report that is no example quote, reworded only in case and spacing.
    result = _chest(
        {
            "interstitial thickening": {
                "s": "uncertain",
                "l": [],
                "e": "possible mild  interstitial thickening",
            }
        }
    )
    assert result.findings == [] and result.rejected[0]["key"] == "interstitial thickening"


def test_an_example_quote_the_report_itself_says_stands():
    # "No pleural effusion" is also an example's quote; CHEST says it, so it is this report's evidence.
    result = _chest({"pleural effusion": {"s": "negated", "e": "No pleural effusion"}})
    assert [f.key for f in result.findings] == ["pleural effusion"] and result.rejected == []
    start, end = result.findings[0].evidence_span
    assert CHEST[start:end] == "No pleural effusion"


def test_a_copied_brain_episode_quote_drops_the_episode_but_keeps_the_diagnosis():
    text = "Enhancing metastases in both cerebral hemispheres, increased in number."
    backend = _brain_backend(
        step1={"metastasis": {"s": "present", "e": "Enhancing metastases"}},
        episode={"metastasis": {"ep": "improvement", "e": "Primary CNS lymphoma, partial response"}},
    )
    result = BrainMriMapper(backend).map(text)
    (finding,) = result.findings
    assert (finding.key, finding.status, finding.episode) == ("metastasis", "present", None)
    assert result.rejected == [
        {
            "key": "metastasis",
            "status": "improvement",
            "quote": "Primary CNS lymphoma, partial response",
            "reason": "copied_from_prompt_example",
        }
    ]
