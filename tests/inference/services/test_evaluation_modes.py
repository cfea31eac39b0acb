"""The rule engine's evaluation modes and the combined mode stored as a
Stage2Prediction (mode "combined") with its sources and flags."""

from annotations.models import Report
from inference.ml.llm.backends import FakeBackend
from inference.ml.questions import LOCATION
from inference.models import LLMQuestionType, Stage2Prediction
from inference.services.evaluation import EvalItem, evaluate_modes, registered_modes
from inference.services.stage2 import stage2_predict_report
from inference.services.stage2_modes.combined import combined_plan
from tests.annotations.factories import ReportFactory

LOCATED = (
    "The right upper lobe shows volume loss. There is a nodule. No pleural effusion. "
    "Atelectasis in both lower lobes."
)
TEXT = "There is a nodule. No pleural effusion. Atelectasis in both lower lobes."
GOLD = {
    "lesions": {
        "nodule": {"status": "present", "locations": ["right upper lobe"]},
        "atelectasis": {"status": "present", "locations": ["right lower lobe", "left lower lobe"]},
    }
}


def _report(chest_ct) -> Report:
    return ReportFactory.create(modality=chest_ct, text=TEXT)


def test_modes_are_registered():
    assert {"keyword", "rules_engine", "combined"} <= set(registered_modes())


def test_keyword_calls_a_negated_lesion_present_and_the_engine_does_not(chest_ct):
    report = _report(chest_ct)
    result = evaluate_modes(items=[EvalItem(report, GOLD)], modes=["keyword", "rules_engine"])
    keyword = result["modes"]["keyword"]["entity"]["per_key"]["pleural effusion"]
    engine = result["modes"]["rules_engine"]["entity"]["per_key"]["pleural effusion"]
    assert (keyword["fp"], engine["fp"]) == (1, 0)
    assert result["modes"]["rules_engine"]["relations"] is not None


def test_combined_is_stored_with_sources_flags_and_the_llm_question(chest_ct):
    LLMQuestionType.objects.create(code=LOCATION, asked=True, set_by="admin")
    report = ReportFactory.create(modality=chest_ct, text=LOCATED)
    llm = FakeBackend(lambda m, s: {"answer": ["right upper lobe"], "quote": "The right upper lobe shows"})
    plan = combined_plan(modality=chest_ct, backend_for=lambda task: llm, llm_name="fake")
    prediction = stage2_predict_report(report=report, mode="combined", run=plan)
    assert prediction.mode == Stage2Prediction.Mode.COMBINED and prediction.status == "ok"
    assert prediction.parsed["lesions"]["nodule"] == {"status": "present", "locations": ["right upper lobe"]}
    nodule = next(f for f in prediction.findings if f["key"] == "nodule")
    assert nodule["source"] == "rules+llm" and "no_location" in nodule["flags"]
    atelectasis = next(f for f in prediction.findings if f["key"] == "atelectasis")
    assert atelectasis["source"] == "rules" and atelectasis["locations"] == [
        "right lower lobe",
        "left lower lobe",
    ]
    assert prediction.timings["llm_reasons"] == {"nodule": ["no_location"]}
    [question] = prediction.timings["questions"]
    assert (question["kind"], question["changed"]) == (LOCATION, True)
    assert len(prediction.messages) == 1 and "|q:location|" in prediction.run_key
    again = stage2_predict_report(report=report, mode="combined", run=plan)  # idempotent per run key
    assert again.pk == prediction.pk


def test_combined_asks_nothing_the_site_policy_does_not_ask(chest_ct):
    report = ReportFactory.create(modality=chest_ct, text=LOCATED)
    llm = FakeBackend({}, default="{}")
    result = evaluate_modes(
        items=[EvalItem(report, GOLD)], modes=["combined"], options={"backend_for": lambda task: llm}
    )
    assert llm.calls == []
    assert result["modes"]["combined"]["questions"][LOCATION]["asked"] == 0


def test_evaluation_asking_every_question_measures_each_type(chest_ct):
    report = ReportFactory.create(modality=chest_ct, text=LOCATED)
    llm = FakeBackend(lambda m, s: {"answer": ["right upper lobe"], "quote": "The right upper lobe shows"})
    result = evaluate_modes(
        items=[EvalItem(report, GOLD)],
        modes=["combined"],
        options={"backend_for": lambda task: llm, "ask_all_questions": True},
    )
    help = result["modes"]["combined"]["questions"][LOCATION]
    assert (help["asked"], help["changed"], help["right"], help["wrong"]) == (1, 1, 1, 0)
    assert result["modes"]["combined"]["relations"]["per_key"]["nodule"]["f1"] == 1.0


def test_combined_evaluates_without_an_llm_call_when_rules_settle_everything(chest_ct):
    report = ReportFactory(modality=chest_ct, text="Atelectasis in both lower lobes. No effusion.")
    llm = FakeBackend({})
    result = evaluate_modes(
        items=[EvalItem(report, GOLD)], modes=["combined"], options={"backend_for": lambda task: llm}
    )
    assert result["modes"]["combined"]["failed"] == 0
    assert llm.calls == []
